// /bb/wire/1.1.0 and /bb/wire/1.0.0, both halves: bb envelopes (unsigned-varint length ‖
// bb.core.WireEnvelope) one way, receipts (wire/receipt.hpp) the other, on one Yamux stream per
// sender and receiver.
//
//   - 1.0.0: an envelope is one message; a receipt's count counts envelopes.
//   - 1.1.0: an envelope is a batch (wire/envelope.hpp): each fill is one message, with its own
//     correlation, and a receipt's count counts messages, so one receipt of a few bytes answers
//     a whole batch (or several) when every message was accepted, and the refused ones stand
//     out as runs of their own. The sender offers 1.1.0 first and falls back to 1.0.0.
//
//   - The receiving half, serve(): reads envelopes in order, hands each to an EnvelopeHandler,
//     and answers with receipts; runs of equal outcomes share one receipt, and the receipts of
//     one read go out in one write. The stream is not read while the handler is suspended, so a
//     handler that waits for room pushes back on the sender through Yamux's window.
//   - The sending half, Sender: a bounded queue of encoded frames for one peer, one writer that
//     takes everything queued in one write, and the reader of the receipts, which reports each
//     run of outcomes in the order the envelopes were written.
//
// What an envelope means is the handler's business: nothing in wire/ looks inside one.
#pragma once

#include "bb/async/event.hpp"
#include "bb/wire/bytes.hpp"
#include "bb/wire/connection.hpp"
#include "bb/wire/envelope.hpp"

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace bb::core {
class WireEnvelope;
}

namespace bb::wire {
class Host;
}

namespace bb::wire::bb_wire {

inline constexpr std::string_view kProtocolId = "/bb/wire/1.0.0";
inline constexpr std::string_view kBatchProtocolId = "/bb/wire/1.1.0";

// The fills of one envelope that were refused, each with a stable reason label (static
// storage), in fill order. Empty: every fill was taken.
struct FillRefusal {
  std::uint32_t fill = 0;
  std::string_view reason;
};
using Refusals = std::vector<FillRefusal>;

// Takes each envelope that arrives, in order per stream, and returns its refused fills.
// `frame_bytes` is what the envelope took on the wire; `batched`: it came over 1.1.0, so each
// fill is a message of its own (else the envelope is one message, refused by its first
// refusal).
using EnvelopeHandler = std::function<boost::asio::awaitable<Refusals>(
    const PeerId& peer, std::shared_ptr<const core::WireEnvelope> envelope, std::size_t frame_bytes,
    bool batched)>;

// Envelopes read by serve() whose receipt is not yet written, over every stream a Server
// serves: what a stopping node waits for, so that it answers what it already took.
class ServerStats {
 public:
  explicit ServerStats(const boost::asio::any_io_executor& executor) : answered_(executor) {}
  std::size_t unanswered() const noexcept { return unanswered_; }
  async::Event& answered() noexcept { return answered_; }
  void taken(std::size_t n) noexcept { unanswered_ += n; }
  void written(std::size_t n) {
    unanswered_ -= std::min(n, unanswered_);
    answered_.notify();
  }

 private:
  std::size_t unanswered_ = 0;
  async::Event answered_;
};

// The receiving half on one stream from `peer`, until the peer closes its side (then ours is
// closed). The frame buffer and the decoded envelope are reserved in the stream's resource
// scope before they grow; a refusal, a bad frame or a bad envelope resets the stream and
// throws boost::system::system_error with the specific error.
// `batched`: the stream speaks 1.1.0.
boost::asio::awaitable<void> serve(const PeerId& peer, Stream stream, const EnvelopeCaps& caps,
                                   const EnvelopeHandler& handler, ServerStats* stats = nullptr,
                                   bool batched = false);

// Registers the receiving half, under both protocol ids, in `host`'s protocol registry. `stats`
// (optional) must outlive the handler's registration and every stream it serves.
void register_server(Host& host, EnvelopeHandler handler, EnvelopeCaps caps = {},
                     std::shared_ptr<ServerStats> stats = nullptr);

struct SenderLimits {
  std::size_t max_queued_messages = 1024;   // encoded, not yet taken by the writer
  std::size_t max_queued_bytes = 8u << 20;  // queued plus being written
  std::size_t max_awaiting_receipt = 4096;  // written messages whose receipt is due
  // A batch's bounds, within what every receiver takes (EnvelopeCaps::edge(): 16 fills,
  // 256 KiB), so no receiver refuses a batch for its size.
  std::size_t max_batch_fills = 16;
  std::size_t max_batch_bytes = 64 * 1024;
};

// The sending half for one peer. push() encodes a message at once: straight into the stream's
// output when run() is running, nothing is queued or being written and the stream takes the
// whole frame now (Stream::try_write_into), else into the queue (the caller checks has_room()
// first and waits on changed() for room); run() writes the queue and reads receipts until the
// stream fails. Over 1.1.0 (set_batched), queued messages of our own are gathered into batches
// of up to max_batch_fills / max_batch_bytes, and a message goes straight only when nothing
// awaits a receipt (an idle link: no batch to join) or it is large. Receipts are reported to
// `on_receipt(count, reason)` in order: the next `count` written messages were accepted (""
// reason) or refused with `reason` (valid only during the call). Thread rule: one executor.
class Sender {
 public:
  using ReceiptCallback = std::function<void(std::uint64_t count, std::string_view reason)>;

  Sender(const boost::asio::any_io_executor& executor, SenderLimits limits);

  // One envelope of `frame_bytes` fits: always when nothing is queued or being written.
  bool has_room(std::size_t frame_bytes) const noexcept;
  // `counted`: a message (not a control envelope, which always travels alone).
  void push(const SingleFillEnvelope& envelope, bool counted = true);
  // The stream speaks 1.1.0: batch from now on (set before run()).
  void set_batched(bool batched) noexcept { batched_ = batched; }
  bool batched() const noexcept { return batched_; }

  // Writes and reads receipts on `stream` until either fails; throws system_error then (a
  // receipt for more envelopes than were written is receipt_malformed; a closed stream is
  // yamux_stream_closed). `on_written(messages, bytes)` after each write, for metrics.
  boost::asio::awaitable<void> run(Stream& stream, const ReceiptCallback& on_receipt,
                                   const std::function<void(std::size_t, std::size_t)>& on_written);

  // Envelopes pushed and not yet written (their frames are dropped), and written ones awaiting
  // their receipt; clear() empties both and frees the buffer.
  std::size_t queued() const noexcept { return queued_; }
  std::size_t queued_bytes() const noexcept { return pending_.size() + batch_.size() + writing_; }
  std::size_t awaiting_receipt() const noexcept { return in_flight_; }
  void clear() noexcept;

  // Notified when room is made or the state changes; a waiter re-checks has_room().
  async::Event& changed() noexcept { return changed_; }
  void notify() { changed_.notify(); }

 private:
  boost::asio::awaitable<void> write_loop(Stream& stream,
                                          const std::function<void(std::size_t, std::size_t)>& cb);
  boost::asio::awaitable<void> read_receipts(Stream& stream, const ReceiptCallback& on_receipt);
  bool try_straight(const SingleFillEnvelope& envelope, bool counted);
  // Closes the open batch into a frame in pending_.
  void seal_batch();

  SenderLimits limits_;
  Stream* stream_ = nullptr;                                                   // while run() runs
  const std::function<void(std::size_t, std::size_t)>* on_written_ = nullptr;  // likewise
  bool batched_ = false;
  Bytes pending_;     // encoded frames not yet taken by the writer
  Bytes batch_;       // the open batch's fill records
  Bytes batch_tail_;  // and what follows them (src addresses, schema version)
  std::size_t batch_fills_ = 0;
  std::size_t queued_ = 0;          // envelopes in pending_
  std::size_t queued_counted_ = 0;  // of which are messages (not control envelopes)
  std::size_t writing_ = 0;         // bytes taken by the writer, not yet written
  std::size_t in_flight_ = 0;       // written, receipt due
  async::Event changed_;
  async::Event work_;  // wakes the writer
};

}  // namespace bb::wire::bb_wire

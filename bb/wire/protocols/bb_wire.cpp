#include "bb/wire/protocols/bb_wire.hpp"

#include "bb/proto/bb_core.pb.h"
#include "bb/wire/frame.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/receipt.hpp"
#include "bb/wire/varint.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace bb::wire::bb_wire {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;

asio::awaitable<void> serve(const PeerId& peer, Stream stream, const EnvelopeCaps& caps,
                            const EnvelopeHandler& handler, ServerStats* stats) {
  constexpr std::size_t kReadChunk = 64 * 1024;
  FrameReader reader(caps.max_total_bytes);
  StreamMemory reserved(stream);
  Bytes receipts;
  // The envelope frames are parsed into: the same one again (its buffers reused) unless the
  // handler kept it (the Node shares large payloads' envelopes with their Received).
  std::shared_ptr<core::WireEnvelope> env;
  std::size_t decoded_bytes = 0;  // what the envelope being handled holds, about
  std::uint64_t run = 0;
  std::string_view run_reason;
  std::size_t taken = 0;  // envelopes of this read not yet answered
  struct Unanswered {
    ServerStats* stats;
    std::size_t& n;
    ~Unanswered() {
      if (stats != nullptr && n > 0) stats->written(n);
    }
  } unanswered{stats, taken};
  while (true) {
    reader.shrink(kReadChunk);
    reserved.resize_or_reset(
        std::max(reader.allocated(), reader.buffered() + kReadChunk) + decoded_bytes,
        "/bb/wire/1.0.0 frame buffer");
    const std::size_t n = co_await stream.read_some(reader.prepare(kReadChunk));
    if (n == 0) break;
    reader.commit(n);
    while (true) {
      auto frame = reader.next();
      if (!frame) {
        stream.reset();
        throw system_error(frame.error(), "bad frame on /bb/wire/1.0.0");
      }
      if (!*frame) break;
      const std::size_t frame_bytes = varint_size((*frame)->size()) + (*frame)->size();
      if (!env || env.use_count() > 1) env = std::make_shared<core::WireEnvelope>();
      decoded_bytes = frame_bytes;
      reserved.resize_or_reset(reader.allocated() + decoded_bytes, "/bb/wire/1.0.0 envelope");
      if (auto ec = decode_envelope(**frame, caps, *env)) {
        stream.reset();
        throw system_error(ec, "bad envelope on /bb/wire/1.0.0");
      }
      ++taken;
      if (stats != nullptr) stats->taken(1);
      const std::string_view reason = co_await handler(peer, env, frame_bytes);
      if (run > 0 && reason != run_reason) {
        append_receipt(receipts, run, run_reason);
        run = 0;
      }
      run_reason = reason;
      ++run;
    }
    if (run > 0) {
      append_receipt(receipts, run, run_reason);
      run = 0;
    }
    if (!receipts.empty()) {
      co_await stream.write(receipts);
      receipts.clear();
    }
    if (stats != nullptr && taken > 0) stats->written(taken);
    taken = 0;
  }
  stream.close_write();
}

namespace {

// The registry's handler owns copies of what serve() refers to.
asio::awaitable<void> serve_owned(Connection conn, Stream stream, EnvelopeCaps caps,
                                  EnvelopeHandler handler, std::shared_ptr<ServerStats> stats) {
  co_await serve(conn.remote_peer(), std::move(stream), caps, handler, stats.get());
}

}  // namespace

void register_server(Host& host, EnvelopeHandler handler, EnvelopeCaps caps,
                     std::shared_ptr<ServerStats> stats) {
  host.set_handler(std::string(kProtocolId),
                   [handler = std::move(handler), caps, stats = std::move(stats)](Connection conn,
                                                                                  Stream stream) {
                     return serve_owned(std::move(conn), std::move(stream), caps, handler, stats);
                   });
}

Sender::Sender(const asio::any_io_executor& executor, SenderLimits limits)
    : limits_(limits), changed_(executor), work_(executor) {}

bool Sender::has_room(std::size_t frame_bytes) const noexcept {
  if (queued_ == 0 && writing_ == 0) return true;  // one message always fits
  return queued_ < limits_.max_queued_messages &&
         pending_.size() + writing_ + frame_bytes <= limits_.max_queued_bytes;
}

void Sender::push(const SingleFillEnvelope& envelope, bool counted) {
  // Nothing queued ahead of it and room in the stream: the frame is encoded straight into the
  // connection's output (one copy of the payload on our side of Noise, not two).
  if (stream_ != nullptr && pending_.empty() && writing_ == 0 &&
      in_flight_ < limits_.max_awaiting_receipt) {
    const std::size_t size = envelope_frame_size(envelope);
    auto fill = [&envelope](std::size_t offset, std::span<std::uint8_t> out) {
      encode_envelope_frame_range(envelope, offset, out);
    };
    // Up to a batch's worth in the output; past it the queue (and its bound) takes over, so a
    // sender that never suspends still yields to the writer and to the receipts.
    constexpr std::size_t kStraightBatchBytes = 64 * 1024;
    if (stream_->try_write_into(size, fill, kStraightBatchBytes)) {
      ++in_flight_;
      if (on_written_ != nullptr && *on_written_) (*on_written_)(counted ? 1 : 0, size);
      return;
    }
  }
  append_envelope_frame(pending_, envelope);
  ++queued_;
  if (counted) ++queued_counted_;
  work_.notify();
}

void Sender::clear() noexcept {
  pending_.clear();
  pending_.shrink_to_fit();
  queued_ = 0;
  queued_counted_ = 0;
  in_flight_ = 0;
  changed_.notify();
  work_.notify();
}

asio::awaitable<void> Sender::run(Stream& stream, const ReceiptCallback& on_receipt,
                                  const std::function<void(std::size_t, std::size_t)>& on_written) {
  // While this runs, push() may write to the stream itself.
  struct Attached {
    Sender& sender;
    ~Attached() {
      sender.stream_ = nullptr;
      sender.on_written_ = nullptr;
    }
  } attached{*this};
  stream_ = &stream;
  on_written_ = &on_written;
  co_await (write_loop(stream, on_written) && read_receipts(stream, on_receipt));
}

asio::awaitable<void> Sender::write_loop(
    Stream& stream, const std::function<void(std::size_t, std::size_t)>& on_written) {
  Bytes buffer;
  while (true) {
    while (pending_.empty() || in_flight_ >= limits_.max_awaiting_receipt) co_await work_.wait();
    buffer.swap(pending_);
    pending_.clear();
    const std::size_t messages = queued_counted_;
    writing_ = buffer.size();
    in_flight_ += queued_;
    queued_ = 0;
    queued_counted_ = 0;
    co_await stream.write(buffer);
    if (on_written) on_written(messages, buffer.size());
    writing_ = 0;
    buffer.clear();
    changed_.notify();
  }
}

asio::awaitable<void> Sender::read_receipts(Stream& stream, const ReceiptCallback& on_receipt) {
  FrameReader reader(kMaxReceiptBody);
  while (true) {
    const std::size_t n = co_await stream.read_some(reader.prepare(4096));
    if (n == 0) {
      throw system_error(make_error_code(errc::yamux_stream_closed),
                         "the peer closed its /bb/wire/1.0.0 stream");
    }
    reader.commit(n);
    while (true) {
      auto frame = reader.next();
      if (!frame) throw system_error(frame.error(), "bad receipt");
      if (!*frame) break;
      auto receipt = decode_receipt(**frame);
      if (!receipt) throw system_error(receipt.error(), "bad receipt");
      if (receipt->count > in_flight_) {
        throw system_error(make_error_code(errc::receipt_malformed),
                           "receipt for " + std::to_string(receipt->count) +
                               " envelopes with only " + std::to_string(in_flight_) + " written");
      }
      in_flight_ -= receipt->count;
      on_receipt(receipt->count, receipt->reason);
    }
    work_.notify();  // the writer may be waiting for receipts
  }
}

}  // namespace bb::wire::bb_wire

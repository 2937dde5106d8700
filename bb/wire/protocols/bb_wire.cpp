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
                            const EnvelopeHandler& handler, ServerStats* stats, bool batched) {
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
  std::size_t taken = 0;  // messages of this read not yet answered
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
      // Over 1.1.0 every fill is a message with its own outcome; over 1.0.0 the envelope is
      // one message, refused by its first refusal.
      const std::size_t messages = batched ? static_cast<std::size_t>(env->fills_size()) : 1;
      taken += messages;
      if (stats != nullptr) stats->taken(messages);
      const Refusals refused = co_await handler(peer, env, frame_bytes, batched);
      auto outcome = [&](std::string_view reason) {
        if (run > 0 && reason != run_reason) {
          append_receipt(receipts, run, run_reason);
          run = 0;
        }
        run_reason = reason;
        ++run;
      };
      if (!batched) {
        outcome(refused.empty() ? std::string_view{} : refused.front().reason);
        continue;
      }
      auto next = refused.begin();
      for (std::size_t i = 0; i < messages; ++i) {
        while (next != refused.end() && next->fill < i) ++next;
        outcome(next != refused.end() && next->fill == i ? next->reason : std::string_view{});
      }
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
                                  EnvelopeHandler handler, std::shared_ptr<ServerStats> stats,
                                  bool batched) {
  co_await serve(conn.remote_peer(), std::move(stream), caps, handler, stats.get(), batched);
}

}  // namespace

void register_server(Host& host, EnvelopeHandler handler, EnvelopeCaps caps,
                     std::shared_ptr<ServerStats> stats) {
  for (const bool batched : {true, false}) {
    host.set_handler(std::string(batched ? kBatchProtocolId : kProtocolId),
                     [handler, caps, stats, batched](Connection conn, Stream stream) {
                       return serve_owned(std::move(conn), std::move(stream), caps, handler, stats,
                                          batched);
                     });
  }
}

Sender::Sender(const asio::any_io_executor& executor, SenderLimits limits)
    : limits_(limits), changed_(executor), work_(executor) {}

bool Sender::has_room(std::size_t frame_bytes) const noexcept {
  if (queued_ == 0 && writing_ == 0) return true;  // one message always fits
  return queued_ < limits_.max_queued_messages &&
         queued_bytes() + frame_bytes <= limits_.max_queued_bytes;
}

void Sender::push(const SingleFillEnvelope& envelope, bool counted) {
  // A message of our own, not large, joins the open batch over 1.1.0 unless the link is idle
  // (nothing awaits a receipt: going straight out is then the fastest way).
  const bool batchable = batched_ && counted && envelope.src_peer.empty();
  const std::size_t record = batchable ? batch_fill_record_size(envelope) : 0;
  const bool small = record <= limits_.max_batch_bytes / 4;
  if (!(batchable && small && in_flight_ > 0) && try_straight(envelope, counted)) return;
  if (batchable && small) {
    if (batch_fills_ > 0 &&
        (batch_fills_ >= limits_.max_batch_fills ||
         batch_.size() + record > limits_.max_batch_bytes || !envelope.src_addresses.empty())) {
      seal_batch();
    }
    if (batch_fills_ == 0) {
      batch_tail_.clear();
      append_batch_tail(batch_tail_, envelope.src_addresses);
    }
    append_batch_fill_record(batch_, envelope);
    ++batch_fills_;
  } else {
    seal_batch();  // what was queued before it leaves before it
    append_envelope_frame(pending_, envelope);
  }
  ++queued_;
  if (counted) ++queued_counted_;
  work_.notify();
}

void Sender::seal_batch() {
  if (batch_fills_ == 0) return;
  append_varint(pending_, batch_.size() + batch_tail_.size());
  pending_.insert(pending_.end(), batch_.begin(), batch_.end());
  pending_.insert(pending_.end(), batch_tail_.begin(), batch_tail_.end());
  batch_.clear();
  batch_fills_ = 0;
}

// Nothing queued ahead of it and room in the stream: the frame is encoded straight into the
// connection's output (one copy of the payload on our side of Noise, not two).
bool Sender::try_straight(const SingleFillEnvelope& envelope, bool counted) {
  if (stream_ != nullptr && pending_.empty() && batch_fills_ == 0 && writing_ == 0 &&
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
      return true;
    }
  }
  return false;
}

void Sender::clear() noexcept {
  pending_.clear();
  pending_.shrink_to_fit();
  batch_.clear();
  batch_.shrink_to_fit();
  batch_fills_ = 0;
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
    while ((pending_.empty() && batch_fills_ == 0) || in_flight_ >= limits_.max_awaiting_receipt) {
      co_await work_.wait();
    }
    seal_batch();
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
                               " messages with only " + std::to_string(in_flight_) + " written");
      }
      in_flight_ -= receipt->count;
      on_receipt(receipt->count, receipt->reason);
    }
    work_.notify();  // the writer may be waiting for receipts
  }
}

}  // namespace bb::wire::bb_wire

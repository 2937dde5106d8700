#include "bb/wire/detail/mux_core.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cstring>

namespace bb::wire::detail {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;

// The libp2p error code a GoAway carries for a close of ours (specs: error-codes).
std::uint32_t go_away_code(error_code why) {
  if (!why || why == asio::error::operation_aborted) return yamux::kGoAwayNormal;
  if (why.category() != wire_category()) return yamux::kGoAwayInternalError;
  switch (static_cast<errc>(why.value())) {
    case errc::resource_memory_limit:
    case errc::resource_stream_limit:
    case errc::resource_connection_limit:
    case errc::resource_fd_limit:
    case errc::output_backlog_exceeded:
    case errc::connection_limit:
    case errc::ip_connection_limit:
    case errc::pending_connection_limit:
    case errc::pending_connection_evicted: return yamux::kGoAwayResourceLimitExceeded;
    case errc::connection_trimmed: return yamux::kGoAwayGarbageCollected;
    default: break;
  }
  const auto v = why.value();
  if (v >= static_cast<int>(errc::yamux_bad_version) && v <= static_cast<int>(errc::yamux_go_away))
    return yamux::kGoAwayProtocolError;
  return yamux::kGoAwayProtocolViolation;
}

MuxCore::MuxCore(std::unique_ptr<ByteStream> s, noise::Transport t, yamux::Session y, Direction d,
                 const ConnectionOptions& o, ConnectionScope sc)
    : resources(std::move(sc)),
      buffers(resources),
      stream(std::move(s)),
      noise(std::move(t)),
      session(std::move(y)),
      options(o),
      direction(d),
      remote(noise.remote_peer()),
      remote_addr(stream->remote_addr()),
      local_addr(stream->local_addr()),
      output(stream->get_executor()),
      drained(stream->get_executor()),
      flushed(stream->get_executor()),
      inbound(stream->get_executor()),
      clock(options.clock != nullptr ? *options.clock : async::steady_clock()),
      closed(stream->get_executor()) {
  last_received_ns = clock.now_ns();
  session.set_account(this);
}

MuxCore::~MuxCore() {
  session.set_account(nullptr);
}

error_code MuxCore::admit_stream(std::uint32_t id) {
  if (!resources) return {};
  auto scope = resources.open_stream(Dir::inbound);
  if (!scope) return scope.error();
  slot(id).scope = std::move(*scope);
  return {};
}

error_code MuxCore::reserve(std::uint32_t id, std::size_t bytes) {
  if (auto it = slots.find(id); it != slots.end() && it->second->scope) {
    return it->second->scope.reserve_memory(bytes);
  }
  return resources.reserve_memory(bytes);
}

void MuxCore::release(std::uint32_t id, std::size_t bytes) noexcept {
  if (auto it = slots.find(id); it != slots.end() && it->second->scope) {
    it->second->scope.release_memory(bytes);
  } else {
    resources.release_memory(bytes);
  }
}

// Turns session events into wake-ups. Called after every receive() and by stream operations.
void MuxCore::process_events() {
  while (auto event = session.next_event()) {
    std::visit(
        [this](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, yamux::InboundStream>) {
            if (inbound_ids.size() >= options.max_pending_inbound_streams) {
              (void)session.reset(e.id);  // nobody is accepting: refuse rather than queue
              slots.erase(e.id);
            } else {
              inbound_ids.push_back(e.id);
              inbound.notify();
            }
          } else if constexpr (std::is_same_v<E, yamux::Readable> ||
                               std::is_same_v<E, yamux::StreamClosedByPeer>) {
            if (auto it = slots.find(e.id); it != slots.end()) it->second->readable.notify();
          } else if constexpr (std::is_same_v<E, yamux::WriteWindowOpened>) {
            if (auto it = slots.find(e.id); it != slots.end()) it->second->writable.notify();
          } else if constexpr (std::is_same_v<E, yamux::StreamReset>) {
            if (auto it = slots.find(e.id); it != slots.end()) {
              it->second->reset = true;
              it->second->readable.notify();
              it->second->writable.notify();
            }
          } else if constexpr (std::is_same_v<E, yamux::GoAway>) {
            go_away_received = true;
          } else if constexpr (std::is_same_v<E, yamux::StreamRefused>) {
            if (auto it = slots.find(e.id); it != slots.end()) {
              auto& sl = *it->second;
              sl.reset = true;
              sl.refused = e.reason;
              sl.refusal_detail = sl.scope ? sl.scope.last_refusal() : resources.last_refusal();
              sl.readable.notify();
              sl.writable.notify();
              // An inbound stream nobody accepted yet goes with its slot.
              if (auto pos = std::find(inbound_ids.begin(), inbound_ids.end(), e.id);
                  pos != inbound_ids.end()) {
                inbound_ids.erase(pos);
                slots.erase(it);
              }
            }
            ++streams_refused;
          }
        },
        *event);
  }
  if (session.output_size() > 0) output.notify();
}

void MuxCore::close(error_code why) {
  if (!open) return;
  open = false;
  reason = why;
  send_go_away(go_away_code(why));
  stream->close();
  closed.set();
  output.notify();
  drained.notify();
  flushed.notify();
  inbound.notify();
  for (auto& [id, s] : slots) {
    s->readable.notify();
    s->writable.notify();
  }
}

void MuxCore::end_writing() {
  if (!open || ending) return;
  ending = true;
  (void)session.go_away(yamux::kGoAwayNormal);
  output.notify();
}

// Best effort, never waits: the GoAway goes out only if no write is in flight (a frame now
// would land inside it) and the stream takes it at once. What was queued is dropped: the
// connection is going, and the peer should read why rather than the rest.
void MuxCore::send_go_away(std::uint32_t code) {
  if (writing_bytes > 0 || write_shut || !stream->is_open()) return;
  (void)session.take_output();
  Bytes frame;
  yamux::append_header(frame, yamux::Header{yamux::FrameType::go_away, 0, 0, code});
  Bytes sealed;
  if (noise.seal(frame, sealed)) return;
  error_code ec;
  (void)stream->try_write(sealed, ec);
}

void MuxCore::throw_closed() const {
  throw system_error(reason ? reason : make_error_code(errc::yamux_session_closed),
                     "connection to " + remote.to_base58() + " is closed");
}

namespace {

// Large reads keep syscalls few under bulk transfer; one maximum Noise frame always fits after
// the carried-over part of an incomplete one.
constexpr std::size_t kReadChunk = 256 * 1024;

// The read buffer every connection on this thread shares. A connection uses it only between a
// readiness notification and the end of the synchronous decoding that follows, so an idle
// connection holds no read buffer: only the bytes of an incomplete Noise frame, if any.
Bytes& scratch_buffer() {
  thread_local Bytes buf(noise::kFrameHeaderBytes + noise::kMaxMessageBytes + kReadChunk);
  return buf;
}

}  // namespace

asio::awaitable<void> reader(std::shared_ptr<MuxCore> core) {
  auto& c = *core;
  Bytes partial = std::move(c.initial_ciphertext);  // an incomplete frame, between reads
  // Decodes every complete frame in buf[0, have) and keeps the incomplete tail.
  auto consume = [&](std::uint8_t* buf, std::size_t have) -> error_code {
    std::size_t pos = 0;
    while (true) {
      auto frame = noise::decode_noise_frame(ByteView(buf + pos, have - pos));
      if (!frame) return frame.error();
      if (!*frame) break;
      const std::size_t consumed = (*frame)->second;
      std::span<std::uint8_t> message(buf + pos + noise::kFrameHeaderBytes,
                                      consumed - noise::kFrameHeaderBytes);
      auto plaintext = c.noise.open(message);
      if (!plaintext) return plaintext.error();
      if (auto ec = c.session.receive(*plaintext)) return ec;
      pos += consumed;
    }
    partial.assign(buf + pos, buf + have);
    if (partial.empty()) Bytes().swap(partial);  // idle connections keep nothing
    c.process_events();
    return {};
  };
  {
    Bytes& buf = scratch_buffer();
    if (!partial.empty()) std::memcpy(buf.data(), partial.data(), partial.size());
    if (auto ec = consume(buf.data(), partial.size())) co_return c.close(ec);
  }
  error_code ec;
  while (c.open) {
    // A peer that asks (pings, streams we refuse) and never reads the answers: stop reading it
    // until they are written. If it never reads, the writer's timeout ends the connection.
    while (c.open &&
           c.session.output_size() > c.options.max_pending_output + c.options.max_control_backlog) {
      c.reader_stalled = true;
      co_await c.drained.wait();
    }
    c.reader_stalled = false;
    if (!c.open) break;
    const error_code wait_ec = co_await c.stream->async_wait_readable();
    if (wait_ec) co_return c.close(wait_ec);
    Bytes& buf = scratch_buffer();
    const std::size_t carried = partial.size();
    if (carried > 0) std::memcpy(buf.data(), partial.data(), carried);
    const std::size_t n =
        c.stream->read_some(std::span(buf.data() + carried, buf.size() - carried), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec) co_return c.close(ec == asio::error::eof ? error_code{} : ec);
    c.bytes_received += n;
    c.last_received_ns = c.clock.now_ns();
    if (auto err = consume(buf.data(), carried + n)) co_return c.close(err);
    if (auto err = c.account_buffers(partial.size())) co_return c.close(err);
  }
}

asio::awaitable<void> writer(std::shared_ptr<MuxCore> core) {
  auto& c = *core;
  Bytes ciphertext;
  Bytes plaintext;  // handed back to the session at each take: its output grows once
  while (c.open) {
    if (c.session.output_size() == 0) {
      if (c.ending && !c.write_shut) {  // all written, the GoAway last: the peer reads the end
        c.write_shut = true;
        c.stream->shutdown_write();
        c.flushed.notify();
      }
      co_await c.output.wait();
      continue;
    }
    if (c.write_shut) {  // (window updates, pongs: nothing more can go out)
      c.session.take_output(plaintext);
      c.drained.notify();
      continue;
    }
    // Everything the session has queued (bounded by max_pending_output plus control frames)
    // goes out in one seal and one write.
    c.session.take_output(plaintext);
    c.drained.notify();
    // The buffer stays at its largest size (its capacity always did): sealing into it then
    // costs no zero-filling of a fresh megabyte per batch.
    const std::size_t sealed = noise::Transport::sealed_size(plaintext.size());
    if (ciphertext.size() < sealed) ciphertext.resize(sealed);
    const std::span<std::uint8_t> batch(ciphertext.data(), sealed);
    if (auto ec = c.noise.seal_into(plaintext, batch)) co_return c.close(ec);
    c.writing_bytes = plaintext.size() + sealed;
    if (auto ec = c.account_buffers(0)) {
      c.writing_bytes = 0;
      co_return c.close(ec);
    }
    auto outcome = co_await (c.stream->async_write(ByteView(batch)) ||
                             c.clock.sleep_for(async::to_ns(c.options.write_timeout)));
    c.writing_bytes = 0;
    (void)c.account_buffers(0);  // shrinking never fails
    if (outcome.index() == 1) {
      // A peer that made us answer and never read is over its output bound, not just slow.
      co_return c.close(c.reader_stalled ? make_error_code(errc::output_backlog_exceeded)
                                         : make_error_code(asio::error::timed_out));
    }
    auto [ec, n] = std::get<0>(outcome);
    if (ec) co_return c.close(ec);
    c.bytes_sent += n;
    c.flushed.notify();
  }
}

asio::awaitable<void> keepalive(std::shared_ptr<MuxCore> core) {
  auto& c = *core;
  while (c.open) {
    (void)co_await (c.clock.sleep_for(async::to_ns(c.options.keepalive_interval)) ||
                    c.closed.wait());
    if (!c.open) co_return;
    const std::uint64_t now = c.clock.now_ns();
    const std::uint64_t idle = now > c.last_received_ns ? now - c.last_received_ns : 0;
    if (idle >= async::to_ns(c.options.idle_timeout)) {
      co_return c.close(make_error_code(asio::error::timed_out));
    }
    if (idle >= async::to_ns(c.options.keepalive_interval) && !c.session.ping(c.next_ping++)) {
      c.output.notify();
    }
  }
}

}  // namespace bb::wire::detail

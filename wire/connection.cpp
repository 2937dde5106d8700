#include "wire/connection.hpp"

#include "async/event.hpp"
#include "async/timeout.hpp"
#include "wire/mss/negotiator.hpp"
#include "wire/noise/session.hpp"
#include "wire/yamux/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>

namespace bb::wire {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;

inline constexpr std::string_view kYamuxProtocol = "/yamux/1.0.0";

namespace detail {

struct StreamSlot {
  explicit StreamSlot(const asio::any_io_executor& ex) : readable(ex), writable(ex) {}
  async::Event readable;
  async::Event writable;
  bool reset = false;
  bool closed_write = false;
  StreamScope scope;   // empty for an unaccounted connection
  error_code refused;  // the resource manager refused this stream (a reset with a why)
  std::string refusal_detail;
};

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

struct MuxCore final : yamux::BufferAccount {
  MuxCore(tcp::socket s, noise::Transport t, yamux::Session y, Direction d,
          const ConnectionOptions& o, ConnectionScope sc)
      : resources(std::move(sc)),
        buffers(resources),
        socket(std::move(s)),
        noise(std::move(t)),
        session(std::move(y)),
        options(o),
        direction(d),
        remote(noise.remote_peer()),
        output(socket.get_executor()),
        drained(socket.get_executor()),
        inbound(socket.get_executor()),
        keepalive_timer(socket.get_executor()) {
    error_code ec;
    if (auto ep = socket.remote_endpoint(ec); !ec) remote_addr = to_multiaddr(ep);
    if (auto ep = socket.local_endpoint(ec); !ec) local_addr = to_multiaddr(ep);
    last_received = std::chrono::steady_clock::now();
    session.set_account(this);
  }
  MuxCore(const MuxCore&) = delete;
  MuxCore& operator=(const MuxCore&) = delete;
  ~MuxCore() { session.set_account(nullptr); }

  // ---- yamux::BufferAccount: a stream's buffered data are charged to its scope ----
  error_code admit_stream(std::uint32_t id) override {
    if (!resources) return {};
    auto scope = resources.open_stream(Dir::inbound);
    if (!scope) return scope.error();
    slot(id).scope = std::move(*scope);
    return {};
  }
  error_code reserve(std::uint32_t id, std::size_t bytes) override {
    if (auto it = slots.find(id); it != slots.end() && it->second->scope) {
      return it->second->scope.reserve_memory(bytes);
    }
    return resources.reserve_memory(bytes);
  }
  void release(std::uint32_t id, std::size_t bytes) noexcept override {
    if (auto it = slots.find(id); it != slots.end() && it->second->scope) {
      it->second->scope.release_memory(bytes);
    } else {
      resources.release_memory(bytes);
    }
  }

  // The connection's own buffers (Yamux output, the bytes being written, an incomplete Noise
  // frame) are reserved as they are: a peer cannot make them grow past its scopes.
  error_code account_buffers(std::size_t partial_bytes) {
    return buffers.resize(session.output_size() + writing_bytes + partial_bytes);
  }

  StreamSlot& slot(std::uint32_t id) {
    auto& s = slots[id];
    if (!s) s = std::make_unique<StreamSlot>(socket.get_executor());
    return *s;
  }

  // Turns session events into wake-ups. Called after every receive() and by stream operations.
  void process_events() {
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

  void close(error_code why) {
    if (!open) return;
    open = false;
    reason = why;
    send_go_away(go_away_code(why));
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    keepalive_timer.cancel();
    output.notify();
    drained.notify();
    inbound.notify();
    for (auto& [id, s] : slots) {
      s->readable.notify();
      s->writable.notify();
    }
  }

  // Best effort, never waits: the GoAway goes out only if no write is in flight (a frame now
  // would land inside it) and the socket takes it at once. What was queued is dropped: the
  // connection is going, and the peer should read why rather than the rest.
  void send_go_away(std::uint32_t code) {
    if (writing_bytes > 0 || !socket.is_open()) return;
    (void)session.take_output();
    Bytes frame;
    yamux::append_header(frame, yamux::Header{yamux::FrameType::go_away, 0, 0, code});
    Bytes sealed;
    if (noise.seal(frame, sealed)) return;
    error_code ec;
    socket.non_blocking(true, ec);
    if (!ec) (void)socket.write_some(asio::buffer(sealed), ec);
  }

  [[noreturn]] void throw_closed() const {
    throw system_error(reason ? reason : make_error_code(errc::yamux_session_closed),
                       "connection to " + remote.to_base58() + " is closed");
  }

  ConnectionScope resources;  // before every member that may hold reservations in it
  MemoryReservation buffers;
  tcp::socket socket;
  noise::Transport noise;
  yamux::Session session;
  ConnectionOptions options;
  Direction direction;
  PeerId remote;
  Multiaddr remote_addr;
  Multiaddr local_addr;
  async::Event output;      // wakes the writer
  async::Event drained;  // the writer took the queued output: stream writes may queue more
  async::Event inbound;     // wakes accept_stream()
  asio::steady_timer keepalive_timer;
  std::deque<std::uint32_t> inbound_ids;
  std::map<std::uint32_t, std::unique_ptr<StreamSlot>> slots;
  Bytes initial_ciphertext;  // read during the upgrade, past its last message
  bool open = true;
  bool go_away_received = false;
  error_code reason;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::chrono::steady_clock::time_point last_received;
  std::uint32_t next_ping = 1;
  std::size_t writing_bytes = 0;  // plaintext + ciphertext of the write in flight
  bool reader_stalled = false;    // waiting for the writer to send our answers
  std::uint64_t streams_refused = 0;
};

}  // namespace detail

namespace {

// The raw socket during the upgrade, with bytes read ahead kept for the next reader.
struct UpgradeIo {
  tcp::socket& socket;
  Bytes buffered;

  asio::awaitable<void> read_more() {
    std::uint8_t chunk[4096];
    const std::size_t n = co_await socket.async_read_some(asio::buffer(chunk), asio::use_awaitable);
    buffered.insert(buffered.end(), chunk, chunk + n);
  }
  asio::awaitable<void> write(ByteView bytes) {
    if (!bytes.empty()) {
      co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()),
                                 asio::use_awaitable);
    }
  }
  // One Noise message (the 2-byte length stripped).
  asio::awaitable<Bytes> read_noise_message() {
    while (true) {
      auto frame = noise::decode_noise_frame(buffered);
      if (!frame) throw system_error(frame.error(), "reading a Noise message");
      if (*frame) {
        Bytes message((*frame)->first.begin(), (*frame)->first.end());
        buffered.erase(buffered.begin(),
                       buffered.begin() + static_cast<std::ptrdiff_t>((*frame)->second));
        co_return message;
      }
      co_await read_more();
    }
  }
};

void check(error_code ec, const char* what) {
  if (ec) throw system_error(ec, what);
}

template <class T>
T check(result<T> r, const char* what) {
  if (!r) throw system_error(r.error(), what);
  return std::move(*r);
}

// multistream-select on the raw socket: agree on /noise.
asio::awaitable<void> negotiate_security(UpgradeIo& io, Direction direction) {
  const std::vector<std::string> protocols{std::string(noise::kProtocolId)};
  std::optional<mss::Dialer> dialer;
  std::optional<mss::Listener> listener;
  if (direction == Direction::outbound) {
    dialer.emplace(protocols);
    co_await io.write(dialer->start());
  } else {
    listener.emplace(protocols);
  }
  while (true) {
    co_await io.read_more();
    auto progress = check(dialer ? dialer->on_bytes(io.buffered) : listener->on_bytes(io.buffered),
                          "negotiating /noise");
    io.buffered = std::move(progress.leftover);
    co_await io.write(progress.output);
    if (progress.done()) co_return;
  }
}

struct Secured {
  noise::Transport transport;
  std::vector<std::string> remote_muxers;
};

asio::awaitable<Secured> noise_handshake(UpgradeIo& io, Direction direction,
                                         const Ed25519KeyPair& identity,
                                         std::optional<PeerId> expected) {
  const std::vector<std::string> muxers{std::string(kYamuxProtocol)};
  auto hs = direction == Direction::outbound
                ? noise::Handshake::initiator(identity, std::move(expected), muxers)
                : noise::Handshake::responder(identity, muxers);
  while (!hs.complete()) {
    auto next = check(hs.write_next(), "Noise handshake");
    if (next) {
      Bytes frame;
      check(noise::append_noise_frame(frame, *next), "Noise handshake");
      co_await io.write(frame);
      continue;
    }
    const Bytes message = co_await io.read_noise_message();
    check(hs.read(message), "Noise handshake");
  }
  auto remote_muxers = hs.remote_muxers();
  co_return Secured{std::move(hs).into_transport(), std::move(remote_muxers)};
}

// multistream-select for the muxer, inside Noise. Returns plaintext read past the negotiation.
asio::awaitable<Bytes> negotiate_muxer(UpgradeIo& io, noise::Transport& transport,
                                       Direction direction) {
  const std::vector<std::string> protocols{std::string(kYamuxProtocol)};
  std::optional<mss::Dialer> dialer;
  std::optional<mss::Listener> listener;
  auto send = [&](ByteView plaintext) -> Bytes {
    Bytes out;
    check(transport.seal(plaintext, out), "sealing");
    return out;
  };
  if (direction == Direction::outbound) {
    dialer.emplace(protocols);
    co_await io.write(send(dialer->start()));
  } else {
    listener.emplace(protocols);
  }
  while (true) {
    Bytes message = co_await io.read_noise_message();
    auto plaintext = check(transport.open(message), "Noise transport");
    auto progress = check(dialer ? dialer->on_bytes(plaintext) : listener->on_bytes(plaintext),
                          "negotiating /yamux/1.0.0");
    co_await io.write(send(progress.output));
    if (progress.done()) co_return std::move(progress.leftover);
  }
}

struct Upgraded {
  noise::Transport transport;
  Bytes plaintext;   // Yamux bytes that arrived with the last negotiation message
  Bytes ciphertext;  // Noise frames read ahead
};

asio::awaitable<Upgraded> run_upgrade(tcp::socket& socket, Direction direction,
                                      const Ed25519KeyPair& identity,
                                      std::optional<PeerId> expected) {
  UpgradeIo io{socket, {}};
  co_await negotiate_security(io, direction);
  auto secured = co_await noise_handshake(io, direction, identity, std::move(expected));
  // Inlined muxer negotiation (libp2p connections/inlined-muxer-negotiation): both payloads
  // listed their muxers, so the muxer is agreed without another round of multistream-select.
  // We list only Yamux; a peer that lists muxers without it cannot talk to us.
  if (!secured.remote_muxers.empty()) {
    if (std::find(secured.remote_muxers.begin(), secured.remote_muxers.end(), kYamuxProtocol) ==
        secured.remote_muxers.end()) {
      throw system_error(make_error_code(errc::mss_protocol_not_supported),
                         "peer offers no muxer bb supports (bb speaks /yamux/1.0.0)");
    }
    co_return Upgraded{std::move(secured.transport), {}, std::move(io.buffered)};
  }
  Bytes plaintext = co_await negotiate_muxer(io, secured.transport, direction);
  co_return Upgraded{std::move(secured.transport), std::move(plaintext), std::move(io.buffered)};
}

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

asio::awaitable<void> reader(std::shared_ptr<detail::MuxCore> core) {
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
  c.socket.non_blocking(true, ec);
  if (ec) co_return c.close(ec);
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
    auto [wait_ec] =
        co_await c.socket.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    if (wait_ec) co_return c.close(wait_ec);
    Bytes& buf = scratch_buffer();
    const std::size_t carried = partial.size();
    if (carried > 0) std::memcpy(buf.data(), partial.data(), carried);
    const std::size_t n =
        c.socket.read_some(asio::buffer(buf.data() + carried, buf.size() - carried), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec) co_return c.close(ec == asio::error::eof ? error_code{} : ec);
    c.bytes_received += n;
    c.last_received = std::chrono::steady_clock::now();
    if (auto err = consume(buf.data(), carried + n)) co_return c.close(err);
    if (auto err = c.account_buffers(partial.size())) co_return c.close(err);
  }
}

asio::awaitable<void> writer(std::shared_ptr<detail::MuxCore> core) {
  auto& c = *core;
  asio::steady_timer timer(c.socket.get_executor());
  Bytes ciphertext;
  while (c.open) {
    if (c.session.output_size() == 0) {
      co_await c.output.wait();
      continue;
    }
    // Everything the session has queued (bounded by max_pending_output plus control frames)
    // goes out in one seal and one write.
    const Bytes plaintext = c.session.take_output();
    c.drained.notify();
    ciphertext.clear();
    if (auto ec = c.noise.seal(plaintext, ciphertext)) co_return c.close(ec);
    c.writing_bytes = plaintext.size() + ciphertext.size();
    if (auto ec = c.account_buffers(0)) {
      c.writing_bytes = 0;
      co_return c.close(ec);
    }
    timer.expires_after(c.options.write_timeout);
    auto outcome = co_await (asio::async_write(c.socket, asio::buffer(ciphertext),
                                               asio::as_tuple(asio::use_awaitable)) ||
                             timer.async_wait(asio::as_tuple(asio::use_awaitable)));
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
  }
}

asio::awaitable<void> keepalive(std::shared_ptr<detail::MuxCore> core) {
  auto& c = *core;
  while (c.open) {
    c.keepalive_timer.expires_after(c.options.keepalive_interval);
    (void)co_await c.keepalive_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!c.open) co_return;
    const auto idle = std::chrono::steady_clock::now() - c.last_received;
    if (idle >= c.options.idle_timeout) co_return c.close(make_error_code(asio::error::timed_out));
    if (idle >= c.options.keepalive_interval && !c.session.ping(c.next_ping++)) c.output.notify();
  }
}

}  // namespace

asio::awaitable<Connection> Connection::upgrade(tcp::socket socket, Direction direction,
                                                const Ed25519KeyPair& identity,
                                                std::optional<PeerId> expected,
                                                const ConnectionOptions& options,
                                                ConnectionScope scope) {
  Upgraded up = co_await async::with_timeout(
      run_upgrade(socket, direction, identity, std::move(expected)), options.handshake_timeout,
      make_error_code(errc::handshake_timeout), "connection upgrade");
  yamux::Config config;
  config.initial_window = options.stream_window;
  config.max_streams = options.max_streams;
  yamux::Session session(
      direction == Direction::outbound ? yamux::Role::client : yamux::Role::server, config);
  check(session.receive(up.plaintext), "Yamux");
  auto core =
      std::make_shared<detail::MuxCore>(std::move(socket), std::move(up.transport),
                                        std::move(session), direction, options, std::move(scope));
  core->initial_ciphertext = std::move(up.ciphertext);
  // Now that Noise proved who this is, the connection moves from the transient scope to its
  // peer's; a peer over its limits is told so (GoAway 0x1001) before the close.
  if (auto ec = core->resources.set_peer(core->remote)) {
    const std::string detail = core->resources.last_refusal();
    core->close(ec);
    throw system_error(ec, "connection with " + core->remote.to_base58() + " refused: " + detail);
  }
  core->process_events();
  co_return Connection(std::move(core));
}

asio::awaitable<void> Connection::run() {
  auto core = core_;
  co_await (reader(core) || writer(core) || keepalive(core));
  core->close(core->reason);
}

namespace {

// multistream-select on a stream, either side: `negotiator` is an mss::Dialer (whose opening
// bytes are in `first`) or an mss::Listener (nothing to send first).
template <class Negotiator>
asio::awaitable<void> negotiate_stream(Stream& stream, Negotiator negotiator, Bytes first,
                                       std::string& selected, Bytes& leftover) {
  if (!first.empty()) co_await stream.write(first);
  std::uint8_t buf[1024];
  while (true) {
    const std::size_t n = co_await stream.read_some(buf);
    if (n == 0) throw system_error(asio::error::eof, "stream closed during negotiation");
    auto progress = check(negotiator.on_bytes(ByteView(buf, n)), "negotiating a stream protocol");
    if (!progress.output.empty()) co_await stream.write(progress.output);
    if (progress.done()) {
      selected = std::move(*progress.selected);
      leftover = std::move(progress.leftover);
      co_return;
    }
  }
}

}  // namespace

asio::awaitable<Stream> Connection::open_stream(std::vector<std::string> protocols) {
  auto& c = *core_;
  if (!c.open) c.throw_closed();
  StreamScope scope;
  if (c.resources) {
    auto opened = c.resources.open_stream(Dir::outbound);
    if (!opened) throw system_error(opened.error(), c.resources.last_refusal());
    scope = std::move(*opened);
  }
  const std::uint32_t id = check(c.session.open_stream(), "opening a stream");
  c.slot(id).scope = std::move(scope);
  c.output.notify();
  Stream stream(core_, id);
  std::string selected;
  Bytes leftover;
  mss::Dialer dialer(std::move(protocols));
  Bytes first = dialer.start();
  co_await async::with_timeout(
      negotiate_stream(stream, std::move(dialer), std::move(first), selected, leftover),
      c.options.negotiation_timeout, make_error_code(errc::handshake_timeout),
      "stream protocol negotiation");
  stream.protocol_ = std::move(selected);
  stream.pending_ = std::move(leftover);
  stream.attach_protocol();
  co_return stream;
}

asio::awaitable<std::optional<Stream>> Connection::accept_stream() {
  auto& c = *core_;
  while (true) {
    if (!c.inbound_ids.empty()) {
      const std::uint32_t id = c.inbound_ids.front();
      c.inbound_ids.pop_front();
      c.slot(id);
      co_return Stream(core_, id);
    }
    if (!c.open) co_return std::nullopt;
    co_await c.inbound.wait();
  }
}

asio::awaitable<void> Connection::negotiate_inbound(Stream& stream,
                                                    const std::vector<std::string>& supported) {
  std::string selected;
  Bytes leftover;
  co_await async::with_timeout(
      negotiate_stream(stream, mss::Listener(supported), Bytes{}, selected, leftover),
      core_->options.negotiation_timeout, make_error_code(errc::handshake_timeout),
      "stream protocol negotiation");
  stream.protocol_ = std::move(selected);
  stream.pending_ = std::move(leftover);
  stream.attach_protocol();
}

void Connection::close(error_code reason) {
  if (core_) core_->close(reason);
}

bool Connection::is_open() const noexcept {
  return core_ && core_->open;
}
Direction Connection::direction() const noexcept {
  return core_->direction;
}
const PeerId& Connection::remote_peer() const {
  return core_->remote;
}
const Multiaddr& Connection::remote_addr() const {
  return core_->remote_addr;
}
const Multiaddr& Connection::local_addr() const {
  return core_->local_addr;
}
error_code Connection::close_reason() const {
  return core_->reason;
}
std::size_t Connection::stream_count() const {
  return core_->session.stream_count();
}
std::uint64_t Connection::bytes_sent() const noexcept {
  return core_->bytes_sent;
}
std::uint64_t Connection::bytes_received() const noexcept {
  return core_->bytes_received;
}
std::size_t Connection::reserved_memory() const noexcept {
  return core_->resources.memory();
}
std::size_t Connection::pending_output() const noexcept {
  return core_->session.output_size();
}

// ---- Stream ----

namespace {

[[noreturn]] void throw_reset(const detail::StreamSlot& slot, const char* what) {
  if (slot.refused)
    throw system_error(slot.refused, std::string(what) + ": " + slot.refusal_detail);
  throw system_error(make_error_code(errc::yamux_stream_reset), what);
}

}  // namespace

void Stream::attach_protocol() {
  auto it = core_->slots.find(id_);
  if (it == core_->slots.end() || !it->second->scope) return;
  if (auto ec = it->second->scope.set_protocol(protocol_)) {
    const std::string detail = it->second->scope.last_refusal();
    reset();
    throw system_error(ec, "stream for " + protocol_ + " refused: " + detail);
  }
}

boost::system::error_code StreamMemory::resize(std::size_t bytes) {
  StreamScope* scope = stream_->resources();
  if (scope == nullptr) {  // unaccounted, or the stream ended and its scope gave it all back
    held_ = bytes;
    return {};
  }
  if (bytes > held_) {
    if (auto ec = scope->reserve_memory(bytes - held_)) return ec;
  } else {
    scope->release_memory(held_ - bytes);
  }
  held_ = bytes;
  return {};
}

void StreamMemory::resize_or_reset(std::size_t bytes, std::string_view what) {
  if (auto ec = resize(bytes)) {
    std::string why = std::string(what) + " refused: " + stream_->resources()->last_refusal();
    stream_->reset();
    throw boost::system::system_error(ec, why);
  }
}

StreamScope* Stream::resources() noexcept {
  if (!core_) return nullptr;
  auto it = core_->slots.find(id_);
  if (it == core_->slots.end() || !it->second->scope) return nullptr;
  return &it->second->scope;
}

Stream::Stream(std::shared_ptr<detail::MuxCore> core, std::uint32_t id)
    : core_(std::move(core)), id_(id) {}

Stream::Stream(Stream&&) noexcept = default;

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    Stream dying(std::move(*this));
    core_ = std::move(other.core_);
    id_ = other.id_;
    protocol_ = std::move(other.protocol_);
    pending_ = std::move(other.pending_);
    pending_at_ = other.pending_at_;
  }
  return *this;
}

Stream::~Stream() {
  if (!core_) return;
  auto& c = *core_;
  auto it = c.slots.find(id_);
  // Finished: both sides closed and nothing left unread (unread data would keep the stream
  // and its buffer in the session).
  const bool finished = it != c.slots.end() && it->second->closed_write &&
                        c.session.remote_closed(id_) && c.session.readable_bytes(id_) == 0;
  if (c.open && !finished) {
    (void)c.session.reset(id_);
    c.output.notify();
  }
  if (it != c.slots.end()) c.slots.erase(it);
}

asio::awaitable<std::size_t> Stream::read_some(std::span<std::uint8_t> out) {
  if (pending_at_ < pending_.size()) {
    const std::size_t n = std::min(out.size(), pending_.size() - pending_at_);
    std::memcpy(out.data(), pending_.data() + pending_at_, n);
    pending_at_ += n;
    if (pending_at_ == pending_.size()) {
      Bytes().swap(pending_);
      pending_at_ = 0;
    }
    co_return n;
  }
  auto core = core_;  // keeps the state alive across suspension
  auto& c = *core;
  while (true) {
    auto n = c.session.read(id_, out);
    if (!n) throw system_error(n.error(), "reading a stream");
    if (*n > 0) {
      if (c.session.output_size() > 0) c.output.notify();  // a window update is due
      co_return *n;
    }
    auto& slot = c.slot(id_);
    if (slot.reset) throw_reset(slot, "reading a stream");
    if (c.session.remote_closed(id_)) co_return 0;
    if (!c.open) c.throw_closed();
    co_await slot.readable.wait();
  }
}

asio::awaitable<void> Stream::read_exact(std::span<std::uint8_t> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    const std::size_t n = co_await read_some(out.subspan(got));
    if (n == 0) throw system_error(asio::error::eof, "stream ended early");
    got += n;
  }
}

asio::awaitable<void> Stream::write(ByteView data) {
  auto core = core_;
  auto& c = *core;
  while (!data.empty()) {
    if (!c.open) c.throw_closed();
    auto& slot = c.slot(id_);
    if (slot.reset) throw_reset(slot, "writing a stream");
    const std::size_t queued = c.session.output_size();
    if (queued >= c.options.max_pending_output) {
      co_await c.drained.wait();
      continue;
    }
    const std::size_t room = c.options.max_pending_output - queued;
    auto n = c.session.write(id_, data.first(std::min(data.size(), room)));
    if (!n) throw system_error(n.error(), "writing a stream");
    if (*n > 0) {
      data = data.subspan(*n);
      c.output.notify();
      continue;
    }
    co_await slot.writable.wait();
  }
}

void Stream::close_write() {
  if (!core_) return;
  auto& c = *core_;
  c.slot(id_).closed_write = true;
  (void)c.session.close_write(id_);
  c.output.notify();
}

void Stream::reset() {
  if (!core_) return;
  auto& c = *core_;
  (void)c.session.reset(id_);
  c.slot(id_).reset = true;
  c.output.notify();
}

bool Stream::is_open() const noexcept {
  if (!core_ || !core_->open) return false;
  auto it = core_->slots.find(id_);
  return it != core_->slots.end() && !it->second->reset;
}

std::size_t Stream::send_window() const noexcept {
  return core_ ? core_->session.send_window(id_) : 0;
}

std::size_t Stream::readable_bytes() const noexcept {
  return (pending_.size() - pending_at_) + (core_ ? core_->session.readable_bytes(id_) : 0);
}

const PeerId& Stream::remote_peer() const {
  return core_->remote;
}
const Multiaddr& Stream::remote_addr() const {
  return core_->remote_addr;
}

}  // namespace bb::wire

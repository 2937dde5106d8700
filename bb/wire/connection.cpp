// Connection: the upgrade entry points, run(), and stream opening/accepting. The upgrade itself
// is in detail/upgrade.cpp, the loops in detail/mux_core.cpp, the Stream API in stream.cpp.
#include "bb/wire/connection.hpp"

#include "bb/async/timeout.hpp"
#include "bb/wire/detail/mux_core.hpp"
#include "bb/wire/detail/upgrade.hpp"
#include "bb/wire/mss/negotiator.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

namespace bb::wire {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;
using detail::check;

asio::awaitable<Connection> Connection::upgrade(tcp::socket socket, Direction direction,
                                                const Ed25519KeyPair& identity,
                                                std::optional<PeerId> expected,
                                                const ConnectionOptions& options,
                                                ConnectionScope scope) {
  co_return co_await upgrade(make_tcp_stream(std::move(socket)), direction, identity,
                             std::move(expected), options, std::move(scope));
}

asio::awaitable<Connection> Connection::upgrade(std::unique_ptr<ByteStream> stream,
                                                Direction direction, const Ed25519KeyPair& identity,
                                                std::optional<PeerId> expected,
                                                const ConnectionOptions& options,
                                                ConnectionScope scope, Bytes read_ahead) {
  async::Clock& clock = options.clock != nullptr ? *options.clock : async::steady_clock();
  detail::Upgraded up = co_await async::with_timeout(
      clock,
      detail::run_upgrade(*stream, direction, identity, std::move(expected), std::move(read_ahead)),
      async::to_ns(options.handshake_timeout), make_error_code(errc::handshake_timeout),
      "connection upgrade");
  yamux::Config config;
  config.initial_window = options.stream_window;
  config.max_streams = options.max_streams;
  yamux::Session session(
      direction == Direction::outbound ? yamux::Role::client : yamux::Role::server, config);
  check(session.receive(up.plaintext), "Yamux");
  auto core =
      std::make_shared<detail::MuxCore>(std::move(stream), std::move(up.transport),
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
  co_await (detail::reader(core) || detail::writer(core) || detail::keepalive(core));
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
      c.clock, negotiate_stream(stream, std::move(dialer), std::move(first), selected, leftover),
      async::to_ns(c.options.negotiation_timeout), make_error_code(errc::handshake_timeout),
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
      core_->clock, negotiate_stream(stream, mss::Listener(supported), Bytes{}, selected, leftover),
      async::to_ns(core_->options.negotiation_timeout), make_error_code(errc::handshake_timeout),
      "stream protocol negotiation");
  stream.protocol_ = std::move(selected);
  stream.pending_ = std::move(leftover);
  stream.attach_protocol();
}

void Connection::close(error_code reason) {
  if (core_) core_->close(reason);
}

asio::awaitable<void> Connection::flush() {
  auto core = core_;
  if (!core) co_return;
  while (core->open && (core->session.output_size() > 0 || core->writing_bytes > 0)) {
    co_await core->flushed.wait();
  }
}

void Connection::end_writing() {
  if (core_) core_->end_writing();
}

asio::awaitable<void> Connection::wait_closed() {
  auto core = core_;
  if (!core) co_return;
  while (core->open) co_await core->closed.wait();
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
}  // namespace bb::wire

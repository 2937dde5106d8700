#include "tests/support/connection_pair.hpp"

#include "bb/async/timeout.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

namespace bb::test {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

wire::Multiaddr loopback() {
  return wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value();
}

namespace {

asio::awaitable<wire::Connection> upgrade_end(std::unique_ptr<wire::ByteStream> stream,
                                              wire::Direction direction,
                                              const wire::Ed25519KeyPair& identity,
                                              std::optional<wire::PeerId> expected,
                                              wire::ConnectionOptions options) {
  co_return co_await wire::Connection::upgrade(std::move(stream), direction, identity,
                                               std::move(expected), options);
}

asio::awaitable<wire::Connection> accept_end(wire::TcpListener& listener,
                                             const wire::Ed25519KeyPair& identity,
                                             wire::ConnectionOptions options) {
  auto socket = co_await listener.accept();
  co_return co_await wire::Connection::upgrade(std::move(socket), wire::Direction::inbound,
                                               identity, {}, options);
}

asio::awaitable<wire::Connection> dial_end(wire::Multiaddr to, const wire::Ed25519KeyPair& identity,
                                           std::optional<wire::PeerId> expected,
                                           wire::ConnectionOptions options) {
  auto socket = co_await wire::tcp_connect(to, kEventWait);
  co_return co_await wire::Connection::upgrade(std::move(socket), wire::Direction::outbound,
                                               identity, std::move(expected), options);
}

asio::awaitable<void> scenario_then_close(asio::awaitable<void> scenario, ConnectionPair& p) {
  auto outcome = co_await async::capture(std::move(scenario));
  p.dialer.close();
  p.listener.close();
  if (outcome.error) std::rethrow_exception(outcome.error);
}

}  // namespace

asio::awaitable<ConnectionPair> memory_connection_pair(const wire::Ed25519KeyPair& a,
                                                       const wire::Ed25519KeyPair& b,
                                                       std::optional<wire::PeerId> expected,
                                                       wire::ConnectionOptions options,
                                                       MemoryStreamOptions stream_options) {
  if (stream_options.a_addr.empty()) {
    stream_options.a_addr = wire::Multiaddr::parse("/ip4/10.0.0.1/tcp/1").value();
  }
  if (stream_options.b_addr.empty()) {
    stream_options.b_addr = wire::Multiaddr::parse("/ip4/10.0.0.2/tcp/2").value();
  }
  auto streams =
      make_memory_stream_pair(co_await asio::this_coro::executor, std::move(stream_options));
  auto dial =
      upgrade_end(std::move(streams.a), wire::Direction::outbound, a, std::move(expected), options);
  auto accept = upgrade_end(std::move(streams.b), wire::Direction::inbound, b, {}, options);
  auto [d, l] = co_await (std::move(dial) && std::move(accept));
  co_return ConnectionPair{std::move(d), std::move(l), std::move(streams.link)};
}

asio::awaitable<ConnectionPair> tcp_connection_pair(const wire::Ed25519KeyPair& a,
                                                    const wire::Ed25519KeyPair& b,
                                                    std::optional<wire::PeerId> expected,
                                                    wire::ConnectionOptions options) {
  auto listener = wire::TcpListener::listen(co_await asio::this_coro::executor, loopback());
  auto dial = dial_end(listener.local_addr(), a, std::move(expected), options);
  auto accept = accept_end(listener, b, options);
  auto [d, l] = co_await (std::move(dial) && std::move(accept));
  co_return ConnectionPair{std::move(d), std::move(l), nullptr};
}

asio::awaitable<void> run_with(ConnectionPair& pair, asio::awaitable<void> scenario) {
  co_await (scenario_then_close(std::move(scenario), pair) && pair.dialer.run() &&
            pair.listener.run());
}

boost::system::error_code code_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    return e.code();
  } catch (...) {
    return make_error_code(asio::error::fault);
  }
}

asio::awaitable<void> serve_echo(wire::Connection conn, std::size_t chunk) {
  auto stream = co_await conn.accept_stream();
  if (!stream) throw boost::system::system_error(conn.close_reason(), "no stream arrived");
  co_await conn.negotiate_inbound(*stream, kEcho);
  std::vector<std::uint8_t> buf(chunk);
  while (true) {
    const std::size_t n = co_await stream->read_some(buf);
    if (n == 0) break;
    co_await stream->write(wire::ByteView(buf.data(), n));
  }
  stream->close_write();
}

}  // namespace bb::test

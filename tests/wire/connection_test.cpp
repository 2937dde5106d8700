// Secure multiplexed connections, over the in-memory stream pair (tests/support/memory_stream)
// and, where sockets are the point, over loopback TCP.
#include "bb/wire/connection.hpp"

#include "bb/async/timeout.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

using test::ConnectionPair;
using test::kEcho;
using test::kEventWait;
using test::memory_connection_pair;
using test::run_with;
using test::tcp_connection_pair;
using Pair = ConnectionPair;

asio::awaitable<void> echo_megabyte(Pair& p) {
  auto client = [](Connection conn) -> asio::awaitable<void> {
    auto stream = co_await conn.open_stream(kEcho);
    EXPECT_EQ(stream.protocol(), "/echo/1.0.0");
    Bytes sent(1 << 20);
    for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>(i * 7);
    auto writer = [](Stream& s, const Bytes& data) -> asio::awaitable<void> {
      co_await s.write(data);
      s.close_write();
    };
    auto reader = [](Stream& s, std::size_t size) -> asio::awaitable<Bytes> {
      Bytes got(size);
      co_await s.read_exact(got);
      std::uint8_t extra;
      EXPECT_EQ(co_await s.read_some(std::span(&extra, 1)), 0u);  // then end of stream
      co_return got;
    };
    Bytes got = co_await (writer(stream, sent) && reader(stream, sent.size()));
    EXPECT_EQ(got, sent);
  };
  co_await (client(p.dialer) && test::serve_echo(p.listener));
}

TEST(Connection, UpgradeProvesBothPeerIdsAndEchoesAMegabyte) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& a, const Ed25519KeyPair& b) -> asio::awaitable<void> {
    Pair p = co_await memory_connection_pair(a, b, b.peer_id());
    EXPECT_EQ(p.dialer.remote_peer(), b.peer_id());
    EXPECT_EQ(p.listener.remote_peer(), a.peer_id());
    EXPECT_EQ(p.dialer.direction(), Direction::outbound);
    EXPECT_EQ(p.listener.direction(), Direction::inbound);
    EXPECT_EQ(p.listener.remote_addr(), p.dialer.local_addr());
    EXPECT_EQ(p.dialer.remote_addr().to_string(), "/ip4/10.0.0.2/tcp/2");
    co_await run_with(p, echo_megabyte(p));
    EXPECT_EQ(p.dialer.bytes_sent(), p.listener.bytes_received());
    EXPECT_EQ(p.dialer.bytes_received(), p.listener.bytes_sent());
  }(a, b));
  EXPECT_EQ(test::MemoryLink::alive(), 0u);
}

// The same over a real socket: the TCP ByteStream and the addresses the kernel reports.
TEST(Connection, OverLoopbackTcpUpgradesAndEchoesAMegabyte) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& a, const Ed25519KeyPair& b) -> asio::awaitable<void> {
    Pair p = co_await tcp_connection_pair(a, b, b.peer_id());
    EXPECT_EQ(p.dialer.remote_peer(), b.peer_id());
    EXPECT_EQ(p.listener.remote_peer(), a.peer_id());
    EXPECT_EQ(p.listener.remote_addr(), p.dialer.local_addr());
    EXPECT_EQ(p.dialer.remote_addr(), p.listener.local_addr());
    EXPECT_EQ(p.dialer.remote_addr().components()[0].name, "ip4");
    co_await run_with(p, echo_megabyte(p));
  }(a, b));
}

TEST(Connection, DialingTheWrongPeerIdFails) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  const auto someone_else = Ed25519KeyPair::generate().peer_id();
  test::run_async(
      [](const Ed25519KeyPair& a, const Ed25519KeyPair& b, PeerId x) -> asio::awaitable<void> {
        auto outcome = co_await async::capture(memory_connection_pair(a, b, x));
        EXPECT_TRUE(outcome.error);
        if (!outcome.error) co_return;
        try {
          std::rethrow_exception(outcome.error);
        } catch (const asio::multiple_exceptions& e) {  // both ends failed
          try {
            std::rethrow_exception(e.first_exception());
          } catch (const boost::system::system_error& first) {
            EXPECT_EQ(first.code(), errc::noise_peer_id_mismatch) << first.what();
          }
        } catch (const boost::system::system_error& e) {
          EXPECT_EQ(e.code(), errc::noise_peer_id_mismatch) << e.what();
        }
      }(a, b, someone_else));
}

TEST(Connection, UnsupportedProtocolFailsThatStreamOnly) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& a, const Ed25519KeyPair& b) -> asio::awaitable<void> {
    Pair p = co_await memory_connection_pair(a, b, b.peer_id());
    auto scenario = [](Pair& p) -> asio::awaitable<void> {
      auto refuse = [](Connection conn) -> asio::awaitable<void> {
        auto stream = co_await conn.accept_stream();
        try {
          co_await conn.negotiate_inbound(*stream, kEcho);
          ADD_FAILURE() << "negotiation should fail";
        } catch (const boost::system::system_error&) {
        }
      };
      auto ask = [](Connection conn) -> asio::awaitable<void> {
        try {
          std::vector<std::string> unknown{"/nope/1.0.0"};
          (void)co_await conn.open_stream(std::move(unknown));
          ADD_FAILURE() << "expected mss_protocol_not_supported";
        } catch (const boost::system::system_error& e) {
          EXPECT_EQ(e.code(), errc::mss_protocol_not_supported) << e.what();
        }
      };
      co_await (ask(p.dialer) && refuse(p.listener));
      EXPECT_TRUE(p.dialer.is_open());
      co_await echo_megabyte(p);  // the connection still works
    };
    co_await run_with(p, scenario(p));
  }(a, b));
}

TEST(Connection, AReceiverThatDoesNotReadStopsTheSender) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& a, const Ed25519KeyPair& b) -> asio::awaitable<void> {
    Pair p = co_await memory_connection_pair(a, b, b.peer_id());
    auto scenario = [](Pair& p) -> asio::awaitable<void> {
      auto accept = [](Connection conn) -> asio::awaitable<Stream> {
        auto stream = co_await conn.accept_stream();
        co_await conn.negotiate_inbound(*stream, kEcho);
        co_return std::move(*stream);
      };
      auto [sender, server] = co_await (p.dialer.open_stream(kEcho) && accept(p.listener));
      // The window is 256 KiB (less the negotiation bytes already sent): that much is accepted
      // without the receiver reading...
      EXPECT_GT(sender.send_window(), 255u * 1024);
      EXPECT_LE(sender.send_window(), 256u * 1024);
      const Bytes chunk(sender.send_window(), 0x42);
      co_await sender.write(chunk);
      EXPECT_EQ(sender.send_window(), 0u);
      // ... and no more until it reads: a further write waits.
      // Everything runs on this executor over memory: once every ready handler has run (many
      // times over), a write that could go would have gone.
      auto blocked = [](Stream& s) -> asio::awaitable<void> { co_await s.write(Bytes(1024, 1)); };
      auto settle = []() -> asio::awaitable<void> {
        for (int i = 0; i < 100; ++i) co_await test::yield_now();
      };
      auto outcome = co_await (blocked(sender) || settle());
      EXPECT_EQ(outcome.index(), 1u) << "the sender was not stopped by the window";
      EXPECT_LE(server.readable_bytes(), 256u * 1024);
      // Reading releases it.
      Bytes got(chunk.size());
      co_await server.read_exact(got);
      co_await sender.write(Bytes(1024, 1));
    };
    co_await run_with(p, scenario(p));
  }(a, b));
}

TEST(Connection, AClientThatSaysNothingIsCutOffAtTheHandshakeTimeout) {
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& b) -> asio::awaitable<void> {
    auto streams = test::make_memory_stream_pair(co_await asio::this_coro::executor);
    ConnectionOptions options;
    options.handshake_timeout = 200ms;
    const auto started = std::chrono::steady_clock::now();
    try {
      (void)co_await Connection::upgrade(std::move(streams.b), Direction::inbound, b, {}, options);
      ADD_FAILURE() << "expected a handshake timeout";
    } catch (const boost::system::system_error& e) {
      EXPECT_EQ(e.code(), errc::handshake_timeout);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
    // The silent end sees the stream end.
    std::uint8_t byte = 0;
    auto end = co_await async::capture(streams.a->read_some_or_throw(std::span(&byte, 1)));
    EXPECT_EQ(test::code_of(end.error), asio::error::eof);
  }(b));
}

TEST(Connection, GarbageInsteadOfMultistreamIsASpecificError) {
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& b) -> asio::awaitable<void> {
    auto streams = test::make_memory_stream_pair(co_await asio::this_coro::executor);
    const std::string garbage = "\x0bGET / HTTP\n";
    co_await streams.a->write_or_throw(as_bytes(garbage));
    try {
      (void)co_await Connection::upgrade(std::move(streams.b), Direction::inbound, b, {}, {});
      ADD_FAILURE() << "expected an error";
    } catch (const boost::system::system_error& e) {
      EXPECT_EQ(e.code(), errc::mss_bad_header) << e.what();
    }
  }(b));
}

}  // namespace
}  // namespace bb::wire

namespace bb::wire {
namespace {

asio::awaitable<Multiaddr> accept_and_report(TcpListener& listener) {
  auto socket = co_await listener.accept();
  co_return to_multiaddr(socket.remote_endpoint());
}

TEST(Tcp, DialsDns4AndIp6AndReportsTheRealPort) {
  test::run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto v4 = TcpListener::listen(ex, test::loopback());
    const auto port = v4.local_addr().tcp_port().value();
    EXPECT_NE(port, 0);
    auto dns = Multiaddr::parse("/dns4/localhost/tcp/" + std::to_string(port)).value();
    auto dial_dns = [](Multiaddr a) -> asio::awaitable<void> { (void)co_await tcp_connect(a, 2s); };
    auto from = co_await (dial_dns(dns) && accept_and_report(v4));
    EXPECT_EQ(from.components()[0].name, "ip4");

    // IPv6 loopback, where the machine has it.
    std::optional<TcpListener> v6;
    try {
      v6.emplace(TcpListener::listen(ex, Multiaddr::parse("/ip6/::1/tcp/0").value()));
    } catch (const boost::system::system_error&) {
      co_return;  // no IPv6 here
    }
    auto dial_v6 = [](Multiaddr a) -> asio::awaitable<void> { (void)co_await tcp_connect(a, 2s); };
    auto from6 = co_await (dial_v6(v6->local_addr()) && accept_and_report(*v6));
    EXPECT_EQ(from6.components()[0].name, "ip6");
  }());
}

TEST(Tcp, RefusesAddressesItCannotDial) {
  EXPECT_FALSE(is_tcp_dialable(Multiaddr::parse("/ip4/127.0.0.1/udp/1").value()));
  EXPECT_FALSE(is_tcp_dialable(
      Multiaddr::parse("/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq").value()));
  EXPECT_TRUE(is_tcp_dialable(Multiaddr::parse("/dns6/example/tcp/1").value()));
  EXPECT_EQ(tcp_endpoint(Multiaddr::parse("/dns4/x/tcp/1").value()).error(),
            errc::multiaddr_invalid_value);
}

// Keep-alive and the idle timeout run on the connection's Clock: they are tested on a ManualClock
// in host_memory_test.cpp (ConnectionOnManualClock.*), without waiting in real time.

}  // namespace
}  // namespace bb::wire

// Connections over the in-memory stream pair with a fault injected at every byte position
// (tests/support/memory_stream.hpp, fail_at): during the upgrade (multistream-select, Noise,
// Yamux agreement) and during a stream exchange. Every failure point must end both sides with
// the injected error, within a bounded wait, leaving nothing behind.
#include "bb/wire/connection.hpp"

#include "bb/async/timeout.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using test::kEventWait;

using test::kEcho;
const error_code kInjected = make_error_code(test::MemoryStreamErrc::injected_fault);

ConnectionOptions bounded_options() {
  ConnectionOptions options;
  options.handshake_timeout = kEventWait;  // a hang shows as handshake_timeout, not a stuck test
  options.negotiation_timeout = kEventWait;
  options.write_timeout = kEventWait;
  return options;
}

struct HandshakeOutcome {
  error_code dialer;
  error_code listener;
  std::uint64_t bytes = 0;  // moved by the pair
};

asio::awaitable<Connection> upgrade_end(std::unique_ptr<ByteStream> stream, Direction direction,
                                        const Ed25519KeyPair& identity,
                                        std::optional<PeerId> expected) {
  co_return co_await Connection::upgrade(std::move(stream), direction, identity,
                                         std::move(expected), bounded_options());
}

// Both upgrades over a pair that breaks at `fail_at` (none if nullopt).
asio::awaitable<HandshakeOutcome> handshake(const Ed25519KeyPair& a, const Ed25519KeyPair& b,
                                            std::optional<std::uint64_t> fail_at) {
  auto streams = test::make_memory_stream_pair(co_await asio::this_coro::executor);
  if (fail_at) streams.link->fail_at(*fail_at);
  auto dial =
      async::capture(upgrade_end(std::move(streams.a), Direction::outbound, a, b.peer_id()));
  auto accept = async::capture(upgrade_end(std::move(streams.b), Direction::inbound, b, {}));
  auto [d, l] = co_await (std::move(dial) && std::move(accept));
  HandshakeOutcome out;
  out.dialer = d.error ? test::code_of(d.error) : error_code{};
  out.listener = l.error ? test::code_of(l.error) : error_code{};
  out.bytes = streams.link->bytes_moved();
  if (d.value) d.value->close();
  if (l.value) l.value->close();
  co_return out;
}

TEST(ConnectionFaults, UpgradeFailingAtEveryByteEndsBothSidesWithTheFault) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  const HandshakeOutcome clean = test::run_async(handshake(a, b, std::nullopt));
  ASSERT_FALSE(clean.dialer) << clean.dialer.message();
  ASSERT_FALSE(clean.listener) << clean.listener.message();
  ASSERT_GT(clean.bytes, 100u);
  for (std::uint64_t n = 0; n < clean.bytes; ++n) {
    const HandshakeOutcome out = test::run_async(handshake(a, b, n));
    EXPECT_EQ(out.dialer, kInjected) << "fault at byte " << n << ": " << out.dialer.message();
    EXPECT_EQ(out.listener, kInjected) << "fault at byte " << n << ": " << out.listener.message();
    EXPECT_EQ(out.bytes, n);
    EXPECT_EQ(test::MemoryLink::alive(), 0u) << "fault at byte " << n;
    if (HasFailure()) break;  // one failing position tells the story
  }
  // Breaking just past the handshake breaks nothing in it.
  const HandshakeOutcome after = test::run_async(handshake(a, b, clean.bytes));
  EXPECT_FALSE(after.dialer);
  EXPECT_FALSE(after.listener);
  RecordProperty("handshake_bytes", static_cast<int>(clean.bytes));
}

struct ExchangeOutcome {
  error_code client;  // open, write, half-close, read the echo back
  error_code server;  // accept, negotiate, echo
  error_code dialer_reason;
  error_code listener_reason;
  std::uint64_t bytes = 0;  // moved by the pair, from the start of the handshake
  bool echoed = false;
};

asio::awaitable<void> echo_client(Connection conn, bool& echoed) {
  auto stream = co_await conn.open_stream(kEcho);
  Bytes sent(1000);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>(i * 13);
  co_await stream.write(sent);
  stream.close_write();
  Bytes got(sent.size());
  co_await stream.read_exact(got);
  std::uint8_t extra = 0;
  const std::size_t more = co_await stream.read_some(std::span(&extra, 1));
  echoed = got == sent && more == 0;
}

asio::awaitable<ExchangeOutcome> both_sides(test::ConnectionPair& p) {
  ExchangeOutcome out;
  auto client = async::capture(echo_client(p.dialer, out.echoed));
  auto server = async::capture(test::serve_echo(p.listener, 1024));
  auto [c, s] = co_await (std::move(client) && std::move(server));
  out.client = c.error ? test::code_of(c.error) : error_code{};
  out.server = s.error ? test::code_of(s.error) : error_code{};
  co_return out;
}

// Bounded: a side still waiting after kEventWait is reported as timed_out. Then both close.
asio::awaitable<ExchangeOutcome> exchange_then_close(test::ConnectionPair& p) {
  auto outcome = co_await async::capture(async::with_timeout(
      both_sides(p), kEventWait, make_error_code(asio::error::timed_out), "stream exchange"));
  ExchangeOutcome out;
  if (outcome.error) {
    out.client = out.server = test::code_of(outcome.error);
  } else {
    out = *outcome.value;
  }
  out.bytes = p.link->bytes_moved();
  p.dialer.close();
  p.listener.close();
  co_return out;
}

// The handshake runs clean; the pair then breaks `after` bytes into the exchange (nullopt: no
// fault).
asio::awaitable<ExchangeOutcome> exchange(const Ed25519KeyPair& a, const Ed25519KeyPair& b,
                                          std::optional<std::uint64_t> after) {
  test::ConnectionPair p =
      co_await test::memory_connection_pair(a, b, b.peer_id(), bounded_options());
  const std::uint64_t handshake_bytes = p.link->bytes_moved();
  if (after) p.link->fail_at(handshake_bytes + *after);
  ExchangeOutcome out = co_await (exchange_then_close(p) && p.dialer.run() && p.listener.run());
  out.bytes -= handshake_bytes;
  out.dialer_reason = p.dialer.close_reason();
  out.listener_reason = p.listener.close_reason();
  co_return out;
}

TEST(ConnectionFaults, StreamExchangeFailingAtEveryByteEndsBothSidesWithTheFault) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  const ExchangeOutcome clean = test::run_async(exchange(a, b, std::nullopt));
  ASSERT_TRUE(clean.echoed);
  ASSERT_FALSE(clean.client) << clean.client.message();
  ASSERT_FALSE(clean.server) << clean.server.message();
  ASSERT_GT(clean.bytes, 2000u);  // both ways, plus negotiation and window updates
  for (std::uint64_t n = 0; n < clean.bytes; ++n) {
    const ExchangeOutcome out = test::run_async(exchange(a, b, n));
    // Both connections end with the fault, whichever side was writing when it struck.
    EXPECT_EQ(out.dialer_reason, kInjected)
        << "fault at byte " << n << ": " << out.dialer_reason.message();
    EXPECT_EQ(out.listener_reason, kInjected)
        << "fault at byte " << n << ": " << out.listener_reason.message();
    // A side whose work was not done by then fails with it, not with a timeout or another code.
    if (!out.echoed) {
      EXPECT_EQ(out.client, kInjected) << "fault at byte " << n << ": " << out.client.message();
    }
    EXPECT_TRUE(!out.server || out.server == kInjected)
        << "fault at byte " << n << ": " << out.server.message();
    EXPECT_EQ(test::MemoryLink::alive(), 0u) << "fault at byte " << n;
    if (HasFailure()) break;
  }
  RecordProperty("exchange_bytes", static_cast<int>(clean.bytes));
}

}  // namespace
}  // namespace bb::wire

// Hosts over the in-memory stream pair (Host::add_inbound / Host::connect_over): a fault at every
// byte of a handshake and a protocol exchange, and the deadlines that run on the Host's clock (a
// ManualClock here: virtual time, no sleeping), down to the connection's keep-alive.
#include "bb/async/clock.hpp"
#include "bb/async/timeout.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/mss/message.hpp"
#include "bb/wire/protocols/ping.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"
#include "tests/support/host_pair.hpp"
#include "tests/support/memory_stream.hpp"
#include "tests/wire/host_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using boost::system::error_code;
using host_test::describe;
using host_test::kEventWait;
using host_test::kTestLimit;
using host_test::run_then_stop;

constexpr std::uint64_t kSecond = 1'000'000'000;

// Runs ready handlers a number of times: enough for a few in-memory round trips to settle.
asio::awaitable<void> settle() {
  for (int i = 0; i < 64; ++i) co_await test::yield_now();
}

// The first event that ends a Host's view of its one peer: DialFailed, InboundFailed (their
// error) or PeerDisconnected (its reason); nullopt if none comes within kEventWait.
asio::awaitable<std::optional<error_code>> ending(Host& host, std::string& seen) {
  while (true) {
    auto next = co_await async::capture(async::with_timeout(
        host.next_event(), kEventWait, make_error_code(asio::error::timed_out), "next_event"));
    if (next.error || !next.value || !*next.value) co_return std::nullopt;
    const HostEvent& event = **next.value;
    seen += "\n  " + describe(event);
    if (const auto* e = std::get_if<DialFailed>(&event)) co_return e->error;
    if (const auto* e = std::get_if<InboundFailed>(&event)) co_return e->error;
    if (const auto* e = std::get_if<PeerDisconnected>(&event)) co_return e->reason;
  }
}

// ---- a fault at every byte ----------------------------------------------------------------------

struct FaultRun {
  std::uint64_t moved = 0;                 // bytes the link moved by the end of the exchange
  error_code dialer_error;                 // what connect_over or the ping threw
  std::optional<error_code> dialer_end;    // the dialer's ending event (when a failure is due)
  std::optional<error_code> listener_end;  // the listener's
  std::string events;
};

// `a` dials `b` over a link that breaks after `fail_at` bytes (never when nullopt), then pings it
// over a /ipfs/ping/1.0.0 stream. When a fault was due, waits for each Host to report an ending.
asio::awaitable<FaultRun> handshake_and_ping(std::optional<std::uint64_t> fail_at,
                                             const Ed25519KeyPair& a_id,
                                             const Ed25519KeyPair& b_id) {
  auto ex = co_await asio::this_coro::executor;
  // Virtual time that never moves: nothing here may end by a timeout, only by the fault.
  async::ManualClock clock;
  HostOptions options;
  options.clock = &clock;
  options.identify_peers = false;  // the bytes moved are the handshake and the ping alone
  Host a(ex, a_id, options);
  Host b(ex, b_id, options);
  FaultRun run;
  auto scenario = [&]() -> asio::awaitable<void> {
    test::InboundLink in = test::link_into(ex, b);
    if (fail_at) in.link->fail_at(*fail_at);
    auto outcome = co_await async::capture(a.connect_over(std::move(in.dialer_end), b.peer_id()));
    if (!outcome.error) {
      auto rtt = co_await async::capture(ping::ping(*outcome.value, kEventWait, clock));
      if (rtt.error) run.dialer_error = test::code_of(rtt.error);
      co_await settle();  // what follows the reply (the stream's close) moves too
    } else {
      run.dialer_error = test::code_of(outcome.error);
    }
    run.moved = in.link->bytes_moved();
    if (in.link->broken()) {
      run.dialer_end = co_await ending(a, run.events);
      run.listener_end = co_await ending(b, run.events);
    }
  };
  co_await run_then_stop(scenario(), a, b);
  co_return run;
}

TEST(HostOverMemory, AFaultAtEveryByteOfAHandshakeAndAPingIsReportedByBothHosts) {
  const auto a_id = Ed25519KeyPair::generate();
  const auto b_id = Ed25519KeyPair::generate();
  const FaultRun clean = test::run_async(handshake_and_ping(std::nullopt, a_id, b_id), kTestLimit);
  ASSERT_FALSE(clean.dialer_error) << clean.dialer_error.message();
  const std::uint64_t total = clean.moved;
  ASSERT_GT(total, 500u);  // the Noise handshake alone is more
  ASSERT_EQ(test::MemoryLink::alive(), 0u);

  const error_code fault = test::MemoryStreamErrc::injected_fault;
  for (std::uint64_t n = 0; n <= total; ++n) {
    SCOPED_TRACE("fail_at(" + std::to_string(n) + ") of " + std::to_string(total) + " bytes");
    const FaultRun run = test::run_async(handshake_and_ping(n, a_id, b_id), kTestLimit);
    if (n == total) {  // past the end: nothing fails
      EXPECT_FALSE(run.dialer_error) << run.dialer_error.message();
      EXPECT_EQ(run.moved, total);
    } else {
      // Both Hosts saw the fault itself: as DialFailed / InboundFailed while handshaking, as
      // PeerDisconnected after. Nothing is left hanging for a timeout to end.
      EXPECT_EQ(run.dialer_end, std::optional<error_code>(fault)) << run.events;
      EXPECT_EQ(run.listener_end, std::optional<error_code>(fault)) << run.events;
      if (run.dialer_error) {
        EXPECT_NE(run.dialer_error, asio::error::timed_out);
      }
    }
    EXPECT_EQ(test::MemoryLink::alive(), 0u) << "a stream end outlived its Hosts";
    if (testing::Test::HasFailure()) break;  // one failing N says enough
  }
}

// ---- deadlines on the Host's clock --------------------------------------------------------------

// A dialer that never sends its first multistream-select message loses its slot after
// first_message_timeout; one that sends it and then nothing fails the upgrade after
// handshake_timeout (ConnectionOptions, on the clock the Host hands its connections).
asio::awaitable<void> silent_dialers_time_out_on_the_hosts_clock(async::ManualClock& clock) {
  auto ex = co_await asio::this_coro::executor;
  HostOptions options;
  options.clock = &clock;
  options.connection_manager.first_message_timeout = 3s;
  options.connection.handshake_timeout = 10s;
  Host host(ex, Ed25519KeyPair::generate(), options);
  auto scenario = [&]() -> asio::awaitable<void> {
    host_test::EventLog events(host);
    test::MemoryStreamOptions second;
    second.a_addr = Multiaddr::parse("/ip4/10.0.0.9/tcp/9").value();
    test::InboundLink silent = test::link_into(ex, host);
    test::InboundLink header_only = test::link_into(ex, host, second);
    Bytes header;
    mss::append_message(header, mss::kHeader);
    co_await header_only.dialer_end->write_or_throw(header);
    co_await settle();
    EXPECT_EQ(events.count<InboundFailed>(), 0u) << events.dump();

    clock.advance(3 * kSecond - 1);
    co_await settle();
    EXPECT_EQ(events.count<InboundFailed>(), 0u) << events.dump();
    clock.advance(1);
    if (auto failed = co_await events.wait<InboundFailed>()) {
      EXPECT_EQ(failed->error, errc::handshake_timeout) << failed->detail;
      EXPECT_EQ(failed->from, silent.dialer_end->local_addr());
    }
    // The header arrived at time 0: the upgrade's deadline is at 10 s.
    clock.advance_to(10 * kSecond - 1);
    co_await settle();
    EXPECT_EQ(events.count<InboundFailed>(), 0u) << events.dump();
    clock.advance(1);
    if (auto failed = co_await events.wait<InboundFailed>()) {
      EXPECT_EQ(failed->error, errc::handshake_timeout) << failed->detail;
      EXPECT_EQ(failed->from, header_only.dialer_end->local_addr());
    }
    EXPECT_EQ(host.connection_count(), 0u);
  };
  co_await run_then_stop(scenario(), host);
}

TEST(HostOverMemory, SilentDialersTimeOutOnTheHostsClock) {
  async::ManualClock clock;
  test::run_async(silent_dialers_time_out_on_the_hosts_clock(clock), kTestLimit);
}

// ---- the connection's own deadlines on a ManualClock --------------------------------------------

ConnectionOptions on_clock(async::Clock& clock) {
  ConnectionOptions options;
  options.clock = &clock;
  options.keepalive_interval = 1s;
  options.idle_timeout = 3s;
  return options;
}

// The listener's loops never run: it reads nothing and answers no ping. The dialer pings it at
// 1 s and 2 s of silence and closes the connection at 3 s.
asio::awaitable<void> unanswered_pings(async::ManualClock& clock) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  auto pair = co_await test::memory_connection_pair(a, b, b.peer_id(), on_clock(clock));
  const std::uint64_t after_handshake = pair.link->bytes_moved();
  std::optional<std::uint64_t> closed_at;
  auto drive = [&]() -> asio::awaitable<void> {
    for (int second = 1; second <= 10 && pair.dialer.is_open(); ++second) {
      clock.advance(kSecond);
      co_await settle();
      if (second < 3) {
        EXPECT_TRUE(pair.dialer.is_open()) << "closed at " << second << " s";
      }
    }
    if (!pair.dialer.is_open()) closed_at = clock.now_ns();
    pair.listener.close();
  };
  co_await (pair.dialer.run() && drive());
  EXPECT_EQ(closed_at, std::optional<std::uint64_t>(3 * kSecond));
  EXPECT_EQ(pair.dialer.close_reason(), asio::error::timed_out);
  // Two pings went out, then the GoAway of the close (Yamux frames of 12 bytes, each sealed in
  // its own Noise frame: 2 + 12 + 16 bytes).
  EXPECT_EQ(pair.link->bytes_moved() - after_handshake, 3u * (2 + 12 + 16));
}

TEST(ConnectionOnManualClock, APeerThatStopsAnsweringPingsIsClosedAtTheIdleTimeout) {
  async::ManualClock clock;
  test::run_async(unanswered_pings(clock), kTestLimit);
}

// Both sides run and answer: ten virtual seconds of silence between them keep the connection.
asio::awaitable<void> answered_pings(async::ManualClock& clock) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  auto pair = co_await test::memory_connection_pair(a, b, b.peer_id(), on_clock(clock));
  auto drive = [&]() -> asio::awaitable<void> {
    for (int second = 1; second <= 10; ++second) {
      clock.advance(kSecond);
      co_await settle();
    }
    EXPECT_TRUE(pair.dialer.is_open() && pair.listener.is_open())
        << pair.dialer.close_reason().message() << " / " << pair.listener.close_reason().message();
  };
  co_await test::run_with(pair, drive());
}

TEST(ConnectionOnManualClock, AnsweredPingsKeepAnIdleConnectionOpen) {
  async::ManualClock clock;
  test::run_async(answered_pings(clock), kTestLimit);
}

// The upgrade's deadline is on the connection's clock: a peer that never answers fails it at
// handshake_timeout of virtual time, not before.
asio::awaitable<void> upgrade_against_silence(async::ManualClock& clock) {
  auto ex = co_await asio::this_coro::executor;
  auto streams = test::make_memory_stream_pair(ex);
  ConnectionOptions options = on_clock(clock);
  options.handshake_timeout = 5s;
  const auto identity = Ed25519KeyPair::generate();
  std::optional<error_code> failed;
  auto dial = [&]() -> asio::awaitable<void> {
    auto outcome = co_await async::capture(
        Connection::upgrade(std::move(streams.a), Direction::outbound, identity, {}, options));
    failed = outcome.error ? test::code_of(outcome.error) : error_code{};
  };
  auto drive = [&]() -> asio::awaitable<void> {
    co_await settle();
    clock.advance(5 * kSecond - 1);
    co_await settle();
    EXPECT_FALSE(failed.has_value()) << "ended before its deadline";
    clock.advance(1);
    for (int i = 0; i < 8 && !failed; ++i) co_await settle();
  };
  co_await (dial() && drive());
  EXPECT_EQ(failed, std::optional<error_code>(make_error_code(errc::handshake_timeout)));
}

TEST(ConnectionOnManualClock, TheUpgradeTimesOutOnTheConnectionsClock) {
  async::ManualClock clock;
  test::run_async(upgrade_against_silence(clock), kTestLimit);
}

}  // namespace
}  // namespace bb::wire

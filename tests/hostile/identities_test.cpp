// Findings 4 and 10 of issue 10: fresh identities are free to make, so filling max_connections
// with them must not lock out a legitimate peer; and a dialer the daemon refuses must be told
// why (multistream `na`, a Yamux GoAway code) instead of seeing the connection just end.
#include "tests/hostile/attack.hpp"
#include "tests/hostile/daemon.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/hostile_peer.hpp"

#include "bb/async/task_group.hpp"
#include "bb/wire/error.hpp"

#include <boost/asio/this_coro.hpp>

#include <gtest/gtest.h>

namespace bb::hostile {
namespace {

using namespace std::chrono_literals;

// A small connection limit keeps the test quick; without the flag (the daemon at fd00f14) the
// attack has to fill the default 1,024.
struct Limits {
  std::vector<std::string> args;
  int max_connections = 1024;
};

Limits connection_limit(int max_connections) {
  if (!run_supports("--max-connections")) return {};
  return {{"--max-connections", std::to_string(max_connections)}, max_connections};
}

// Attack: `limit + 64` identities held at once, each replaced by a fresh one when closed or
// refused, from `ips` addresses; then a legitimate peer pings, several times.
void throwaway_identities(int ips, const std::string& attack_name, const std::string& bound) {
  const auto limits = connection_limit(64);
  Daemon daemon({.args = limits.args});
  const int workers = limits.max_connections + 64;
  Attack attack;
  for (int ip = 0; ip < ips; ++ip) {
    const auto source =
        ips == 1 ? kAttackerAddress : source_address(2, static_cast<std::uint32_t>(ip));
    const int share = workers / ips + (ip < workers % ips ? 1 : 0);
    attack.identities(daemon_endpoint(daemon.port()), daemon.peer_id(), source, share, true);
  }
  // A few hundred identities tried: every worker has had its first attempt answered.
  const auto attempts = static_cast<std::uint64_t>(workers) * 2;
  (void)attack.wait_until(
      [&](const auto& c) { return c.handshakes + c.refused + c.connect_failures >= attempts; },
      30s);
  const auto held = attack.counters().open.load();

  const auto pings = pings_in_a_row(daemon, 3);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  attack.stop();
  report_row(attack_name, bound, stats.peak_rss, pings.all(),
             std::to_string(held) + " attacker connections held");
  if (limits.args.empty()) ADD_FAILURE() << "bb-node run has no --max-connections flag";
  EXPECT_TRUE(pings.all()) << pings.succeeded << " of " << pings.runs << " pings got in\n"
                           << pings.failures << attack.describe() << "\n"
                           << daemon.describe();
}

TEST(Identities, Finding4_ThrowawayIdentitiesFromOneAddressDoNotLockOutALegitimatePeer) {
  throwaway_identities(1, "throwaway identities from one IP (128 held, --max-connections 64)",
                       "per-IP connection limit, checked at accept before any crypto");
}

TEST(Identities, Finding4_ThrowawayIdentitiesFromManyAddressesDoNotLockOutALegitimatePeer) {
  throwaway_identities(32, "throwaway identities from 32 IPs (128 held, --max-connections 64)",
                       "trimming of idle connections above the high-water mark");
}

// How one connection of the Finding 10 test ended, as its dialer saw it.
struct Ending {
  bool ended = false;  // the daemon refused or closed it
  bool told = false;   // ... with a multistream `na` or a Yamux GoAway code
  std::string what;
};

asio::awaitable<void> dial(std::string daemon_addr, std::uint32_t n,
                           std::optional<test::HostilePeer>& peer, Ending& ending) {
  test::HostileOptions options;
  options.source_ip = source_address(3, n).to_string();
  options.timeout = 10s;
  const auto addr = wire::Multiaddr::parse(daemon_addr).value();
  try {
    peer.emplace(co_await test::HostilePeer::connect(addr, options));
    co_await peer->secure(wire::Ed25519KeyPair::generate(), addr.peer_id());
  } catch (const boost::system::system_error& e) {
    peer.reset();
    ending.ended = true;
    ending.told = e.code() == wire::errc::mss_protocol_not_supported;
    ending.what = ending.told ? "multistream na" : wire::error_text(e);
  }
}

// Reads what the daemon sends until it ends the connection or 3 s pass.
asio::awaitable<void> read_end(test::HostilePeer& peer, Ending& ending) {
  const auto end = co_await peer.read_until_closed(3s);
  ending.ended = end.go_away.has_value() || end.closed_by_peer();
  ending.told = end.go_away.has_value();
  ending.what = end.go_away ? "GoAway code " + std::to_string(*end.go_away)
                            : end.end.message() + ", no GoAway";
}

// Four connections fill --max-connections 4, then a fifth dials from another address. The
// daemon may refuse the newcomer or displace an idle one for it; whoever it ends must be told
// why. Returns how each of the five ended.
asio::awaitable<std::vector<Ending>> one_past_the_limit(std::string daemon_addr) {
  constexpr std::uint32_t kDialers = 5;
  std::vector<std::optional<test::HostilePeer>> peers(kDialers);
  std::vector<Ending> endings(kDialers);
  for (std::uint32_t i = 0; i < kDialers; ++i) co_await dial(daemon_addr, i, peers[i], endings[i]);
  async::TaskGroup readers(co_await asio::this_coro::executor);
  for (std::uint32_t i = 0; i < kDialers; ++i)
    if (peers[i]) readers.spawn(read_end(*peers[i], endings[i]), "reader");
  co_await readers.join();
  co_return endings;
}

TEST(Identities, Finding10_ADialerTheDaemonRefusesOrDisplacesLearnsWhy) {
  const auto limits = connection_limit(4);
  if (limits.args.empty()) FAIL() << "bb-node run has no --max-connections flag";
  Daemon daemon({.args = limits.args});
  const auto endings = test::run_async(one_past_the_limit(daemon.addr()), 30s);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  std::string seen;
  int ended = 0;
  int told = 0;
  for (std::size_t i = 0; i < endings.size(); ++i) {
    seen += "\n  dialer " + std::to_string(i + 1) + ": " +
            (endings[i].ended ? endings[i].what : "still connected");
    ended += endings[i].ended ? 1 : 0;
    told += endings[i].told ? 1 : 0;
  }
  report_row("5 dialers for --max-connections 4 (one refused or displaced)",
             "multistream na, or a Yamux GoAway code before the close", stats.peak_rss, true,
             std::to_string(told) + " of " + std::to_string(ended) + " ended dialers told why");
  EXPECT_GE(ended, 1) << "5 connections held under --max-connections 4:" << seen;
  EXPECT_EQ(told, ended) << "a dialer the daemon ended was not told why:" << seen << "\n"
                         << daemon.describe();
}

}  // namespace
}  // namespace bb::hostile

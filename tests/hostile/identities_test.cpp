// Findings 4 and 10 of issue 10: fresh identities are free to make, so filling max_connections
// with them must not lock out a legitimate peer; and a dialer the daemon refuses must be told
// why (multistream `na`, a Yamux GoAway code) instead of seeing the connection just end.
#include "tests/hostile/attack.hpp"
#include "tests/hostile/daemon.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/hostile_peer.hpp"

#include "wire/error.hpp"

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
    const auto source = ips == 1 ? kAttackerAddress
                                 : source_address(2, static_cast<std::uint32_t>(ip));
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

// What a dialer past the limit learns: "multistream na" or "GoAway code N" counts as told;
// anything else (the connection just ends, or is never refused) is returned as it happened.
struct Refusal {
  bool told = false;
  std::string what;
};

asio::awaitable<Refusal> dial_past_the_limit(std::string daemon_addr) {
  test::HostileOptions options;
  options.source_ip = source_address(3, 100).to_string();
  options.timeout = 10s;
  const auto addr = wire::Multiaddr::parse(daemon_addr).value();
  Refusal out;
  try {
    auto peer = co_await test::HostilePeer::connect(addr, options);
    co_await peer.secure(wire::Ed25519KeyPair::generate(), addr.peer_id());
    const auto end = co_await peer.read_until_closed(5s);
    if (end.go_away) {
      out.told = true;
      out.what = "GoAway code " + std::to_string(*end.go_away);
    } else {
      out.what = "after the handshake: " + end.end.message() + ", no GoAway";
    }
  } catch (const boost::system::system_error& e) {
    out.told = e.code() == wire::errc::mss_protocol_not_supported;
    out.what = out.told ? "multistream na" : wire::error_text(e);
  }
  co_return out;
}

TEST(Identities, Finding10_ARefusedDialerLearnsWhy) {
  const auto limits = connection_limit(4);
  if (limits.args.empty()) FAIL() << "bb-node run has no --max-connections flag";
  Daemon daemon({.args = limits.args});
  // Fill the limit with held connections from 4 addresses (one each: no per-IP limit applies).
  Attack attack;
  for (std::uint32_t i = 0; i < 4; ++i) {
    attack.identities(daemon_endpoint(daemon.port()), daemon.peer_id(), source_address(3, i), 1,
                      false);
  }
  ASSERT_TRUE(attack.wait_until([](const auto& c) { return c.open >= 4; }, kPeerWait))
      << attack.describe();
  const auto refusal = test::run_async(dial_past_the_limit(daemon.addr()), 30s);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  attack.stop();
  report_row("a dialer past --max-connections 4", "refusal sent as multistream na or Yamux GoAway",
             stats.peak_rss, true, "the dialer saw: " + refusal.what);
  EXPECT_TRUE(refusal.told) << "the refused dialer saw: " << refusal.what << "\n"
                            << daemon.describe();
}

}  // namespace
}  // namespace bb::hostile

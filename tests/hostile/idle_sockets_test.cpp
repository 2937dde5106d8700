// Findings 3 and 9 of issue 10: a handful of sockets that say nothing (or one byte at a time)
// must not lock legitimate peers out, a burst of legitimate peers must not be refused below
// max_connections, and refused connections must not flood the daemon's output.
#include "tests/hostile/attack.hpp"
#include "tests/hostile/daemon.hpp"

#include <gtest/gtest.h>

namespace bb::hostile {
namespace {

using namespace std::chrono_literals;

constexpr int kIdleSockets = 100;  // above the 64 pending handshakes the daemon had at fd00f14

TEST(IdleSockets, Finding3_SilentConnectionsDoNotLockOutALegitimatePeer) {
  Daemon daemon;
  Attack attack;
  attack.idle_sockets(daemon_endpoint(daemon.port()), kAttackerAddress, kIdleSockets);
  ASSERT_TRUE(
      attack.wait_until([](const auto& c) { return c.connects >= kIdleSockets; }, kPeerWait))
      << attack.describe();

  const auto pings = pings_in_a_row(daemon, 4);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  attack.stop();
  report_row(std::to_string(kIdleSockets) + " silent TCP connections from one IP, reopened",
             "per-IP pending limit, first-message deadline, eviction of the most-represented IP",
             stats.peak_rss, pings.all(),
             std::to_string(pings.succeeded) + "/" + std::to_string(pings.runs) + " pings");
  EXPECT_TRUE(pings.all()) << pings.succeeded << " of " << pings.runs << " pings got in\n"
                           << pings.failures << attack.describe() << "\n"
                           << daemon.describe();
}

TEST(IdleSockets, Finding3_SlowlorisDoesNotLockOutALegitimatePeer) {
  Daemon daemon;
  Attack attack;
  // One byte of a valid multistream opening every 500 ms: 27 bytes take 13.5 s, longer than
  // this test, so each connection is always "in progress" and never done.
  attack.slowloris(daemon_endpoint(daemon.port()), kAttackerAddress, kIdleSockets, 500ms);
  ASSERT_TRUE(
      attack.wait_until([](const auto& c) { return c.connects >= kIdleSockets; }, kPeerWait))
      << attack.describe();

  const auto pings = pings_in_a_row(daemon, 4);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  attack.stop();
  report_row("slowloris: " + std::to_string(kIdleSockets) +
                 " connections sending one handshake byte per 500 ms",
             "first-message deadline, per-IP pending limit, eviction", stats.peak_rss, pings.all(),
             std::to_string(pings.succeeded) + "/" + std::to_string(pings.runs) + " pings");
  EXPECT_TRUE(pings.all()) << pings.succeeded << " of " << pings.runs << " pings got in\n"
                           << pings.failures << attack.describe() << "\n"
                           << daemon.describe();
}

TEST(IdleSockets, Finding3_TwoHundredPeersArrivingTogetherAreAllAccepted) {
  Daemon daemon;  // default limits: max_connections 1,024
  constexpr int kPeers = 200;
  // Each from its own address (127.1.0.2 ...), as 200 real peers would be.
  const auto burst =
      legitimate_burst(daemon_endpoint(daemon.port()), daemon.peer_id(), kPeers, 1, 60s);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  report_row("200 legitimate peers (fresh identities, 200 IPs) arriving together",
             "pending handshakes wait in the kernel backlog instead of being refused",
             stats.peak_rss, burst.pinged == kPeers,
             std::to_string(burst.pinged) + "/" + std::to_string(kPeers) + " pinged");
  EXPECT_EQ(burst.connected, kPeers) << burst.describe() << "\n" << daemon.describe();
  EXPECT_EQ(burst.pinged, kPeers) << burst.describe();
}

TEST(IdleSockets, Finding9_RefusedConnectionsDoNotFloodTheDaemonsOutput) {
  Daemon daemon;
  const auto stdout_before = daemon.stdout_lines().size();
  const auto stderr_before = daemon.stderr_lines().size();
  Attack attack;
  attack.idle_sockets(daemon_endpoint(daemon.port()), kAttackerAddress, kIdleSockets);
  // The attack lasts a bounded number of operations: 1,000 TCP connections (with the daemon
  // closing the ones it refuses, they are reopened every 20 ms), or what it manages in the
  // time bound when the daemon leaves them waiting instead.
  (void)attack.wait_until([](const auto& c) { return c.connects >= 1000; }, 10s);
  const auto pings = pings_in_a_row(daemon, 1);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  attack.stop();
  const auto out = daemon.stdout_lines();
  const auto err = daemon.stderr_lines();
  const auto written = (out.size() - stdout_before) + (err.size() - stderr_before);
  report_row("log amplification: 100 silent connections from one IP, reopened when closed",
             "refusals aggregated per cause and interval, logs on stderr", stats.peak_rss,
             pings.all(),
             std::to_string(attack.counters().connects) + " connections, " +
                 std::to_string(attack.counters().closed_by_daemon) + " closed by the daemon, " +
                 std::to_string(written) + " output lines");

  // Aggregated: a few lines per cause and interval, however many connections were refused.
  EXPECT_LE(written, 40u) << attack.describe() << "\n" << daemon.describe();
  EXPECT_LE(daemon.stderr_bytes(), 16u * 1024) << daemon.describe();
  const auto bad = non_json_lines(out);
  EXPECT_TRUE(bad.empty()) << bad.size() << " lines of the --json stream are not JSON, e.g. '"
                           << (bad.empty() ? "" : bad.front()) << "'";
  EXPECT_TRUE(pings.all()) << pings.failures;
}

}  // namespace
}  // namespace bb::hostile

// The connection manager's policy with made-up addresses and times: per-IP limits, eviction,
// waiting for a slot, displacement at the connection limit, trimming between the water marks,
// protection, activity sampling, the dial cap and fitting the limits to the fd limit.
#include "bb/wire/connection_manager.hpp"

#include "bb/async/clock.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace bb::wire {
namespace {

using namespace std::chrono_literals;
using Verdict = ConnectionManager::Admission::Verdict;
using boost::asio::ip::make_address;

const ConnectionManager::TimePoint t0{std::chrono::hours(1)};

boost::asio::ip::address ip(const char* text) {
  return make_address(text);
}

PeerId peer(std::uint64_t n) {
  return PeerId::from_u64(n);
}

ConnManagerOptions options() {
  ConnManagerOptions o;
  o.max_pending_per_ip = 3;
  o.max_connections_per_ip = 4;
  o.high_water = 4;
  o.low_water = 2;
  o.grace_period = 10s;
  o.idle_after = 5s;
  o.activity_bytes = 100;
  o.max_outbound_dials = 2;
  return o;
}

// ---- per-IP limits ----------------------------------------------------------------------------

TEST(ConnectionManager, RefusesAnAddressOverItsPendingLimitButNotOthers) {
  ConnectionManager cm(options(), 100, 64);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cm.admit(ip("10.0.0.1"), t0).verdict, Verdict::start);
  }
  const auto fourth = cm.admit(ip("10.0.0.1"), t0);
  EXPECT_EQ(fourth.verdict, Verdict::refuse);
  EXPECT_EQ(fourth.error, errc::ip_connection_limit) << fourth.detail;
  EXPECT_NE(fourth.detail.find("10.0.0.1"), std::string::npos) << fourth.detail;
  EXPECT_EQ(cm.admit(ip("10.0.0.2"), t0).verdict, Verdict::start);
  EXPECT_EQ(cm.stats().refused_ip, 1u);
  EXPECT_EQ(cm.stats().handshakes_running, 4u);
}

TEST(ConnectionManager, CountsEstablishedInboundConnectionsAgainstTheAddress) {
  ConnectionManager cm(options(), 100, 64);
  for (std::uint64_t n = 1; n <= 3; ++n) {
    const auto a = cm.admit(ip("10.0.0.1"), t0);
    ASSERT_EQ(a.verdict, Verdict::start);
    cm.handshake_ended(a.id);
    EXPECT_TRUE(cm.place(peer(n), ip("10.0.0.1"), t0).admitted);
  }
  // Three established and one handshake make four, the limit.
  EXPECT_EQ(cm.admit(ip("10.0.0.1"), t0).verdict, Verdict::start);
  const auto refused = cm.admit(ip("10.0.0.1"), t0);
  EXPECT_EQ(refused.error, errc::ip_connection_limit);
  // Outbound connections to the address do not count; closing an inbound one frees room.
  EXPECT_TRUE(cm.place(peer(10), std::nullopt, t0).admitted);
  cm.closed(peer(1));
  EXPECT_EQ(cm.admit(ip("10.0.0.1"), t0).verdict, Verdict::start);
}

TEST(ConnectionManager, UnlimitedAddressesSkipThePerIpLimits) {
  ConnectionManager cm(options(), 100, 64);  // loopback is unlimited by default
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(cm.admit(ip("127.0.0.1"), t0).verdict, Verdict::start);
    EXPECT_EQ(cm.admit(ip("::1"), t0).verdict, Verdict::start);
  }
  // The rest of 127.0.0.0/8 is an address like any other.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cm.admit(ip("127.0.0.2"), t0).verdict, Verdict::start);
  EXPECT_EQ(cm.admit(ip("127.0.0.2"), t0).verdict, Verdict::refuse);

  ConnManagerOptions strict = options();
  strict.unlimited_addresses.clear();
  ConnectionManager all(strict, 100, 64);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(all.admit(ip("127.0.0.1"), t0).verdict, Verdict::start);
  EXPECT_EQ(all.admit(ip("127.0.0.1"), t0).verdict, Verdict::refuse);
}

TEST(ConnectionManager, GroupsIpv6ByPrefixAndMapsIpv4MappedAddresses) {
  EXPECT_EQ(ConnectionManager::ip_key(ip("2001:db8:1:2:aaaa::1")),
            ConnectionManager::ip_key(ip("2001:db8:1:2:bbbb::9")));
  EXPECT_NE(ConnectionManager::ip_key(ip("2001:db8:1:2::1")),
            ConnectionManager::ip_key(ip("2001:db8:1:3::1")));
  EXPECT_EQ(ConnectionManager::ip_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));

  ConnectionManager cm(options(), 100, 64);
  cm.admit(ip("2001:db8::1"), t0);
  cm.admit(ip("2001:db8::2"), t0);
  cm.admit(ip("2001:db8::3"), t0);
  EXPECT_EQ(cm.admit(ip("2001:db8::4"), t0).error, errc::ip_connection_limit);
  EXPECT_EQ(cm.admit(ip("2001:db8:0:1::4"), t0).verdict, Verdict::start);
  // A v4-mapped form of 127.0.0.1 is as unlimited as the plain one.
  EXPECT_FALSE(cm.is_limited(ip("::ffff:127.0.0.1")));
}

// ---- pending slots: eviction and waiting ------------------------------------------------------

TEST(ConnectionManager, ANewcomerEvictsTheOldestHandshakeOfTheBusiestAddress) {
  ConnManagerOptions o = options();
  o.max_pending_per_ip = 100;
  ConnectionManager cm(o, 100, 4);
  const auto a1 = cm.admit(ip("10.0.0.1"), t0);
  const auto b1 = cm.admit(ip("10.0.0.2"), t0 + 1s);
  const auto a2 = cm.admit(ip("10.0.0.1"), t0 + 2s);
  const auto a3 = cm.admit(ip("10.0.0.1"), t0 + 3s);
  for (const auto& a : {a1, b1, a2, a3}) EXPECT_EQ(a.verdict, Verdict::start);

  const auto c = cm.admit(ip("10.0.0.3"), t0 + 4s);
  EXPECT_EQ(c.verdict, Verdict::start);
  ASSERT_TRUE(c.evicted.has_value());
  EXPECT_EQ(*c.evicted, a1.id);  // 10.0.0.1 had three, its oldest goes
  EXPECT_EQ(cm.stats().evicted, 1u);
  EXPECT_EQ(cm.stats().handshakes_running, 4u);
  cm.handshake_ended(a1.id);  // the Host reports the victim's end later: nothing changes
  EXPECT_EQ(cm.stats().handshakes_running, 4u);

  // 10.0.0.1 (two left) still outnumbers 10.0.0.2 (one): the newcomer evicts again.
  const auto b2 = cm.admit(ip("10.0.0.2"), t0 + 5s);
  ASSERT_TRUE(b2.evicted.has_value());
  EXPECT_EQ(*b2.evicted, a2.id);
}

TEST(ConnectionManager, HandshakesUnderWayAreNotEvictedUntilTheyRunTooLong) {
  ConnManagerOptions o = options();
  o.max_pending_per_ip = 100;
  o.first_message_timeout = 3s;
  ConnectionManager cm(o, 100, 2);
  const auto a1 = cm.admit(ip("10.0.0.1"), t0);
  const auto a2 = cm.admit(ip("10.0.0.1"), t0);
  cm.first_message(a1.id);
  cm.first_message(a2.id);
  // Both are under way: a newcomer from elsewhere waits instead of evicting one.
  const auto b = cm.admit(ip("10.0.0.2"), t0 + 1s);
  EXPECT_EQ(b.verdict, Verdict::wait);
  EXPECT_FALSE(b.evicted.has_value());
  // Past first_message_timeout a handshake counts as stuck whatever it sent.
  const auto c = cm.admit(ip("10.0.0.3"), t0 + 4s);
  EXPECT_EQ(c.verdict, Verdict::start);
  EXPECT_EQ(c.evicted, std::optional<ConnectionManager::HandshakeId>(a1.id));
}

TEST(ConnectionManager, HandshakesTooYoungToHaveBeenReadAreNotEvicted) {
  ConnManagerOptions o = options();
  o.evictable_after = 500ms;
  ConnectionManager cm(o, 100, 2);
  const auto a = cm.admit(ip("10.0.0.1"), t0);
  const auto b = cm.admit(ip("10.0.0.2"), t0 + 100ms);
  // A burst: the slots are full of handshakes whose first message is not read yet.
  const auto c = cm.admit(ip("10.0.0.3"), t0 + 200ms);
  EXPECT_EQ(c.verdict, Verdict::wait);
  EXPECT_FALSE(c.evicted.has_value());
  // When its wait runs out, the oldest has been silent past evictable_after: it goes.
  EXPECT_EQ(cm.evict_for_waiting(c.id, t0 + 550ms),
            std::optional<ConnectionManager::HandshakeId>(a.id));
  EXPECT_EQ(cm.stats().handshakes_running, 2u);
  EXPECT_EQ(cm.stats().handshakes_waiting, 0u);
  EXPECT_EQ(cm.stats().evicted, 1u);
  // b is still too young for a waiting socket from its own address... and c is running now.
  const auto d = cm.admit(ip("10.0.0.2"), t0 + 560ms);
  EXPECT_EQ(d.verdict, Verdict::wait);
  EXPECT_FALSE(cm.evict_for_waiting(d.id, t0 + 570ms).has_value()) << "b: same address, c: young";
  EXPECT_EQ(cm.stats().handshakes_waiting, 1u);
  (void)b;
}

// The same rules on the manager's own clock: a ManualClock moves, the calls without a time read it.
TEST(ConnectionManager, ReadsItsClockWhenNoTimeIsGiven) {
  constexpr std::uint64_t kMs = 1'000'000;
  async::ManualClock clock(3'600'000 * kMs);
  ConnManagerOptions o = options();
  o.evictable_after = 500ms;
  ConnectionManager cm(o, 100, 2, clock);
  EXPECT_EQ(cm.now(), ConnectionManager::time_point(clock.now_ns()));
  const auto a = cm.admit(ip("10.0.0.1"));
  clock.advance(100 * kMs);
  (void)cm.admit(ip("10.0.0.2"));
  clock.advance(100 * kMs);
  const auto c = cm.admit(ip("10.0.0.3"));
  EXPECT_EQ(c.verdict, Verdict::wait);
  // 300 ms after a was admitted: too young to be evicted.
  clock.advance(100 * kMs);
  EXPECT_FALSE(cm.evict_for_waiting(c.id).has_value());
  // 550 ms: a has been silent past evictable_after.
  clock.advance(250 * kMs);
  EXPECT_EQ(cm.evict_for_waiting(c.id), std::optional<ConnectionManager::HandshakeId>(a.id));

  // Established connections: the grace period and idleness are measured on the clock too.
  ConnectionManager full(options(), 1, 64, clock);
  EXPECT_TRUE(full.place(peer(1), std::nullopt).admitted);
  EXPECT_FALSE(full.has_room());
  clock.advance(11'000 * kMs);  // past grace_period (10 s) and idle_after (5 s)
  EXPECT_TRUE(full.has_room());
  const auto next = full.place(peer(2), std::nullopt);
  EXPECT_EQ(next.displaced, std::optional<PeerId>(peer(1)));
}

TEST(ConnectionManager, ANewcomerFromTheBusiestAddressWaitsForASlot) {
  ConnManagerOptions o = options();
  o.max_pending_per_ip = 100;
  ConnectionManager cm(o, 100, 2);
  const auto a1 = cm.admit(ip("10.0.0.1"), t0);
  const auto b1 = cm.admit(ip("10.0.0.2"), t0);
  // Equal counts (one each): neither a newcomer from 10.0.0.1 nor from 10.0.0.2 evicts.
  const auto a2 = cm.admit(ip("10.0.0.1"), t0 + 1s);
  EXPECT_EQ(a2.verdict, Verdict::wait);
  EXPECT_FALSE(a2.evicted.has_value());
  EXPECT_TRUE(cm.accepting());
  const auto b2 = cm.admit(ip("10.0.0.2"), t0 + 2s);
  EXPECT_EQ(b2.verdict, Verdict::wait);
  EXPECT_FALSE(cm.accepting()) << "as many wait as may run: stop accepting";
  EXPECT_EQ(cm.stats().handshakes_waiting, 2u);

  EXPECT_TRUE(cm.promote(t0 + 3s).empty()) << "no slot is free";
  cm.handshake_ended(b1.id);
  EXPECT_EQ(cm.promote(t0 + 3s),
            std::vector<ConnectionManager::HandshakeId>{a2.id});  // oldest first
  EXPECT_TRUE(cm.accepting());
  cm.handshake_ended(b2.id);  // gave up waiting
  cm.handshake_ended(a1.id);
  EXPECT_TRUE(cm.promote(t0 + 3s).empty());
  EXPECT_EQ(cm.stats().handshakes_running, 1u);
  EXPECT_EQ(cm.stats().handshakes_waiting, 0u);
}

TEST(ConnectionManager, OneAddressAloneNeverEvictsItself) {
  // A burst of legitimate peers from one address: the slots fill, the rest wait, nobody is
  // evicted.
  ConnectionManager cm(options(), 1000, 3);
  std::vector<ConnectionManager::Admission> all;
  for (int i = 0; i < 6; ++i) all.push_back(cm.admit(ip("127.0.0.1"), t0));
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(all[i].verdict, i < 3 ? Verdict::start : Verdict::wait) << i;
    EXPECT_FALSE(all[i].evicted.has_value());
  }
  EXPECT_FALSE(cm.accepting());
  EXPECT_EQ(cm.stats().evicted, 0u);
}

// ---- the connection limit ---------------------------------------------------------------------

TEST(ConnectionManager, AtTheLimitANewcomerDisplacesTheLongestIdleConnection) {
  ConnectionManager cm(options(), 3, 64);  // ours (outbound): no address is crowded
  EXPECT_TRUE(cm.place(peer(1), std::nullopt, t0).admitted);
  EXPECT_TRUE(cm.place(peer(2), std::nullopt, t0).admitted);
  EXPECT_TRUE(cm.place(peer(3), std::nullopt, t0).admitted);

  // Everyone is in their grace period: no room.
  EXPECT_FALSE(cm.has_room(t0 + 5s));
  const auto early = cm.admit(ip("10.0.0.9"), t0 + 5s);
  EXPECT_EQ(early.error, errc::connection_limit);
  const auto refused = cm.place(peer(4), std::nullopt, t0 + 5s);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.error, errc::connection_limit);

  // Past the grace period: peer 2 sent something at +20 s, peer 3 at +14 s, peer 1 nothing.
  cm.sample(peer(2), 1000, t0 + 20s);
  cm.sample(peer(3), 1000, t0 + 14s);
  EXPECT_TRUE(cm.has_room(t0 + 21s));
  const auto first = cm.place(peer(4), std::nullopt, t0 + 21s);
  EXPECT_TRUE(first.admitted);
  EXPECT_EQ(first.displaced, std::optional<PeerId>(peer(1)));
  // Peer 3 has been idle 7 s (> idle_after), peer 2 only 1 s, peer 4 is new.
  const auto second = cm.place(peer(5), std::nullopt, t0 + 21s);
  EXPECT_EQ(second.displaced, std::optional<PeerId>(peer(3)));
  const auto third = cm.place(peer(6), std::nullopt, t0 + 21s);
  EXPECT_FALSE(third.admitted) << "peer 2 is active, 4 and 5 are new";
  EXPECT_EQ(cm.stats().trimmed, 2u);
  EXPECT_EQ(cm.stats().connections, 3u);
}

TEST(ConnectionManager, AtTheLimitANewcomerDisplacesAnIdleConnectionOfTheMostCrowdedAddress) {
  ConnectionManager cm(options(), 4, 64);
  cm.place(peer(1), ip("10.0.0.1"), t0);
  cm.place(peer(2), ip("10.0.0.1"), t0 + 1ms);
  cm.place(peer(3), ip("10.0.0.1"), t0 + 2ms);
  cm.place(peer(4), ip("10.0.0.2"), t0 + 3ms);
  const auto soon = t0 + 1s;       // everyone in their grace period
  cm.sample(peer(2), 1000, soon);  // peer 2 works with us

  EXPECT_FALSE(cm.has_room(soon, ip("10.0.0.1"))) << "no address is more crowded";
  EXPECT_EQ(cm.admit(ip("10.0.0.1"), soon).error, errc::connection_limit);
  EXPECT_TRUE(cm.has_room(soon, ip("10.0.0.9")));
  EXPECT_EQ(cm.admit(ip("10.0.0.9"), soon).verdict, Verdict::start);

  // The oldest idle connection of 10.0.0.1 (three) goes for a newcomer from elsewhere.
  const auto a = cm.place(peer(5), ip("10.0.0.9"), soon);
  EXPECT_EQ(a.displaced, std::optional<PeerId>(peer(1)));
  // Ours count as coming from an address with none; peer 2 has traffic, so peer 3 goes.
  const auto b = cm.place(peer(6), std::nullopt, soon);
  EXPECT_EQ(b.displaced, std::optional<PeerId>(peer(3)));
  // One each now (.1 busy, .2, .9): an address with one connection crowds nobody.
  EXPECT_FALSE(cm.has_room(soon, ip("10.0.0.8")));
  EXPECT_FALSE(cm.place(peer(7), ip("10.0.0.8"), soon).admitted);
  EXPECT_FALSE(cm.place(peer(8), std::nullopt, soon).admitted);
  EXPECT_EQ(cm.stats().trimmed, 2u);
}

TEST(ConnectionManager, ProtectedPeersAreNeitherDisplacedNorTrimmed) {
  ConnectionManager cm(options(), 1, 64);
  cm.protect(peer(1), "app");
  cm.protect(peer(1), "dht");
  EXPECT_TRUE(cm.place(peer(1), std::nullopt, t0).admitted);
  EXPECT_FALSE(cm.place(peer(2), std::nullopt, t0 + 1h).admitted);
  EXPECT_TRUE(cm.unprotect(peer(1), "app")) << "still protected under dht";
  EXPECT_TRUE(cm.is_protected(peer(1)));
  EXPECT_FALSE(cm.unprotect(peer(1), "dht"));
  EXPECT_FALSE(cm.is_protected(peer(1)));
  EXPECT_EQ(cm.place(peer(2), std::nullopt, t0 + 1h).displaced, std::optional<PeerId>(peer(1)));
}

TEST(ConnectionManager, ReplacingAPeersConnectionMovesItsAddressCount) {
  ConnectionManager cm(options(), 100, 64);
  EXPECT_TRUE(cm.place(peer(1), ip("10.0.0.1"), t0).admitted);
  cm.reassign(peer(1), std::nullopt);  // the merge kept our outbound connection
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cm.admit(ip("10.0.0.1"), t0).verdict, Verdict::start);
  // Three handshakes and no established connection: the pending limit says no, not the
  // connection limit (which would count four).
  const auto refused = cm.admit(ip("10.0.0.1"), t0);
  EXPECT_EQ(refused.error, errc::ip_connection_limit);
  EXPECT_NE(refused.detail.find("handshakes in progress"), std::string::npos) << refused.detail;
}

// ---- trimming ---------------------------------------------------------------------------------

TEST(ConnectionManager, TrimsIdleConnectionsDownToLowWaterLongestIdleFirst) {
  ConnectionManager cm(options(), 100, 64);  // high 4, low 2
  for (std::uint64_t n = 1; n <= 4; ++n) cm.place(peer(n), std::nullopt, t0);
  EXPECT_TRUE(cm.trim(t0 + 1h).empty()) << "at high water, not over it";
  cm.place(peer(5), std::nullopt, t0 + 12s);
  cm.place(peer(6), std::nullopt, t0 + 12s);

  // At +20 s: 5 and 6 are in their grace period; 3 had traffic 2 s ago; 1, 2, 4 are idle, 4
  // since +13 s, 2 since +12 s, 1 since it connected.
  cm.sample(peer(2), 500, t0 + 12s);
  cm.sample(peer(4), 500, t0 + 13s);
  cm.sample(peer(3), 500, t0 + 18s);
  const auto trimmed = cm.trim(t0 + 20s);
  EXPECT_EQ(trimmed, (std::vector<PeerId>{peer(1), peer(2), peer(4)}));
  EXPECT_EQ(cm.stats().connections, 3u) << "nothing else qualified to reach low water";
  EXPECT_EQ(cm.stats().trimmed, 3u);
  cm.closed(peer(1));  // the Host reports the close later: already forgotten
  EXPECT_EQ(cm.stats().connections, 3u);
}

TEST(ConnectionManager, TrimmingStopsAtLowWater) {
  ConnectionManager cm(options(), 100, 64);
  for (std::uint64_t n = 1; n <= 8; ++n)
    cm.place(peer(n), std::nullopt, t0 + std::chrono::seconds(n));
  const auto trimmed = cm.trim(t0 + 1h);
  EXPECT_EQ(trimmed.size(), 6u);
  EXPECT_EQ(cm.stats().connections, 2u);
  // The two kept are the ones idle the shortest (the last to connect).
  EXPECT_EQ(std::count(trimmed.begin(), trimmed.end(), peer(7)), 0);
  EXPECT_EQ(std::count(trimmed.begin(), trimmed.end(), peer(8)), 0);
}

TEST(ConnectionManager, KeepAlivesAloneDoNotCountAsTraffic) {
  ConnectionManager cm(options(), 100, 64);  // activity_bytes 100
  for (std::uint64_t n = 1; n <= 5; ++n) cm.place(peer(n), std::nullopt, t0);
  // Peer 1 exchanges keep-alives (60 bytes per sample); the others send real data.
  std::uint64_t keepalive = 0;
  std::uint64_t data = 0;
  for (int s = 1; s <= 30; ++s) {
    keepalive += 60;
    data += 1000;
    cm.sample(peer(1), keepalive, t0 + std::chrono::seconds(s));
    for (std::uint64_t n = 2; n <= 5; ++n) cm.sample(peer(n), data, t0 + std::chrono::seconds(s));
  }
  EXPECT_EQ(cm.trim(t0 + 30s), std::vector<PeerId>{peer(1)});
}

TEST(ConnectionManager, WaterMarksFollowALoweredConnectionLimit) {
  ConnManagerOptions o;  // high 896, low 768: 7/8 and 3/4 of 1,024
  EXPECT_EQ(ConnectionManager(o, 1024, 64).high_water(), 896u);
  EXPECT_EQ(ConnectionManager(o, 1024, 64).low_water(), 768u);
  EXPECT_EQ(ConnectionManager(o, 64, 64).high_water(), 56u);
  EXPECT_EQ(ConnectionManager(o, 64, 64).low_water(), 48u);
  EXPECT_EQ(ConnectionManager(o, 1, 64).high_water(), 1u);
  EXPECT_EQ(ConnectionManager(o, 1, 64).low_water(), 1u);
  ConnectionManager cm(o, 4, 64);
  for (std::uint64_t n = 1; n <= 4; ++n) cm.place(peer(n), std::nullopt, t0);
  // At 4 = max_connections = capped high water: no trimming, but displacement at the limit.
  EXPECT_TRUE(cm.trim(t0 + 1h).empty());
  EXPECT_TRUE(cm.has_room(t0 + 1h));
}

// ---- dials and the fd limit -------------------------------------------------------------------

TEST(ConnectionManager, CapsDialsInFlight) {
  ConnectionManager cm(options(), 100, 64);
  EXPECT_TRUE(cm.begin_dial());
  EXPECT_TRUE(cm.begin_dial());
  EXPECT_FALSE(cm.begin_dial());
  EXPECT_EQ(cm.stats().dials, 2u);
  EXPECT_EQ(cm.stats().refused_dials, 1u);
  cm.end_dial();
  EXPECT_TRUE(cm.begin_dial());
}

TEST(ConnectionManager, FitsTheLimitsToTheFdLimit) {
  const FdBudget roomy = fit_to_fd_limit(1 << 20, 1024, 64, 128);
  EXPECT_FALSE(roomy.clamped);
  EXPECT_EQ(roomy.max_connections, 1024u);
  EXPECT_EQ(roomy.max_pending_inbound, 64u);
  EXPECT_EQ(roomy.max_outbound_dials, 128u);

  const FdBudget small = fit_to_fd_limit(1024, 1024, 64, 128);
  EXPECT_TRUE(small.clamped);
  const std::size_t used =
      small.max_connections + 2 * small.max_pending_inbound + small.max_outbound_dials;
  EXPECT_LE(used, 1024u - 256u) << "a quarter stays free";
  EXPECT_GE(small.max_connections, 512u);
  EXPECT_GE(small.max_pending_inbound, 16u);

  const FdBudget tiny = fit_to_fd_limit(40, 1024, 64, 128);
  EXPECT_GE(tiny.max_connections, 1u);
  EXPECT_GE(tiny.max_pending_inbound, 1u);
  EXPECT_GE(tiny.max_outbound_dials, 1u);
}

}  // namespace
}  // namespace bb::wire

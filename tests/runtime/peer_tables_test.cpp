// PeerTables turns outcomes into table updates and events; these cases cover the feeds the
// gate tests do not: queue overflow, timeouts, the failure detector's transitions, notices.
#include "bb/runtime/peer_tables.hpp"

#include <gtest/gtest.h>

#include <map>

namespace bb::runtime {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1'000 * kMs;

std::map<std::string_view, int> drain(EventQueue& events) {
  std::map<std::string_view, int> counts;
  while (auto e = events.try_next()) ++counts[event_name(*e)];
  return counts;
}

TEST(PeerTables, OutboundDropsAreOneEventPerReport) {
  async::ManualClock clock;
  EventQueue events;
  PeerTables tables(clock, events);
  const auto peer = wire::PeerId::from_u64(3);
  tables.on_outbound_dropped(peer, 6, "queue_full");
  tables.on_outbound_dropped(peer, 0, "queue_full");  // nothing dropped: no event
  auto e = events.try_next();
  ASSERT_TRUE(e);
  const auto* d = std::get_if<OutboundDropped>(&*e);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->count, 6u);
  EXPECT_EQ(d->peer, peer);
  EXPECT_EQ(d->reason, "queue_full");
  EXPECT_FALSE(events.try_next());
}

TEST(PeerTables, ExpiredRequestsBecomeTimeouts) {
  async::ManualClock clock(10 * kSec);
  EventQueue events;
  PeerTables tables(clock, events);
  const auto peer = wire::PeerId::from_u64(4);
  const auto token = tables.requests().mint();
  EXPECT_EQ(token, 1u);
  ASSERT_TRUE(tables.requests().track(token, peer, clock.now_ns(), 100 * kMs));
  tables.tick();
  EXPECT_FALSE(events.try_next());
  clock.advance(100 * kMs);
  tables.tick();
  auto e = events.try_next();
  ASSERT_TRUE(e);
  const auto* t = std::get_if<Timeout>(&*e);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->token, 1u);
  EXPECT_EQ(t->peer, peer);
  EXPECT_EQ(t->started_ns, 10 * kSec);
}

TEST(PeerTables, SilenceTurnsIntoSuspectThenDownThenUpOnANewHeartbeat) {
  async::ManualClock clock(1 * kSec);
  EventQueue events;
  PeerTables tables(clock, events);
  const auto peer = wire::PeerId::from_u64(5);
  for (int i = 0; i < 10; ++i) {
    tables.on_heartbeat(peer);
    clock.advance(1 * kSec);
  }
  tables.tick();
  EXPECT_TRUE(drain(events).empty());
  // Step through silence until the detector has reported suspect and then down.
  // Each verdict says how long the peer had been silent: the time since its last heartbeat, at
  // 10 s - 1 s (the loop's last advance came after the last heartbeat).
  const std::uint64_t last_heartbeat = clock.now_ns() - 1 * kSec;
  std::map<std::string_view, int> seen;
  std::uint64_t suspect_silent = 0, down_silent = 0, down_at = 0;
  for (int step = 0; step < 200 && seen["peer_down"] == 0; ++step) {
    clock.advance(100 * kMs);
    tables.tick();
    while (auto e = events.try_next()) {
      ++seen[event_name(*e)];
      if (const auto* s = std::get_if<PeerSuspect>(&*e)) suspect_silent = s->silent_ns;
      if (const auto* d = std::get_if<PeerDown>(&*e)) {
        EXPECT_EQ(d->cause, "phi");
        down_silent = d->silent_ns;
        down_at = clock.now_ns();
      }
    }
  }
  EXPECT_EQ(seen["peer_suspect"], 1);
  EXPECT_EQ(seen["peer_down"], 1);
  EXPECT_EQ(down_silent, down_at - last_heartbeat);
  EXPECT_GT(suspect_silent, 1 * kSec);
  EXPECT_LE(suspect_silent, down_silent);
  EXPECT_TRUE(tables.governor().is_down(peer));
  tables.on_heartbeat(peer);
  tables.tick();
  auto after = drain(events);
  EXPECT_EQ(after["peer_up"], 1);
  EXPECT_FALSE(tables.governor().is_down(peer));
}

TEST(PeerTables, ABackoffNoticeHoldsSendsAndCountsAsAFailure) {
  async::ManualClock clock(1 * kSec);
  EventQueue events;
  PeerTables tables(clock, events);
  const auto peer = wire::PeerId::from_u64(6);
  tables.on_backoff_notice(peer, 2 * kSec);
  EXPECT_FALSE(tables.backoff().should_retry(peer, clock.now_ns()));
  EXPECT_EQ(tables.backoff().retry_at(peer), 3 * kSec);
  EXPECT_EQ(tables.governor().health(peer)->consecutive_failures, 1u);
  // An advisory above the 60 s cap is capped.
  tables.on_backoff_notice(peer, 3600 * kSec);
  EXPECT_EQ(tables.backoff().retry_at(peer), 61 * kSec);
}

TEST(PeerTables, ALostConnectionIsPeerDownAtOnceAndReconnectingIsPeerUp) {
  async::ManualClock clock;
  EventQueue events;
  PeerTables tables(clock, events);
  const auto peer = wire::PeerId::from_u64(7);
  tables.on_connection_lost(peer);
  tables.on_connection_lost(peer);  // already down: once
  EXPECT_EQ(drain(events)["peer_down"], 1);
  tables.on_send_failed(peer, "peer_unreachable", "dial failed");
  tables.on_connected(peer);
  auto counts = drain(events);
  EXPECT_EQ(counts["peer_up"], 1);
  EXPECT_TRUE(tables.backoff().should_retry(peer, clock.now_ns()));
}

}  // namespace
}  // namespace bb::runtime

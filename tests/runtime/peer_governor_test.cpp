#include "bb/runtime/peer_governor.hpp"

#include <gtest/gtest.h>

namespace bb::runtime {
namespace {

using LT = LifecycleTransition;
const wire::PeerId kA = wire::PeerId::from_u64(1);
const wire::PeerId kB = wire::PeerId::from_u64(2);
const wire::PeerId kC = wire::PeerId::from_u64(3);

TEST(PeerGovernor, LabelsAreStable) {
  EXPECT_EQ(label(BlockReason::blocklisted), "blocklisted");
  EXPECT_EQ(label(BlockReason::not_allowlisted), "not_allowlisted");
  EXPECT_EQ(label(BlockReason::cooldown), "cooldown");
}

TEST(PeerGovernor, WentDownExactlyOnceAtTheThreshold) {
  PeerGovernor g;
  for (std::uint64_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(g.record_failure(kA, i), LT::none) << i;
    EXPECT_FALSE(g.is_down(kA));
  }
  EXPECT_EQ(g.record_failure(kA, 5), LT::went_down);
  EXPECT_TRUE(g.is_down(kA));
  for (std::uint64_t i = 6; i <= 20; ++i) EXPECT_EQ(g.record_failure(kA, i), LT::none) << i;
  EXPECT_EQ(g.health(kA), (PeerHealth{20, 20, true}));
  EXPECT_EQ(g.health(kB), std::nullopt);
}

TEST(PeerGovernor, CameUpOnceThenTheStreakStartsOver) {
  PeerGovernor g;
  for (std::uint64_t i = 1; i <= 5; ++i) g.record_failure(kA, i);
  ASSERT_TRUE(g.is_down(kA));
  EXPECT_EQ(g.record_success(kA, 100), LT::came_up);
  EXPECT_EQ(g.health(kA), (PeerHealth{0, 100, false}));
  EXPECT_EQ(g.record_success(kA, 101), LT::none);
  for (std::uint64_t i = 1; i <= 4; ++i) EXPECT_EQ(g.record_failure(kA, 200 + i), LT::none);
  EXPECT_EQ(g.record_failure(kA, 205), LT::went_down);
}

TEST(PeerGovernor, SuccessBeforeThresholdResetsTheStreak) {
  PeerGovernor g;
  for (int i = 0; i < 4; ++i) g.record_failure(kA, 1);
  EXPECT_EQ(g.record_success(kA, 2), LT::none);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(g.record_failure(kA, 3), LT::none);
  EXPECT_EQ(g.record_success(kB, 2), LT::none);  // unknown peer: no state created
  EXPECT_EQ(g.health(kB), std::nullopt);
}

TEST(PeerGovernor, MarkDownAndThresholdShareOneTransition) {
  PeerGovernor g;
  EXPECT_EQ(g.mark_down(kA, 7), LT::went_down);
  EXPECT_EQ(g.mark_down(kA, 8), LT::none);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(g.record_failure(kA, 9), LT::none);
  EXPECT_EQ(g.record_success(kA, 10), LT::came_up);
}

TEST(PeerGovernor, ThresholdIsConfigurableAndClamped) {
  PeerGovernorConfig c;
  c.failure_threshold = 0;
  PeerGovernor g(c);
  EXPECT_EQ(g.config().failure_threshold, 1u);
  EXPECT_EQ(g.record_failure(kA, 1), LT::went_down);
}

TEST(PeerGovernor, BlocklistBeatsAllowlist) {
  PeerGovernor g;
  EXPECT_TRUE(g.check_inbound(kA).allowed());
  ASSERT_TRUE(g.allow(kA));
  EXPECT_TRUE(g.has_allowlist());
  EXPECT_TRUE(g.check_inbound(kA).allowed());
  EXPECT_EQ(g.check_inbound(kB), Decision::denied(BlockReason::not_allowlisted));
  ASSERT_TRUE(g.block(kA));
  EXPECT_TRUE(g.is_blocked(kA));
  EXPECT_EQ(g.check_inbound(kA), Decision::denied(BlockReason::blocklisted));
  EXPECT_TRUE(g.unblock(kA));
  EXPECT_FALSE(g.unblock(kA));
  EXPECT_TRUE(g.check_inbound(kA).allowed());
  g.clear_allowlist();
  EXPECT_TRUE(g.check_inbound(kB).allowed());
  // An empty allowlist closes admission to everyone.
  ASSERT_TRUE(g.set_allowlist({}));
  EXPECT_EQ(g.check_inbound(kA), Decision::denied(BlockReason::not_allowlisted));
  ASSERT_TRUE(g.set_allowlist({kB, kC}));
  EXPECT_TRUE(g.check_inbound(kC).allowed());
  EXPECT_FALSE(g.check_inbound(kA).allowed());
}

TEST(PeerGovernor, CooldownComesFromTheBackoffTable) {
  PeerGovernor g;
  BackoffTable backoff;
  EXPECT_TRUE(g.check_outbound(kA, backoff, 0).allowed());
  backoff.record_failure(kA, 1'000);  // retry at 1 000 + 10 ms
  const Decision d = g.check_outbound(kA, backoff, 2'000);
  EXPECT_EQ(d, Decision::denied(BlockReason::cooldown, 10'001'000));
  EXPECT_EQ(label(*d.deny), "cooldown");
  EXPECT_TRUE(g.check_outbound(kA, backoff, 10'001'000).allowed());
  EXPECT_TRUE(g.check_inbound(kA).allowed());  // inbound ignores backoff
  // Policy first: a blocked peer in cooldown is reported as blocklisted.
  g.block(kA);
  EXPECT_EQ(g.check_outbound(kA, backoff, 2'000), Decision::denied(BlockReason::blocklisted));
}

TEST(PeerGovernor, ListsAreBounded) {
  PeerGovernorConfig c;
  c.max_blocked = 2;
  c.max_allowed = 1;
  PeerGovernor g(c);
  EXPECT_TRUE(g.block(kA));
  EXPECT_TRUE(g.block(kB));
  EXPECT_TRUE(g.block(kB));  // already there
  EXPECT_FALSE(g.block(kC));
  EXPECT_FALSE(g.is_blocked(kC));
  EXPECT_TRUE(g.allow(kA));
  EXPECT_FALSE(g.allow(kB));
  EXPECT_FALSE(g.set_allowlist({kB, kC}));
  EXPECT_FALSE(g.check_inbound(kC).allowed());  // the old allowlist {kA} still holds
  EXPECT_FALSE(g.is_blocked(kC));
}

TEST(PeerGovernor, HealthMapEvictsHealthyPeersFirst) {
  PeerGovernorConfig c;
  c.max_peers = 3;
  c.failure_threshold = 2;
  PeerGovernor g(c);
  g.mark_down(kA, 1);       // down
  g.record_failure(kB, 2);  // streak 1
  g.record_failure(kC, 3);  // streak 1, newer
  g.record_failure(kC, 3);  // streak 2 → down
  const wire::PeerId d = wire::PeerId::from_u64(4);
  g.record_failure(d, 4);  // evicts kB: the only up peer
  EXPECT_EQ(g.tracked_peers(), 3u);
  EXPECT_EQ(g.health(kB), std::nullopt);
  EXPECT_TRUE(g.is_down(kA));
  EXPECT_TRUE(g.is_down(kC));
  // All the others down or failing: the up peer d (streak 1) goes before the down ones.
  g.mark_down(wire::PeerId::from_u64(5), 5);
  EXPECT_EQ(g.health(d), std::nullopt);
  // Only down peers left: the oldest event goes.
  g.mark_down(wire::PeerId::from_u64(6), 6);
  EXPECT_FALSE(g.is_down(kA));
  EXPECT_EQ(g.health(kA), std::nullopt);
  EXPECT_TRUE(g.is_down(kC));
}

}  // namespace
}  // namespace bb::runtime

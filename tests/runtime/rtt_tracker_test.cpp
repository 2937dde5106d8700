#include "bb/runtime/rtt_tracker.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace bb::runtime {
namespace {

const wire::PeerId kA = wire::PeerId::from_u64(1);
const wire::PeerId kB = wire::PeerId::from_u64(2);
const wire::PeerId kC = wire::PeerId::from_u64(3);

TEST(RttTracker, JacobsonKarelsExactIntegers) {
  RttTracker t;
  EXPECT_EQ(t.estimate(kA), std::nullopt);
  // (sample, SRTT, RTTVAR) with α = 1/8, β = 1/4; RTTVAR uses the SRTT before the update.
  const std::uint64_t rows[][3] = {
      {1000, 1000, 500}, {2000, 1125, 625}, {500, 1047, 625}, {4000, 1417, 1207}};
  std::uint32_t n = 0;
  for (const auto& r : rows) {
    t.observe(kA, r[0], ++n);
    EXPECT_EQ(t.estimate(kA), (RttEstimate{r[1], r[2], n})) << "sample " << n;
  }
  EXPECT_EQ(t.estimate(kA)->budget_ns(), 1417u + 4 * 1207u);
}

TEST(RttTracker, GlobalPriorUsesSlowerGains) {
  RttTracker t;
  // The same samples spread over three peers: the global prior sees all of them.
  t.observe(kA, 1000, 1);
  t.observe(kB, 2000, 2);
  t.observe(kC, 500, 3);
  t.observe(kA, 4000, 4);
  EXPECT_EQ(t.global_estimate(), (RttEstimate{1055, 593, 4}));
  t.observe(kB, 8000, 5);
  EXPECT_EQ(t.global_estimate(), (RttEstimate{1164, 792, 5}));
}

TEST(RttTracker, BudgetTiersWarmAfterThreeSamples) {
  RttTracker t;
  EXPECT_EQ(t.budget_ns(kA), kDefaultRttFallbackBudgetNs);
  EXPECT_EQ(t.budget_ns(kA, 777), 777u);
  t.observe(kA, 1000, 1);
  t.observe(kA, 2000, 2);
  EXPECT_FALSE(t.estimate(kA)->warm());
  EXPECT_EQ(t.budget_ns(kA, 777), 777u);  // neither tier warm yet
  t.observe(kA, 500, 3);
  EXPECT_TRUE(t.estimate(kA)->warm());
  EXPECT_EQ(t.budget_ns(kA, 777), 1047u + 4 * 625u);  // per-peer
  // A peer with no (or too few) samples falls back to the warm global prior: 1008 + 4·516.
  EXPECT_EQ(t.budget_ns(kB, 777), 1008u + 4 * 516u);
  t.observe(kB, 90'000, 4);
  EXPECT_EQ(t.estimate(kB), (RttEstimate{90'000, 45'000, 1}));
  EXPECT_EQ(t.budget_ns(kB, 777), t.global_estimate().budget_ns());
}

TEST(RttTracker, BudgetSaturates) {
  RttTracker t;
  for (int i = 0; i < 3; ++i) t.observe(kA, UINT64_MAX, 1);
  EXPECT_EQ(t.estimate(kA)->srtt_ns, UINT64_MAX);
  EXPECT_EQ(t.budget_ns(kA), UINT64_MAX);
  RttEstimate e{UINT64_MAX / 2, UINT64_MAX / 8, 3};
  EXPECT_EQ(e.budget_ns(), UINT64_MAX - 4);  // 2^63 − 1 + 4·(2^61 − 1) = 2^64 − 5 still fits
  e = RttEstimate{UINT64_MAX / 2, UINT64_MAX / 4, 3};
  EXPECT_EQ(e.budget_ns(), UINT64_MAX);  // 2^63 − 1 + 4·(2^62 − 1) does not
  e = RttEstimate{100, 25, 3};
  EXPECT_EQ(e.budget_ns(), 200u);
}

TEST(RttTracker, BoundedPeersEvictTheLeastRecentlyObserved) {
  RttTracker t(RttTrackerConfig{2});
  t.observe(kA, 10, 100);
  t.observe(kB, 20, 200);
  t.observe(kA, 10, 300);
  t.observe(kC, 30, 400);  // evicts kB
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.estimate(kB), std::nullopt);
  EXPECT_EQ(t.estimate(kA)->samples, 2u);
  EXPECT_EQ(t.estimate(kC)->samples, 1u);
  EXPECT_EQ(t.global_estimate().samples, 4u);  // the prior keeps every sample
  EXPECT_TRUE(t.remove(kA));
  EXPECT_FALSE(t.remove(kA));
}

}  // namespace
}  // namespace bb::runtime

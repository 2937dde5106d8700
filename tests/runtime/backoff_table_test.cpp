#include "bb/runtime/backoff_table.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

namespace bb::runtime {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kS = 1'000'000'000;
const wire::PeerId kA = wire::PeerId::from_u64(1);
const wire::PeerId kB = wire::PeerId::from_u64(2);

TEST(BackoffTable, DoublesFromTenMillisecondsExactly) {
  BackoffTable t;
  const std::uint64_t now = 5 * kS;
  const std::uint64_t expected_ms[] = {10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120};
  for (std::uint32_t i = 0; i < std::size(expected_ms); ++i) {
    EXPECT_EQ(t.record_failure(kA, now), now + expected_ms[i] * kMs) << "attempt " << i + 1;
    EXPECT_EQ(t.attempts(kA), i + 1);
    const auto s = t.state(kA);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->last_attempt_ns, now);
    EXPECT_EQ(s->next_retry_ns, now + expected_ms[i] * kMs);
  }
}

TEST(BackoffTable, CapsAtSixtySecondsAndSaturates) {
  BackoffTable t;
  // 10 ms × 2^12 = 40.96 s, × 2^13 = 81.92 s → capped.
  EXPECT_EQ(t.schedule_delay(13), 40'960 * kMs);
  EXPECT_EQ(t.schedule_delay(14), 60 * kS);
  EXPECT_EQ(t.schedule_delay(64), 60 * kS);
  EXPECT_EQ(t.schedule_delay(1000), 60 * kS);  // shift clamped to 63, multiplication saturates
  for (int i = 0; i < 200; ++i) t.record_failure(kA, 0);
  EXPECT_EQ(t.retry_at(kA), 60 * kS);
  EXPECT_EQ(t.attempts(kA), 200u);

  BackoffConfig huge;
  huge.base_ns = 3;
  huge.max_delay_ns = UINT64_MAX;
  BackoffTable h(huge);
  EXPECT_EQ(h.schedule_delay(62), 3ULL << 61);
  EXPECT_EQ(h.schedule_delay(63), 3ULL << 62);  // still fits
  EXPECT_EQ(h.schedule_delay(64), UINT64_MAX);  // 3 << 63 does not: saturates
  EXPECT_EQ(h.record_failure(kA, 10), 10 + 3);
  for (int i = 0; i < 70; ++i) h.record_failure(kA, 10);
  EXPECT_EQ(h.retry_at(kA), UINT64_MAX);  // now + delay saturates too
}

TEST(BackoffTable, ShouldRetryAtTheBoundary) {
  BackoffTable t;
  EXPECT_TRUE(t.should_retry(kA, 0));
  EXPECT_EQ(t.retry_at(kA), std::nullopt);
  t.record_failure(kA, 100);
  EXPECT_FALSE(t.should_retry(kA, 100));
  EXPECT_FALSE(t.should_retry(kA, 100 + 10 * kMs - 1));
  EXPECT_TRUE(t.should_retry(kA, 100 + 10 * kMs));
  EXPECT_TRUE(t.should_retry(kB, 100));  // other peers unaffected
}

TEST(BackoffTable, AdvisoryIsCappedAtMax) {
  BackoffTable t;
  EXPECT_EQ(t.record_remote_advisory(kA, 1000, 2 * kS), 1000 + 2 * kS);
  EXPECT_EQ(t.record_remote_advisory(kA, 1000, 3600 * kS), 1000 + 60 * kS);
  EXPECT_EQ(t.attempts(kA), 2u);
}

TEST(BackoffTable, FailureAfterAdvisoryContinuesFromTheBumpedStep) {
  BackoffTable t;
  t.record_remote_advisory(kA, 0, 5 * kS);  // attempt 1
  t.record_remote_advisory(kA, 0, 5 * kS);  // attempt 2
  // Attempt 3: 10 ms × 2^2 = 40 ms, not the remote's 5 s and not a restart at 10 ms.
  EXPECT_EQ(t.record_failure(kA, 7 * kS), 7 * kS + 40 * kMs);
  EXPECT_EQ(t.attempts(kA), 3u);
}

TEST(BackoffTable, SuccessClears) {
  BackoffTable t;
  t.record_failure(kA, 0);
  t.record_failure(kA, 0);
  t.record_failure(kB, 0);
  t.record_success(kA);
  EXPECT_EQ(t.attempts(kA), 0u);
  EXPECT_TRUE(t.should_retry(kA, 0));
  EXPECT_EQ(t.retry_at(kA), std::nullopt);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.record_failure(kA, 0), 10 * kMs);  // starts over at the base
}

std::vector<std::uint64_t> jittered_delays(std::uint64_t seed, int n) {
  BackoffConfig c;
  c.jitter = true;
  c.jitter_seed = seed;
  BackoffTable t(c);
  std::vector<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(t.record_failure(kA, 1000) - 1000);
  return out;
}

TEST(BackoffTable, FullJitterIsSeededAndBounded) {
  const auto a = jittered_delays(42, 20);
  EXPECT_EQ(a, jittered_delays(42, 20));
  EXPECT_NE(a, jittered_delays(43, 20));
  BackoffTable plain;
  std::set<std::uint64_t> distinct;
  for (std::uint32_t i = 0; i < a.size(); ++i) {
    EXPECT_LE(a[i], plain.schedule_delay(i + 1)) << "attempt " << i + 1;
    distinct.insert(a[i]);
  }
  EXPECT_GT(distinct.size(), 15u);  // really random, not the plain schedule
  // Well spread over [0, 60 s] once capped: not all in the upper or lower half.
  int low = 0;
  const auto many = jittered_delays(7, 400);
  for (std::size_t i = 20; i < many.size(); ++i) low += many[i] < 30 * kS ? 1 : 0;
  EXPECT_GT(low, 100);
  EXPECT_LT(low, 280);
}

TEST(BackoffTable, AdvisoryIsNotJittered) {
  BackoffConfig c;
  c.jitter = true;
  BackoffTable t(c);
  EXPECT_EQ(t.record_remote_advisory(kA, 0, 2 * kS), 2 * kS);
}

TEST(BackoffTable, FullTableEvictsReleasedEntriesFirst) {
  BackoffConfig c;
  c.max_peers = 3;
  BackoffTable t(c);
  const auto p = [](std::uint64_t n) { return wire::PeerId::from_u64(n); };
  t.record_failure(p(1), 0);                  // retry at 10 ms
  t.record_remote_advisory(p(2), 0, kS);      // retry at 1 s
  t.record_remote_advisory(p(3), 0, 5 * kS);  // retry at 5 s
  ASSERT_EQ(t.size(), 3u);
  // At 20 ms only p1 is released: it is the one that goes.
  t.record_failure(p(4), 20 * kMs);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.attempts(p(1)), 0u);
  EXPECT_EQ(t.attempts(p(2)), 1u);
  EXPECT_EQ(t.attempts(p(3)), 1u);
  EXPECT_EQ(t.attempts(p(4)), 1u);
  // Nothing released at 25 ms: the earliest retry (p4 at 30 ms) goes.
  t.record_failure(p(5), 25 * kMs);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.attempts(p(4)), 0u);
  EXPECT_EQ(t.attempts(p(2)), 1u);
  EXPECT_EQ(t.attempts(p(3)), 1u);
  EXPECT_EQ(t.attempts(p(5)), 1u);
  // Existing peers never evict anyone.
  t.record_failure(p(2), 30 * kMs);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.attempts(p(2)), 2u);
}

TEST(BackoffTable, IdleEntriesDecay) {
  BackoffTable t;                                       // decay after 5 min
  for (int i = 0; i < 4; ++i) t.record_failure(kA, 0);  // retry at 80 ms
  t.record_failure(kB, 0);                              // retry at 10 ms
  const std::uint64_t decay = kDefaultBackoffIdleDecayNs;
  // Exactly 5 min past the retry time is not "more than": kept, and the streak continues.
  EXPECT_EQ(t.sweep(10 * kMs + decay), 0u);
  EXPECT_EQ(t.record_failure(kA, 80 * kMs + decay), 80 * kMs + decay + 160 * kMs);
  EXPECT_EQ(t.attempts(kA), 5u);
  // One ns later kB is forgotten by a sweep.
  EXPECT_EQ(t.sweep(10 * kMs + decay + 1), 1u);
  EXPECT_EQ(t.attempts(kB), 0u);
  EXPECT_EQ(t.size(), 1u);
  // And an idle entry touched by a write restarts at attempt 1 (lazy decay, no sweep).
  const std::uint64_t later = 240 * kMs + 2 * decay + 1;
  EXPECT_EQ(t.record_failure(kA, later), later + 10 * kMs);
  EXPECT_EQ(t.attempts(kA), 1u);
}

TEST(BackoffTable, DecayCanBeDisabled) {
  BackoffConfig c;
  c.idle_decay_ns = 0;
  BackoffTable t(c);
  t.record_failure(kA, 0);
  EXPECT_EQ(t.sweep(UINT64_MAX), 0u);
  t.record_failure(kA, 1000 * kS);
  EXPECT_EQ(t.attempts(kA), 2u);
}

TEST(BackoffTable, ClampsDegenerateConfig) {
  BackoffConfig c;
  c.base_ns = 0;
  c.max_delay_ns = 0;
  c.max_peers = 0;
  BackoffTable t(c);
  EXPECT_EQ(t.record_failure(kA, 5), 6u);  // base and max clamped to 1 ns
  t.record_failure(kB, 5);
  EXPECT_EQ(t.size(), 1u);  // max_peers clamped to 1
}

}  // namespace
}  // namespace bb::runtime

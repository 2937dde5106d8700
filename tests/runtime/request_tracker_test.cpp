#include "bb/runtime/request_tracker.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace bb::runtime {
namespace {

const wire::PeerId kA = wire::PeerId::from_u64(1);
const wire::PeerId kB = wire::PeerId::from_u64(2);

TEST(RequestTracker, TokensStartAtOne) {
  RequestTracker r;
  EXPECT_EQ(r.mint(), 1u);
  EXPECT_EQ(r.mint(), 2u);
  EXPECT_EQ(r.mint(), 3u);
}

TEST(RequestTracker, CompletionReturnsPeerAndRtt) {
  RequestTracker r;
  const auto t = r.mint();
  ASSERT_TRUE(r.track(t, kA, 1'000, 5'000));
  EXPECT_TRUE(r.in_flight(t));
  EXPECT_EQ(r.next_deadline(), 6'000u);
  const auto done = r.complete(t, 1'750);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->peer, kA);
  EXPECT_EQ(done->rtt_ns, 750u);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.next_deadline(), std::nullopt);
  EXPECT_EQ(r.complete(t, 2'000), std::nullopt);  // only once
  EXPECT_TRUE(r.expire(1'000'000).empty());       // and it never times out
}

TEST(RequestTracker, ExpiresInDeadlineOrder) {
  RequestTracker r;
  const auto t1 = r.mint(), t2 = r.mint(), t3 = r.mint(), t4 = r.mint();
  ASSERT_TRUE(r.track(t1, kA, 100, 500));   // 600
  ASSERT_TRUE(r.track(t2, kB, 200, 100));   // 300
  ASSERT_TRUE(r.track(t3, kA, 300, 300));   // 600, same deadline as t1
  ASSERT_TRUE(r.track(t4, kB, 400, 1000));  // 1400
  EXPECT_EQ(r.next_deadline(), 300u);
  EXPECT_TRUE(r.expire(299).empty());
  auto out = r.expire(600);  // deadline ≤ now expires
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].token, t2);
  EXPECT_EQ(out[0].peer, kB);
  EXPECT_EQ(out[0].started_ns, 200u);
  EXPECT_EQ(out[1].token, t1);  // ties by token
  EXPECT_EQ(out[2].token, t3);
  EXPECT_EQ(r.next_deadline(), 1400u);
  EXPECT_EQ(r.complete(t1, 700), std::nullopt);
  out = r.expire(UINT64_MAX);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].token, t4);
  EXPECT_EQ(r.size(), 0u);
}

TEST(RequestTracker, CompletedEntriesLeaveTheDeadlineHeap) {
  RequestTracker r;
  const auto t1 = r.mint(), t2 = r.mint();
  r.track(t1, kA, 0, 100);
  r.track(t2, kA, 0, 200);
  r.complete(t1, 50);
  EXPECT_EQ(r.next_deadline(), 200u);  // not the completed request's 100
  // Many complete-before-expiry cycles keep expiry exact.
  for (int i = 0; i < 10'000; ++i) {
    const auto t = r.mint();
    ASSERT_TRUE(r.track(t, kB, 0, 1'000'000));
    ASSERT_TRUE(r.complete(t, 1));
  }
  EXPECT_EQ(r.size(), 1u);
  const auto out = r.expire(UINT64_MAX);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].token, t2);
}

TEST(RequestTracker, TtlAtLeastOneAndSaturatingDeadline) {
  RequestTracker r;
  ASSERT_TRUE(r.track(r.mint(), kA, 10, 0));
  EXPECT_EQ(r.next_deadline(), 11u);
  EXPECT_TRUE(r.expire(10).empty());
  EXPECT_EQ(r.expire(11).size(), 1u);
  ASSERT_TRUE(r.track(r.mint(), kA, UINT64_MAX - 5, 100));
  EXPECT_EQ(r.next_deadline(), UINT64_MAX);
}

TEST(RequestTracker, RefusesZeroDuplicatesAndOverflow) {
  RequestTracker r(RequestTrackerConfig{2});
  EXPECT_FALSE(r.track(0, kA, 0, 10));
  EXPECT_TRUE(r.track(5, kA, 0, 10));
  EXPECT_FALSE(r.track(5, kB, 0, 20));  // already in flight
  EXPECT_TRUE(r.track(6, kA, 0, 10));
  EXPECT_FALSE(r.track(7, kA, 0, 10));  // max_in_flight
  EXPECT_EQ(r.size(), 2u);
  EXPECT_TRUE(r.complete(5, 1));
  EXPECT_TRUE(r.track(7, kA, 0, 10));
  EXPECT_EQ(r.complete(5, 1), std::nullopt);
}

TEST(RequestTracker, ATokenTrackedAgainExpiresOnlyOnItsNewDeadline) {
  RequestTracker r;
  r.track(9, kA, 0, 100);
  r.complete(9, 10);
  r.track(9, kB, 50, 500);  // the stale heap entry for deadline 100 must not expire it
  EXPECT_TRUE(r.expire(100).empty());
  const auto out = r.expire(550);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].peer, kB);
}

TEST(RequestTracker, RttIsZeroIfTheClockWentBackwards) {
  RequestTracker r;
  r.track(1, kA, 1'000, 10);
  EXPECT_EQ(r.complete(1, 900)->rtt_ns, 0u);
}

}  // namespace
}  // namespace bb::runtime

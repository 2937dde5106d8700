#include "runtime/bounded_queue.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace bb::runtime {
namespace {

using Ints = std::vector<int>;

struct StringBytes {
  std::size_t operator()(const std::string& s) const noexcept { return s.size(); }
};

TEST(BoundedQueue, FifoWithinBounds) {
  BoundedQueue<int> q;
  EXPECT_EQ(q.config().max_items, 10'000u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.front(), nullptr);
  EXPECT_EQ(q.pop(), std::nullopt);
  for (int i = 1; i <= 3; ++i) {
    const auto r = q.push(i);
    EXPECT_TRUE(r.accepted());
    EXPECT_TRUE(r.dropped.empty());
  }
  EXPECT_EQ(q.size(), 3u);
  ASSERT_NE(q.front(), nullptr);
  EXPECT_EQ(*q.front(), 1);
  EXPECT_EQ(q.pop(), 1);
  EXPECT_EQ(q.pop(), 2);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.dropped_total(), 0u);
}

TEST(BoundedQueue, DropOldestHandsBackTheDroppedItems) {
  BoundedQueue<int> q(BoundedQueueConfig{3});
  for (int i = 1; i <= 3; ++i) q.push(i);
  auto r = q.push(4);
  EXPECT_TRUE(r.accepted());
  EXPECT_EQ(r.dropped, Ints{1});
  r = q.push(5);
  EXPECT_EQ(r.dropped, Ints{2});
  EXPECT_EQ(q.evicted_total(), 2u);
  EXPECT_EQ(q.dropped_total(), 2u);
  EXPECT_EQ(q.drain_all(), (Ints{3, 4, 5}));
  EXPECT_TRUE(q.empty());
}

TEST(BoundedQueue, DefaultCapacityIsTenThousand) {
  BoundedQueue<int> q;
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(q.push(i).dropped.empty());
  const auto r = q.push(10'000);
  EXPECT_EQ(r.dropped, Ints{0});
  EXPECT_EQ(q.size(), 10'000u);
  EXPECT_EQ(*q.front(), 1);
}

TEST(BoundedQueue, RejectNewLeavesTheQueueAlone) {
  BoundedQueue<std::unique_ptr<int>> q(
      BoundedQueueConfig{2, kNoByteLimit, OverflowPolicy::reject_new});
  q.push(std::make_unique<int>(1));
  q.push(std::make_unique<int>(2));
  auto r = q.push(std::make_unique<int>(3));  // move-only items come back intact
  ASSERT_FALSE(r.accepted());
  ASSERT_TRUE(*r.rejected);
  EXPECT_EQ(**r.rejected, 3);
  EXPECT_TRUE(r.dropped.empty());
  EXPECT_EQ(q.rejected_total(), 1u);
  EXPECT_EQ(q.dropped_total(), 1u);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(**q.front(), 1);
}

TEST(BoundedQueue, ByteBoundWithExplicitCounts) {
  BoundedQueue<int> q(BoundedQueueConfig{100, 10});
  q.push(1, 4);
  q.push(2, 4);
  EXPECT_EQ(q.bytes(), 8u);
  auto r = q.push(3, 7);  // needs both older items gone: 8 + 7 and 4 + 7 exceed 10
  EXPECT_EQ(r.dropped, (Ints{1, 2}));
  EXPECT_EQ(q.bytes(), 7u);
  r = q.push(4, 3);  // exactly at the limit
  EXPECT_TRUE(r.dropped.empty());
  EXPECT_EQ(q.bytes(), 10u);
  r = q.push(5, 11);  // can never fit: refused even under drop-oldest, nothing evicted
  EXPECT_EQ(r.rejected, 5);
  EXPECT_TRUE(r.dropped.empty());
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.pop(), 3);
  EXPECT_EQ(q.bytes(), 3u);
  r = q.push(6, 6);  // 3 + 6 fits: only the count and byte bounds evict, never more
  EXPECT_TRUE(r.dropped.empty());
  q.drain_all();
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.evicted_total(), 2u);
  EXPECT_EQ(q.rejected_total(), 1u);
}

TEST(BoundedQueue, ByteBoundWithASizeFunction) {
  BoundedQueue<std::string, StringBytes> q(BoundedQueueConfig{100, 8, OverflowPolicy::reject_new});
  EXPECT_TRUE(q.push("abcd").accepted());
  EXPECT_TRUE(q.push("efg").accepted());
  EXPECT_EQ(q.bytes(), 7u);
  const auto r = q.push("hi");
  EXPECT_EQ(r.rejected, "hi");
  EXPECT_TRUE(q.push("h").accepted());
  EXPECT_EQ(q.bytes(), 8u);
  EXPECT_EQ(q.pop(), "abcd");
  EXPECT_TRUE(q.push("hi").accepted());
}

TEST(BoundedQueue, CountClampedToOne) {
  BoundedQueue<int> q(BoundedQueueConfig{0});
  q.push(1);
  EXPECT_EQ(q.push(2).dropped, Ints{1});
  EXPECT_EQ(q.size(), 1u);
}

}  // namespace
}  // namespace bb::runtime

#include "bb/runtime/inbound_dedup.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <unordered_set>
#include <vector>

namespace bb::runtime {
namespace {

const wire::PeerId kA = wire::PeerId::from_u64(1);
const wire::PeerId kB = wire::PeerId::from_u64(2);

DedupKey k(std::uint64_t n) {
  return DedupKey{n * 7919, n};
}

TEST(SipHash, ReferenceVectors) {
  // Key 00 01 … 0f, message 00 01 … (len − 1): the reference implementation's vectors.h.
  const std::uint64_t k0 = 0x0706050403020100ULL;
  const std::uint64_t k1 = 0x0f0e0d0c0b0a0908ULL;
  std::vector<std::uint8_t> msg(64);
  std::iota(msg.begin(), msg.end(), std::uint8_t{0});
  const auto sip = [&](std::size_t len) {
    return detail::siphash24(k0, k1, wire::ByteView(msg.data(), len));
  };
  EXPECT_EQ(sip(0), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(sip(1), 0x74f839c593dc67fdULL);
  EXPECT_EQ(sip(8), 0x93f5f5799a932462ULL);
  EXPECT_EQ(sip(15), 0xa129ca6149be45e5ULL);  // the paper's example
  EXPECT_EQ(sip(63), 0x958a324ceb064572ULL);
}

TEST(InboundDedup, SecondSightingIsADuplicate) {
  InboundDedup d;
  EXPECT_EQ(d.window(), 8192u);
  EXPECT_FALSE(d.record(k(1)));
  EXPECT_TRUE(d.record(k(1)));
  EXPECT_TRUE(d.record(k(1)));
  EXPECT_FALSE(d.record(k(2)));
  EXPECT_TRUE(d.contains(k(2)));
  EXPECT_FALSE(d.contains(k(3)));
  EXPECT_EQ(d.size(), 2u);
}

TEST(InboundDedup, EvictsExactlyAtTheWindow) {
  InboundDedup d;
  for (std::uint64_t i = 1; i <= 8192; ++i) ASSERT_FALSE(d.record(k(i))) << i;
  EXPECT_EQ(d.size(), 8192u);
  EXPECT_TRUE(d.contains(k(1)));
  EXPECT_TRUE(d.record(k(1)));      // still there; and a duplicate does not refresh its age
  EXPECT_FALSE(d.record(k(8193)));  // the 8193rd distinct key evicts the first
  EXPECT_EQ(d.size(), 8192u);
  EXPECT_FALSE(d.contains(k(1)));
  EXPECT_TRUE(d.contains(k(2)));
  EXPECT_FALSE(d.record(k(1)));  // so it is new again, and evicts k(2)
  EXPECT_FALSE(d.contains(k(2)));
  EXPECT_TRUE(d.contains(k(3)));
  EXPECT_TRUE(d.record(k(8192)));
}

TEST(InboundDedup, FifoOverManyRounds) {
  InboundDedup d(InboundDedupConfig{3});
  for (std::uint64_t i = 1; i <= 100; ++i) {
    ASSERT_FALSE(d.record(k(i)));
    ASSERT_EQ(d.size(), std::min<std::uint64_t>(i, 3));
    if (i > 3) {
      ASSERT_FALSE(d.contains(k(i - 3)));
    }
    for (std::uint64_t j = i > 2 ? i - 2 : 1; j <= i; ++j) ASSERT_TRUE(d.contains(k(j)));
  }
}

TEST(InboundDedup, WindowClampedToOne) {
  InboundDedup d(InboundDedupConfig{0});
  EXPECT_EQ(d.window(), 1u);
  EXPECT_FALSE(d.record(k(1)));
  EXPECT_TRUE(d.record(k(1)));
  EXPECT_FALSE(d.record(k(2)));
  EXPECT_FALSE(d.record(k(1)));
}

TEST(InboundDedup, ClearForgetsEverything) {
  InboundDedup d(InboundDedupConfig{4});
  for (std::uint64_t i = 1; i <= 6; ++i) d.record(k(i));
  d.clear();
  EXPECT_EQ(d.size(), 0u);
  for (std::uint64_t i = 1; i <= 4; ++i) EXPECT_FALSE(d.record(k(i)));
  EXPECT_TRUE(d.record(k(4)));
  EXPECT_FALSE(d.record(k(5)));
  EXPECT_FALSE(d.contains(k(1)));
}

TEST(DedupKey, SameMessageSameKey) {
  EXPECT_EQ(InboundDedup::make_key(kA, 42, 0), InboundDedup::make_key(kA, 42, 0));
  const std::vector<std::uint8_t> payload{1, 2, 3};
  EXPECT_EQ(InboundDedup::make_payload_key(kA, payload),
            InboundDedup::make_payload_key(kA, payload));
}

TEST(DedupKey, NoFalseCollisions) {
  std::unordered_set<DedupKey> keys;
  std::size_t made = 0;
  const auto add = [&](DedupKey key) {
    ++made;
    keys.insert(key);
  };
  // Origins × message ids × fill indices, the way triggers (no payload at all) are keyed.
  for (std::uint64_t origin = 1; origin <= 20; ++origin) {
    for (std::uint64_t id = 0; id < 20; ++id) {
      for (std::uint32_t fill = 0; fill < 5; ++fill) {
        add(InboundDedup::make_key(wire::PeerId::from_u64(origin), id, fill));
      }
    }
  }
  // Content keys: the same payload from different origins, different payloads, empty payloads.
  const std::vector<std::uint8_t> same{9, 9, 9};
  for (std::uint64_t origin = 1; origin <= 20; ++origin) {
    const auto o = wire::PeerId::from_u64(origin);
    add(InboundDedup::make_payload_key(o, same));
    add(InboundDedup::make_payload_key(o, {}));
    for (std::uint8_t b = 0; b < 10; ++b) {
      const std::vector<std::uint8_t> p{b};
      add(InboundDedup::make_payload_key(o, p));
    }
  }
  EXPECT_EQ(keys.size(), made);
}

TEST(DedupKey, TheShapesThatCollidedInTheOriginal) {
  const std::vector<std::uint8_t> payload{0xde, 0xad};
  // Same payload from two peers.
  EXPECT_NE(InboundDedup::make_payload_key(kA, payload),
            InboundDedup::make_payload_key(kB, payload));
  // Two distinct messages with equal bytes from one peer: keyed by id, not content.
  EXPECT_NE(InboundDedup::make_key(kA, 1, 0), InboundDedup::make_key(kA, 2, 0));
  // Trigger-only fills of one message.
  EXPECT_NE(InboundDedup::make_key(kA, 1, 0), InboundDedup::make_key(kA, 1, 1));
  // Empty payloads from two peers.
  EXPECT_NE(InboundDedup::make_payload_key(kA, {}), InboundDedup::make_payload_key(kB, {}));
  // Id keys and content keys live in separate spaces.
  EXPECT_NE(InboundDedup::make_key(kA, 0, 0).hi, InboundDedup::make_payload_key(kA, {}).hi);

  InboundDedup d;
  EXPECT_FALSE(d.record(InboundDedup::make_key(kA, 7, 0)));
  EXPECT_FALSE(d.record(InboundDedup::make_key(kB, 7, 0)));
  EXPECT_FALSE(d.record(InboundDedup::make_key(kA, 7, 1)));
  EXPECT_TRUE(d.record(InboundDedup::make_key(kA, 7, 0)));
}

TEST(DedupKey, LoIsTheMessageId) {
  EXPECT_EQ(InboundDedup::make_key(kA, 0xfeedULL, 3).lo, 0xfeedULL);
}

}  // namespace
}  // namespace bb::runtime

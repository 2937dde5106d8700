#include "bb/runtime/backpressure.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace bb::runtime {
namespace {

using Kind = BackpressureAction::Kind;
constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kS = 1'000'000'000;
const wire::PeerId kA = wire::PeerId::from_u64(1);
const wire::PeerId kB = wire::PeerId::from_u64(2);

TEST(Backpressure, HighAndLowWater) {
  BackpressureTracker t;
  EXPECT_FALSE(t.overloaded(3071, 4096));
  EXPECT_TRUE(t.overloaded(3072, 4096));  // 75 % of the default ingress capacity
  EXPECT_TRUE(t.overloaded(4096, 4096));
  EXPECT_TRUE(t.relieved(2048, 4096));
  EXPECT_FALSE(t.relieved(2049, 4096));
  EXPECT_TRUE(t.overloaded(SIZE_MAX, SIZE_MAX));  // no overflow in len × 100
  EXPECT_FALSE(t.overloaded(SIZE_MAX / 2, SIZE_MAX));
}

TEST(Backpressure, ConfigIsClamped) {
  BackpressureConfig c;
  c.high_water_pct = 0;
  c.low_water_pct = 90;
  c.k_before_silent = 0;
  c.min_notice_interval_ns = 0;
  c.silent_period_ns = 0;
  BackpressureTracker t(c);
  EXPECT_EQ(t.config().high_water_pct, 1u);
  EXPECT_EQ(t.config().low_water_pct, 1u);
  EXPECT_EQ(t.config().k_before_silent, 1u);
  EXPECT_EQ(t.config().min_notice_interval_ns, 1u);
  EXPECT_EQ(t.config().silent_period_ns, 1u);
  c.high_water_pct = 250;
  EXPECT_EQ(BackpressureTracker(c).config().high_water_pct, 100u);
}

TEST(Backpressure, KNoticesWithSuppressionThenSilent) {
  BackpressureTracker t;  // K = 3, 1 s interval
  std::uint64_t now = 10 * kS;
  for (std::uint32_t n = 1; n <= 3; ++n) {
    const auto a = t.observe_overload(kA, BackpressureCause::queue_full, 0, now);
    ASSERT_EQ(a.kind, Kind::emit_notice) << "notice " << n;
    EXPECT_EQ(a.min_backoff_ns, 1 * kS);
    EXPECT_EQ(a.cause, BackpressureCause::queue_full);
    EXPECT_EQ(a.silent_now, n == 3);  // the K-th notice is still sent, and turns silence on
    EXPECT_EQ(t.is_silent(kA, now), n == 3);
    if (n == 3) break;
    // Inside the window the peer's envelopes are delivered without another notice.
    EXPECT_EQ(t.observe_overload(kA, BackpressureCause::queue_full, 0, now).kind, Kind::suppress);
    EXPECT_EQ(t.observe_overload(kA, BackpressureCause::queue_full, 0, now + kS - 1).kind,
              Kind::suppress);
    now += kS;  // the window is [last notice, last notice + min_backoff)
  }
  const auto fourth = t.observe_overload(kA, BackpressureCause::queue_full, 0, now + 5 * kS);
  EXPECT_EQ(fourth.kind, Kind::silent_drop);
  EXPECT_FALSE(fourth.silent_now);
  // Other peers are unaffected.
  EXPECT_EQ(t.observe_overload(kB, BackpressureCause::queue_full, 0, now).kind, Kind::emit_notice);
  EXPECT_FALSE(t.is_silent(kB, now));
}

TEST(Backpressure, HintRaisesTheBackoffAndTheWindow) {
  BackpressureTracker t;
  auto a = t.observe_overload(kA, BackpressureCause::phi_accrual, 5 * kS, 0);
  ASSERT_EQ(a.kind, Kind::emit_notice);
  EXPECT_EQ(a.min_backoff_ns, 5 * kS);
  EXPECT_EQ(a.cause, BackpressureCause::phi_accrual);
  EXPECT_EQ(t.observe_overload(kA, BackpressureCause::queue_full, 0, 4 * kS).kind, Kind::suppress);
  a = t.observe_overload(kA, BackpressureCause::queue_full, 10 * kMs, 5 * kS);
  ASSERT_EQ(a.kind, Kind::emit_notice);
  EXPECT_EQ(a.min_backoff_ns, 1 * kS);  // a hint below the minimum interval is raised to it
}

// Drives kA into silent-drop at `at`.
void silence(BackpressureTracker& t, const wire::PeerId& p, std::uint64_t at) {
  for (std::uint64_t i = 0; i < t.config().k_before_silent; ++i) {
    t.observe_overload(p, BackpressureCause::queue_full, 0, at);
    at += t.config().min_notice_interval_ns;
  }
}

TEST(Backpressure, ReliefAtLowWaterClearsEveryone) {
  BackpressureTracker t;
  silence(t, kA, 0);                                            // silent from 2 s
  t.observe_overload(kB, BackpressureCause::queue_full, 0, 0);  // one notice, not silent
  ASSERT_TRUE(t.is_silent(kA, 3 * kS));
  EXPECT_TRUE(t.observe_relief(2049, 4096).empty());  // above low water: nothing changes
  EXPECT_TRUE(t.is_silent(kA, 3 * kS));
  EXPECT_EQ(t.observe_relief(2048, 4096), std::vector<wire::PeerId>{kA});
  EXPECT_FALSE(t.is_silent(kA, 3 * kS));
  EXPECT_EQ(t.size(), 0u);
  // Budgets restart: both peers get a fresh notice at once, no suppression window left over.
  EXPECT_EQ(t.observe_overload(kA, BackpressureCause::queue_full, 0, 3 * kS).kind,
            Kind::emit_notice);
  EXPECT_EQ(t.observe_overload(kB, BackpressureCause::queue_full, 0, 3 * kS).kind,
            Kind::emit_notice);
}

TEST(Backpressure, SilentDropEndsAfterTheSilentPeriod) {
  BackpressureTracker t;  // 10 s
  silence(t, kA, 0);      // silent from 2 s to 12 s
  EXPECT_TRUE(t.is_silent(kA, 12 * kS - 1));
  EXPECT_EQ(t.observe_overload(kA, BackpressureCause::queue_full, 0, 12 * kS - 1).kind,
            Kind::silent_drop);
  EXPECT_FALSE(t.is_silent(kA, 12 * kS));
  // The notice budget restarts: K more notices before silence again.
  auto a = t.observe_overload(kA, BackpressureCause::queue_full, 0, 12 * kS);
  EXPECT_EQ(a.kind, Kind::emit_notice);
  EXPECT_TRUE(a.silent_ended);
  EXPECT_FALSE(a.silent_now);
  a = t.observe_overload(kA, BackpressureCause::queue_full, 0, 13 * kS);
  EXPECT_EQ(a.kind, Kind::emit_notice);
  EXPECT_FALSE(a.silent_ended);
  EXPECT_TRUE(t.observe_overload(kA, BackpressureCause::queue_full, 0, 14 * kS).silent_now);
}

TEST(Backpressure, SweepReportsEachEndedEpisodeOnce) {
  BackpressureTracker t;
  silence(t, kA, 0);                                            // silent 2 s .. 12 s
  t.observe_overload(kB, BackpressureCause::queue_full, 0, 0);  // idle after 10 s
  EXPECT_TRUE(t.sweep(11 * kS).empty());
  EXPECT_EQ(t.size(), 1u);  // kB forgotten, kA kept
  EXPECT_EQ(t.sweep(12 * kS), std::vector<wire::PeerId>{kA});
  EXPECT_TRUE(t.sweep(13 * kS).empty());
  EXPECT_EQ(t.size(), 0u);
}

TEST(Backpressure, BoundedPeersEvictNonSilentFirst) {
  BackpressureConfig c;
  c.max_peers = 2;
  BackpressureTracker t(c);
  const wire::PeerId p3 = wire::PeerId::from_u64(3);
  silence(t, kA, 0);
  t.observe_overload(kB, BackpressureCause::queue_full, 0, 5 * kS);
  t.observe_overload(p3, BackpressureCause::queue_full, 0, 6 * kS);  // evicts kB, not kA
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.is_silent(kA, 6 * kS));
  EXPECT_EQ(t.observe_overload(kB, BackpressureCause::queue_full, 0, 6 * kS).kind,
            Kind::emit_notice);  // kB was forgotten (and p3, the least recent, now goes)
  EXPECT_TRUE(t.is_silent(kA, 6 * kS));
}

TEST(BackoffNotice, EncodesTwentyLittleEndianBytes) {
  const BackoffNotice n{0x0102030405060708ULL, BackpressureCause::explicit_drop,
                        0xa0b0c0d0e0f00010ULL};
  const auto bytes = n.encode();
  EXPECT_EQ(wire::to_hex(bytes),
            "0807060504030201"
            "02000000"
            "1000f0e0d0c0b0a0");
  const auto back = BackoffNotice::decode(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, n);
}

TEST(BackoffNotice, RoundTripsEveryCause) {
  for (auto c : {BackpressureCause::queue_full, BackpressureCause::phi_accrual,
                 BackpressureCause::explicit_drop}) {
    const BackoffNotice n{1'000'000'000, c, 0};
    const auto back = BackoffNotice::decode(n.encode());
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, n);
  }
  EXPECT_EQ(label(BackpressureCause::queue_full), "queue_full");
}

TEST(BackoffNotice, RejectsWrongLengthAndUnknownCause) {
  const auto good = BackoffNotice{7, BackpressureCause::queue_full, 9}.encode();
  const std::vector<std::uint8_t> bytes(good.begin(), good.end());
  for (std::size_t len : {std::size_t{0}, std::size_t{19}}) {
    const auto r = BackoffNotice::decode(wire::ByteView(bytes.data(), len));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), backpressure_errc::notice_wrong_length);
  }
  std::vector<std::uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_EQ(BackoffNotice::decode(longer).error(), backpressure_errc::notice_wrong_length);
  std::vector<std::uint8_t> bad = bytes;
  bad[8] = 3;
  EXPECT_EQ(BackoffNotice::decode(bad).error(), backpressure_errc::notice_unknown_cause);
  bad[8] = 0;
  bad[11] = 0x80;  // the cause is all four bytes, not just the low one
  const auto r = BackoffNotice::decode(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), backpressure_errc::notice_unknown_cause);
  EXPECT_NE(r.error().message().find("cause"), std::string::npos);
}

}  // namespace
}  // namespace bb::runtime

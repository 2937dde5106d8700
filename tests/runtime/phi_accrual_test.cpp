// Ports akka-remote's AccrualFailureDetectorSpec (libp2p-specs-and-vectors.md §3(h), §4) one
// case at a time, then tests what bb adds: two thresholds, transitions, Cassandra's guard, bounds.
#include "bb/runtime/phi_accrual.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace bb::runtime {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kS = 1'000'000'000;
const wire::PeerId kA = wire::PeerId::from_u64(1);
const wire::PeerId kB = wire::PeerId::from_u64(2);

double cdf(double p) {
  return 1.0 - std::pow(10.0, -p);
}

// Akka's fakeTimeGenerator: every heartbeat or query consumes the next time, each interval (ms)
// after the previous one.
class FakeClock {
 public:
  FakeClock(std::initializer_list<std::uint64_t> intervals_ms) {
    std::uint64_t t = 0;
    for (std::uint64_t ms : intervals_ms) {
      t += ms * kMs;
      times_.push_back(t);
    }
  }
  std::uint64_t operator()() {
    EXPECT_LT(next_, times_.size()) << "fake clock ran out of times";
    return next_ < times_.size() ? times_[next_++] : times_.back();
  }

 private:
  std::vector<std::uint64_t> times_;
  std::size_t next_ = 0;
};

// Akka's createFailureDetector defaults: threshold 8, 1000 samples, min sd 100 ms, no
// acceptable pause, first estimate 1 s.
PhiAccrualConfig akka(double threshold = 8.0, std::size_t max_sample_size = 1000,
                      std::uint64_t acceptable_pause_ns = 0) {
  PhiAccrualConfig c;
  c.suspect_phi = threshold;
  c.down_phi = 16.0;
  c.max_sample_size = max_sample_size;
  c.min_std_deviation_ns = 100 * kMs;
  c.acceptable_heartbeat_pause_ns = acceptable_pause_ns;
  c.first_heartbeat_estimate_ns = 1 * kS;
  return c;
}

bool available(const PhiAccrualDetector& fd, std::uint64_t now) {
  return fd.state(kA, now) == PhiState::live;
}

TEST(PhiFunction, CumulativeDistributionIsGoodEnough) {
  EXPECT_NEAR(cdf(phi(0, 0, 10)), 0.5, 0.001);
  EXPECT_NEAR(cdf(phi(6, 0, 10)), 0.7257, 0.001);
  EXPECT_NEAR(cdf(phi(15, 0, 10)), 0.9332, 0.001);
  EXPECT_NEAR(cdf(phi(20, 0, 10)), 0.97725, 0.001);
  EXPECT_NEAR(cdf(phi(25, 0, 10)), 0.99379, 0.001);
  EXPECT_NEAR(cdf(phi(35, 0, 10)), 0.99977, 0.001);
  EXPECT_NEAR(cdf(phi(40, 0, 10)), 0.99997, 0.0001);
  for (int x = 0; x < 40; ++x) EXPECT_LT(phi(x, 0, 10), phi(x + 1, 0, 10)) << x;
  EXPECT_NEAR(cdf(phi(22, 20.0, 3)), 0.7475, 0.001);
}

TEST(PhiFunction, HandlesOutliersWithoutLosingPrecision) {
  EXPECT_NEAR(phi(10, 0, 1), 38.0, 1.0);
  EXPECT_EQ(phi(-25, 0, 1), 0.0);
  // Beyond where Akka's e/(1+e) underflows to 0 (φ = +inf), φ stays finite and growing.
  const double far = phi(1000, 0, 1);
  EXPECT_TRUE(std::isfinite(far));
  EXPECT_GT(far, phi(100, 0, 1));
  EXPECT_EQ(phi(-1e9, 0, 1), 0.0);
}

TEST(PhiFunction, ReturnsRealisticValues) {
  const std::pair<double, double> table[] = {{0, 0.0},    {500, 0.1},   {1000, 0.3}, {1200, 1.6},
                                             {1400, 4.7}, {1600, 10.8}, {1700, 15.3}};
  for (const auto& [t, expected] : table) EXPECT_NEAR(phi(t, 1000.0, 100.0), expected, 0.1) << t;
  // Larger standard deviation, lower φ.
  EXPECT_LT(phi(1100, 1000.0, 500.0), phi(1100, 1000.0, 100.0));
  // Unit-free: the same table in nanoseconds.
  EXPECT_NEAR(phi(1600e6, 1000e6, 100e6), 10.8, 0.1);
}

TEST(PhiFunction, DegenerateDeviation) {
  EXPECT_EQ(phi(5, 10, 0), 0.0);
  EXPECT_TRUE(std::isinf(phi(11, 10, 0)));
  EXPECT_EQ(phi(11, 10, std::nan("")), phi(11, 10, 0));
}

TEST(PhiAccrualDetector, PhiIsZeroBeforeAnyHeartbeat) {
  PhiAccrualDetector fd(akka());
  EXPECT_EQ(fd.phi(kA, 0), 0.0);
  EXPECT_EQ(fd.phi(kA, 1000 * kS), 0.0);
  EXPECT_EQ(fd.history(kA), nullptr);
  EXPECT_TRUE(fd.scan(1000 * kS).empty());
}

TEST(PhiAccrualDetector, PhiFromTheBootstrapGuessAfterOneHeartbeat) {
  FakeClock clock{0, 1000, 1000, 1000, 1000};
  PhiAccrualDetector fd(akka());
  fd.heartbeat(kA, clock());
  EXPECT_NEAR(fd.phi(kA, clock()), 0.3, 0.2);
  EXPECT_NEAR(fd.phi(kA, clock()), 4.5, 0.3);
  EXPECT_GT(fd.phi(kA, clock()), 15.0);
  // The seed is estimate ± estimate/4.
  ASSERT_NE(fd.history(kA), nullptr);
  EXPECT_EQ(fd.history(kA)->size(), 2u);
  EXPECT_DOUBLE_EQ(fd.history(kA)->mean(), 1.0 * kS);
  EXPECT_DOUBLE_EQ(fd.history(kA)->std_deviation(), 250.0 * kMs);
}

TEST(PhiAccrualDetector, PhiUsesTheFirstIntervalAfterTheSecondHeartbeat) {
  FakeClock clock{0, 100, 100, 100};
  PhiAccrualDetector fd(akka());
  fd.heartbeat(kA, clock());
  EXPECT_GT(fd.phi(kA, clock()), 0.0);
  fd.heartbeat(kA, clock());
  EXPECT_GT(fd.phi(kA, clock()), 0.0);
  EXPECT_EQ(fd.history(kA)->size(), 3u);
}

TEST(PhiAccrualDetector, MonitoredAndAvailableAfterHeartbeats) {
  FakeClock clock{0, 1000, 100, 100};
  PhiAccrualDetector fd(akka());
  EXPECT_EQ(fd.history(kA), nullptr);  // Akka's isMonitoring == false
  fd.heartbeat(kA, clock());
  fd.heartbeat(kA, clock());
  fd.heartbeat(kA, clock());
  EXPECT_NE(fd.history(kA), nullptr);
  EXPECT_TRUE(available(fd, clock()));
}

TEST(PhiAccrualDetector, UnavailableAfterMissedHeartbeats) {
  FakeClock clock{0, 1000, 100, 100, 7000};
  PhiAccrualDetector fd(akka(3.0));
  fd.heartbeat(kA, clock());             // 0
  fd.heartbeat(kA, clock());             // 1000
  fd.heartbeat(kA, clock());             // 1100
  EXPECT_TRUE(available(fd, clock()));   // 1200
  EXPECT_FALSE(available(fd, clock()));  // 8200
}

TEST(PhiAccrualDetector, AvailableAgainWhenHeartbeatsResume) {
  // 1000 regular intervals, a 5 minute pause, then a short pause that must trigger again.
  std::vector<std::uint64_t> times;
  std::uint64_t t = 0;
  times.push_back(t);
  for (int i = 0; i < 999; ++i) times.push_back(t += 1000 * kMs);
  for (std::uint64_t ms : {300'000u, 100u, 900u, 100u, 7000u, 100u, 900u, 100u, 900u}) {
    times.push_back(t += ms * kMs);
  }
  std::size_t i = 0;
  PhiAccrualDetector fd(akka(8.0, 1000, 3 * kS));
  for (int n = 0; n < 1000; ++n) fd.heartbeat(kA, times[i++]);
  EXPECT_FALSE(available(fd, times[i++]));  // after the long pause
  const std::size_t recorded = fd.history(kA)->size();
  fd.heartbeat(kA, times[i++]);
  EXPECT_EQ(fd.history(kA)->size(), recorded);  // the pause itself is not learned
  EXPECT_TRUE(available(fd, times[i++]));
  fd.heartbeat(kA, times[i++]);
  EXPECT_FALSE(available(fd, times[i++]));  // after the 7 s pause
  fd.heartbeat(kA, times[i++]);
  EXPECT_TRUE(available(fd, times[i++]));
  fd.heartbeat(kA, times[i++]);
  EXPECT_TRUE(available(fd, times[i++]));
  EXPECT_EQ(i, times.size());
}

TEST(PhiAccrualDetector, AcceptsConfiguredMissingHeartbeats) {
  FakeClock clock{0, 1000, 1000, 1000, 4000, 1000, 1000};
  PhiAccrualDetector fd(akka(8.0, 1000, 3 * kS));
  fd.heartbeat(kA, clock());
  fd.heartbeat(kA, clock());
  fd.heartbeat(kA, clock());
  fd.heartbeat(kA, clock());
  EXPECT_TRUE(available(fd, clock()));
  fd.heartbeat(kA, clock());
  EXPECT_TRUE(available(fd, clock()));
}

TEST(PhiAccrualDetector, FailsAfterConfiguredAcceptableMissingHeartbeats) {
  FakeClock clock{0, 1000, 1000, 1000, 1000, 1000, 500, 500, 5000};
  PhiAccrualDetector fd(akka(8.0, 1000, 3 * kS));
  for (int n = 0; n < 6; ++n) fd.heartbeat(kA, clock());
  EXPECT_TRUE(available(fd, clock()));
  fd.heartbeat(kA, clock());
  EXPECT_FALSE(available(fd, clock()));
}

TEST(PhiAccrualDetector, UsesMaxSampleSizeHeartbeats) {
  FakeClock clock{0, 100, 100, 100, 100, 600, 500, 500, 500, 500, 500};
  PhiAccrualDetector fd(akka(8.0, 3));
  // 100 ms intervals
  fd.heartbeat(kA, clock());                // 0
  fd.heartbeat(kA, clock());                // 100
  fd.heartbeat(kA, clock());                // 200
  fd.heartbeat(kA, clock());                // 300
  const double phi1 = fd.phi(kA, clock());  // 400
  // 500 ms intervals: the same φ once the 100 ms intervals have been dropped
  fd.heartbeat(kA, clock());                // 1000
  fd.heartbeat(kA, clock());                // 1500
  fd.heartbeat(kA, clock());                // 2000
  fd.heartbeat(kA, clock());                // 2500
  const double phi2 = fd.phi(kA, clock());  // 3000
  EXPECT_NEAR(phi2, phi1, 0.001);
  EXPECT_EQ(fd.history(kA)->size(), 3u);
  EXPECT_DOUBLE_EQ(fd.history(kA)->mean(), 500.0 * kMs);
}

TEST(HeartbeatHistory, MeanAndVariance) {
  HeartbeatHistory h(20);
  for (std::uint64_t v : {100u, 200u, 125u, 340u, 130u}) h.push(v);
  EXPECT_NEAR(h.mean(), 179.0, 0.00001);
  EXPECT_NEAR(h.variance(), 7584.0, 0.00001);
}

TEST(HeartbeatHistory, ZeroVarianceForOneSample) {
  HeartbeatHistory h(600);
  h.push(1000);
  EXPECT_NEAR(h.variance(), 0.0, 0.00001);
  EXPECT_EQ(h.mean(), 1000.0);
}

TEST(HeartbeatHistory, CappedByMaxSampleSize) {
  HeartbeatHistory h(3);
  for (std::uint64_t v : {100u, 110u, 90u}) h.push(v);
  EXPECT_NEAR(h.mean(), 100.0, 0.00001);
  EXPECT_NEAR(h.variance(), 66.6666667, 0.00001);
  h.push(140);
  EXPECT_NEAR(h.mean(), 113.333333, 0.00001);
  EXPECT_NEAR(h.variance(), 422.222222, 0.00001);
  h.push(80);
  EXPECT_NEAR(h.mean(), 103.333333, 0.00001);
  EXPECT_NEAR(h.variance(), 688.88888889, 0.00001);
  EXPECT_EQ(h.size(), 3u);
}

TEST(HeartbeatHistory, ExactWithNanosecondMagnitudes) {
  // 10 s intervals in ns: squares overflow 64 bits, the 128-bit sums do not.
  HeartbeatHistory h(1000);
  for (int i = 0; i < 1000; ++i) h.push(i % 2 == 0 ? 9 * kS : 11 * kS);
  EXPECT_DOUBLE_EQ(h.mean(), 10.0 * kS);
  EXPECT_NEAR(h.std_deviation(), 1.0 * kS, 1.0);
  for (int i = 0; i < 1000; ++i) h.push(10 * kS);  // the old samples all leave exactly
  EXPECT_DOUBLE_EQ(h.mean(), 10.0 * kS);
  EXPECT_EQ(h.variance(), 0.0);
}

// Steady 1 s heartbeats from 0 to 20 s.
PhiAccrualDetector steady_peer(const PhiAccrualConfig& config = {}) {
  PhiAccrualDetector fd(config);
  for (std::uint64_t t = 0; t <= 20; ++t) fd.heartbeat(kA, t * kS);
  return fd;
}

TEST(PhiAccrualDetector, DefaultThresholdsWithTheDefaultPause) {
  // Mean 1 s, pause 3 s, σ = 100 ms: φ = 8 after ≈ 4.52 s of silence, 16 after ≈ 4.71 s.
  const PhiAccrualDetector fd = steady_peer();
  EXPECT_EQ(fd.state(kA, 24'450 * kMs), PhiState::live);
  EXPECT_EQ(fd.state(kA, 24'550 * kMs), PhiState::suspect);
  EXPECT_EQ(fd.state(kA, 24'700 * kMs), PhiState::suspect);
  EXPECT_EQ(fd.state(kA, 24'730 * kMs), PhiState::down);
  EXPECT_NEAR(fd.phi(kA, 24'522 * kMs), 8.0, 0.1);
}

TEST(PhiAccrualDetector, ScanEmitsTransitionsOnlyOnChange) {
  PhiAccrualDetector fd = steady_peer();
  EXPECT_TRUE(fd.scan(21 * kS).empty());  // live from the start: not a transition
  auto t = fd.scan(24'600 * kMs);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].peer, kA);
  EXPECT_EQ(t[0].state, PhiState::suspect);
  EXPECT_GE(t[0].phi, 8.0);
  EXPECT_LT(t[0].phi, 16.0);
  EXPECT_TRUE(fd.scan(24'650 * kMs).empty());
  t = fd.scan(30 * kS);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, PhiState::down);
  EXPECT_GE(t[0].phi, 16.0);
  EXPECT_TRUE(fd.scan(40 * kS).empty());
  // Heartbeats resume: the 20 s gap is not learned, and the next scan reports live.
  const std::size_t before = fd.history(kA)->size();
  fd.heartbeat(kA, 40 * kS);
  EXPECT_EQ(fd.history(kA)->size(), before);
  t = fd.scan(40'100 * kMs);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].state, PhiState::live);
  EXPECT_LT(t[0].phi, 1.0);
  EXPECT_EQ(label(t[0].state), "live");
}

TEST(PhiAccrualDetector, ScanCanJumpStraightToDown) {
  PhiAccrualDetector fd = steady_peer();
  fd.heartbeat(kB, 20 * kS);
  const auto t = fd.scan(60 * kS);
  ASSERT_EQ(t.size(), 2u);
  for (const auto& tr : t) EXPECT_EQ(tr.state, PhiState::down);
  EXPECT_NE(t[0].peer, t[1].peer);
}

TEST(PhiAccrualDetector, LongIntervalsAreNotRecorded) {
  // Cassandra's guard on its own: thresholds so high that availability never interferes.
  PhiAccrualConfig c;
  c.suspect_phi = 1e300;
  c.down_phi = 1e300;
  c.max_interval_ns = 10 * kS;
  PhiAccrualDetector fd(c);
  fd.heartbeat(kA, 0);
  fd.heartbeat(kA, 10 * kS);  // exactly the maximum: recorded
  EXPECT_EQ(fd.history(kA)->size(), 3u);
  fd.heartbeat(kA, 20 * kS + 1);  // longer: dropped
  EXPECT_EQ(fd.history(kA)->size(), 3u);
  fd.heartbeat(kA, 21 * kS + 1);  // measured from the last heartbeat, not the last recorded
  EXPECT_EQ(fd.history(kA)->size(), 4u);
  EXPECT_DOUBLE_EQ(fd.history(kA)->mean(), (750.0 + 1250.0 + 10'000.0 + 1000.0) * kMs / 4);
}

TEST(PhiAccrualDetector, MaxIntervalMustExceedThePause) {
  PhiAccrualConfig c;
  c.acceptable_heartbeat_pause_ns = 3 * kS;
  c.max_interval_ns = 1 * kS;
  c.down_phi = 1.0;  // below suspect: raised to it
  PhiAccrualDetector fd(c);
  EXPECT_EQ(fd.config().max_interval_ns, 3 * kS + 1);
  EXPECT_EQ(fd.config().down_phi, fd.config().suspect_phi);
}

TEST(PhiAccrualDetector, BoundedPeersEvictTheStalest) {
  PhiAccrualConfig c;
  c.max_peers = 2;
  PhiAccrualDetector fd(c);
  const wire::PeerId p3 = wire::PeerId::from_u64(3);
  fd.heartbeat(kA, 1 * kS);
  fd.heartbeat(kB, 2 * kS);
  fd.heartbeat(kA, 3 * kS);  // kB is now the stalest
  fd.heartbeat(p3, 4 * kS);
  EXPECT_EQ(fd.size(), 2u);
  EXPECT_EQ(fd.history(kB), nullptr);
  EXPECT_NE(fd.history(kA), nullptr);
  EXPECT_NE(fd.history(p3), nullptr);
  EXPECT_TRUE(fd.remove(kA));
  EXPECT_FALSE(fd.remove(kA));
  EXPECT_EQ(fd.phi(kA, 100 * kS), 0.0);
}

TEST(PhiAccrualDetector, ClampsDegenerateConfig) {
  PhiAccrualConfig c;
  c.max_sample_size = 0;
  c.min_std_deviation_ns = 0;
  c.first_heartbeat_estimate_ns = 0;
  c.suspect_phi = std::nan("");
  c.max_peers = 0;
  PhiAccrualDetector fd(c);
  EXPECT_EQ(fd.config().max_sample_size, 1u);
  EXPECT_EQ(fd.config().min_std_deviation_ns, 1u);
  EXPECT_EQ(fd.config().first_heartbeat_estimate_ns, 1u);
  EXPECT_EQ(fd.config().suspect_phi, kDefaultSuspectPhi);
  fd.heartbeat(kA, 0);
  fd.heartbeat(kB, 0);
  EXPECT_EQ(fd.size(), 1u);
  EXPECT_TRUE(std::isfinite(fd.phi(kB, 1000 * kS)));
}

}  // namespace
}  // namespace bb::runtime

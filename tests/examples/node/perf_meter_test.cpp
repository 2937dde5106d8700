#include "examples/node/perf_meter.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace bb::cli {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

// The intervals of a run add up to its totals, whatever the byte counts at each tick.
TEST(PerfMeter, IntervalsAddUpToTheTotals) {
  PerfMeter meter(5 * kSecond);
  wire::perf::Progress totals;
  std::uint64_t up = 0;
  std::uint64_t down = 0;
  std::uint64_t ns = 0;
  const std::uint64_t steps[][2] = {{1 << 20, 0}, {3 << 20, 0}, {4 << 20, 7}, {4 << 20, 9000}};
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    totals.uploaded = steps[i][0];
    totals.downloaded = steps[i][1];
    const auto interval = meter.next((6 + i) * kSecond, totals);
    EXPECT_EQ(interval.nanoseconds, kSecond);
    up += interval.uploaded;
    down += interval.downloaded;
    ns += interval.nanoseconds;
  }
  // The last interval, cut short when the run ends.
  totals.downloaded = 10'000;
  const auto last = meter.next(9 * kSecond + kSecond / 4, totals);
  EXPECT_EQ(last.nanoseconds, kSecond / 4);
  EXPECT_EQ(last.uploaded, 0u);
  EXPECT_EQ(last.downloaded, 1'000u);
  up += last.uploaded;
  down += last.downloaded;
  ns += last.nanoseconds;
  EXPECT_EQ(up, totals.uploaded);
  EXPECT_EQ(down, totals.downloaded);
  EXPECT_EQ(meter.reported().uploaded, totals.uploaded);
  EXPECT_EQ(meter.reported().downloaded, totals.downloaded);
  EXPECT_EQ(meter.elapsed_ns(), ns);
  EXPECT_EQ(meter.elapsed_ns(), 4 * kSecond + kSecond / 4);
}

// A tick that comes at the same time as the previous one (the run ended on a tick) is empty.
TEST(PerfMeter, AnIntervalOfNoTimeIsEmpty) {
  PerfMeter meter(0);
  wire::perf::Progress totals{100, 200};
  EXPECT_EQ(meter.next(kSecond, totals).uploaded, 100u);
  const auto again = meter.next(kSecond, totals);
  EXPECT_EQ(again.nanoseconds, 0u);
  EXPECT_EQ(again.uploaded, 0u);
  EXPECT_EQ(again.downloaded, 0u);
}

}  // namespace
}  // namespace bb::cli

// The per-interval report of bb-node perf: a run cut into intervals at the times the reporter
// wakes, each with the bytes moved in it. Every byte falls in exactly one interval, so the
// intervals of a run add up to its totals (the last one is cut when the run ends).
//
// Pure bookkeeping: times come from the caller (bb-node reads its async::Clock), so it is tested
// without waiting. Thread rule: one thread.
#pragma once

#include "bb/wire/protocols/perf.hpp"

#include <cstdint>

namespace bb::cli {

class PerfMeter {
 public:
  struct Interval {
    std::uint64_t nanoseconds = 0;  // since the previous interval ended (or the start)
    std::uint64_t uploaded = 0;     // bytes in this interval
    std::uint64_t downloaded = 0;
  };

  explicit PerfMeter(std::uint64_t start_ns) : start_ns_(start_ns), last_ns_(start_ns) {}

  // The interval that ends at `now_ns`, given the run's totals so far (which only grow).
  Interval next(std::uint64_t now_ns, const wire::perf::Progress& totals) {
    Interval i;
    i.nanoseconds = now_ns > last_ns_ ? now_ns - last_ns_ : 0;
    i.uploaded = totals.uploaded - reported_.uploaded;
    i.downloaded = totals.downloaded - reported_.downloaded;
    if (now_ns > last_ns_) last_ns_ = now_ns;
    reported_ = totals;
    return i;
  }

  // From the start to the end of the last interval.
  std::uint64_t elapsed_ns() const noexcept { return last_ns_ - start_ns_; }
  // What the intervals so far add up to.
  const wire::perf::Progress& reported() const noexcept { return reported_; }

 private:
  std::uint64_t start_ns_;
  std::uint64_t last_ns_;
  wire::perf::Progress reported_;
};

}  // namespace bb::cli

// A histogram of durations with fixed buckets, for metrics (handshake time, round trips): one
// count per bucket, their sum and their count. Its memory is fixed at construction, whatever
// is observed. Rendering as Prometheus's cumulative `le` buckets is node/metrics_text.hpp's.
// Thread rule: none of its own; the owner's (a Host's or a Node's executor).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace bb::wire {

class Histogram {
 public:
  // `upper_bounds_ns`: ascending; an observation goes to the first bucket whose bound it does
  // not exceed, or past the last one. Throws std::invalid_argument when not ascending.
  explicit Histogram(std::span<const std::uint64_t> upper_bounds_ns);

  void observe(std::uint64_t ns) noexcept;

  std::span<const std::uint64_t> bounds_ns() const noexcept { return bounds_; }
  // Observations per bucket (not cumulative): counts()[i] for bounds_ns()[i], and one more
  // entry at the end for those above every bound.
  std::span<const std::uint64_t> counts() const noexcept { return counts_; }
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t sum_ns() const noexcept { return sum_ns_; }  // saturating

 private:
  std::vector<std::uint64_t> bounds_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ns_ = 0;
};

// Buckets of a connection's handshake (TCP accepted or connected to secured and multiplexed):
// 1 ms to 10 s.
std::span<const std::uint64_t> handshake_buckets_ns() noexcept;
// Buckets of a round trip (ping): 100 µs to 5 s.
std::span<const std::uint64_t> rtt_buckets_ns() noexcept;

}  // namespace bb::wire

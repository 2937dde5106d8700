#include "bb/wire/histogram.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

namespace bb::wire {

namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kUs = 1'000;

constexpr std::array<std::uint64_t, 13> kHandshakeBuckets = {
    1 * kMs,   2'500 * kUs, 5 * kMs,     10 * kMs,    25 * kMs,    50 * kMs,    100 * kMs,
    250 * kMs, 500 * kMs,   1'000 * kMs, 2'500 * kMs, 5'000 * kMs, 10'000 * kMs};

constexpr std::array<std::uint64_t, 15> kRttBuckets = {
    100 * kUs, 250 * kUs, 500 * kUs, 1 * kMs,   2'500 * kUs, 5 * kMs,     10 * kMs,   25 * kMs,
    50 * kMs,  100 * kMs, 250 * kMs, 500 * kMs, 1'000 * kMs, 2'500 * kMs, 5'000 * kMs};

}  // namespace

Histogram::Histogram(std::span<const std::uint64_t> upper_bounds_ns)
    : bounds_(upper_bounds_ns.begin(), upper_bounds_ns.end()), counts_(bounds_.size() + 1, 0) {
  if (std::adjacent_find(bounds_.begin(), bounds_.end(), std::greater_equal<>()) != bounds_.end()) {
    throw std::invalid_argument("histogram bounds must be strictly ascending");
  }
}

void Histogram::observe(std::uint64_t ns) noexcept {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), ns) - bounds_.begin();
  ++counts_[static_cast<std::size_t>(bucket)];
  ++count_;
  sum_ns_ = ns > std::numeric_limits<std::uint64_t>::max() - sum_ns_
                ? std::numeric_limits<std::uint64_t>::max()
                : sum_ns_ + ns;
}

std::span<const std::uint64_t> handshake_buckets_ns() noexcept {
  return kHandshakeBuckets;
}

std::span<const std::uint64_t> rtt_buckets_ns() noexcept {
  return kRttBuckets;
}

}  // namespace bb::wire

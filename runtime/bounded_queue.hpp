// BoundedQueue<T>: a FIFO bounded by item count and optionally by bytes, for outbound envelopes
// (bytesandbrains §4.7: 10 000 items, drop the oldest) and other per-peer queues. Overflow never
// loses an item silently: push() hands back whatever it dropped or refused.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace bb::runtime {

inline constexpr std::size_t kDefaultQueueMaxItems = 10'000;
inline constexpr std::size_t kNoByteLimit = std::numeric_limits<std::size_t>::max();

enum class OverflowPolicy : std::uint8_t {
  drop_oldest,  // the original's OutboundQueue: make room by evicting from the front
  reject_new,   // refuse the new item; the queue is unchanged
};

struct BoundedQueueConfig {
  std::size_t max_items = kDefaultQueueMaxItems;  // ≥ 1
  std::size_t max_bytes = kNoByteLimit;
  OverflowPolicy policy = OverflowPolicy::drop_oldest;
};

// The default byte measure: items weigh nothing, so only the count bounds the queue unless the
// caller passes explicit byte counts to push().
struct ZeroBytes {
  template <class T>
  std::size_t operator()(const T&) const noexcept {
    return 0;
  }
};

// Single-threaded: owned and touched by one executor only (e.g. one connection's writer).
//
// Bounds: at most max_items items and max_bytes bytes (as measured by ByteSize or given to
// push). An item larger than max_bytes on its own is always rejected, whatever the policy.
//
// Returns: push() returns the evicted items (drop_oldest) or the refused item; counters total
// them.
template <class T, class ByteSize = ZeroBytes>
class BoundedQueue {
 public:
  struct PushResult {
    std::vector<T> dropped;     // evicted from the front to make room, oldest first
    std::optional<T> rejected;  // the pushed item itself, when it was not queued
    bool accepted() const noexcept { return !rejected.has_value(); }
  };

  BoundedQueue() : BoundedQueue(BoundedQueueConfig{}) {}
  explicit BoundedQueue(const BoundedQueueConfig& config, ByteSize measure = {})
      : config_(config), measure_(std::move(measure)) {
    config_.max_items = std::max<std::size_t>(config_.max_items, 1);
  }

  PushResult push(T item) {
    const std::size_t bytes = measure_(item);
    return push(std::move(item), bytes);
  }

  PushResult push(T item, std::size_t bytes) {
    PushResult result;
    const bool fits_alone = bytes <= config_.max_bytes;
    if (!fits_alone || (config_.policy == OverflowPolicy::reject_new && !has_room(bytes))) {
      ++rejected_total_;
      result.rejected.emplace(std::move(item));
      return result;
    }
    while (!has_room(bytes)) {
      bytes_ -= items_.front().bytes;
      result.dropped.push_back(std::move(items_.front().value));
      items_.pop_front();
      ++evicted_total_;
    }
    items_.push_back(Slot{std::move(item), bytes});
    bytes_ += bytes;
    return result;
  }

  std::optional<T> pop() {
    if (items_.empty()) return std::nullopt;
    Slot s = std::move(items_.front());
    items_.pop_front();
    bytes_ -= s.bytes;
    return std::optional<T>(std::move(s.value));
  }

  // The oldest item, or nullptr when empty.
  T* front() noexcept { return items_.empty() ? nullptr : &items_.front().value; }
  const T* front() const noexcept { return items_.empty() ? nullptr : &items_.front().value; }

  // Everything, oldest first; the queue is left empty.
  std::vector<T> drain_all() {
    std::vector<T> out;
    out.reserve(items_.size());
    for (Slot& s : items_) out.push_back(std::move(s.value));
    items_.clear();
    bytes_ = 0;
    return out;
  }

  std::size_t size() const noexcept { return items_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  bool empty() const noexcept { return items_.empty(); }
  std::uint64_t evicted_total() const noexcept { return evicted_total_; }
  std::uint64_t rejected_total() const noexcept { return rejected_total_; }
  std::uint64_t dropped_total() const noexcept { return evicted_total_ + rejected_total_; }
  const BoundedQueueConfig& config() const noexcept { return config_; }

 private:
  struct Slot {
    T value;
    std::size_t bytes;
  };

  bool has_room(std::size_t bytes) const noexcept {
    return items_.size() < config_.max_items && bytes <= config_.max_bytes - bytes_;
  }

  BoundedQueueConfig config_;
  [[no_unique_address]] ByteSize measure_;
  std::deque<Slot> items_;
  std::size_t bytes_ = 0;
  std::uint64_t evicted_total_ = 0;
  std::uint64_t rejected_total_ = 0;
};

}  // namespace bb::runtime

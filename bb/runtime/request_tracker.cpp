#include "bb/runtime/request_tracker.hpp"

#include <algorithm>
#include <limits>
#include <tuple>

namespace bb::runtime {
namespace {

// std heap algorithms build a max-heap; ordering by "later first" puts the earliest on top.
struct Later {
  template <class D>
  bool operator()(const D& a, const D& b) const noexcept {
    return std::tie(a.at_ns, a.token) > std::tie(b.at_ns, b.token);
  }
};

}  // namespace

RequestTracker::RequestTracker(const RequestTrackerConfig& config) : config_(config) {
  config_.max_in_flight = std::max<std::size_t>(config_.max_in_flight, 1);
  next_token_ = std::max<std::uint64_t>(config_.first_token, 1);
}

std::uint64_t RequestTracker::mint() noexcept {
  const std::uint64_t token = next_token_;
  next_token_ = next_token_ == std::numeric_limits<std::uint64_t>::max() ? 1 : next_token_ + 1;
  return token;
}

bool RequestTracker::track(std::uint64_t token, const wire::PeerId& peer, std::uint64_t now_ns,
                           std::uint64_t ttl_ns) {
  if (token == 0 || entries_.size() >= config_.max_in_flight) return false;
  ttl_ns = std::max<std::uint64_t>(ttl_ns, 1);
  const std::uint64_t deadline = ttl_ns > std::numeric_limits<std::uint64_t>::max() - now_ns
                                     ? std::numeric_limits<std::uint64_t>::max()
                                     : now_ns + ttl_ns;
  if (!entries_.try_emplace(token, Entry{peer, now_ns, deadline}).second) return false;
  heap_.push_back(Deadline{deadline, token});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return true;
}

bool RequestTracker::live(const Deadline& d) const {
  auto it = entries_.find(d.token);
  return it != entries_.end() && it->second.deadline_ns == d.at_ns;
}

void RequestTracker::drop_stale_top() {
  while (!heap_.empty() && !live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
  }
}

void RequestTracker::compact_if_stale() {
  if (heap_.size() <= 2 * entries_.size() + 1) return;
  heap_.clear();
  for (const auto& [token, e] : entries_) heap_.push_back(Deadline{e.deadline_ns, token});
  std::make_heap(heap_.begin(), heap_.end(), Later{});
}

std::optional<RequestCompletion> RequestTracker::complete(std::uint64_t token,
                                                          std::uint64_t now_ns) {
  auto it = entries_.find(token);
  if (it == entries_.end()) return std::nullopt;
  RequestCompletion done{it->second.peer,
                         now_ns > it->second.started_ns ? now_ns - it->second.started_ns : 0};
  entries_.erase(it);
  drop_stale_top();
  compact_if_stale();
  return done;
}

std::vector<RequestTimeout> RequestTracker::expire(std::uint64_t now_ns) {
  std::vector<RequestTimeout> out;
  while (!heap_.empty() && heap_.front().at_ns <= now_ns) {
    const Deadline d = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
    auto it = entries_.find(d.token);
    if (it == entries_.end() || it->second.deadline_ns != d.at_ns) continue;  // stale
    out.push_back(RequestTimeout{d.token, it->second.peer, it->second.started_ns});
    entries_.erase(it);
  }
  drop_stale_top();
  compact_if_stale();
  return out;
}

std::optional<std::uint64_t> RequestTracker::next_deadline() const noexcept {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().at_ns;
}

}  // namespace bb::runtime

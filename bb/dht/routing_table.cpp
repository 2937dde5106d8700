#include "bb/dht/routing_table.hpp"

#include <algorithm>

namespace bb::dht {

namespace {
constexpr std::size_t kMaxRefreshedBucket = 15;
}

RoutingTable::RoutingTable(wire::PeerId self, std::size_t k)
    : self_(std::move(self)), self_key_(Key::of(self_)), k_(k > 0 ? k : 1) {}

std::size_t RoutingTable::bucket_index(const Key& key) const noexcept {
  return std::min<std::size_t>(self_key_.common_prefix(key), Key::kBits - 1);
}

RoutingTable::Added RoutingTable::add(const wire::PeerId& peer, std::uint64_t now_ns) {
  if (peer == self_) return Added::self;
  const Key key = Key::of(peer);
  Bucket& b = buckets_[bucket_index(key)];
  for (auto& e : b.entries) {
    if (e.peer == peer) {
      e.last_seen_ns = now_ns;
      return Added::refreshed;
    }
  }
  if (b.entries.size() < k_) {
    b.entries.push_back(TableEntry{peer, key, now_ns, now_ns});
    ++size_;
    return Added::added;
  }
  auto it = std::find_if(b.replacements.begin(), b.replacements.end(),
                         [&](const TableEntry& e) { return e.peer == peer; });
  if (it != b.replacements.end()) b.replacements.erase(it);
  if (b.replacements.size() >= k_) b.replacements.pop_front();
  b.replacements.push_back(TableEntry{peer, key, now_ns, now_ns});
  return Added::pending;
}

bool RoutingTable::remove(const wire::PeerId& peer) {
  Bucket& b = buckets_[bucket_index(Key::of(peer))];
  auto rit = std::find_if(b.replacements.begin(), b.replacements.end(),
                          [&](const TableEntry& e) { return e.peer == peer; });
  if (rit != b.replacements.end()) b.replacements.erase(rit);
  auto it = std::find_if(b.entries.begin(), b.entries.end(),
                         [&](const TableEntry& e) { return e.peer == peer; });
  if (it == b.entries.end()) return false;
  b.entries.erase(it);
  --size_;
  if (!b.replacements.empty()) {
    b.entries.push_back(std::move(b.replacements.back()));
    b.replacements.pop_back();
    ++size_;
  }
  return true;
}

bool RoutingTable::contains(const wire::PeerId& peer) const {
  const Bucket& b = buckets_[bucket_index(Key::of(peer))];
  return std::any_of(b.entries.begin(), b.entries.end(),
                     [&](const TableEntry& e) { return e.peer == peer; });
}

std::vector<wire::PeerId> RoutingTable::closest(const Key& target, std::size_t count) const {
  std::vector<const TableEntry*> all;
  all.reserve(size_);
  for (const auto& b : buckets_)
    for (const auto& e : b.entries) all.push_back(&e);
  const std::size_t n = std::min(count, all.size());
  std::partial_sort(
      all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
      [&](const TableEntry* a, const TableEntry* b) { return closer(target, a->key, b->key); });
  std::vector<wire::PeerId> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(all[i]->peer);
  return out;
}

std::vector<wire::PeerId> RoutingTable::peers() const {
  std::vector<wire::PeerId> out;
  out.reserve(size_);
  for (const auto& b : buckets_)
    for (const auto& e : b.entries) out.push_back(e.peer);
  return out;
}

std::size_t RoutingTable::bucket_size(std::size_t index) const {
  return index < buckets_.size() ? buckets_[index].entries.size() : 0;
}

std::vector<std::size_t> RoutingTable::stale_buckets(std::uint64_t older_than_ns) const {
  std::size_t deepest = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i)
    if (!buckets_[i].entries.empty()) deepest = i;
  const std::size_t last = std::min(deepest + 1, kMaxRefreshedBucket);
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i <= last; ++i)
    if (buckets_[i].refreshed_ns <= older_than_ns) out.push_back(i);
  return out;
}

void RoutingTable::mark_refreshed(const Key& key, std::uint64_t now_ns) {
  buckets_[bucket_index(key)].refreshed_ns = now_ns;
}

}  // namespace bb::dht

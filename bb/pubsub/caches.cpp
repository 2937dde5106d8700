#include "bb/pubsub/caches.hpp"

#include <algorithm>

namespace bb::pubsub {

MessageCache::MessageCache(std::size_t gossip, std::size_t history)
    : gossip_(std::min(gossip, history)), windows_(std::max<std::size_t>(history, 1)) {}

void MessageCache::put(MessagePtr msg) {
  const auto [it, fresh] = entries_.try_emplace(msg->id);
  if (!fresh) return;
  bytes_ += msg->encoded.size();
  windows_.front().push_back({msg->id, msg->topic()});
  it->second.msg = std::move(msg);
}

MessagePtr MessageCache::get(const MessageId& id) const {
  const auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second.msg;
}

MessagePtr MessageCache::get_for(const MessageId& id, const wire::PeerId& peer,
                                 std::size_t max_transmissions) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  auto& count = it->second.sent[peer];
  if (count >= max_transmissions) return nullptr;
  ++count;
  return it->second.msg;
}

std::vector<MessageId> MessageCache::gossip_ids(const TopicId& topic) const {
  std::vector<MessageId> out;
  for (std::size_t w = 0; w < gossip_ && w < windows_.size(); ++w) {
    for (const auto& slot : windows_[w]) {
      if (slot.topic == topic) out.push_back(slot.id);
    }
  }
  return out;
}

void MessageCache::shift() {
  for (const auto& slot : windows_.back()) {
    const auto it = entries_.find(slot.id);
    if (it == entries_.end()) continue;
    bytes_ -= it->second.msg->encoded.size();
    entries_.erase(it);
  }
  windows_.pop_back();
  windows_.emplace_front();
}

bool SeenCache::add(const MessageId& id, std::uint64_t now_ns) {
  if (!seen_.try_emplace(id, now_ns).second) return false;
  order_.emplace_back(now_ns, id);
  return true;
}

void SeenCache::expire(std::uint64_t now_ns) {
  while (!order_.empty() && order_.front().first + ttl_ns_ <= now_ns) {
    seen_.erase(order_.front().second);
    order_.pop_front();
  }
}

}  // namespace bb::pubsub

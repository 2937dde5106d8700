// The two caches of a gossipsub router: the message cache (the last few heartbeat windows of
// messages, served to IWANT and announced by IHAVE) and the seen cache (message ids delivered or
// refused recently, so a message is handled once however many peers send it).
#pragma once

#include "bb/pubsub/message.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace bb::pubsub {

// `history` windows of messages; the newest `gossip` windows are announced in IHAVE. shift()
// (once per heartbeat) drops the oldest window.
class MessageCache {
 public:
  MessageCache(std::size_t gossip, std::size_t history);

  void put(MessagePtr msg);
  // The message, and counts one more transmission of it to `peer`: nullptr when it is not
  // cached or was already sent to `peer` `max_transmissions` times.
  MessagePtr get_for(const MessageId& id, const wire::PeerId& peer, std::size_t max_transmissions);
  MessagePtr get(const MessageId& id) const;
  bool contains(const MessageId& id) const { return entries_.contains(id); }
  std::vector<MessageId> gossip_ids(const TopicId& topic) const;
  void shift();
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  struct Entry {
    MessagePtr msg;
    std::unordered_map<wire::PeerId, std::uint32_t> sent;  // IWANT answers per peer
  };
  struct Slot {
    MessageId id;
    TopicId topic;
  };
  std::size_t gossip_;
  std::deque<std::vector<Slot>> windows_;
  std::unordered_map<MessageId, Entry> entries_;
  std::size_t bytes_ = 0;
};

// Message ids with the time they were first seen, forgotten `ttl` after that.
class SeenCache {
 public:
  explicit SeenCache(std::uint64_t ttl_ns) : ttl_ns_(ttl_ns) {}
  // false when already there (the id is not re-stamped).
  bool add(const MessageId& id, std::uint64_t now_ns);
  bool contains(const MessageId& id) const { return seen_.contains(id); }
  void expire(std::uint64_t now_ns);
  std::size_t size() const noexcept { return seen_.size(); }

 private:
  std::uint64_t ttl_ns_;
  boost::unordered_flat_map<MessageId, std::uint64_t> seen_;
  std::deque<std::pair<std::uint64_t, MessageId>> order_;  // by time seen
};

}  // namespace bb::pubsub

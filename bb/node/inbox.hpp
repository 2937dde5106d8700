// The Node's inbox: a bounded queue per channel for messages that passed the receive gates,
// each message's memory charged to its sender in the Host's resource manager, and the
// receiver's side of backpressure (BackoffNotices past a channel's high-water mark).
//
// Nothing is dropped for lack of room: a full channel, or a sender with
// NodeConfig::inbox_bytes_per_peer unread, makes deliver() wait, which stops that sender's
// stream being read (Yamux then stops the sender). A sender over its resource limit with
// nothing unread is refused (`resource_limit`). Thread rule: the Node's executor.
#pragma once

#include "bb/node/detail/core.hpp"
#include "bb/wire/resource_manager.hpp"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace bb::node::detail {

class Outbound;

// The first fill of a BackoffNotice envelope carries this type hash; the receiving Node takes
// the notice before routing (bytesandbrains §2.7), and no subscriber ever sees it.
extern const std::uint64_t kBackoffNoticeTypeHash;

class Inbox {
 public:
  Inbox(Core& core, Outbound& outbound);

  // One fill that passed the receive gates, to the channel of its dest_suffix. nullopt once
  // queued; no_subscriber (too many channels nobody subscribed to), resource_limit or stopped
  // otherwise.
  boost::asio::awaitable<runtime::Verdict> deliver(const runtime::Message& msg);
  // deliver() when it would not wait nor refuse (a channel with room, memory to hold the
  // message): true once queued; false with nothing done otherwise.
  bool try_deliver(const runtime::Message& msg);

  void subscribe(std::string_view channel);
  boost::asio::awaitable<std::optional<Received>> receive(std::string_view channel);
  std::optional<Received> try_receive(std::string_view channel);
  boost::asio::awaitable<std::optional<Received>> receive_any();

  // The dest_suffix of a channel (cached).
  const wire::Bytes& suffix_for(std::string_view channel);

  // Wakes every waiter (stop()).
  void wake_all();

 private:
  struct Channel {
    explicit Channel(const boost::asio::any_io_executor& ex) : changed(ex) {}
    std::string name;
    bool subscribed = false;
    std::deque<Received> queue;
    std::deque<std::uint64_t> arrivals;  // arrival number of each queued message
    std::deque<wire::PeerMemory> held;   // each queued message's memory, charged to its sender
    async::Event changed;                // a message arrived or room was made
  };

  std::shared_ptr<Channel> channel(std::string_view name);
  static std::size_t cost_of(const runtime::Message& msg);
  void enqueue(const std::shared_ptr<Channel>& ch, const runtime::Message& msg,
               wire::PeerMemory held);
  Received pop(const std::shared_ptr<Channel>& ch);
  std::shared_ptr<Channel> oldest_waiting() const;
  void maybe_notice(const wire::PeerId& peer, std::size_t depth);
  boost::asio::awaitable<void> send_notice(wire::PeerId peer, runtime::BackoffNotice notice);

  Core& core_;
  Outbound& outbound_;
  std::unordered_map<std::string, std::shared_ptr<Channel>> channels_;
  std::size_t unsubscribed_ = 0;
  std::uint64_t arrival_counter_ = 0;
  std::unordered_map<wire::PeerId, std::size_t> waiting_from_;  // queued bytes per sender
  async::Event any_arrival_;
  async::Event room_;  // a queued message was taken: its memory went back
  std::map<std::string, wire::Bytes, std::less<>> suffixes_;
};

}  // namespace bb::node::detail

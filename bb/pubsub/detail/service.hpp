// Gossipsub's state on a Node, shared by gossipsub.cpp (API, peers, heartbeat) and
// streams.cpp (the RPC reader and the per-peer writer).
#pragma once

#include "bb/async/event.hpp"
#include "bb/async/task_group.hpp"
#include "bb/pubsub/gossipsub.hpp"
#include "bb/runtime/pipeline.hpp"
#include "bb/wire/connection.hpp"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace bb::pubsub {

struct Gossipsub::Impl {
  // Our side of one peer: the stream we write RPCs to, and what waits to be written.
  struct Link {
    explicit Link(const boost::asio::any_io_executor& ex) : wake(ex), done(ex) {}
    std::optional<wire::Connection> on;  // the connection `out` was opened on
    std::optional<wire::Stream> out;
    std::optional<wire::StreamMemory> memory;  // the queue's reservation in out's scope
    std::deque<std::string> queue;             // framed RPCs
    std::size_t queued = 0;
    bool writing = false;
    bool gone = false;
    async::Event wake;  // something queued, the link gone, or its connection closed
    async::Event done;  // run_link ended (its connection watcher ends with it)
  };
  struct TopicQueue {
    explicit TopicQueue(const boost::asio::any_io_executor& ex) : ready(ex) {}
    std::deque<PubsubMessage> messages;
    async::Event ready;
  };

  Impl(node::Node& n, GossipsubOptions o);

  node::Node& node;
  GossipsubOptions options;
  boost::asio::any_io_executor ex;
  Router router;
  std::optional<runtime::Pipeline> tx_gates;
  std::optional<runtime::Pipeline> rx_gates;
  std::unordered_map<TopicId, runtime::Pipeline> validators;
  std::unordered_map<wire::PeerId, std::shared_ptr<Link>> links;
  std::vector<std::shared_ptr<Link>> retired;  // closed by stop(), kept until destruction
  std::unordered_map<TopicId, std::unique_ptr<TopicQueue>> inbox;
  std::deque<PubsubEvent> events;
  async::Event event_ready;
  async::Event subscribers_changed;
  async::Event written;                       // a writer wrote or a link went away
  std::unordered_set<wire::Stream*> serving;  // the peers' streams being read
  async::Event serve_done;
  GossipsubStats counters;
  bool started = false;
  bool stopped = false;
  async::TaskGroup tasks;  // last: destroyed first

  // Hands what the router queued to the writers, the inboxes and the event queue.
  void pump();
  void enqueue(const wire::PeerId& peer, std::string frames);
  TopicQueue& topic_queue(const TopicId& topic);

  void on_host_event(const wire::HostEvent& event);
  void ensure_link(const wire::PeerId& peer);
  void drop_peer(const wire::PeerId& peer);
  void forget_if_gone(const wire::PeerId& peer);  // drop_peer once its connection is closed
  void add_router_peer(const wire::PeerId& peer, PeerKind kind, const wire::Connection& conn);
  bool idle() const;

  boost::asio::awaitable<void> run_link(wire::PeerId peer, std::shared_ptr<Link> link);
  // Writes the queue to link->out until the link is gone (returns false) or the stream broke
  // (true; the batch being written is back at the queue's front).
  boost::asio::awaitable<bool> write_loop(wire::PeerId peer, std::shared_ptr<Link> link);
  // Whether the Host now holds another open connection to `peer` than the one link->on names.
  bool link_moved(const wire::PeerId& peer, const Link& link) const;
  // Wakes the link's writer when `conn` closes, so an idle link notices at once (and moves to
  // the peer's new connection) rather than at its next write.
  boost::asio::awaitable<void> watch_connection(wire::Connection conn, std::shared_ptr<Link> link);
  boost::asio::awaitable<void> serve(wire::Connection conn, wire::Stream stream);
  static boost::asio::awaitable<void> serve_stream(std::shared_ptr<Impl> impl,
                                                   wire::Connection conn, wire::Stream stream);
  boost::asio::awaitable<void> handle_frame(const wire::PeerId& peer, wire::ByteView frame);
  boost::asio::awaitable<Acceptance> validate(const PendingValidation& pending);
  boost::asio::awaitable<void> heartbeat_loop();
};

}  // namespace bb::pubsub

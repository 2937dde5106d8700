// Gossipsub on a Node: /meshsub/1.2.0, /meshsub/1.1.0 and /meshsub/1.0.0, and /floodsub/1.0.0
// for peers that offer only that. The same RPCs, signatures, message ids and mesh rules as
// go-, rust- and js-libp2p, so a bb node is one more member of their topics.
//
//   bb::pubsub::Gossipsub ps(node);          // after node.start()
//   ps.start();
//   ps.subscribe("news");
//   auto sent = ps.publish("news", bytes);   // to every subscribed peer above the threshold
//   auto msg = co_await ps.next_message("news");  // msg->data(), msg->author, msg->seqno
//
// The bb way, on every message:
// - the Node's gates: an RPC from a peer is heard only if the receive gates let it through
//   (PeerHealthGateRx: blocklist and allowlist; BackoffGateRx), and an RPC to a peer goes out
//   only if the send gates do (PeerHealthGateTx with policy "drop": blocklist, allowlist, a
//   peer marked down or in its cooldown). What a backoff or a down peer stops waits instead of
//   being dropped: our queue for the peer (within max_queued_bytes), or the peer's stream to
//   us. A blocked peer gets nothing and is heard by nobody.
// - a topic's validators are a pipeline of ops found by (domain, op_type), like any other:
//   set_validators(topic, nodes). A stage that lets the message through accepts it; a denial of
//   kind bad_input rejects it (the forwarder's P4 penalty); any other denial ignores it.
// - bounds: one RPC at most max_rpc_bytes, its buffer reserved in the stream's resource scope
//   before it is read; the RPCs queued for a peer at most max_queued_bytes, reserved in the
//   scope of the peer's outbound stream (beyond that they are dropped and counted); the router's
//   limits on IHAVE, IWANT, IDONTWANT, GRAFT and topics per peer (pubsub/router.hpp). A peer
//   over a limit loses its stream (StreamFailed with a pubsub errc), nothing else.
//
// Thread rule: the Node's executor. Lifetime: stop() before the Node stops and before this
// object goes.
#pragma once

#include "bb/node/node.hpp"
#include "bb/pubsub/router.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bb::pubsub {

struct GossipsubOptions {
  GossipsubConfig router;
  // Protocol ids offered, best first.
  std::vector<std::string> protocols = {std::string(kMeshsubV12), std::string(kMeshsubV11),
                                        std::string(kMeshsubV10), std::string(kFloodsubId)};
  std::size_t max_queued_bytes = std::size_t{8} << 20;  // per peer, outbound
  std::size_t topic_queue = 4096;  // messages kept per topic for next_message; oldest dropped
  std::size_t event_queue = 4096;
  // The first seqno of our messages: a value from the wall clock when 0 (js-libp2p's rule, so
  // seqnos keep increasing across restarts).
  std::uint64_t first_seqno = 0;
  std::uint64_t rng_seed = 0;  // 0: random
};

// A message delivered on one of our topics.
struct PubsubMessage {
  MessagePtr stored;  // keeps `data` alive
  wire::PeerId received_from;
  const TopicId& topic() const noexcept { return stored->topic(); }
  wire::ByteView data() const noexcept { return wire::as_bytes(stored->fields.data()); }
  const std::optional<wire::PeerId>& author() const noexcept { return stored->author; }
  std::uint64_t seqno() const noexcept { return stored->seqno; }
  const MessageId& id() const noexcept { return stored->id; }
};

using PubsubEvent = RouterEvent;  // MeshJoined, MeshLeft, PeerSubscribed, PeerUnsubscribed

struct GossipsubStats {
  RouterStats router;
  std::uint64_t rpcs_gated_in = 0;       // RPCs the receive gates refused (blocked, not allowed)
  std::uint64_t rpcs_held_in = 0;        // times an RPC waited for a peer's backoff window
  std::uint64_t rpcs_gated_out = 0;      // batches the send gates refused (blocked, not allowed)
  std::uint64_t rpcs_held_out = 0;       // times a batch waited for a peer down or cooling off
  std::uint64_t rpcs_dropped_out = 0;    // RPCs over a peer's max_queued_bytes
  std::uint64_t streams_closed = 0;      // inbound streams closed for bad input or limits
  std::uint64_t links_moved = 0;         // our streams reopened on a peer's new connection
  std::uint64_t deliveries_dropped = 0;  // topic queues full
  std::size_t peers = 0;
};

class Gossipsub {
 public:
  explicit Gossipsub(node::Node& node, GossipsubOptions options = {});
  ~Gossipsub();
  Gossipsub(const Gossipsub&) = delete;
  Gossipsub& operator=(const Gossipsub&) = delete;

  // Serves the protocols on the Node's Host, opens a stream to every connected peer and to
  // each new one, and starts the heartbeat. The Node must be started.
  void start();
  // Closes the streams, ends the tasks; next_message and next_event then return nullopt.
  boost::asio::awaitable<void> stop();

  void subscribe(const TopicId& topic);
  void unsubscribe(const TopicId& topic);
  // Validators for `topic`: ops resolved through the op registry now (throws what
  // Pipeline::build throws). An empty list removes them.
  void set_validators(const TopicId& topic, const std::vector<bb::onnx::NodeProto>& nodes);

  // Signs (strict_sign) and queues our message for the topic's peers (all of them above the
  // publish threshold with flood_publish, else the mesh or fanout). errc::message_too_large,
  // errc::stopped. Zero recipients is no error: the caller decides (wait_for_peers first).
  struct Published {
    std::size_t recipients = 0;
    std::uint64_t seqno = 0;
    MessageId id;
  };
  boost::system::result<Published> publish(const TopicId& topic, wire::ByteView data);

  // The next message on a topic we subscribed to; nullopt once stopped or unsubscribed.
  boost::asio::awaitable<std::optional<PubsubMessage>> next_message(const TopicId& topic);
  std::optional<PubsubMessage> try_next_message(const TopicId& topic);
  boost::asio::awaitable<std::optional<PubsubEvent>> next_event();
  std::optional<PubsubEvent> try_next_event();

  // Waits until at least `count` connected peers are subscribed to `topic`, for at most
  // `timeout` on the Node's clock; false when time ran out.
  boost::asio::awaitable<bool> wait_for_peers(const TopicId& topic, std::size_t count,
                                              std::chrono::nanoseconds timeout);
  // Waits until everything queued so far has been written to the peers' streams (or their
  // streams closed) while writing goes on: false once nothing was written for `timeout`.
  boost::asio::awaitable<bool> flush(std::chrono::nanoseconds timeout);

  const Router& router() const noexcept;
  GossipsubStats stats() const;

 private:
  struct Impl;
  // Shared with the streams being served, which the Host runs and may end after this object.
  std::shared_ptr<Impl> impl_;
};

}  // namespace bb::pubsub

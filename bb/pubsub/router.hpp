// The gossipsub router, without I/O: the mesh and fanout of every topic, the caches, gossip,
// GRAFT/PRUNE with backoff and peer exchange, IDONTWANT, flood publishing, and peer scoring with
// its thresholds. The service that owns it (pubsub/gossipsub.hpp) feeds it decoded RPCs, peers
// coming and going, validation outcomes and heartbeats, and sends what it queues for each peer.
// Tests drive it directly on a ManualClock, many routers wired to each other in memory.
//
// Every per-peer structure is bounded (GossipsubConfig's limits): a hostile peer's IHAVE,
// IWANT, IDONTWANT, GRAFT and subscriptions cost at most those counts per heartbeat, and its
// score (P4 for invalid messages, P7 for broken promises and GRAFT floods) takes it out of the
// mesh, then out of gossip, then out of hearing (graylist).
//
// Thread rule: one executor; nothing here suspends.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/pubsub/caches.hpp"
#include "bb/pubsub/message.hpp"
#include "bb/pubsub/score.hpp"
#include "bb/wire/keys.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace bb::pubsub {

inline constexpr std::string_view kFloodsubId = "/floodsub/1.0.0";
inline constexpr std::string_view kMeshsubV10 = "/meshsub/1.0.0";
inline constexpr std::string_view kMeshsubV11 = "/meshsub/1.1.0";
inline constexpr std::string_view kMeshsubV12 = "/meshsub/1.2.0";

enum class PeerKind : std::uint8_t { floodsub, meshsub_v10, meshsub_v11, meshsub_v12 };
std::optional<PeerKind> peer_kind(std::string_view protocol);

// What a topic is scored on by default: time in the mesh (P1), first deliveries (P2) and
// invalid messages (P4). Not P3/P3b: a delivery rate threshold only makes sense for a topic whose
// traffic is known (a chat room would starve every mesh peer of its score); an application that
// knows its topics sets them in PeerScoreParams::topics.
TopicScoreParams default_topic_score();
// The spec's parameters with default_topic_score() for every topic and loopback (127.0.0.1, ::1)
// exempt from IP colocation (P6): many nodes of one machine are a test setup, not a Sybil attack.
PeerScoreParams default_score_params();

struct GossipsubConfig {
  // Mesh degree (the spec's D, D_lo, D_hi, D_lazy, D_score, D_out).
  std::size_t d = 6, d_lo = 4, d_hi = 12, d_lazy = 6, d_score = 4, d_out = 2;
  std::chrono::nanoseconds heartbeat_interval = std::chrono::seconds(1);
  std::chrono::nanoseconds fanout_ttl = std::chrono::seconds(60);
  std::size_t mcache_len = 5, mcache_gossip = 3;
  std::chrono::nanoseconds seen_ttl = std::chrono::minutes(2);
  double gossip_factor = 0.25;
  std::chrono::nanoseconds prune_backoff = std::chrono::minutes(1);
  std::chrono::nanoseconds unsubscribe_backoff = std::chrono::seconds(10);
  std::chrono::nanoseconds graft_flood_threshold = std::chrono::seconds(10);
  std::size_t prune_peers = 16;                // PX peers in a PRUNE
  std::size_t opportunistic_graft_ticks = 60;  // heartbeats between opportunistic grafts
  std::size_t opportunistic_graft_peers = 2;
  std::size_t gossip_retransmission = 3;  // IWANT answers per message per peer
  std::size_t max_ihave_length = 5000;    // ids asked per peer per heartbeat
  std::size_t max_ihave_messages = 10;    // IHAVEs heeded per peer per heartbeat
  std::chrono::nanoseconds iwant_followup_time = std::chrono::seconds(3);
  std::size_t idontwant_min_data_bytes = 512;  // IDONTWANT sent for messages this large
  std::size_t max_idontwant_messages = 512;    // IDONTWANT ids kept per peer per heartbeat
  std::size_t idontwant_heartbeats = 3;        // how long a peer's IDONTWANT is heeded
  bool flood_publish = true;
  SignaturePolicy signature_policy = SignaturePolicy::strict_sign;
  MessageIdFn message_id;  // null: default_message_id
  // Limits of what one peer may make us hold.
  std::size_t max_rpc_bytes = 1 << 20;      // one framed RPC (go-libp2p's default)
  std::size_t max_message_bytes = 1 << 20;  // publish() refuses larger data
  std::size_t max_topics_per_peer = 512;    // subscriptions remembered per peer
  RpcLimits rpc;
  // Every topic is scored with default_topic_score() unless the application names its own.
  PeerScoreParams score = default_score_params();
  PeerScoreThresholds thresholds;
  bool scoring = true;  // false: every peer scores 0 (no penalties, no thresholds)
};

// What the router tells its owner.
struct MeshJoined {  // a peer joined our mesh of `topic` (we grafted it or it grafted us)
  TopicId topic;
  wire::PeerId peer;
};
struct MeshLeft {
  TopicId topic;
  wire::PeerId peer;
};
struct PeerSubscribed {  // a connected peer subscribed to `topic`
  TopicId topic;
  wire::PeerId peer;
};
struct PeerUnsubscribed {  // it left `topic`, or disconnected while in it
  TopicId topic;
  wire::PeerId peer;
};
using RouterEvent = std::variant<MeshJoined, MeshLeft, PeerSubscribed, PeerUnsubscribed>;

// A received message that passed the signature policy and the seen cache and now waits for the
// topic's validators; the owner answers with Router::validated().
struct PendingValidation {
  MessagePtr msg;
  wire::PeerId from;
};

enum class Acceptance : std::uint8_t { accept, reject, ignore };

// Counters for metrics and tests.
struct RouterStats {
  std::uint64_t rpcs_in = 0, messages_in = 0, duplicates = 0, invalid = 0, ignored = 0,
                delivered = 0, forwarded = 0, published = 0, graylisted_rpcs = 0, ihave_ignored = 0,
                iwant_ignored = 0, graft_refused = 0, broken_promises = 0, idontwant_dropped = 0,
                not_subscribed = 0, topic_limit = 0;
};

class Router {
 public:
  Router(wire::Ed25519KeyPair identity, GossipsubConfig config, async::Clock& clock,
         std::uint64_t first_seqno, std::uint64_t rng_seed);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // A peer whose stream speaks `kind`; `outbound` when we dialed its connection (D_out). Our
  // subscriptions are queued for it.
  void add_peer(const wire::PeerId& peer, PeerKind kind, bool outbound, std::string ip);
  void remove_peer(const wire::PeerId& peer);
  bool has_peer(const wire::PeerId& peer) const;
  // Queues our subscriptions for a known peer again: our stream to it is new (its connection
  // was replaced), and the peer may have forgotten them with the old connection.
  void announce_subscriptions(const wire::PeerId& peer);

  // Who the owner may send to and hear from at all (the Node's gates: blocklist, allowlist,
  // peers down). Consulted whenever peers are chosen. Null: everyone.
  void set_peer_filter(std::function<bool(const wire::PeerId&)> may_use);

  // A decoded RPC from `from`. Returns the messages that now wait for validation. Messages on
  // topics without validators may be answered at once with validated().
  std::vector<PendingValidation> handle_rpc(const wire::PeerId& from, pb::RPC rpc);
  void validated(const PendingValidation& pending, Acceptance acceptance);

  void subscribe(const TopicId& topic);
  void unsubscribe(const TopicId& topic);
  bool subscribed(const TopicId& topic) const;
  // Publishes our own message; returns it (nullptr and sets `error` for data over
  // max_message_bytes) and how many peers it was queued for.
  MessagePtr publish(const TopicId& topic, wire::ByteView data, std::size_t& recipients,
                     boost::system::error_code& error);

  void heartbeat();

  // What is queued for each peer since the last call, each peer's RPCs encoded in order (a
  // peer's RPC never exceeds max_rpc_bytes unless one message alone does).
  std::vector<std::pair<wire::PeerId, std::string>> take_outgoing();
  // Messages accepted on our topics, in order, for the owner to deliver.
  std::vector<std::pair<MessagePtr, wire::PeerId>> take_deliveries();
  std::vector<RouterEvent> take_events();

  // Introspection.
  std::vector<wire::PeerId> mesh_peers(const TopicId& topic) const;
  std::vector<wire::PeerId> fanout_peers(const TopicId& topic) const;
  std::vector<wire::PeerId> topic_peers(const TopicId& topic) const;  // subscribed to it
  std::vector<TopicId> topics() const;                                // ours
  double score(const wire::PeerId& peer) const;
  const PeerScore& scores() const;
  const RouterStats& stats() const noexcept;
  const GossipsubConfig& config() const noexcept;
  const wire::PeerId& self() const noexcept;
  bool in_backoff(const TopicId& topic, const wire::PeerId& peer) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bb::pubsub

// The router's state, shared by router.cpp (peers, RPCs in, publishing) and
// router_heartbeat.cpp (mesh upkeep, gossip, RPCs out).
#pragma once

#include "bb/pubsub/router.hpp"

#include <algorithm>
#include <random>

namespace bb::pubsub {

struct Router::Impl {
  struct Peer {
    PeerKind kind = PeerKind::meshsub_v11;
    bool outbound = false;
    std::unordered_set<TopicId> topics;
    std::size_t ihave_heard = 0;  // IHAVEs this heartbeat
    std::size_t iasked = 0;       // ids asked for this heartbeat
    std::size_t dontwant_heard = 0;
    std::unordered_map<MessageId, std::uint64_t> dontwant;  // id -> heartbeat it came in
  };
  // What is queued for one peer until take_outgoing().
  struct Outbox {
    std::vector<std::pair<bool, TopicId>> subscriptions;
    std::vector<MessagePtr> messages;
    pb::ControlMessage control;
    bool has_control = false;
  };

  Impl(wire::Ed25519KeyPair id, GossipsubConfig cfg, async::Clock& clk, std::uint64_t seq,
       std::uint64_t seed);

  wire::Ed25519KeyPair identity;
  wire::PeerId self;
  GossipsubConfig config;
  async::Clock& clock;
  std::uint64_t next_seqno;
  std::mt19937_64 rng;
  PeerScore score;
  MessageCache mcache;
  SeenCache seen;
  std::function<bool(const wire::PeerId&)> may_use;

  std::unordered_map<wire::PeerId, Peer> peers;
  std::set<TopicId> topics;  // ours
  std::unordered_map<TopicId, std::unordered_set<wire::PeerId>> topic_peers, mesh, fanout;
  std::unordered_map<TopicId, std::uint64_t> fanout_last_publish;
  std::unordered_map<TopicId, std::unordered_map<wire::PeerId, std::uint64_t>> backoff;
  // IWANT follow-up: an id we asked for, with each asked peer's deadline (P7 when missed).
  std::unordered_map<MessageId, std::unordered_map<wire::PeerId, std::uint64_t>> promises;
  std::unordered_map<wire::PeerId, Outbox> outbox;
  std::vector<std::pair<MessagePtr, wire::PeerId>> deliveries;
  std::vector<RouterEvent> events;
  RouterStats stats;
  std::uint64_t ticks = 0;

  std::uint64_t now() const { return clock.now_ns(); }
  double score_of(const wire::PeerId& peer) const {
    return config.scoring ? score.score(peer) : 0.0;
  }
  bool usable(const wire::PeerId& peer) const { return !may_use || may_use(peer); }
  static bool meshsub(PeerKind k) { return k != PeerKind::floodsub; }
  MessageId message_id(const pb::Message& m) const {
    return config.message_id ? config.message_id(m) : default_message_id(m);
  }
  bool in_backoff(const TopicId& topic, const wire::PeerId& peer) const;
  void set_backoff(const TopicId& topic, const wire::PeerId& peer, std::uint64_t duration_ns);

  Outbox& out(const wire::PeerId& peer) { return outbox[peer]; }
  pb::ControlMessage& control(const wire::PeerId& peer) {
    auto& o = out(peer);
    o.has_control = true;
    return o.control;
  }
  void send_message(const wire::PeerId& peer, const MessagePtr& msg);
  void send_graft(const wire::PeerId& peer, const TopicId& topic);
  // PRUNE with the backoff (v1.1+) and, when `px`, up to prune_peers other peers of the topic.
  void send_prune(const wire::PeerId& peer, const TopicId& topic, bool px,
                  std::uint64_t backoff_ns);

  // Mesh membership with its score and event bookkeeping.
  void mesh_add(const TopicId& topic, const wire::PeerId& peer);
  bool mesh_remove(const TopicId& topic, const wire::PeerId& peer);

  // Peers subscribed to `topic` that we may use, pass `pred`, in random order.
  template <class Pred>
  std::vector<wire::PeerId> candidates(const TopicId& topic, Pred pred) {
    std::vector<wire::PeerId> out;
    const auto it = topic_peers.find(topic);
    if (it == topic_peers.end()) return out;
    for (const auto& p : it->second) {
      if (usable(p) && pred(p)) out.push_back(p);
    }
    std::sort(out.begin(), out.end());  // a stable order before shuffling: reproducible runs
    std::shuffle(out.begin(), out.end(), rng);
    return out;
  }
  const Peer* peer(const wire::PeerId& id) const {
    const auto it = peers.find(id);
    return it == peers.end() ? nullptr : &it->second;
  }

  void handle_message(const wire::PeerId& from, pb::Message& m,
                      std::vector<PendingValidation>& pending);
  void handle_control(const wire::PeerId& from, Peer& p, const pb::ControlMessage& c);
  void handle_ihave(const wire::PeerId& from, Peer& p, const pb::ControlMessage& c);
  void handle_iwant(const wire::PeerId& from, const pb::ControlMessage& c);
  void handle_graft(const wire::PeerId& from, const Peer& p, const pb::ControlMessage& c);
  void handle_prune(const wire::PeerId& from, const pb::ControlMessage& c);
  void forward(const MessagePtr& msg, const wire::PeerId& from);

  void join(const TopicId& topic);
  void maintain_mesh(const TopicId& topic);
  void maintain_fanout();
  void emit_gossip(const TopicId& topic, const std::unordered_set<wire::PeerId>& exclude);
  void follow_up_promises();
};

}  // namespace bb::pubsub

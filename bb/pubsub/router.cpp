#include "bb/pubsub/router.hpp"

#include "bb/pubsub/detail/router_impl.hpp"

namespace bb::pubsub {

std::optional<PeerKind> peer_kind(std::string_view protocol) {
  if (protocol == kMeshsubV12) return PeerKind::meshsub_v12;
  if (protocol == kMeshsubV11) return PeerKind::meshsub_v11;
  if (protocol == kMeshsubV10) return PeerKind::meshsub_v10;
  if (protocol == kFloodsubId) return PeerKind::floodsub;
  return std::nullopt;
}

TopicScoreParams default_topic_score() {
  TopicScoreParams t;
  t.time_in_mesh_weight = 0.01;
  t.time_in_mesh_cap = 300;  // at most +3 for time served
  t.first_message_deliveries_weight = 0.5;
  t.first_message_deliveries_cap = 20;  // at most +10 for being first
  t.mesh_message_deliveries_weight = 0;
  t.mesh_failure_penalty_weight = 0;
  t.invalid_message_deliveries_weight = -1;
  t.invalid_message_deliveries_decay = 0.3;
  return t;
}

PeerScoreParams default_score_params() {
  PeerScoreParams p;
  p.default_topic = default_topic_score();
  p.ip_colocation_factor_whitelist = {"127.0.0.1", "::1"};
  return p;
}

Router::Impl::Impl(wire::Ed25519KeyPair id, GossipsubConfig cfg, async::Clock& clk,
                   std::uint64_t seq, std::uint64_t seed)
    : identity(std::move(id)),
      self(identity.peer_id()),
      config(std::move(cfg)),
      clock(clk),
      next_seqno(seq),
      rng(seed),
      score(config.score, clk),
      mcache(config.mcache_gossip, config.mcache_len),
      seen(static_cast<std::uint64_t>(config.seen_ttl.count())) {}

bool Router::Impl::in_backoff(const TopicId& topic, const wire::PeerId& peer) const {
  const auto t = backoff.find(topic);
  if (t == backoff.end()) return false;
  const auto p = t->second.find(peer);
  return p != t->second.end() && p->second > now();
}

void Router::Impl::set_backoff(const TopicId& topic, const wire::PeerId& peer,
                               std::uint64_t duration_ns) {
  auto& until = backoff[topic][peer];
  until = std::max(until, now() + duration_ns);
}

void Router::Impl::send_message(const wire::PeerId& peer, const MessagePtr& msg) {
  if (const auto* p = this->peer(peer); p && p->dontwant.contains(msg->id)) {
    ++stats.idontwant_dropped;
    return;
  }
  out(peer).messages.push_back(msg);
}

void Router::Impl::send_graft(const wire::PeerId& peer, const TopicId& topic) {
  control(peer).add_graft()->set_topicid(topic);
}

void Router::Impl::send_prune(const wire::PeerId& peer, const TopicId& topic, bool px,
                              std::uint64_t backoff_ns) {
  const auto* p = this->peer(peer);
  auto* prune = control(peer).add_prune();
  prune->set_topicid(topic);
  set_backoff(topic, peer, backoff_ns);
  if (!p || p->kind == PeerKind::meshsub_v10) return;  // v1.0 knows neither field
  prune->set_backoff(backoff_ns / 1'000'000'000);
  if (!px) return;
  std::size_t n = 0;
  for (const auto& other :
       candidates(topic, [&](const wire::PeerId& q) { return q != peer && score_of(q) >= 0; })) {
    if (n++ == config.prune_peers) break;
    prune->add_peers()->set_peerid(wire::to_string(other.bytes()));
  }
}

void Router::Impl::mesh_add(const TopicId& topic, const wire::PeerId& peer) {
  if (!mesh[topic].insert(peer).second) return;
  score.graft(peer, topic);
  events.emplace_back(MeshJoined{topic, peer});
}

bool Router::Impl::mesh_remove(const TopicId& topic, const wire::PeerId& peer) {
  const auto it = mesh.find(topic);
  if (it == mesh.end() || it->second.erase(peer) == 0) return false;
  score.prune(peer, topic);
  events.emplace_back(MeshLeft{topic, peer});
  return true;
}

Router::Router(wire::Ed25519KeyPair identity, GossipsubConfig config, async::Clock& clock,
               std::uint64_t first_seqno, std::uint64_t rng_seed)
    : impl_(std::make_unique<Impl>(std::move(identity), std::move(config), clock, first_seqno,
                                   rng_seed)) {}

Router::~Router() = default;

void Router::add_peer(const wire::PeerId& peer, PeerKind kind, bool outbound, std::string ip) {
  auto& s = *impl_;
  auto [it, fresh] = s.peers.try_emplace(peer);
  it->second.kind = kind;
  it->second.outbound = outbound;
  if (!fresh) return;
  s.score.add_peer(peer, std::move(ip));
  for (const auto& topic : s.topics) s.out(peer).subscriptions.emplace_back(true, topic);
}

void Router::remove_peer(const wire::PeerId& peer) {
  auto& s = *impl_;
  const auto it = s.peers.find(peer);
  if (it == s.peers.end()) return;
  for (const auto& topic : it->second.topics) {
    s.mesh_remove(topic, peer);
    if (auto f = s.fanout.find(topic); f != s.fanout.end()) f->second.erase(peer);
    if (auto tp = s.topic_peers.find(topic); tp != s.topic_peers.end()) {
      tp->second.erase(peer);
      if (tp->second.empty()) s.topic_peers.erase(tp);
    }
    s.events.emplace_back(PeerUnsubscribed{topic, peer});
  }
  s.score.remove_peer(peer);
  s.outbox.erase(peer);
  s.peers.erase(it);
}

void Router::announce_subscriptions(const wire::PeerId& peer) {
  auto& s = *impl_;
  if (!s.peers.contains(peer)) return;
  for (const auto& topic : s.topics) s.out(peer).subscriptions.emplace_back(true, topic);
}

bool Router::has_peer(const wire::PeerId& peer) const {
  return impl_->peers.contains(peer);
}

void Router::set_peer_filter(std::function<bool(const wire::PeerId&)> may_use) {
  impl_->may_use = std::move(may_use);
}

std::vector<PendingValidation> Router::handle_rpc(const wire::PeerId& from, pb::RPC rpc) {
  auto& s = *impl_;
  std::vector<PendingValidation> pending;
  const auto it = s.peers.find(from);
  if (it == s.peers.end() || !s.usable(from)) return pending;
  ++s.stats.rpcs_in;
  if (s.score_of(from) < s.config.thresholds.graylist_threshold) {
    ++s.stats.graylisted_rpcs;
    return pending;
  }
  auto& p = it->second;
  for (const auto& sub : rpc.subscriptions()) {
    const TopicId& topic = sub.topicid();
    if (sub.subscribe()) {
      if (p.topics.contains(topic)) continue;
      if (p.topics.size() >= s.config.max_topics_per_peer) {
        ++s.stats.topic_limit;
        continue;
      }
      p.topics.insert(topic);
      s.topic_peers[topic].insert(from);
      s.events.emplace_back(PeerSubscribed{topic, from});
    } else if (p.topics.erase(topic) > 0) {
      s.mesh_remove(topic, from);
      if (auto f = s.fanout.find(topic); f != s.fanout.end()) f->second.erase(from);
      if (auto tp = s.topic_peers.find(topic); tp != s.topic_peers.end()) {
        tp->second.erase(from);
        if (tp->second.empty()) s.topic_peers.erase(tp);
      }
      s.events.emplace_back(PeerUnsubscribed{topic, from});
    }
  }
  for (auto& m : *rpc.mutable_publish()) s.handle_message(from, m, pending);
  if (rpc.has_control() && Impl::meshsub(p.kind)) s.handle_control(from, p, rpc.control());
  return pending;
}

void Router::Impl::handle_message(const wire::PeerId& from, pb::Message& m,
                                  std::vector<PendingValidation>& pending) {
  ++stats.messages_in;
  if (!topics.contains(m.topic())) {  // we relay only topics we are in
    ++stats.not_subscribed;
    return;
  }
  MessageId id = message_id(m);
  promises.erase(id);  // whoever promised it, it came
  if (seen.contains(id)) {
    ++stats.duplicates;
    score.duplicate_message(from, id, m.topic());
    return;
  }
  std::optional<wire::PeerId> author;
  std::uint64_t seqno = 0;
  auto reject = check_signature(m, config.signature_policy, author, seqno);
  if (!reject && author && *author == self) reject = RejectReason::self_origin;
  if (reject) {
    // Not marked seen: a forged copy must not shadow the genuine message with the same id.
    ++stats.invalid;
    score.reject_message(from, id, m.topic(), *reject);
    return;
  }
  seen.add(id, now());
  auto stored = std::make_shared<StoredMessage>();
  stored->fields = std::move(m);
  stored->encoded = stored->fields.SerializeAsString();
  stored->id = std::move(id);
  stored->author = std::move(author);
  stored->seqno = seqno;
  score.validate_message(from, stored->id, stored->topic());
  // v1.2: tell mesh peers at once not to send us a large message we already have.
  if (stored->fields.data().size() >= config.idontwant_min_data_bytes) {
    if (const auto it = mesh.find(stored->topic()); it != mesh.end()) {
      for (const auto& q : it->second) {
        const auto* qp = peer(q);
        if (q == from || !qp || qp->kind != PeerKind::meshsub_v12) continue;
        auto* c = control(q).mutable_idontwant();
        if (c->empty()) c->Add();
        c->Mutable(0)->add_messageids(stored->id);
      }
    }
  }
  pending.push_back({std::move(stored), from});
}

void Router::validated(const PendingValidation& pending, Acceptance acceptance) {
  auto& s = *impl_;
  const auto& msg = pending.msg;
  switch (acceptance) {
    case Acceptance::accept:
      ++s.stats.delivered;
      s.score.deliver_message(pending.from, msg->id, msg->topic());
      s.mcache.put(msg);
      s.deliveries.emplace_back(msg, pending.from);
      s.forward(msg, pending.from);
      break;
    case Acceptance::reject:
      ++s.stats.invalid;
      s.score.reject_message(pending.from, msg->id, msg->topic(), RejectReason::validator_reject);
      break;
    case Acceptance::ignore:
      ++s.stats.ignored;
      s.score.reject_message(pending.from, msg->id, msg->topic(), RejectReason::validator_ignore);
      break;
  }
}

void Router::Impl::forward(const MessagePtr& msg, const wire::PeerId& from) {
  const auto tp = topic_peers.find(msg->topic());
  if (tp == topic_peers.end()) return;
  const auto m = mesh.find(msg->topic());
  for (const auto& q : tp->second) {
    if (q == from || (msg->author && q == *msg->author) || !usable(q)) continue;
    const auto* qp = peer(q);
    const bool in_mesh = m != mesh.end() && m->second.contains(q);
    if (!in_mesh && !(qp && qp->kind == PeerKind::floodsub)) continue;
    ++stats.forwarded;
    send_message(q, msg);
  }
}

void Router::Impl::handle_control(const wire::PeerId& from, Peer& p, const pb::ControlMessage& c) {
  handle_ihave(from, p, c);
  handle_iwant(from, c);
  handle_graft(from, p, c);
  handle_prune(from, c);
  if (p.kind != PeerKind::meshsub_v12) return;
  for (const auto& e : c.idontwant()) {
    for (const auto& id : e.messageids()) {
      if (p.dontwant_heard >= config.max_idontwant_messages) return;
      ++p.dontwant_heard;
      p.dontwant.try_emplace(id, ticks);
    }
  }
}

void Router::Impl::handle_ihave(const wire::PeerId& from, Peer& p, const pb::ControlMessage& c) {
  if (c.ihave().empty()) return;
  if (score_of(from) < config.thresholds.gossip_threshold ||
      ++p.ihave_heard > config.max_ihave_messages || p.iasked >= config.max_ihave_length) {
    ++stats.ihave_ignored;
    return;
  }
  std::vector<MessageId> wanted;
  std::unordered_set<std::string_view> asked;
  std::size_t examined = 0;
  for (const auto& ihave : c.ihave()) {
    if (!topics.contains(ihave.topicid())) continue;
    for (const auto& id : ihave.messageids()) {
      if (++examined > config.max_ihave_length) break;
      if (!seen.contains(id) && asked.insert(id).second) wanted.push_back(id);
    }
  }
  if (wanted.empty()) return;
  const std::size_t room = config.max_ihave_length - p.iasked;
  std::shuffle(wanted.begin(), wanted.end(), rng);
  if (wanted.size() > room) wanted.resize(room);
  p.iasked += wanted.size();
  auto* iwant = control(from).add_iwant();
  for (const auto& id : wanted) iwant->add_messageids(id);
  // One promise per IWANT, as the spec suggests: the peer must deliver it in time (P7).
  const auto& promised =
      wanted[std::uniform_int_distribution<std::size_t>(0, wanted.size() - 1)(rng)];
  promises[promised].try_emplace(
      from, now() + static_cast<std::uint64_t>(config.iwant_followup_time.count()));
}

void Router::Impl::handle_iwant(const wire::PeerId& from, const pb::ControlMessage& c) {
  if (c.iwant().empty()) return;
  if (score_of(from) < config.thresholds.gossip_threshold) {
    ++stats.iwant_ignored;
    return;
  }
  std::size_t examined = 0;
  for (const auto& iwant : c.iwant()) {
    for (const auto& id : iwant.messageids()) {
      if (++examined > config.max_ihave_length) {
        ++stats.iwant_ignored;
        return;
      }
      if (auto msg = mcache.get_for(id, from, config.gossip_retransmission)) {
        send_message(from, msg);
      }
    }
  }
}

void Router::Impl::handle_graft(const wire::PeerId& from, const Peer& p,
                                const pb::ControlMessage& c) {
  const auto prune_backoff = static_cast<std::uint64_t>(config.prune_backoff.count());
  for (const auto& g : c.graft()) {
    const TopicId& topic = g.topicid();
    if (!topics.contains(topic)) continue;  // unknown topics: no answer, nothing to amplify
    if (auto m = mesh.find(topic); m != mesh.end() && m->second.contains(from)) continue;
    if (in_backoff(topic, from)) {
      // Grafting while backed off is a P7 offence; doubly so right after the prune.
      score.add_penalty(from, 1);
      const auto until = backoff[topic][from];
      const auto flood = static_cast<std::uint64_t>(config.graft_flood_threshold.count());
      if (until > prune_backoff && now() + prune_backoff < until + flood) {
        score.add_penalty(from, 1);
      }
      ++stats.graft_refused;
      send_prune(from, topic, false, prune_backoff);
      continue;
    }
    const std::size_t size = mesh[topic].size();
    if (score_of(from) < 0 || !usable(from)) {
      ++stats.graft_refused;
      send_prune(from, topic, false, prune_backoff);
    } else if (size >= config.d_hi && !p.outbound) {
      ++stats.graft_refused;
      send_prune(from, topic, true, prune_backoff);
    } else {
      mesh_add(topic, from);
    }
  }
}

void Router::Impl::handle_prune(const wire::PeerId& from, const pb::ControlMessage& c) {
  for (const auto& pr : c.prune()) {
    const TopicId& topic = pr.topicid();
    mesh_remove(topic, from);
    const std::uint64_t b = pr.has_backoff()
                                ? std::min<std::uint64_t>(pr.backoff(), 24 * 3600) * 1'000'000'000
                                : static_cast<std::uint64_t>(config.prune_backoff.count());
    if (topics.contains(topic)) set_backoff(topic, from, b);
    // Peer exchange needs addresses (signed peer records), which bb does not read yet: the
    // peers offered are not dialled.
  }
}

}  // namespace bb::pubsub

// Joining and leaving topics, publishing, the heartbeat (mesh and fanout upkeep, gossip,
// promises, caches) and the encoding of what is queued for each peer.
#include "bb/pubsub/detail/router_impl.hpp"

#include "bb/wire/varint.hpp"

#include <cmath>

namespace bb::pubsub {
namespace {

void append_field(std::string& out, std::uint32_t field, std::string_view bytes) {
  std::uint8_t buf[wire::kMaxVarintBytes + 1];
  buf[0] = static_cast<std::uint8_t>((field << 3) | 2);
  const std::size_t n = 1 + wire::encode_varint(bytes.size(), buf + 1);
  out.append(reinterpret_cast<const char*>(buf), n);
  out.append(bytes);
}

void append_frame(std::string& out, const std::string& rpc) {
  std::uint8_t buf[wire::kMaxVarintBytes];
  const std::size_t n = wire::encode_varint(rpc.size(), buf);
  out.append(reinterpret_cast<const char*>(buf), n);
  out.append(rpc);
}

}  // namespace

void Router::Impl::join(const TopicId& topic) {
  auto& m = mesh[topic];
  const auto eligible = [&](const wire::PeerId& q) {
    const auto* qp = peer(q);
    return qp && meshsub(qp->kind) && !m.contains(q) && !in_backoff(topic, q) && score_of(q) >= 0;
  };
  std::vector<wire::PeerId> chosen;
  if (auto f = fanout.find(topic); f != fanout.end()) {
    for (const auto& q : f->second) {
      if (chosen.size() < config.d && usable(q) && eligible(q)) chosen.push_back(q);
    }
    fanout.erase(f);
    fanout_last_publish.erase(topic);
  }
  for (const auto& q : candidates(topic, eligible)) {
    if (chosen.size() >= config.d) break;
    if (std::find(chosen.begin(), chosen.end(), q) == chosen.end()) chosen.push_back(q);
  }
  for (const auto& q : chosen) {
    mesh_add(topic, q);
    send_graft(q, topic);
  }
}

void Router::subscribe(const TopicId& topic) {
  auto& s = *impl_;
  if (!s.topics.insert(topic).second) return;
  for (const auto& [peer, info] : s.peers) s.out(peer).subscriptions.emplace_back(true, topic);
  s.join(topic);
}

void Router::unsubscribe(const TopicId& topic) {
  auto& s = *impl_;
  if (s.topics.erase(topic) == 0) return;
  for (const auto& [peer, info] : s.peers) s.out(peer).subscriptions.emplace_back(false, topic);
  if (const auto it = s.mesh.find(topic); it != s.mesh.end()) {
    const auto members = it->second;
    for (const auto& q : members) {
      s.mesh_remove(topic, q);
      s.send_prune(q, topic, true,
                   static_cast<std::uint64_t>(s.config.unsubscribe_backoff.count()));
    }
    s.mesh.erase(topic);
  }
}

bool Router::subscribed(const TopicId& topic) const {
  return impl_->topics.contains(topic);
}

MessagePtr Router::publish(const TopicId& topic, wire::ByteView data, std::size_t& recipients,
                           boost::system::error_code& error) {
  auto& s = *impl_;
  recipients = 0;
  if (data.size() > s.config.max_message_bytes) {
    error = make_error_code(errc::message_too_large);
    return nullptr;
  }
  auto stored = std::make_shared<StoredMessage>();
  stored->seqno = s.next_seqno++;
  stored->fields = make_message(topic, data, stored->seqno, s.identity, s.config.signature_policy);
  stored->encoded = stored->fields.SerializeAsString();
  stored->id = s.message_id(stored->fields);
  if (s.config.signature_policy == SignaturePolicy::strict_sign) stored->author = s.self;
  s.seen.add(stored->id, s.now());
  s.mcache.put(stored);
  ++s.stats.published;

  const double publish_threshold = s.config.thresholds.publish_threshold;
  std::vector<wire::PeerId> to;
  if (s.config.flood_publish) {
    to = s.candidates(topic,
                      [&](const wire::PeerId& q) { return s.score_of(q) >= publish_threshold; });
  } else {
    std::unordered_set<wire::PeerId> set;
    for (const auto& q : s.candidates(topic, [&](const wire::PeerId& q) {
           const auto* qp = s.peer(q);
           return qp && qp->kind == PeerKind::floodsub && s.score_of(q) >= publish_threshold;
         })) {
      set.insert(q);
    }
    if (s.topics.contains(topic)) {
      for (const auto& q : s.mesh[topic]) set.insert(q);
    } else {
      auto& f = s.fanout[topic];
      if (f.empty()) {
        for (const auto& q : s.candidates(topic, [&](const wire::PeerId& q) {
               const auto* qp = s.peer(q);
               return qp && Impl::meshsub(qp->kind) && s.score_of(q) >= publish_threshold;
             })) {
          if (f.size() >= s.config.d) break;
          f.insert(q);
        }
      }
      s.fanout_last_publish[topic] = s.now();
      for (const auto& q : f) set.insert(q);
    }
    to.assign(set.begin(), set.end());
  }
  for (const auto& q : to) {
    if (!s.usable(q)) continue;
    s.out(q).messages.push_back(stored);
    ++recipients;
  }
  return stored;
}

void Router::Impl::maintain_mesh(const TopicId& topic) {
  auto& m = mesh[topic];
  const auto prune_backoff = static_cast<std::uint64_t>(config.prune_backoff.count());
  // Peers we may no longer keep: a negative score, the Node's gates, gone from the topic.
  std::vector<wire::PeerId> drop;
  for (const auto& q : m) {
    const auto tp = topic_peers.find(topic);
    const bool still = tp != topic_peers.end() && tp->second.contains(q);
    if (score_of(q) < 0 || !usable(q) || !still) drop.push_back(q);
  }
  for (const auto& q : drop) {
    mesh_remove(topic, q);
    if (peers.contains(q)) send_prune(q, topic, false, prune_backoff);
  }
  const auto eligible = [&](const wire::PeerId& q) {
    const auto* qp = peer(q);
    return qp && meshsub(qp->kind) && !m.contains(q) && !in_backoff(topic, q) && score_of(q) >= 0;
  };
  if (m.size() < config.d_lo) {
    for (const auto& q : candidates(topic, eligible)) {
      if (m.size() >= config.d) break;
      mesh_add(topic, q);
      send_graft(q, topic);
    }
  }
  if (m.size() > config.d_hi) {
    std::vector<wire::PeerId> members(m.begin(), m.end());
    std::sort(members.begin(), members.end());
    std::shuffle(members.begin(), members.end(), rng);
    std::stable_sort(members.begin(), members.end(),
                     [&](const auto& a, const auto& b) { return score_of(a) > score_of(b); });
    // The best D_score stay; the rest of the D are chosen at random.
    std::shuffle(
        members.begin() + static_cast<std::ptrdiff_t>(std::min(config.d_score, members.size())),
        members.end(), rng);
    // Keep at least D_out outbound peers among the first D.
    std::size_t outbound = 0;
    for (std::size_t i = 0; i < config.d; ++i) outbound += peer(members[i])->outbound ? 1 : 0;
    for (std::size_t i = config.d; i < members.size() && outbound < config.d_out; ++i) {
      if (!peer(members[i])->outbound) continue;
      for (std::size_t j = config.d; j-- > 0;) {
        if (!peer(members[j])->outbound) {
          std::swap(members[i], members[j]);
          ++outbound;
          break;
        }
      }
    }
    for (std::size_t i = config.d; i < members.size(); ++i) {
      mesh_remove(topic, members[i]);
      send_prune(members[i], topic, true, prune_backoff);
    }
  }
  if (m.size() >= config.d_lo) {
    std::size_t outbound = 0;
    for (const auto& q : m) outbound += peer(q)->outbound ? 1 : 0;
    if (outbound < config.d_out) {
      for (const auto& q : candidates(
               topic, [&](const wire::PeerId& q) { return eligible(q) && peer(q)->outbound; })) {
        if (outbound >= config.d_out) break;
        mesh_add(topic, q);
        send_graft(q, topic);
        ++outbound;
      }
    }
  }
  if (config.scoring && config.opportunistic_graft_ticks > 0 &&
      ticks % config.opportunistic_graft_ticks == 0 && m.size() > 1) {
    std::vector<double> scores;
    for (const auto& q : m) scores.push_back(score_of(q));
    std::sort(scores.begin(), scores.end());
    const double median = scores[scores.size() / 2];
    if (median < config.thresholds.opportunistic_graft_threshold) {
      std::size_t grafted = 0;
      for (const auto& q : candidates(
               topic, [&](const wire::PeerId& q) { return eligible(q) && score_of(q) > median; })) {
        if (grafted++ >= config.opportunistic_graft_peers) break;
        mesh_add(topic, q);
        send_graft(q, topic);
      }
    }
  }
  emit_gossip(topic, m);
}

void Router::Impl::maintain_fanout() {
  const auto ttl = static_cast<std::uint64_t>(config.fanout_ttl.count());
  for (auto it = fanout.begin(); it != fanout.end();) {
    const TopicId& topic = it->first;
    if (fanout_last_publish[topic] + ttl < now()) {
      fanout_last_publish.erase(topic);
      it = fanout.erase(it);
      continue;
    }
    auto& f = it->second;
    const auto tp = topic_peers.find(topic);
    std::erase_if(f, [&](const wire::PeerId& q) {
      return tp == topic_peers.end() || !tp->second.contains(q) || !usable(q) ||
             score_of(q) < config.thresholds.publish_threshold;
    });
    if (f.size() < config.d) {
      for (const auto& q : candidates(topic, [&](const wire::PeerId& q) {
             const auto* qp = peer(q);
             return qp && meshsub(qp->kind) && !f.contains(q) &&
                    score_of(q) >= config.thresholds.publish_threshold;
           })) {
        if (f.size() >= config.d) break;
        f.insert(q);
      }
    }
    emit_gossip(topic, f);
    ++it;
  }
}

void Router::Impl::emit_gossip(const TopicId& topic,
                               const std::unordered_set<wire::PeerId>& exclude) {
  auto ids = mcache.gossip_ids(topic);
  if (ids.empty()) return;
  if (ids.size() > config.max_ihave_length) {
    std::shuffle(ids.begin(), ids.end(), rng);
    ids.resize(config.max_ihave_length);
  }
  const auto to = candidates(topic, [&](const wire::PeerId& q) {
    const auto* qp = peer(q);
    return qp && meshsub(qp->kind) && !exclude.contains(q) &&
           score_of(q) >= config.thresholds.gossip_threshold;
  });
  const auto target = std::max(
      config.d_lazy,
      static_cast<std::size_t>(std::ceil(config.gossip_factor * static_cast<double>(to.size()))));
  for (std::size_t i = 0; i < to.size() && i < target; ++i) {
    auto* ihave = control(to[i]).add_ihave();
    ihave->set_topicid(topic);
    for (const auto& id : ids) ihave->add_messageids(id);
  }
}

void Router::Impl::follow_up_promises() {
  const auto t = now();
  for (auto it = promises.begin(); it != promises.end();) {
    auto& asked = it->second;
    for (auto p = asked.begin(); p != asked.end();) {
      if (p->second > t) {
        ++p;
        continue;
      }
      ++stats.broken_promises;
      if (peers.contains(p->first)) score.add_penalty(p->first, 1);
      p = asked.erase(p);
    }
    it = asked.empty() ? promises.erase(it) : std::next(it);
  }
}

void Router::heartbeat() {
  auto& s = *impl_;
  ++s.ticks;
  const auto t = s.now();
  for (auto& [id, p] : s.peers) {
    p.ihave_heard = 0;
    p.iasked = 0;
    p.dontwant_heard = 0;
    std::erase_if(p.dontwant, [&](const auto& e) {
      return e.second + s.config.idontwant_heartbeats <= s.ticks;
    });
  }
  s.score.refresh();
  s.follow_up_promises();
  for (auto it = s.backoff.begin(); it != s.backoff.end();) {
    std::erase_if(it->second, [&](const auto& e) { return e.second <= t; });
    it = it->second.empty() ? s.backoff.erase(it) : std::next(it);
  }
  for (const auto& topic : s.topics) s.maintain_mesh(topic);
  s.maintain_fanout();
  s.mcache.shift();
  s.seen.expire(t);
}

std::vector<std::pair<wire::PeerId, std::string>> Router::take_outgoing() {
  auto& s = *impl_;
  std::vector<std::pair<wire::PeerId, std::string>> out;
  out.reserve(s.outbox.size());
  const std::size_t limit = s.config.max_rpc_bytes;
  for (auto& [peer, box] : s.outbox) {
    std::string frames, rpc;
    const auto flush = [&] {
      if (!rpc.empty()) append_frame(frames, rpc);
      rpc.clear();
    };
    for (const auto& [sub, topic] : box.subscriptions) {
      pb::RPC::SubOpts opts;
      opts.set_subscribe(sub);
      opts.set_topicid(topic);
      append_field(rpc, 1, opts.SerializeAsString());
    }
    for (const auto& msg : box.messages) {
      if (!rpc.empty() && rpc.size() + msg->encoded.size() + 16 > limit) flush();
      append_field(rpc, 2, msg->encoded);
    }
    if (box.has_control) {
      const std::string control = box.control.SerializeAsString();
      if (!rpc.empty() && rpc.size() + control.size() + 16 > limit) flush();
      append_field(rpc, 3, control);
    }
    flush();
    if (!frames.empty()) out.emplace_back(peer, std::move(frames));
  }
  s.outbox.clear();
  return out;
}

std::vector<std::pair<MessagePtr, wire::PeerId>> Router::take_deliveries() {
  return std::exchange(impl_->deliveries, {});
}

std::vector<RouterEvent> Router::take_events() {
  return std::exchange(impl_->events, {});
}

namespace {
std::vector<wire::PeerId> sorted(const std::unordered_set<wire::PeerId>* set) {
  std::vector<wire::PeerId> out;
  if (set) out.assign(set->begin(), set->end());
  std::sort(out.begin(), out.end());
  return out;
}
template <class Map>
const std::unordered_set<wire::PeerId>* find_set(const Map& map, const TopicId& topic) {
  const auto it = map.find(topic);
  return it == map.end() ? nullptr : &it->second;
}
}  // namespace

std::vector<wire::PeerId> Router::mesh_peers(const TopicId& topic) const {
  return sorted(find_set(impl_->mesh, topic));
}
std::vector<wire::PeerId> Router::fanout_peers(const TopicId& topic) const {
  return sorted(find_set(impl_->fanout, topic));
}
std::vector<wire::PeerId> Router::topic_peers(const TopicId& topic) const {
  return sorted(find_set(impl_->topic_peers, topic));
}
std::vector<TopicId> Router::topics() const {
  return {impl_->topics.begin(), impl_->topics.end()};
}
double Router::score(const wire::PeerId& peer) const {
  return impl_->score_of(peer);
}
const PeerScore& Router::scores() const {
  return impl_->score;
}
const RouterStats& Router::stats() const noexcept {
  return impl_->stats;
}
const GossipsubConfig& Router::config() const noexcept {
  return impl_->config;
}
const wire::PeerId& Router::self() const noexcept {
  return impl_->self;
}
bool Router::in_backoff(const TopicId& topic, const wire::PeerId& peer) const {
  return impl_->in_backoff(topic, peer);
}

}  // namespace bb::pubsub

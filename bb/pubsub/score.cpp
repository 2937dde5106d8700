#include "bb/pubsub/score.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

namespace bb::pubsub {
namespace {

// Delivery records outlive every window they serve by far; the spec's implementations keep them
// for two minutes.
constexpr std::uint64_t kDeliveryRecordTtlNs = 120'000'000'000;

enum class DeliveryStatus : std::uint8_t { unknown, valid, invalid, ignored };

struct DeliveryRecord {
  std::uint64_t first_seen_ns = 0;
  std::uint64_t validated_ns = 0;  // when it was accepted; the P3 window starts here
  DeliveryStatus status = DeliveryStatus::unknown;
  std::unordered_set<wire::PeerId> peers;  // everyone who sent it to us
};

struct TopicStats {
  bool in_mesh = false;
  std::uint64_t graft_ns = 0;
  double first_message_deliveries = 0;
  double mesh_message_deliveries = 0;
  double mesh_failure_penalty = 0;
  double invalid_message_deliveries = 0;
};

struct PeerStats {
  bool connected = true;
  std::uint64_t expire_ns = 0;  // when a disconnected peer is forgotten
  std::string ip;               // "" = unknown or disconnected
  std::unordered_map<TopicId, TopicStats> topics;
  double behaviour_penalty = 0;
};

double decayed(double value, double factor, double to_zero) {
  const double v = value * factor;
  return v < to_zero ? 0 : v;
}

bool is_forwarder_fault_only(RejectReason reason) {
  switch (reason) {
    case RejectReason::invalid_signature:
    case RejectReason::missing_signature:
    case RejectReason::unexpected_signature:
    case RejectReason::self_origin: return true;
    default: return false;
  }
}

}  // namespace

struct PeerScore::Impl {
  PeerScoreParams params;
  async::Clock& clock;
  std::uint64_t last_decay_ns;
  std::unordered_map<wire::PeerId, PeerStats> peers;
  std::unordered_map<std::string, std::unordered_set<wire::PeerId>> peers_by_ip;
  std::unordered_map<MessageId, DeliveryRecord> deliveries;
  std::deque<std::pair<std::uint64_t, MessageId>> delivery_order;  // by first_seen_ns

  Impl(PeerScoreParams p, async::Clock& c)
      : params(std::move(p)), clock(c), last_decay_ns(c.now_ns()) {}

  const TopicScoreParams* topic_params(const TopicId& topic) const {
    auto it = params.topics.find(topic);
    if (it != params.topics.end()) return &it->second;
    return params.default_topic ? &*params.default_topic : nullptr;
  }

  // The peer's counters for a scored topic; null for unknown peers and unscored topics.
  TopicStats* topic_stats(const wire::PeerId& peer, const TopicId& topic) {
    if (topic_params(topic) == nullptr) return nullptr;
    auto it = peers.find(peer);
    if (it == peers.end()) return nullptr;
    return &it->second.topics[topic];
  }

  void add_ip(const wire::PeerId& peer, const std::string& ip) {
    if (!ip.empty()) peers_by_ip[ip].insert(peer);
  }

  void remove_ip(const wire::PeerId& peer, const std::string& ip) {
    auto it = peers_by_ip.find(ip);
    if (it == peers_by_ip.end()) return;
    it->second.erase(peer);
    if (it->second.empty()) peers_by_ip.erase(it);
  }

  DeliveryRecord& record(const MessageId& id) {
    auto [it, inserted] = deliveries.try_emplace(id);
    if (inserted) {
      it->second.first_seen_ns = clock.now_ns();
      delivery_order.emplace_back(it->second.first_seen_ns, id);
    }
    return it->second;
  }

  // The mesh delivery deficit of P3: active only for a mesh peer grafted more than the
  // activation time ago.
  double deficit(const TopicStats& ts, const TopicScoreParams& tp, std::uint64_t now) const {
    if (!ts.in_mesh || now - ts.graft_ns <= async::to_ns(tp.mesh_message_deliveries_activation)) {
      return 0;
    }
    if (ts.mesh_message_deliveries >= tp.mesh_message_deliveries_threshold) return 0;
    return tp.mesh_message_deliveries_threshold - ts.mesh_message_deliveries;
  }

  void mark_first_delivery(const wire::PeerId& peer, const TopicId& topic) {
    TopicStats* ts = topic_stats(peer, topic);
    if (ts == nullptr) return;
    const TopicScoreParams& tp = *topic_params(topic);
    ts->first_message_deliveries =
        std::min(ts->first_message_deliveries + 1, tp.first_message_deliveries_cap);
    if (ts->in_mesh) {
      ts->mesh_message_deliveries =
          std::min(ts->mesh_message_deliveries + 1, tp.mesh_message_deliveries_cap);
    }
  }

  void mark_near_first_delivery(const wire::PeerId& peer, const TopicId& topic) {
    TopicStats* ts = topic_stats(peer, topic);
    if (ts == nullptr || !ts->in_mesh) return;
    ts->mesh_message_deliveries =
        std::min(ts->mesh_message_deliveries + 1, topic_params(topic)->mesh_message_deliveries_cap);
  }

  void mark_invalid(const wire::PeerId& peer, const TopicId& topic) {
    if (TopicStats* ts = topic_stats(peer, topic)) ts->invalid_message_deliveries += 1;
  }

  double topics_score(const PeerStats& ps, std::uint64_t now) const {
    double sum = 0;
    for (const auto& [topic, ts] : ps.topics) {
      const TopicScoreParams* tp = topic_params(topic);
      if (tp == nullptr) continue;
      double t = 0;
      if (ts.in_mesh) {
        // Whole quanta, as the spec counts them; a zero quantum means the cap at once.
        const std::uint64_t quantum = async::to_ns(tp->time_in_mesh_quantum);
        const std::uint64_t whole = quantum == 0 ? UINT64_MAX : (now - ts.graft_ns) / quantum;
        const double quanta = static_cast<double>(whole);
        t += std::min(quanta, tp->time_in_mesh_cap) * tp->time_in_mesh_weight;
      }
      t += ts.first_message_deliveries * tp->first_message_deliveries_weight;
      const double d = deficit(ts, *tp, now);
      t += d * d * tp->mesh_message_deliveries_weight;
      t += ts.mesh_failure_penalty * tp->mesh_failure_penalty_weight;
      t += ts.invalid_message_deliveries * ts.invalid_message_deliveries *
           tp->invalid_message_deliveries_weight;
      sum += t * tp->topic_weight;
    }
    if (params.topic_score_cap > 0) sum = std::min(sum, params.topic_score_cap);
    return sum;
  }

  double ip_colocation(const PeerStats& ps) const {
    if (ps.ip.empty() || params.ip_colocation_factor_whitelist.contains(ps.ip)) return 0;
    auto it = peers_by_ip.find(ps.ip);
    if (it == peers_by_ip.end()) return 0;
    const double surplus =
        static_cast<double>(it->second.size()) - params.ip_colocation_factor_threshold;
    return surplus > 0 ? surplus * surplus : 0;
  }

  ScoreBreakdown breakdown(const wire::PeerId& peer) const {
    ScoreBreakdown b;
    auto it = peers.find(peer);
    if (it == peers.end()) return b;
    const PeerStats& ps = it->second;
    b.topics = topics_score(ps, clock.now_ns());
    if (params.app_specific_score) {
      b.app_specific = params.app_specific_score(peer) * params.app_specific_weight;
    }
    b.ip_colocation = ip_colocation(ps) * params.ip_colocation_factor_weight;
    const double excess = ps.behaviour_penalty - params.behaviour_penalty_threshold;
    if (excess > 0) b.behaviour_penalty = excess * excess * params.behaviour_penalty_weight;
    b.total = b.topics + b.app_specific + b.ip_colocation + b.behaviour_penalty;
    return b;
  }

  void decay() {
    const double zero = params.decay_to_zero;
    for (auto& [peer, ps] : peers) {
      for (auto& [topic, ts] : ps.topics) {
        const TopicScoreParams* tp = topic_params(topic);
        if (tp == nullptr) continue;
        ts.first_message_deliveries =
            decayed(ts.first_message_deliveries, tp->first_message_deliveries_decay, zero);
        ts.mesh_message_deliveries =
            decayed(ts.mesh_message_deliveries, tp->mesh_message_deliveries_decay, zero);
        ts.mesh_failure_penalty =
            decayed(ts.mesh_failure_penalty, tp->mesh_failure_penalty_decay, zero);
        ts.invalid_message_deliveries =
            decayed(ts.invalid_message_deliveries, tp->invalid_message_deliveries_decay, zero);
      }
      ps.behaviour_penalty = decayed(ps.behaviour_penalty, params.behaviour_penalty_decay, zero);
    }
  }
};

PeerScore::PeerScore(PeerScoreParams params, async::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(params), clock)) {}

PeerScore::~PeerScore() = default;

void PeerScore::add_peer(const wire::PeerId& peer, std::string ip) {
  auto [it, inserted] = impl_->peers.try_emplace(peer);
  PeerStats& ps = it->second;
  if (!inserted && ps.connected) impl_->remove_ip(peer, ps.ip);
  ps.connected = true;
  ps.expire_ns = 0;
  ps.ip = std::move(ip);
  impl_->add_ip(peer, ps.ip);
}

void PeerScore::remove_peer(const wire::PeerId& peer) {
  auto it = impl_->peers.find(peer);
  if (it == impl_->peers.end() || !it->second.connected) return;
  PeerStats& ps = it->second;
  // Only a score that is not positive is worth keeping: it is the one a peer would like to shed
  // by reconnecting.
  const bool positive = impl_->breakdown(peer).total > 0;
  impl_->remove_ip(peer, ps.ip);
  if (positive) {
    impl_->peers.erase(it);
    return;
  }
  // A retained peer keeps its penalties, not its credit; leaving the mesh while in deficit
  // costs what a prune would.
  const std::uint64_t now = impl_->clock.now_ns();
  for (auto& [topic, ts] : ps.topics) {
    if (const TopicScoreParams* tp = impl_->topic_params(topic)) {
      const double d = impl_->deficit(ts, *tp, now);
      ts.mesh_failure_penalty += d * d;
    }
    ts.first_message_deliveries = 0;
    ts.in_mesh = false;
  }
  ps.connected = false;
  ps.ip.clear();
  ps.expire_ns = async::saturating_add(now, async::to_ns(impl_->params.retain_score));
}

void PeerScore::graft(const wire::PeerId& peer, const TopicId& topic) {
  TopicStats* ts = impl_->topic_stats(peer, topic);
  if (ts == nullptr || ts->in_mesh) return;
  ts->in_mesh = true;
  ts->graft_ns = impl_->clock.now_ns();
}

void PeerScore::prune(const wire::PeerId& peer, const TopicId& topic) {
  TopicStats* ts = impl_->topic_stats(peer, topic);
  if (ts == nullptr || !ts->in_mesh) return;
  const double d = impl_->deficit(*ts, *impl_->topic_params(topic), impl_->clock.now_ns());
  ts->mesh_failure_penalty += d * d;
  ts->in_mesh = false;
}

void PeerScore::validate_message(const wire::PeerId& from, const MessageId& id,
                                 const TopicId& /*topic*/) {
  impl_->record(id).peers.insert(from);
}

void PeerScore::deliver_message(const wire::PeerId& from, const MessageId& id,
                                const TopicId& topic) {
  DeliveryRecord& rec = impl_->record(id);
  if (rec.status != DeliveryStatus::unknown) return;
  rec.status = DeliveryStatus::valid;
  rec.validated_ns = impl_->clock.now_ns();
  impl_->mark_first_delivery(from, topic);
  // Copies that came in while the first was being validated are near-first by definition.
  for (const wire::PeerId& p : rec.peers) {
    if (p != from) impl_->mark_near_first_delivery(p, topic);
  }
  rec.peers.insert(from);
}

void PeerScore::reject_message(const wire::PeerId& from, const MessageId& id, const TopicId& topic,
                               RejectReason reason) {
  if (is_forwarder_fault_only(reason)) {
    // The id of a badly signed message may be a valid message's id: leave its record alone, or
    // honest peers forwarding the real one would be penalised.
    impl_->mark_invalid(from, topic);
    return;
  }
  if (reason == RejectReason::blocked_author) return;
  DeliveryRecord& rec = impl_->record(id);
  if (rec.status != DeliveryStatus::unknown) return;
  if (reason == RejectReason::validator_ignore) {
    rec.status = DeliveryStatus::ignored;
    rec.peers.insert(from);
    return;
  }
  rec.status = DeliveryStatus::invalid;
  impl_->mark_invalid(from, topic);
  for (const wire::PeerId& p : rec.peers) {
    if (p != from) impl_->mark_invalid(p, topic);
  }
  rec.peers.insert(from);
}

void PeerScore::duplicate_message(const wire::PeerId& from, const MessageId& id,
                                  const TopicId& topic) {
  auto it = impl_->deliveries.find(id);
  if (it == impl_->deliveries.end()) return;  // expired, or never seen through validate_message
  DeliveryRecord& rec = it->second;
  if (!rec.peers.insert(from).second) return;  // one credit or penalty per peer and message
  switch (rec.status) {
    case DeliveryStatus::unknown:  // settled by deliver_message or reject_message
    case DeliveryStatus::ignored: break;
    case DeliveryStatus::valid:
      if (const TopicScoreParams* tp = impl_->topic_params(topic);
          tp != nullptr &&
          impl_->clock.now_ns() <=
              async::saturating_add(rec.validated_ns,
                                    async::to_ns(tp->mesh_message_deliveries_window))) {
        impl_->mark_near_first_delivery(from, topic);
      }
      break;
    case DeliveryStatus::invalid: impl_->mark_invalid(from, topic); break;
  }
}

void PeerScore::add_penalty(const wire::PeerId& peer, double count) {
  auto it = impl_->peers.find(peer);
  if (it != impl_->peers.end()) it->second.behaviour_penalty += count;
}

double PeerScore::score(const wire::PeerId& peer) const {
  return impl_->breakdown(peer).total;
}

ScoreBreakdown PeerScore::breakdown(const wire::PeerId& peer) const {
  return impl_->breakdown(peer);
}

void PeerScore::refresh() {
  Impl& s = *impl_;
  const std::uint64_t now = s.clock.now_ns();
  const std::uint64_t interval = async::to_ns(s.params.decay_interval);
  const std::uint64_t elapsed = now - s.last_decay_ns;
  if (interval > 0 && elapsed >= interval) {
    s.decay();
    // Stay on the interval grid, so a heartbeat that does not divide the interval still decays
    // about once per interval on average; a backlog of missed intervals is not caught up.
    s.last_decay_ns += elapsed / interval * interval;
  }
  std::erase_if(s.peers, [now](const auto& entry) {
    return !entry.second.connected && now >= entry.second.expire_ns;
  });
  while (!s.delivery_order.empty() &&
         now - s.delivery_order.front().first >= kDeliveryRecordTtlNs) {
    s.deliveries.erase(s.delivery_order.front().second);
    s.delivery_order.pop_front();
  }
}

const PeerScoreParams& PeerScore::params() const noexcept {
  return impl_->params;
}

}  // namespace bb::pubsub

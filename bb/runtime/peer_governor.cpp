#include "bb/runtime/peer_governor.hpp"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

namespace bb::runtime {
namespace {

PeerGovernorConfig sanitize(PeerGovernorConfig c) noexcept {
  c.failure_threshold = std::max<std::uint32_t>(c.failure_threshold, 1);
  c.max_peers = std::max<std::size_t>(c.max_peers, 1);
  c.max_blocked = std::max<std::size_t>(c.max_blocked, 1);
  c.max_allowed = std::max<std::size_t>(c.max_allowed, 1);
  return c;
}

}  // namespace

std::string_view label(BlockReason reason) noexcept {
  switch (reason) {
    case BlockReason::blocklisted: return "blocklisted";
    case BlockReason::not_allowlisted: return "not_allowlisted";
    case BlockReason::cooldown: return "cooldown";
  }
  return "unknown";
}

std::string_view label(LifecycleTransition t) noexcept {
  switch (t) {
    case LifecycleTransition::none: return "none";
    case LifecycleTransition::went_down: return "went_down";
    case LifecycleTransition::came_up: return "came_up";
  }
  return "unknown";
}

PeerGovernor::PeerGovernor(const PeerGovernorConfig& config) : config_(sanitize(config)) {}

Decision PeerGovernor::check_inbound(const wire::PeerId& peer) const {
  if (blocklist_.contains(peer)) return Decision::denied(BlockReason::blocklisted);
  if (allowlist_ && !allowlist_->contains(peer)) {
    return Decision::denied(BlockReason::not_allowlisted);
  }
  return Decision::allow();
}

Decision PeerGovernor::check_outbound(const wire::PeerId& peer, const BackoffTable& backoff,
                                      std::uint64_t now_ns) const {
  Decision d = check_inbound(peer);
  if (!d.allowed()) return d;
  if (!backoff.should_retry(peer, now_ns)) {
    return Decision::denied(BlockReason::cooldown, backoff.retry_at(peer).value_or(now_ns));
  }
  return d;
}

PeerHealth& PeerGovernor::health_for_write(const wire::PeerId& peer) {
  auto it = health_.find(peer);
  if (it != health_.end()) return it->second;
  if (health_.size() >= config_.max_peers) {
    auto victim =
        std::min_element(health_.begin(), health_.end(), [](const auto& a, const auto& b) {
          return std::tuple(a.second.down, a.second.consecutive_failures, a.second.last_event_ns) <
                 std::tuple(b.second.down, b.second.consecutive_failures, b.second.last_event_ns);
        });
    health_.erase(victim);
  }
  return health_.try_emplace(peer).first->second;
}

LifecycleTransition PeerGovernor::record_failure(const wire::PeerId& peer, std::uint64_t now_ns) {
  PeerHealth& h = health_for_write(peer);
  if (h.consecutive_failures != std::numeric_limits<std::uint32_t>::max()) {
    ++h.consecutive_failures;
  }
  h.last_event_ns = now_ns;
  if (!h.down && h.consecutive_failures >= config_.failure_threshold) {
    h.down = true;
    return LifecycleTransition::went_down;
  }
  return LifecycleTransition::none;
}

LifecycleTransition PeerGovernor::record_success(const wire::PeerId& peer, std::uint64_t now_ns) {
  auto it = health_.find(peer);
  if (it == health_.end()) return LifecycleTransition::none;
  const bool was_down = it->second.down;
  it->second = PeerHealth{0, now_ns, false};
  return was_down ? LifecycleTransition::came_up : LifecycleTransition::none;
}

LifecycleTransition PeerGovernor::record_connected(const wire::PeerId& peer, std::uint64_t now_ns) {
  const bool known = health_.contains(peer);
  PeerHealth& h = health_for_write(peer);
  // Failures since the last success mean the peer was not reachable: connecting is coming up.
  const bool came_up = !known || h.down || h.consecutive_failures > 0;
  h = PeerHealth{0, now_ns, false};
  return came_up ? LifecycleTransition::came_up : LifecycleTransition::none;
}

LifecycleTransition PeerGovernor::mark_down(const wire::PeerId& peer, std::uint64_t now_ns) {
  PeerHealth& h = health_for_write(peer);
  h.last_event_ns = now_ns;
  if (h.down) return LifecycleTransition::none;
  h.down = true;
  return LifecycleTransition::went_down;
}

bool PeerGovernor::block(const wire::PeerId& peer) {
  if (blocklist_.contains(peer)) return true;
  if (blocklist_.size() >= config_.max_blocked) return false;
  blocklist_.insert(peer);
  return true;
}

bool PeerGovernor::unblock(const wire::PeerId& peer) {
  return blocklist_.erase(peer) != 0;
}

bool PeerGovernor::is_blocked(const wire::PeerId& peer) const {
  return blocklist_.contains(peer);
}

bool PeerGovernor::set_allowlist(
    boost::unordered_flat_set<wire::PeerId, std::hash<wire::PeerId>> peers) {
  if (peers.size() > config_.max_allowed) return false;
  allowlist_ = std::move(peers);
  return true;
}

void PeerGovernor::clear_allowlist() {
  allowlist_.reset();
}

bool PeerGovernor::allow(const wire::PeerId& peer) {
  if (!allowlist_) allowlist_.emplace();
  if (allowlist_->contains(peer)) return true;
  if (allowlist_->size() >= config_.max_allowed) return false;
  allowlist_->insert(peer);
  return true;
}

std::optional<PeerHealth> PeerGovernor::health(const wire::PeerId& peer) const {
  auto it = health_.find(peer);
  if (it == health_.end()) return std::nullopt;
  return it->second;
}

bool PeerGovernor::is_down(const wire::PeerId& peer) const {
  auto it = health_.find(peer);
  return it != health_.end() && it->second.down;
}

}  // namespace bb::runtime

#include "bb/runtime/rtt_tracker.hpp"

#include <algorithm>
#include <limits>

namespace bb::runtime {

std::uint64_t hop_budget_ns(const RttEstimate* estimate, std::uint64_t fixed_ns,
                            std::uint64_t floor_ns) noexcept {
  if (fixed_ns != 0) return fixed_ns;
  const std::uint64_t measured = estimate != nullptr ? estimate->budget_ns() : kDefaultHopBudgetNs;
  return std::max<std::uint64_t>({measured, floor_ns, 1});
}

void RttEstimate::update(std::uint64_t s, unsigned alpha_shift, unsigned beta_shift) noexcept {
  if (samples == 0) {
    srtt_ns = s;
    rttvar_ns = s / 2;
  } else {
    const std::uint64_t err = srtt_ns > s ? srtt_ns - s : s - srtt_ns;
    // Each line is a convex combination of values ≤ 2^64 − 1, so none can overflow.
    rttvar_ns = rttvar_ns - (rttvar_ns >> beta_shift) + (err >> beta_shift);
    srtt_ns = srtt_ns - (srtt_ns >> alpha_shift) + (s >> alpha_shift);
  }
  if (samples != std::numeric_limits<std::uint32_t>::max()) ++samples;
}

std::uint64_t RttEstimate::budget_ns() const noexcept {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (rttvar_ns > (kMax - srtt_ns) / 4) return kMax;
  return srtt_ns + 4 * rttvar_ns;
}

RttTracker::RttTracker(const RttTrackerConfig& config) : config_(config) {
  config_.max_peers = std::max<std::size_t>(config_.max_peers, 1);
}

void RttTracker::observe(const wire::PeerId& peer, std::uint64_t rtt_ns, std::uint64_t now_ns) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= config_.max_peers) {
      peers_.erase(std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
        return a.second.last_observed_ns < b.second.last_observed_ns;
      }));
    }
    it = peers_.try_emplace(peer).first;
  }
  it->second.est.update(rtt_ns, kRttPeerAlphaShift, kRttPeerBetaShift);
  it->second.last_observed_ns = now_ns;
  global_.update(rtt_ns, kRttGlobalAlphaShift, kRttGlobalBetaShift);
}

std::optional<RttEstimate> RttTracker::estimate(const wire::PeerId& peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return std::nullopt;
  return it->second.est;
}

std::uint64_t RttTracker::budget_ns(const wire::PeerId& peer, std::uint64_t fallback_ns) const {
  auto it = peers_.find(peer);
  if (it != peers_.end() && it->second.est.warm()) return it->second.est.budget_ns();
  if (global_.warm()) return global_.budget_ns();
  return fallback_ns;
}

bool RttTracker::remove(const wire::PeerId& peer) {
  return peers_.erase(peer) != 0;
}

}  // namespace bb::runtime

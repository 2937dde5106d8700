// RttTracker: round-trip estimates per peer and overall (Jacobson/Karels, RFC 6298, in integer
// shifts), feeding deadline budgets (bytesandbrains §4.4). The φ failure detector lives in
// runtime/phi_accrual.hpp; the caller feeds both from the same round trips.
#pragma once

#include "bb/wire/peer_id.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

namespace bb::runtime {

inline constexpr unsigned kRttPeerAlphaShift = 3;    // SRTT gain 1/8
inline constexpr unsigned kRttPeerBetaShift = 2;     // RTTVAR gain 1/4
inline constexpr unsigned kRttGlobalAlphaShift = 6;  // 1/64
inline constexpr unsigned kRttGlobalBetaShift = 5;   // 1/32
inline constexpr std::uint32_t kRttWarmSamples = 3;
inline constexpr std::uint64_t kDefaultRttFallbackBudgetNs = 100'000'000;  // 100 ms
inline constexpr std::size_t kDefaultRttMaxPeers = 16'384;

struct RttEstimate {
  std::uint64_t srtt_ns = 0;
  std::uint64_t rttvar_ns = 0;
  std::uint32_t samples = 0;  // saturating

  // First sample: SRTT = s, RTTVAR = s/2. Later: RTTVAR −= RTTVAR>>β, += |SRTT−s|>>β (with the
  // old SRTT), then SRTT −= SRTT>>α, += s>>α.
  void update(std::uint64_t sample_ns, unsigned alpha_shift, unsigned beta_shift) noexcept;
  bool warm() const noexcept { return samples >= kRttWarmSamples; }
  // SRTT + 4·RTTVAR, saturating.
  std::uint64_t budget_ns() const noexcept;
  friend bool operator==(const RttEstimate&, const RttEstimate&) = default;
};

// The budget of one hop for a message that carries none (the original's deadline rule, with a
// floor): `fixed_ns` if not 0; else the RTT estimate's budget (SRTT + 4·RTTVAR), or 100 ms
// without one, raised to `floor_ns`. Never 0.
inline constexpr std::uint64_t kDefaultHopBudgetNs = 100'000'000;
std::uint64_t hop_budget_ns(const RttEstimate* estimate, std::uint64_t fixed_ns,
                            std::uint64_t floor_ns) noexcept;

struct RttTrackerConfig {
  std::size_t max_peers = kDefaultRttMaxPeers;  // ≥ 1
};

// Single-threaded: owned and touched by one Node executor only.
//
// Bound: at most max_peers per-peer estimates (≈ 130 bytes each) plus one global prior; a new
// peer at the cap evicts the peer observed least recently.
//
// Returns: estimates and budgets in nanoseconds; budget_ns picks the first warm tier.
class RttTracker {
 public:
  RttTracker() : RttTracker(RttTrackerConfig{}) {}
  explicit RttTracker(const RttTrackerConfig& config);

  // Updates the peer's estimate (shifts 3, 2) and the global prior (shifts 6, 5).
  void observe(const wire::PeerId& peer, std::uint64_t rtt_ns, std::uint64_t now_ns);
  std::optional<RttEstimate> estimate(const wire::PeerId& peer) const;
  const RttEstimate& global_estimate() const noexcept { return global_; }
  // Warm per-peer budget → warm global budget → fallback_ns.
  std::uint64_t budget_ns(const wire::PeerId& peer,
                          std::uint64_t fallback_ns = kDefaultRttFallbackBudgetNs) const;
  bool remove(const wire::PeerId& peer);
  std::size_t size() const noexcept { return peers_.size(); }

 private:
  struct Entry {
    RttEstimate est;
    std::uint64_t last_observed_ns = 0;
  };

  RttTrackerConfig config_;
  boost::unordered_flat_map<wire::PeerId, Entry, std::hash<wire::PeerId>> peers_;
  RttEstimate global_;
};

}  // namespace bb::runtime

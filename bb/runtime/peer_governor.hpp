// PeerGovernor: admission policy (blocklist, optional allowlist, backoff cooldown) and peer
// health (failure streaks → PeerDown / PeerUp), bytesandbrains §4.2.
#pragma once

#include "bb/runtime/backoff_table.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace bb::runtime {

inline constexpr std::uint32_t kDefaultFailureThreshold = 5;
inline constexpr std::size_t kDefaultGovernorMaxPeers = 16'384;
inline constexpr std::size_t kDefaultGovernorMaxListed = 65'536;

struct PeerGovernorConfig {
  std::uint32_t failure_threshold = kDefaultFailureThreshold;  // clamped to ≥ 1
  std::size_t max_peers = kDefaultGovernorMaxPeers;            // health entries, ≥ 1
  std::size_t max_blocked = kDefaultGovernorMaxListed;         // blocklist entries, ≥ 1
  std::size_t max_allowed = kDefaultGovernorMaxListed;         // allowlist entries, ≥ 1
};

// Why a peer is denied. The labels are stable: they travel in OpError reasons and events.
enum class BlockReason : std::uint8_t { blocklisted, not_allowlisted, cooldown };
std::string_view label(BlockReason reason) noexcept;

// Allow, or Deny{reason}. For cooldown, retry_ns is when the backoff table allows the next
// attempt (absolute, node clock).
struct Decision {
  std::optional<BlockReason> deny;
  std::uint64_t retry_ns = 0;

  static Decision allow() noexcept { return {}; }
  static Decision denied(BlockReason r, std::uint64_t retry_ns = 0) noexcept {
    return {r, retry_ns};
  }
  bool allowed() const noexcept { return !deny.has_value(); }
  friend bool operator==(const Decision&, const Decision&) = default;
};

enum class LifecycleTransition : std::uint8_t { none, went_down, came_up };
std::string_view label(LifecycleTransition t) noexcept;

struct PeerHealth {
  std::uint32_t consecutive_failures = 0;  // saturating
  std::uint64_t last_event_ns = 0;
  bool down = false;
  friend bool operator==(const PeerHealth&, const PeerHealth&) = default;
};

// Single-threaded: owned and touched by one Node executor only.
//
// Bounds: at most max_peers health entries (≈ 120 bytes each); when a new peer arrives at the
// cap, the least interesting entry is evicted: an up peer before a down one, then the shortest
// failure streak, then the oldest event (evicting a down peer forgets that it was down: it is
// treated as up, without a CameUp). At most max_blocked blocklist and max_allowed allowlist
// entries; block/allow report false when the list is full.
//
// Returns: check_* return a Decision; record_* and mark_down return the lifecycle transition
// the caller must publish (PeerDown / PeerUp): each one is returned exactly once per change.
class PeerGovernor {
 public:
  PeerGovernor() : PeerGovernor(PeerGovernorConfig{}) {}
  explicit PeerGovernor(const PeerGovernorConfig& config);

  // Blocklisted → not allowlisted → allow. The blocklist wins over the allowlist.
  Decision check_inbound(const wire::PeerId& peer) const;
  // check_inbound, then Cooldown{retry_ns} while the backoff table holds the peer back.
  Decision check_outbound(const wire::PeerId& peer, const BackoffTable& backoff,
                          std::uint64_t now_ns) const;

  // Extends the failure streak; WentDown exactly once, when it reaches the threshold while the
  // peer is up. The peer stays down until a success.
  LifecycleTransition record_failure(const wire::PeerId& peer, std::uint64_t now_ns);
  // Resets the streak; CameUp if the peer was down. A peer without state stays without state.
  LifecycleTransition record_success(const wire::PeerId& peer, std::uint64_t now_ns);
  // A verified connection: starts tracking the peer if needed; CameUp if it was unknown, down,
  // or had failures since its last success (it was not reachable, and now is).
  LifecycleTransition record_connected(const wire::PeerId& peer, std::uint64_t now_ns);
  // For the failure detector or a lost connection: marks the peer down (streak unchanged);
  // WentDown if it was up.
  LifecycleTransition mark_down(const wire::PeerId& peer, std::uint64_t now_ns);

  bool block(const wire::PeerId& peer);    // false if the blocklist is full
  bool unblock(const wire::PeerId& peer);  // false if it was not blocked
  bool is_blocked(const wire::PeerId& peer) const;

  // Replaces the allowlist (closing admission to everyone else). False, and no change, if the
  // set holds more than max_allowed peers.
  bool set_allowlist(boost::unordered_flat_set<wire::PeerId, std::hash<wire::PeerId>> peers);
  void clear_allowlist();  // open admission again
  // Adds one peer; creates an (otherwise empty) allowlist if there was none. False when full.
  bool allow(const wire::PeerId& peer);
  bool has_allowlist() const noexcept { return allowlist_.has_value(); }

  std::optional<PeerHealth> health(const wire::PeerId& peer) const;
  bool is_down(const wire::PeerId& peer) const;
  std::size_t tracked_peers() const noexcept { return health_.size(); }
  const PeerGovernorConfig& config() const noexcept { return config_; }

 private:
  PeerHealth& health_for_write(const wire::PeerId& peer);

  PeerGovernorConfig config_;
  boost::unordered_flat_set<wire::PeerId, std::hash<wire::PeerId>> blocklist_;
  std::optional<boost::unordered_flat_set<wire::PeerId, std::hash<wire::PeerId>>> allowlist_;
  boost::unordered_flat_map<wire::PeerId, PeerHealth, std::hash<wire::PeerId>> health_;
};

}  // namespace bb::runtime

// Receiver-side backpressure (bytesandbrains §4.5): "K-then-silent" BackoffNotices to peers that
// keep sending into a full ingress queue, with the recovery the original lacks, and the
// BackoffNotice payload codec (§2.7).
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bb::runtime {

inline constexpr std::uint32_t kDefaultHighWaterPct = 75;
inline constexpr std::uint32_t kDefaultLowWaterPct = 50;
inline constexpr std::uint32_t kDefaultKBeforeSilent = 3;
inline constexpr std::uint64_t kDefaultMinNoticeIntervalNs = 1'000'000'000;  // 1 s
inline constexpr std::uint64_t kDefaultSilentPeriodNs = 10'000'000'000;      // 10 s
inline constexpr std::size_t kDefaultBackpressureMaxPeers = 16'384;

// The wire values are the bincode variant indices of the Rust enum.
enum class BackpressureCause : std::uint32_t { queue_full = 0, phi_accrual = 1, explicit_drop = 2 };
std::string_view label(BackpressureCause c) noexcept;

enum class backpressure_errc {
  notice_wrong_length = 1,
  notice_unknown_cause,
};
const boost::system::error_category& backpressure_category() noexcept;
inline boost::system::error_code make_error_code(backpressure_errc e) noexcept {
  return {static_cast<int>(e), backpressure_category()};
}

// Payload of the BackoffNotice envelope, byte-compatible with the Rust original's bincode:
//   offset 0  u64 LE  min_backoff_ns
//   offset 8  u32 LE  cause (variant index)
//   offset 12 u64 LE  suggested_next_send_ns (0 = none)
// 20 bytes in total.
struct BackoffNotice {
  static constexpr std::size_t kEncodedSize = 20;

  std::uint64_t min_backoff_ns = 0;
  BackpressureCause cause = BackpressureCause::queue_full;
  std::uint64_t suggested_next_send_ns = 0;

  std::array<std::uint8_t, kEncodedSize> encode() const noexcept;
  // Remote input: exactly 20 bytes and a known cause, else notice_wrong_length /
  // notice_unknown_cause.
  static boost::system::result<BackoffNotice> decode(wire::ByteView bytes);
  friend bool operator==(const BackoffNotice&, const BackoffNotice&) = default;
};

struct BackpressureConfig {
  std::uint32_t high_water_pct = kDefaultHighWaterPct;                 // clamped to 1..100
  std::uint32_t k_before_silent = kDefaultKBeforeSilent;               // ≥ 1
  std::uint64_t min_notice_interval_ns = kDefaultMinNoticeIntervalNs;  // ≥ 1
  // Recovery, absent from the original: at or below low water every peer's state is cleared
  // (clamped to ≤ high_water_pct); a peer's silent-drop also ends silent_period_ns after it began.
  std::uint32_t low_water_pct = kDefaultLowWaterPct;
  std::uint64_t silent_period_ns = kDefaultSilentPeriodNs;  // ≥ 1
  std::size_t max_peers = kDefaultBackpressureMaxPeers;     // ≥ 1
};

struct BackpressureAction {
  enum class Kind : std::uint8_t { silent_drop, suppress, emit_notice };

  Kind kind = Kind::suppress;
  // emit_notice only: the notice to send (min_backoff = max(hint, min interval)) and whether
  // this notice turned silent-drop on (publish SilentDropActive once).
  std::uint64_t min_backoff_ns = 0;
  BackpressureCause cause = BackpressureCause::queue_full;
  bool silent_now = false;
  // The peer's earlier silent-drop had run out its silent period and was reset by this call
  // (publish its end); independent of kind.
  bool silent_ended = false;
};

// Single-threaded: owned and touched by one Node executor only.
//
// Bound: at most max_peers peer states (≈ 140 bytes each); a new peer at the cap evicts a peer
// not in silent-drop (the one notified longest ago) before a silent one (the oldest episode,
// which ends its silent-drop early: fail open).
//
// Returns: observe_overload says what to do with the envelope that arrived while overloaded;
// observe_relief and sweep return the peers whose silent-drop ended, each episode once.
class BackpressureTracker {
 public:
  BackpressureTracker() : BackpressureTracker(BackpressureConfig{}) {}
  explicit BackpressureTracker(const BackpressureConfig& config);

  // len × 100 ≥ capacity × high_water_pct (exact, no overflow).
  bool overloaded(std::size_t len, std::size_t capacity) const noexcept;
  // len × 100 ≤ capacity × low_water_pct.
  bool relieved(std::size_t len, std::size_t capacity) const noexcept;

  // An envelope from `peer` while overloaded: SilentDrop if the peer is in silent-drop;
  // Suppress while now < last notice + its min_backoff; else EmitNotice, counting it, and the
  // K-th notice (still sent) turns silent-drop on.
  BackpressureAction observe_overload(const wire::PeerId& peer, BackpressureCause cause,
                                      std::uint64_t hint_ns, std::uint64_t now_ns);
  bool is_silent(const wire::PeerId& peer, std::uint64_t now_ns) const;

  // When the queue is at or below low water, clears every peer's state and returns the peers
  // that were in silent-drop (including any whose period ran out but were not yet swept);
  // otherwise changes nothing and returns nothing.
  std::vector<wire::PeerId> observe_relief(std::size_t len, std::size_t capacity);
  // Ends silent-drop episodes whose period is over (returning those peers) and forgets peers
  // whose last notice no longer suppresses anything and is older than the silent period.
  std::vector<wire::PeerId> sweep(std::uint64_t now_ns);

  std::size_t size() const noexcept { return peers_.size(); }
  const BackpressureConfig& config() const noexcept { return config_; }

 private:
  struct PeerState {
    std::uint32_t notices_sent = 0;
    std::uint64_t last_notice_at_ns = 0;
    std::uint64_t last_min_backoff_ns = 0;
    bool silent = false;
    std::uint64_t silent_since_ns = 0;
  };

  bool silent_expired(const PeerState& s, std::uint64_t now_ns) const noexcept;
  PeerState& state_for_write(const wire::PeerId& peer);

  BackpressureConfig config_;
  boost::unordered_flat_map<wire::PeerId, PeerState, std::hash<wire::PeerId>> peers_;
};

}  // namespace bb::runtime

template <>
struct boost::system::is_error_code_enum<bb::runtime::backpressure_errc> : std::true_type {};

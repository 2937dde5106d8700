// BackoffTable: per-peer exponential backoff on the sending side (bytesandbrains §4.1), with the
// Rust original's schedule (10 ms × 2^(n−1), capped at 60 s) plus optional full jitter, a size
// bound and idle decay.
#pragma once

#include "bb/wire/peer_id.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>

namespace bb::runtime {

inline constexpr std::uint64_t kDefaultBackoffBaseNs = 10'000'000;          // 10 ms
inline constexpr std::uint64_t kDefaultBackoffMaxDelayNs = 60'000'000'000;  // 60 s
inline constexpr std::size_t kDefaultBackoffMaxPeers = 16'384;
inline constexpr std::uint64_t kDefaultBackoffIdleDecayNs = 300'000'000'000;  // 5 min

struct BackoffConfig {
  std::uint64_t base_ns = kDefaultBackoffBaseNs;           // clamped to ≥ 1
  std::uint64_t max_delay_ns = kDefaultBackoffMaxDelayNs;  // clamped to ≥ 1
  // Full jitter (AWS "Exponential Backoff and Jitter"): the delay is drawn uniformly from
  // [0, computed delay]. Off by default, as in the original; the RNG is seeded from jitter_seed,
  // so a given seed reproduces the same delays on every platform.
  bool jitter = false;
  std::uint64_t jitter_seed = 0;
  std::size_t max_peers = kDefaultBackoffMaxPeers;  // clamped to ≥ 1
  // An entry whose retry time is more than this far in the past is forgotten (its attempt count
  // restarts). 0 disables decay.
  std::uint64_t idle_decay_ns = kDefaultBackoffIdleDecayNs;
};

struct BackoffState {
  std::uint32_t attempts = 0;  // saturating
  std::uint64_t last_attempt_ns = 0;
  std::uint64_t next_retry_ns = 0;
};

// Single-threaded: owned and touched by one Node executor only.
//
// Bound: at most config.max_peers entries (≈ 130 bytes each). Inserting a new peer into a full
// table first removes every entry whose retry time has passed (they no longer hold anything
// back), and if that frees nothing, the entry with the earliest next retry (the one closest to
// being released anyway). Idle entries (retry time more than idle_decay_ns ago) are dropped when
// a write touches them and by sweep(now).
//
// Returns: record_* return the absolute time (node clock, ns) of the next allowed attempt;
// should_retry / retry_at / attempts are queries with no side effects.
class BackoffTable {
 public:
  BackoffTable() : BackoffTable(BackoffConfig{}) {}
  explicit BackoffTable(const BackoffConfig& config);

  // A local failure: attempts += 1, next_retry = now + min(base << (attempts − 1), max), the
  // shift clamped to 63 and saturating; with jitter, uniform in [0, that delay].
  std::uint64_t record_failure(const wire::PeerId& peer, std::uint64_t now_ns);
  // A remote's BackoffNotice: attempts += 1, next_retry = now + min(min_backoff, max). A later
  // local failure continues the exponential schedule from the bumped attempt count.
  std::uint64_t record_remote_advisory(const wire::PeerId& peer, std::uint64_t now_ns,
                                       std::uint64_t min_backoff_ns);
  // Forgets the peer: the next failure starts again at the base delay.
  void record_success(const wire::PeerId& peer);

  // True when there is no state for the peer or now ≥ its next retry time.
  bool should_retry(const wire::PeerId& peer, std::uint64_t now_ns) const;
  // When the next attempt is allowed (absolute, node clock); nullopt when there is no state.
  // A value in the past means "now".
  std::optional<std::uint64_t> retry_at(const wire::PeerId& peer) const;
  // Failures (and advisories) recorded since the last success or decay; 0 without state.
  std::uint32_t attempts(const wire::PeerId& peer) const;
  std::optional<BackoffState> state(const wire::PeerId& peer) const;

  // Drops idle entries (see idle_decay_ns); returns how many were removed.
  std::size_t sweep(std::uint64_t now_ns);
  std::size_t size() const noexcept { return entries_.size(); }
  const BackoffConfig& config() const noexcept { return config_; }

  // The un-jittered delay for the given attempt number (≥ 1): min(base << (n − 1), max).
  std::uint64_t schedule_delay(std::uint32_t attempt) const noexcept;

 private:
  BackoffState& entry_for_write(const wire::PeerId& peer, std::uint64_t now_ns);
  bool idle(const BackoffState& s, std::uint64_t now_ns) const noexcept;
  void make_room(std::uint64_t now_ns);
  std::uint64_t jittered(std::uint64_t delay) noexcept;

  BackoffConfig config_;
  boost::unordered_flat_map<wire::PeerId, BackoffState, std::hash<wire::PeerId>> entries_;
  std::mt19937_64 rng_;
};

}  // namespace bb::runtime

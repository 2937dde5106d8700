// Phi-accrual failure detector (Hayashibara et al., SRDS 2004) in Akka's normal-distribution
// form, with Cassandra's guard against recording long intervals. Replaces the Rust original's
// exponential model (bytesandbrains §4.4); see libp2p-specs-and-vectors.md §4.
#pragma once

#include "bb/wire/peer_id.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace bb::runtime {

inline constexpr std::size_t kDefaultPhiMaxSampleSize = 1000;
inline constexpr std::uint64_t kDefaultPhiMinStdDeviationNs = 100'000'000;           // 100 ms
inline constexpr std::uint64_t kDefaultPhiAcceptablePauseNs = 3'000'000'000;         // 3 s
inline constexpr std::uint64_t kDefaultPhiFirstHeartbeatEstimateNs = 1'000'000'000;  // 1 s
inline constexpr std::uint64_t kDefaultPhiMaxIntervalNs = 10'000'000'000;            // 10 s
inline constexpr double kDefaultSuspectPhi = 8.0;
inline constexpr double kDefaultDownPhi = 16.0;
inline constexpr std::size_t kDefaultPhiMaxPeers = 4096;
// Caps that keep the exact 128-bit sums of HeartbeatHistory from overflowing.
inline constexpr std::size_t kMaxPhiSampleSize = 65'536;
inline constexpr std::uint64_t kMaxPhiIntervalNs = std::uint64_t{1} << 55;  // ≈ 1.1 years

// φ for a silence of `time_diff` given a normal distribution N(mean, std_dev), with Akka's
// logistic approximation of the CDF: y = (t − mean)/sd, e = exp(−y(1.5976 + 0.070566 y²)),
// φ = −log10(e/(1+e)) for t > mean, else −log10(1 − 1/(1+e)). Both branches equal
// log10(1 + exp(z)) with z = y(1.5976 + 0.070566 y²); it is evaluated in that overflow-free
// form, so an extreme outlier yields a large finite φ instead of +inf. Any unit works as long as
// all three arguments share it. std_dev ≤ 0 (or NaN) gives +inf past the mean and 0 otherwise.
double phi(double time_diff, double mean, double std_dev) noexcept;

// Sliding window of inter-arrival intervals with exact running sums (Akka's HeartbeatHistory).
// Samples are clamped to kMaxPhiIntervalNs, the capacity to 1..kMaxPhiSampleSize.
class HeartbeatHistory {
 public:
  explicit HeartbeatHistory(std::size_t max_sample_size);

  void push(std::uint64_t interval);  // drops the oldest sample when full
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  // Not meaningful for an empty window (0 is returned).
  double mean() const noexcept;
  double variance() const noexcept;  // population variance: E[x²] − mean²
  double std_deviation() const noexcept;

 private:
  __extension__ using Sum = unsigned __int128;

  std::vector<std::uint64_t> ring_;  // grows up to capacity_, then wraps at head_
  std::size_t capacity_;
  std::size_t head_ = 0;  // oldest sample once the ring is full
  std::size_t size_ = 0;
  Sum sum_ = 0;
  Sum sum_sq_ = 0;
};

struct PhiAccrualConfig {
  std::size_t max_sample_size = kDefaultPhiMaxSampleSize;                      // 1..65536
  std::uint64_t min_std_deviation_ns = kDefaultPhiMinStdDeviationNs;           // ≥ 1
  std::uint64_t acceptable_heartbeat_pause_ns = kDefaultPhiAcceptablePauseNs;  // added to mean
  // Seeds a new peer's history with two samples, estimate ± estimate/4 (as Akka does), so a
  // peer that sent a single heartbeat still becomes suspect when it goes quiet. ≥ 1.
  std::uint64_t first_heartbeat_estimate_ns = kDefaultPhiFirstHeartbeatEstimateNs;
  // Cassandra's guard: a longer interval is not recorded, so a partition does not teach the
  // detector to tolerate partitions. It must exceed the acceptable pause (raised to pause + 1 ns
  // otherwise). 10 s is ten default heartbeat intervals and over three times the default pause;
  // raise it for slower heartbeats.
  std::uint64_t max_interval_ns = kDefaultPhiMaxIntervalNs;
  double suspect_phi = kDefaultSuspectPhi;      // Akka's `threshold`
  double down_phi = kDefaultDownPhi;            // raised to suspect_phi if lower
  std::size_t max_peers = kDefaultPhiMaxPeers;  // ≥ 1
};

enum class PhiState : std::uint8_t { live, suspect, down };
std::string_view label(PhiState s) noexcept;

struct PhiTransition {
  wire::PeerId peer;
  PhiState state;
  double phi;
  std::uint64_t silent_ns;  // since the peer's last heartbeat, at the scan
};

// Single-threaded: owned and touched by one Node executor only.
//
// Bounds: at most max_peers peers, each with at most max_sample_size 8-byte samples (defaults:
// 4096 × 1000 × 8 B ≈ 33 MB worst case; a peer's window grows only as it heartbeats). A new
// peer at the cap evicts the peer heard from least recently.
//
// Semantics (Akka): φ = phi(now − last heartbeat, mean + acceptable pause, max(sd, min sd));
// 0 for a peer never heard from. A heartbeat that arrives while φ ≥ suspect_phi (Akka's
// "unavailable") only moves the last-heartbeat time: the long gap is not recorded. Neither is an
// interval longer than max_interval_ns (Cassandra).
//
// Returns: phi()/state() are pure queries; scan() returns only the state changes since the last
// scan (a peer starts out live, so its first heartbeat is not a transition).
class PhiAccrualDetector {
 public:
  PhiAccrualDetector() : PhiAccrualDetector(PhiAccrualConfig{}) {}
  explicit PhiAccrualDetector(const PhiAccrualConfig& config);

  void heartbeat(const wire::PeerId& peer, std::uint64_t now_ns);
  double phi(const wire::PeerId& peer, std::uint64_t now_ns) const;
  // The state φ puts the peer in now (not the last scanned one).
  PhiState state(const wire::PeerId& peer, std::uint64_t now_ns) const;
  // φ and state of every peer; one PhiTransition per peer whose state changed since the last
  // scan, in unspecified order.
  std::vector<PhiTransition> scan(std::uint64_t now_ns);
  bool remove(const wire::PeerId& peer);

  const HeartbeatHistory* history(const wire::PeerId& peer) const;
  std::size_t size() const noexcept { return peers_.size(); }
  const PhiAccrualConfig& config() const noexcept { return config_; }

 private:
  struct Entry {
    HeartbeatHistory history;
    std::uint64_t last_heartbeat_ns;
    PhiState last_reported = PhiState::live;
  };

  double phi_of(const Entry& e, std::uint64_t now_ns) const noexcept;
  PhiState classify(double phi) const noexcept;
  HeartbeatHistory seeded_history() const;

  PhiAccrualConfig config_;
  boost::unordered_flat_map<wire::PeerId, Entry, std::hash<wire::PeerId>> peers_;
};

}  // namespace bb::runtime

#include "bb/runtime/phi_accrual.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace bb::runtime {

namespace {
// φ at an elapsed time equal to the (pause-adjusted) mean: -log10(1/2).
constexpr double kPhiAtMean = 0.30103;
}  // namespace
namespace {

PhiAccrualConfig sanitize(PhiAccrualConfig c) noexcept {
  c.max_sample_size = std::clamp<std::size_t>(c.max_sample_size, 1, kMaxPhiSampleSize);
  c.min_std_deviation_ns = std::max<std::uint64_t>(c.min_std_deviation_ns, 1);
  c.first_heartbeat_estimate_ns =
      std::clamp<std::uint64_t>(c.first_heartbeat_estimate_ns, 1, kMaxPhiIntervalNs);
  if (c.max_interval_ns <= c.acceptable_heartbeat_pause_ns) {
    c.max_interval_ns = c.acceptable_heartbeat_pause_ns == std::numeric_limits<std::uint64_t>::max()
                            ? c.acceptable_heartbeat_pause_ns
                            : c.acceptable_heartbeat_pause_ns + 1;
  }
  if (!(c.suspect_phi > 0.0)) c.suspect_phi = kDefaultSuspectPhi;  // also rejects NaN
  if (!(c.down_phi >= c.suspect_phi)) c.down_phi = c.suspect_phi;
  c.max_peers = std::max<std::size_t>(c.max_peers, 1);
  return c;
}

}  // namespace

double phi(double time_diff, double mean, double std_dev) noexcept {
  if (!(std_dev > 0.0)) {
    return time_diff > mean ? std::numeric_limits<double>::infinity() : 0.0;
  }
  const double y = (time_diff - mean) / std_dev;
  const double z = y * (1.5976 + 0.070566 * y * y);
  // log(1 + e^z), computed without overflowing e^z for large z.
  const double softplus = z > 0.0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
  return softplus / std::numbers::ln10;
}

HeartbeatHistory::HeartbeatHistory(std::size_t max_sample_size)
    : capacity_(std::clamp<std::size_t>(max_sample_size, 1, kMaxPhiSampleSize)) {}

void HeartbeatHistory::push(std::uint64_t interval) {
  interval = std::min(interval, kMaxPhiIntervalNs);
  const Sum sq = Sum{interval} * interval;
  if (size_ < capacity_) {
    ring_.push_back(interval);
    ++size_;
  } else {
    const std::uint64_t oldest = ring_[head_];
    sum_ -= oldest;
    sum_sq_ -= Sum{oldest} * oldest;
    ring_[head_] = interval;
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
  }
  sum_ += interval;
  sum_sq_ += sq;
}

double HeartbeatHistory::mean() const noexcept {
  if (size_ == 0) return 0.0;
  return static_cast<double>(static_cast<long double>(sum_) / static_cast<long double>(size_));
}

double HeartbeatHistory::variance() const noexcept {
  if (size_ == 0) return 0.0;
  const auto n = static_cast<long double>(size_);
  const long double m = static_cast<long double>(sum_) / n;
  const long double v = static_cast<long double>(sum_sq_) / n - m * m;
  return v > 0 ? static_cast<double>(v) : 0.0;  // rounding must not yield a negative variance
}

double HeartbeatHistory::std_deviation() const noexcept {
  return std::sqrt(variance());
}

std::string_view label(PhiState s) noexcept {
  switch (s) {
    case PhiState::live: return "live";
    case PhiState::suspect: return "suspect";
    case PhiState::down: return "down";
  }
  return "unknown";
}

PhiAccrualDetector::PhiAccrualDetector(const PhiAccrualConfig& config)
    : config_(sanitize(config)) {}

HeartbeatHistory PhiAccrualDetector::seeded_history() const {
  HeartbeatHistory h(config_.max_sample_size);
  const std::uint64_t mean = config_.first_heartbeat_estimate_ns;
  const std::uint64_t sd = mean / 4;
  h.push(mean - sd);
  h.push(mean + sd);
  return h;
}

double PhiAccrualDetector::phi_of(const Entry& e, std::uint64_t now_ns) const noexcept {
  const std::uint64_t diff = now_ns > e.last_heartbeat_ns ? now_ns - e.last_heartbeat_ns : 0;
  const double sd =
      std::max(e.history.std_deviation(), static_cast<double>(config_.min_std_deviation_ns));
  const double mean = e.history.mean() + static_cast<double>(config_.acceptable_heartbeat_pause_ns);
  return runtime::phi(static_cast<double>(diff), mean, sd);
}

PhiState PhiAccrualDetector::classify(double p) const noexcept {
  if (p >= config_.down_phi) return PhiState::down;
  if (p >= config_.suspect_phi) return PhiState::suspect;
  return PhiState::live;
}

void PhiAccrualDetector::heartbeat(const wire::PeerId& peer, std::uint64_t now_ns) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= config_.max_peers) {
      auto stalest =
          std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
            return a.second.last_heartbeat_ns < b.second.last_heartbeat_ns;
          });
      peers_.erase(stalest);
    }
    peers_.emplace(peer, Entry{seeded_history(), now_ns});
    return;
  }
  Entry& e = it->second;
  const std::uint64_t interval = now_ns > e.last_heartbeat_ns ? now_ns - e.last_heartbeat_ns : 0;
  // Akka: the first heartbeat after a failure would skew the statistics with the outage itself.
  // Cassandra: neither should any interval longer than max_interval.
  if (phi_of(e, now_ns) < config_.suspect_phi && interval <= config_.max_interval_ns) {
    e.history.push(interval);
  }
  e.last_heartbeat_ns = std::max(e.last_heartbeat_ns, now_ns);
}

double PhiAccrualDetector::phi(const wire::PeerId& peer, std::uint64_t now_ns) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0.0 : phi_of(it->second, now_ns);
}

PhiState PhiAccrualDetector::state(const wire::PeerId& peer, std::uint64_t now_ns) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return PhiState::live;
  // The send path asks this per message. While the silence is within mean + acceptable pause,
  // φ ≤ log10(2) ≈ 0.30 (the logistic term is ≥ 1/2), below any threshold worth having, so the
  // logarithms are skipped.
  const Entry& e = it->second;
  const std::uint64_t diff = now_ns > e.last_heartbeat_ns ? now_ns - e.last_heartbeat_ns : 0;
  const double quiet_bound =
      e.history.mean() + static_cast<double>(config_.acceptable_heartbeat_pause_ns);
  if (config_.suspect_phi > kPhiAtMean && static_cast<double>(diff) <= quiet_bound) {
    return PhiState::live;
  }
  return classify(phi_of(e, now_ns));
}

std::vector<PhiTransition> PhiAccrualDetector::scan(std::uint64_t now_ns) {
  std::vector<PhiTransition> out;
  for (auto& [peer, e] : peers_) {
    const double p = phi_of(e, now_ns);
    const PhiState s = classify(p);
    if (s != e.last_reported) {
      e.last_reported = s;
      out.push_back(PhiTransition{peer, s, p, now_ns - e.last_heartbeat_ns});
    }
  }
  return out;
}

bool PhiAccrualDetector::remove(const wire::PeerId& peer) {
  return peers_.erase(peer) != 0;
}

const HeartbeatHistory* PhiAccrualDetector::history(const wire::PeerId& peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second.history;
}

}  // namespace bb::runtime

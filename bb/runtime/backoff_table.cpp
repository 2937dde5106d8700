#include "bb/runtime/backoff_table.hpp"

#include "bb/async/clock.hpp"

#include <algorithm>
#include <limits>

namespace bb::runtime {
namespace {

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

BackoffConfig sanitize(BackoffConfig c) noexcept {
  c.base_ns = std::max<std::uint64_t>(c.base_ns, 1);
  c.max_delay_ns = std::max<std::uint64_t>(c.max_delay_ns, 1);
  c.max_peers = std::max<std::size_t>(c.max_peers, 1);
  return c;
}

}  // namespace

BackoffTable::BackoffTable(const BackoffConfig& config)
    : config_(sanitize(config)), rng_(config.jitter_seed) {
  entries_.reserve(std::min<std::size_t>(config_.max_peers, 1024));
}

std::uint64_t BackoffTable::schedule_delay(std::uint32_t attempt) const noexcept {
  const std::uint32_t shift = std::min<std::uint32_t>(attempt == 0 ? 0 : attempt - 1, 63);
  const std::uint64_t delay =
      config_.base_ns > (kU64Max >> shift) ? kU64Max : config_.base_ns << shift;
  return std::min(delay, config_.max_delay_ns);
}

// Uniform in [0, bound] by rejection sampling over mt19937_64's raw output: unlike
// std::uniform_int_distribution, whose algorithm is unspecified, this gives the same sequence
// for a seed with every standard library.
std::uint64_t BackoffTable::jittered(std::uint64_t bound) noexcept {
  if (bound == kU64Max) return rng_();
  const std::uint64_t range = bound + 1;
  const std::uint64_t reject_below = (0 - range) % range;  // 2^64 mod range
  for (;;) {
    const std::uint64_t r = rng_();
    if (r >= reject_below) return r % range;
  }
}

bool BackoffTable::idle(const BackoffState& s, std::uint64_t now_ns) const noexcept {
  return config_.idle_decay_ns != 0 && now_ns > s.next_retry_ns &&
         now_ns - s.next_retry_ns > config_.idle_decay_ns;
}

void BackoffTable::make_room(std::uint64_t now_ns) {
  if (entries_.size() < config_.max_peers) return;
  // Entries whose retry time has passed hold nothing back: drop them all at once so that a
  // run of new peers does not pay for a full scan each.
  std::size_t removed = boost::unordered::erase_if(
      entries_, [now_ns](const auto& kv) { return now_ns >= kv.second.next_retry_ns; });
  if (removed != 0 || entries_.empty()) return;
  auto earliest = std::min_element(
      entries_.begin(), entries_.end(),
      [](const auto& a, const auto& b) { return a.second.next_retry_ns < b.second.next_retry_ns; });
  entries_.erase(earliest);
}

BackoffState& BackoffTable::entry_for_write(const wire::PeerId& peer, std::uint64_t now_ns) {
  auto it = entries_.find(peer);
  if (it != entries_.end()) {
    if (idle(it->second, now_ns)) it->second = BackoffState{};
    return it->second;
  }
  make_room(now_ns);
  return entries_.try_emplace(peer).first->second;
}

std::uint64_t BackoffTable::record_failure(const wire::PeerId& peer, std::uint64_t now_ns) {
  BackoffState& s = entry_for_write(peer, now_ns);
  if (s.attempts != std::numeric_limits<std::uint32_t>::max()) ++s.attempts;
  std::uint64_t delay = schedule_delay(s.attempts);
  if (config_.jitter) delay = jittered(delay);
  s.last_attempt_ns = now_ns;
  s.next_retry_ns = async::saturating_add(now_ns, delay);
  return s.next_retry_ns;
}

std::uint64_t BackoffTable::record_remote_advisory(const wire::PeerId& peer, std::uint64_t now_ns,
                                                   std::uint64_t min_backoff_ns) {
  BackoffState& s = entry_for_write(peer, now_ns);
  if (s.attempts != std::numeric_limits<std::uint32_t>::max()) ++s.attempts;
  s.last_attempt_ns = now_ns;
  // The remote asked for at least this long; it is not jittered (that would undercut it).
  s.next_retry_ns = async::saturating_add(now_ns, std::min(min_backoff_ns, config_.max_delay_ns));
  return s.next_retry_ns;
}

void BackoffTable::record_success(const wire::PeerId& peer) {
  entries_.erase(peer);
}

bool BackoffTable::should_retry(const wire::PeerId& peer, std::uint64_t now_ns) const {
  auto it = entries_.find(peer);
  return it == entries_.end() || now_ns >= it->second.next_retry_ns;
}

std::optional<std::uint64_t> BackoffTable::retry_at(const wire::PeerId& peer) const {
  auto it = entries_.find(peer);
  if (it == entries_.end()) return std::nullopt;
  return it->second.next_retry_ns;
}

std::uint32_t BackoffTable::attempts(const wire::PeerId& peer) const {
  auto it = entries_.find(peer);
  return it == entries_.end() ? 0 : it->second.attempts;
}

std::optional<BackoffState> BackoffTable::state(const wire::PeerId& peer) const {
  auto it = entries_.find(peer);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::size_t BackoffTable::sweep(std::uint64_t now_ns) {
  return boost::unordered::erase_if(entries_,
                                    [&](const auto& kv) { return idle(kv.second, now_ns); });
}

}  // namespace bb::runtime

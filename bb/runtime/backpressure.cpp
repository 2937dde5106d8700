#include "bb/runtime/backpressure.hpp"

#include "bb/async/clock.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <tuple>

namespace bb::runtime {
namespace {

__extension__ using U128 = unsigned __int128;

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

BackpressureConfig sanitize(BackpressureConfig c) noexcept {
  c.high_water_pct = std::clamp<std::uint32_t>(c.high_water_pct, 1, 100);
  c.low_water_pct = std::min(c.low_water_pct, c.high_water_pct);
  c.k_before_silent = std::max<std::uint32_t>(c.k_before_silent, 1);
  c.min_notice_interval_ns = std::max<std::uint64_t>(c.min_notice_interval_ns, 1);
  c.silent_period_ns = std::max<std::uint64_t>(c.silent_period_ns, 1);
  c.max_peers = std::max<std::size_t>(c.max_peers, 1);
  return c;
}

void put_le(std::uint8_t* out, std::uint64_t v, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint64_t get_le(const std::uint8_t* in, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | in[i];
  return v;
}

class BackpressureCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.backpressure"; }
  std::string message(int ev) const override {
    switch (static_cast<backpressure_errc>(ev)) {
      case backpressure_errc::notice_wrong_length:
        return "BackoffNotice payload must be exactly 20 bytes (u64 min_backoff_ns, u32 cause, "
               "u64 suggested_next_send_ns)";
      case backpressure_errc::notice_unknown_cause:
        return "BackoffNotice cause must be 0 (queue_full), 1 (phi_accrual) or 2 (explicit_drop)";
    }
    return "unknown backpressure error";
  }
};

}  // namespace

const boost::system::error_category& backpressure_category() noexcept {
  static const BackpressureCategory category;
  return category;
}

std::string_view label(BackpressureCause c) noexcept {
  switch (c) {
    case BackpressureCause::queue_full: return "queue_full";
    case BackpressureCause::phi_accrual: return "phi_accrual";
    case BackpressureCause::explicit_drop: return "explicit_drop";
  }
  return "unknown";
}

std::array<std::uint8_t, BackoffNotice::kEncodedSize> BackoffNotice::encode() const noexcept {
  std::array<std::uint8_t, kEncodedSize> out{};
  put_le(out.data(), min_backoff_ns, 8);
  put_le(out.data() + 8, static_cast<std::uint32_t>(cause), 4);
  put_le(out.data() + 12, suggested_next_send_ns, 8);
  return out;
}

boost::system::result<BackoffNotice> BackoffNotice::decode(wire::ByteView bytes) {
  if (bytes.size() != kEncodedSize) return make_error_code(backpressure_errc::notice_wrong_length);
  const std::uint64_t cause = get_le(bytes.data() + 8, 4);
  if (cause > static_cast<std::uint32_t>(BackpressureCause::explicit_drop)) {
    return make_error_code(backpressure_errc::notice_unknown_cause);
  }
  return BackoffNotice{get_le(bytes.data(), 8), static_cast<BackpressureCause>(cause),
                       get_le(bytes.data() + 12, 8)};
}

BackpressureTracker::BackpressureTracker(const BackpressureConfig& config)
    : config_(sanitize(config)) {}

bool BackpressureTracker::overloaded(std::size_t len, std::size_t capacity) const noexcept {
  return U128{len} * 100 >= U128{capacity} * config_.high_water_pct;
}

bool BackpressureTracker::relieved(std::size_t len, std::size_t capacity) const noexcept {
  return U128{len} * 100 <= U128{capacity} * config_.low_water_pct;
}

bool BackpressureTracker::silent_expired(const PeerState& s, std::uint64_t now_ns) const noexcept {
  return s.silent && now_ns >= async::saturating_add(s.silent_since_ns, config_.silent_period_ns);
}

BackpressureTracker::PeerState& BackpressureTracker::state_for_write(const wire::PeerId& peer) {
  auto it = peers_.find(peer);
  if (it != peers_.end()) return it->second;
  if (peers_.size() >= config_.max_peers) {
    peers_.erase(std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
      const PeerState& x = a.second;
      const PeerState& y = b.second;
      return std::tuple(x.silent, x.silent ? x.silent_since_ns : x.last_notice_at_ns) <
             std::tuple(y.silent, y.silent ? y.silent_since_ns : y.last_notice_at_ns);
    }));
  }
  return peers_.try_emplace(peer).first->second;
}

BackpressureAction BackpressureTracker::observe_overload(const wire::PeerId& peer,
                                                         BackpressureCause cause,
                                                         std::uint64_t hint_ns,
                                                         std::uint64_t now_ns) {
  using Kind = BackpressureAction::Kind;
  PeerState& s = state_for_write(peer);
  BackpressureAction action;
  action.cause = cause;
  if (silent_expired(s, now_ns)) {
    s = PeerState{};  // the silent period is over: the notice budget starts again
    action.silent_ended = true;
  }
  if (s.silent) {
    action.kind = Kind::silent_drop;
    return action;
  }
  if (s.notices_sent > 0 &&
      now_ns < async::saturating_add(s.last_notice_at_ns, s.last_min_backoff_ns)) {
    action.kind = Kind::suppress;
    return action;
  }
  const std::uint64_t min_backoff = std::max(hint_ns, config_.min_notice_interval_ns);
  if (s.notices_sent != std::numeric_limits<std::uint32_t>::max()) ++s.notices_sent;
  s.last_notice_at_ns = now_ns;
  s.last_min_backoff_ns = min_backoff;
  action.kind = Kind::emit_notice;
  action.min_backoff_ns = min_backoff;
  if (s.notices_sent >= config_.k_before_silent) {
    s.silent = true;
    s.silent_since_ns = now_ns;
    action.silent_now = true;
  }
  return action;
}

bool BackpressureTracker::is_silent(const wire::PeerId& peer, std::uint64_t now_ns) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second.silent && !silent_expired(it->second, now_ns);
}

std::vector<wire::PeerId> BackpressureTracker::observe_relief(std::size_t len,
                                                              std::size_t capacity) {
  std::vector<wire::PeerId> ended;
  if (!relieved(len, capacity)) return ended;
  for (const auto& [peer, s] : peers_) {
    if (s.silent) ended.push_back(peer);
  }
  peers_.clear();
  return ended;
}

std::vector<wire::PeerId> BackpressureTracker::sweep(std::uint64_t now_ns) {
  std::vector<wire::PeerId> ended;
  boost::unordered::erase_if(peers_, [&](const auto& kv) {
    const PeerState& s = kv.second;
    if (s.silent) {
      if (!silent_expired(s, now_ns)) return false;
      ended.push_back(kv.first);
      return true;
    }
    const std::uint64_t quiet = std::max(s.last_min_backoff_ns, config_.silent_period_ns);
    return now_ns >= async::saturating_add(s.last_notice_at_ns, quiet);
  });
  return ended;
}

}  // namespace bb::runtime

#include "bb/wire/connection_manager.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace bb::wire {

namespace ip = boost::asio::ip;

FdBudget fit_to_fd_limit(std::size_t fd_limit, std::size_t max_connections,
                         std::size_t max_pending_inbound, std::size_t max_outbound_dials) {
  FdBudget out{fd_limit, max_connections, max_pending_inbound, max_outbound_dials, false};
  const std::size_t reserve = std::max<std::size_t>(32, fd_limit / 4);
  const std::size_t usable = fd_limit > reserve ? fd_limit - reserve : 0;
  // A pending handshake may hold two descriptors' worth: one running, one waiting behind it.
  const auto needed = [&] {
    return out.max_connections + 2 * out.max_pending_inbound + out.max_outbound_dials;
  };
  if (needed() <= usable) return out;
  out.clamped = true;
  const std::size_t eighth = std::max<std::size_t>(1, usable / 8);
  out.max_pending_inbound = std::min(out.max_pending_inbound, std::max<std::size_t>(1, eighth / 2));
  out.max_outbound_dials = std::min(out.max_outbound_dials, eighth);
  const std::size_t others = 2 * out.max_pending_inbound + out.max_outbound_dials;
  out.max_connections = std::min(out.max_connections,
                                 std::max<std::size_t>(1, usable > others ? usable - others : 0));
  return out;
}

ConnectionManager::ConnectionManager(ConnManagerOptions options, std::size_t max_connections,
                                     std::size_t max_pending, async::Clock& clock)
    : options_(std::move(options)),
      clock_(&clock),
      max_connections_(max_connections),
      max_pending_(std::max<std::size_t>(1, max_pending)),
      high_water_(std::min(options_.high_water, max_connections - max_connections / 8)),
      low_water_(
          std::min({options_.low_water, max_connections - max_connections / 4, high_water_})) {}

ConnectionManager::TimePoint ConnectionManager::time_point(std::uint64_t ns) noexcept {
  // Clamped to the largest representable time point (int64 nanoseconds: ~292 years).
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(ns, kMax)))));
}

ConnectionManager::TimePoint ConnectionManager::now() const noexcept {
  return time_point(clock_->now_ns());
}

ConnectionManager::Admission ConnectionManager::admit(const ip::address& from) {
  return admit(from, now());
}

std::optional<ConnectionManager::HandshakeId> ConnectionManager::evict_for_waiting(
    HandshakeId waiting) {
  return evict_for_waiting(waiting, now());
}

std::vector<ConnectionManager::HandshakeId> ConnectionManager::promote() {
  return promote(now());
}

ConnectionManager::Placement ConnectionManager::place(const PeerId& peer,
                                                      std::optional<ip::address> inbound_from) {
  return place(peer, inbound_from, now());
}

void ConnectionManager::sample(const PeerId& peer, std::uint64_t bytes_received) {
  sample(peer, bytes_received, now());
}

std::vector<PeerId> ConnectionManager::trim() {
  return trim(now());
}

bool ConnectionManager::has_room(std::optional<ip::address> from) const {
  return has_room(now(), from);
}

ip::address ConnectionManager::ip_key(const ip::address& address) {
  if (address.is_v4()) return address;
  const ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, v6);
  // One IPv6 subscriber usually holds a whole /64: count the prefix, not the address.
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), std::uint8_t{0});
  return ip::address_v6(bytes);
}

bool ConnectionManager::is_limited(const ip::address& address) const {
  ip::address plain = address;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    plain = ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return std::find(options_.unlimited_addresses.begin(), options_.unlimited_addresses.end(),
                   plain) == options_.unlimited_addresses.end();
}

void ConnectionManager::release_ip(const ip::address& key) {
  auto it = per_ip_.find(key);
  if (it != per_ip_.end() && it->second.empty()) per_ip_.erase(it);
}

ConnectionManager::Admission ConnectionManager::admit(const ip::address& from, TimePoint now) {
  using Verdict = Admission::Verdict;
  Admission out;
  const ip::address key = ip_key(from);
  const PerIp counts = per_ip_.count(key) ? per_ip_.at(key) : PerIp{};
  if (is_limited(from)) {
    const std::size_t pending = counts.running + counts.waiting;
    if (counts.established + pending >= options_.max_connections_per_ip) {
      ++counters_.refused_ip;
      out.error = make_error_code(errc::ip_connection_limit);
      out.detail = key.to_string() + " already has " +
                   std::to_string(counts.established + pending) +
                   " connections, the most one address may have";
      return out;
    }
    if (pending >= options_.max_pending_per_ip) {
      ++counters_.refused_ip;
      out.error = make_error_code(errc::ip_connection_limit);
      out.detail = key.to_string() + " already has " + std::to_string(pending) +
                   " handshakes in progress, the most one address may have";
      return out;
    }
  }
  if (!has_room(now, from)) {
    ++counters_.refused_connections;
    out.error = make_error_code(errc::connection_limit);
    out.detail = "at most " + std::to_string(max_connections_) +
                 " connections, and none idle long enough to make room";
    return out;
  }

  bool start = running_ < max_pending_;
  if (!start) {
    out.evicted = evict_for(key, counts.running, now);
    start = out.evicted.has_value();
  }
  out.id = next_id_++;
  out.verdict = start ? Verdict::start : Verdict::wait;
  handshakes_.push_back(Handshake{out.id, key, now, start});
  PerIp& mine = per_ip(key);
  if (start) {
    ++mine.running;
    ++running_;
  } else {
    ++mine.waiting;
    ++waiting_;
  }
  return out;
}

std::optional<ConnectionManager::HandshakeId> ConnectionManager::evict_for(
    const ip::address& key, std::size_t newcomer_running, TimePoint now) {
  // Running handshakes per address; the victim is the oldest stuck one of the address with
  // the most, the first met winning ties (handshakes_ is in accept order).
  std::map<ip::address, std::size_t> running_by_ip;
  for (const auto& h : handshakes_) {
    if (h.running) ++running_by_ip[h.key];
  }
  const auto stuck = [&](const Handshake& h) {
    const auto age = now - h.started;
    return h.running && ((!h.first_message && age >= options_.evictable_after) ||
                         age >= options_.first_message_timeout);
  };
  auto victim = handshakes_.end();
  std::size_t most = 0;
  for (auto it = handshakes_.begin(); it != handshakes_.end(); ++it) {
    if (!stuck(*it) || it->key == key) continue;
    const std::size_t n = running_by_ip[it->key];
    if (n > most) {
      most = n;
      victim = it;
    }
  }
  if (victim == handshakes_.end() || most <= newcomer_running) return std::nullopt;
  // The victim's slot goes to the newcomer now; the Host reports the victim's end later.
  const HandshakeId id = victim->id;
  const ip::address victim_key = victim->key;
  --per_ip(victim_key).running;
  --running_;
  handshakes_.erase(victim);
  release_ip(victim_key);
  ++counters_.evicted;
  return id;
}

std::optional<ConnectionManager::HandshakeId> ConnectionManager::evict_for_waiting(
    HandshakeId waiting, TimePoint now) {
  auto it = std::find_if(handshakes_.begin(), handshakes_.end(),
                         [waiting](const Handshake& h) { return h.id == waiting; });
  if (it == handshakes_.end() || it->running) return std::nullopt;
  const ip::address key = it->key;
  auto victim = evict_for(key, per_ip(key).running, now);
  if (!victim) return std::nullopt;
  it->running = true;
  it->started = now;
  --per_ip(key).waiting;
  ++per_ip(key).running;
  --waiting_;
  ++running_;
  return victim;
}

bool ConnectionManager::accepting() const noexcept {
  return waiting_ < max_pending_;
}

std::vector<ConnectionManager::HandshakeId> ConnectionManager::promote(TimePoint now) {
  std::vector<HandshakeId> out;
  for (auto& h : handshakes_) {
    if (running_ >= max_pending_) break;
    if (h.running) continue;
    h.running = true;
    h.started = now;
    PerIp& counts = per_ip(h.key);
    --counts.waiting;
    ++counts.running;
    --waiting_;
    ++running_;
    out.push_back(h.id);
  }
  return out;
}

void ConnectionManager::first_message(HandshakeId id) {
  auto it = std::find_if(handshakes_.begin(), handshakes_.end(),
                         [id](const Handshake& h) { return h.id == id; });
  if (it != handshakes_.end()) it->first_message = true;
}

void ConnectionManager::handshake_ended(HandshakeId id) {
  auto it = std::find_if(handshakes_.begin(), handshakes_.end(),
                         [id](const Handshake& h) { return h.id == id; });
  if (it == handshakes_.end()) return;
  PerIp& counts = per_ip(it->key);
  if (it->running) {
    --counts.running;
    --running_;
  } else {
    --counts.waiting;
    --waiting_;
  }
  const ip::address key = it->key;
  handshakes_.erase(it);
  release_ip(key);
}

void ConnectionManager::count_refusal(boost::system::error_code why) {
  if (why == errc::pending_connection_limit) {
    ++counters_.refused_pending;
  } else if (why == errc::handshake_timeout) {
    ++counters_.first_message_timeouts;
  } else if (why == errc::connection_limit) {
    ++counters_.refused_connections;
  }
}

bool ConnectionManager::displaceable(const PeerId& peer, const Established& c,
                                     TimePoint now) const {
  return now - c.since >= options_.grace_period && now - c.idle_since() >= options_.idle_after &&
         !is_protected(peer);
}

std::optional<PeerId> ConnectionManager::most_idle_displaceable(TimePoint now) const {
  std::optional<PeerId> best;
  TimePoint best_idle{};
  for (const auto& [peer, c] : established_) {
    if (!displaceable(peer, c, now)) continue;
    if (!best || c.idle_since() < best_idle) {
      best = peer;
      best_idle = c.idle_since();
    }
  }
  return best;
}

std::size_t ConnectionManager::inbound_count(const ip::address& key) const {
  auto it = per_ip_.find(key);
  return it == per_ip_.end() ? 0 : it->second.established;
}

std::optional<PeerId> ConnectionManager::crowded_victim(std::size_t newcomer_count,
                                                        TimePoint now) const {
  std::optional<PeerId> best;
  std::size_t best_count = 0;
  TimePoint best_idle{};
  for (const auto& [peer, c] : established_) {
    if (!c.inbound_key || is_protected(peer)) continue;
    if (c.last_active && now - *c.last_active < options_.idle_after) continue;
    // Crowded: more than one connection, and more than the newcomer's address has. An address
    // with one connection crowds nobody: displacing it for another would only churn.
    const std::size_t count = inbound_count(*c.inbound_key);
    if (count < 2 || count <= newcomer_count) continue;
    if (!best || count > best_count || (count == best_count && c.idle_since() < best_idle)) {
      best = peer;
      best_count = count;
      best_idle = c.idle_since();
    }
  }
  return best;
}

std::optional<PeerId> ConnectionManager::victim_for(std::optional<ip::address> from,
                                                    TimePoint now) const {
  if (auto idle = most_idle_displaceable(now)) return idle;
  return crowded_victim(from ? inbound_count(ip_key(*from)) : 0, now);
}

bool ConnectionManager::has_room(TimePoint now, std::optional<ip::address> from) const {
  return established_.size() < max_connections_ || victim_for(from, now).has_value();
}

void ConnectionManager::forget_established(std::unordered_map<PeerId, Established>::iterator it) {
  if (it->second.inbound_key) {
    const ip::address key = *it->second.inbound_key;
    --per_ip(key).established;
    release_ip(key);
  }
  established_.erase(it);
}

ConnectionManager::Placement ConnectionManager::place(const PeerId& peer,
                                                      std::optional<ip::address> inbound_from,
                                                      TimePoint now) {
  Placement out;
  if (established_.count(peer)) {
    reassign(peer, inbound_from);
    out.admitted = true;
    return out;
  }
  if (established_.size() >= max_connections_) {
    out.displaced = victim_for(inbound_from, now);
    if (!out.displaced) {
      ++counters_.refused_connections;
      out.error = make_error_code(errc::connection_limit);
      out.detail = "at most " + std::to_string(max_connections_) +
                   " connections, and none idle long enough to make room";
      return out;
    }
    ++counters_.trimmed;
    forget_established(established_.find(*out.displaced));
  }
  Established c;
  if (inbound_from) {
    c.inbound_key = ip_key(*inbound_from);
    ++per_ip(*c.inbound_key).established;
  }
  c.since = now;
  established_.emplace(peer, c);
  out.admitted = true;
  return out;
}

void ConnectionManager::reassign(const PeerId& peer, std::optional<ip::address> inbound_from) {
  auto it = established_.find(peer);
  if (it == established_.end()) return;
  if (it->second.inbound_key) {
    const ip::address old = *it->second.inbound_key;
    --per_ip(old).established;
    release_ip(old);
  }
  it->second.inbound_key.reset();
  if (inbound_from) {
    it->second.inbound_key = ip_key(*inbound_from);
    ++per_ip(*it->second.inbound_key).established;
  }
  // The new connection's byte counters start again from zero.
  it->second.last_bytes = 0;
}

void ConnectionManager::closed(const PeerId& peer) {
  auto it = established_.find(peer);
  if (it != established_.end()) forget_established(it);
}

void ConnectionManager::sample(const PeerId& peer, std::uint64_t bytes_received, TimePoint now) {
  auto it = established_.find(peer);
  if (it == established_.end()) return;
  Established& c = it->second;
  if (bytes_received >= c.last_bytes && bytes_received - c.last_bytes > options_.activity_bytes) {
    c.last_active = now;
  }
  c.last_bytes = bytes_received;
}

std::vector<PeerId> ConnectionManager::trim(TimePoint now) {
  std::vector<PeerId> out;
  if (established_.size() <= high_water_) return out;
  std::vector<std::pair<TimePoint, PeerId>> candidates;
  for (const auto& [peer, c] : established_) {
    if (displaceable(peer, c, now)) candidates.emplace_back(c.idle_since(), peer);
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [active, peer] : candidates) {
    if (established_.size() <= low_water_) break;
    forget_established(established_.find(peer));
    ++counters_.trimmed;
    out.push_back(std::move(peer));
  }
  return out;
}

bool ConnectionManager::begin_dial() {
  if (dials_ >= options_.max_outbound_dials) {
    ++counters_.refused_dials;
    return false;
  }
  ++dials_;
  return true;
}

void ConnectionManager::end_dial() {
  if (dials_ > 0) --dials_;
}

void ConnectionManager::protect(const PeerId& peer, std::string_view tag) {
  protected_[peer].emplace(tag);
}

bool ConnectionManager::unprotect(const PeerId& peer, std::string_view tag) {
  auto it = protected_.find(peer);
  if (it == protected_.end()) return false;
  if (auto t = it->second.find(tag); t != it->second.end()) it->second.erase(t);
  if (it->second.empty()) {
    protected_.erase(it);
    return false;
  }
  return true;
}

bool ConnectionManager::is_protected(const PeerId& peer) const {
  return protected_.count(peer) > 0;
}

ConnManagerStats ConnectionManager::stats() const {
  ConnManagerStats out = counters_;
  out.connections = established_.size();
  out.handshakes_running = running_;
  out.handshakes_waiting = waiting_;
  out.dials = dials_;
  return out;
}

}  // namespace bb::wire

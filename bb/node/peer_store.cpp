#include "bb/node/peer_store.hpp"

#include "bb/proto/peerstore.pb.h"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>

namespace bb::node {

namespace {

constexpr std::uint32_t kFileVersion = 1;

// Higher is better.
int rank(AddressSource s) {
  switch (s) {
    case AddressSource::named: return 5;
    case AddressSource::identify: return 4;
    case AddressSource::envelope: return 3;
    case AddressSource::dht: return 2;
    case AddressSource::inbound: return 1;
    case AddressSource::loaded: return 0;
  }
  return 0;
}

bool expired(const StoredAddress& a, std::uint64_t now) {
  return a.expires_ns != 0 && a.expires_ns <= now;
}

// The later of two expiries, 0 being "never".
std::uint64_t later(std::uint64_t a, std::uint64_t b) {
  return a == 0 || b == 0 ? 0 : std::max(a, b);
}

// Worse first: lower rank, then sooner expiry.
bool worse(const StoredAddress& a, const StoredAddress& b) {
  if (rank(a.source) != rank(b.source)) return rank(a.source) < rank(b.source);
  const auto ea = a.expires_ns == 0 ? UINT64_MAX : a.expires_ns;
  const auto eb = b.expires_ns == 0 ? UINT64_MAX : b.expires_ns;
  return ea < eb;
}

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

boost::system::error_code io_error(int value) {
  return {value != 0 ? value : EIO, boost::system::generic_category()};
}

class PeerStoreCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.node.peer_store"; }
  std::string message(int ev) const override {
    switch (static_cast<peer_store_errc>(ev)) {
      case peer_store_errc::file_too_large:
        return "peer store file exceeds the " + std::to_string(PeerStore::kMaxFileBytes >> 20) +
               " MiB limit";
      case peer_store_errc::corrupt_file:
        return "peer store file is corrupt (not a peer store, or a record does not decode)";
      case peer_store_errc::unsupported_version:
        return "peer store file was written by a later version of the format";
    }
    return "unknown peer store error";
  }
};

}  // namespace

std::string_view to_string(AddressSource s) noexcept {
  switch (s) {
    case AddressSource::named: return "named";
    case AddressSource::identify: return "identify";
    case AddressSource::dht: return "dht";
    case AddressSource::envelope: return "envelope";
    case AddressSource::inbound: return "inbound";
    case AddressSource::loaded: return "loaded";
  }
  return "unknown";
}

const boost::system::error_category& peer_store_category() noexcept {
  static const PeerStoreCategory category;
  return category;
}

PeerStore::PeerStore(PeerStoreOptions options, async::Clock& clock)
    : options_(options), clock_(clock) {
  if (options_.capacity == 0) options_.capacity = 1;
  if (options_.max_addresses_per_peer == 0) options_.max_addresses_per_peer = 1;
}

std::uint64_t PeerStore::ttl_ns(AddressSource source) const {
  switch (source) {
    case AddressSource::named: return 0;
    case AddressSource::identify:
    case AddressSource::loaded: return async::to_ns(options_.identify_ttl);
    case AddressSource::dht: return async::to_ns(options_.dht_ttl);
    case AddressSource::envelope: return async::to_ns(options_.envelope_ttl);
    case AddressSource::inbound: return async::to_ns(options_.inbound_ttl);
  }
  return 0;
}

void PeerStore::erase(const wire::PeerId& peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  (it->second.useful ? useful_ : fresh_).erase(it->second.pos);
  if (!it->second.named) --learned_;
  peers_.erase(it);
}

// Room for one more learned peer: the oldest never-useful one goes, else the least recently
// useful one. Named peers stay.
void PeerStore::make_room() {
  while (learned_ >= options_.capacity) {
    const wire::PeerId* victim = nullptr;
    for (auto* list : {&fresh_, &useful_}) {
      for (auto it = list->rbegin(); it != list->rend() && victim == nullptr; ++it) {
        if (!peers_.at(*it).named) victim = &*it;
      }
      if (victim != nullptr) break;
    }
    if (victim == nullptr) return;
    const wire::PeerId copy = *victim;
    erase(copy);
  }
}

PeerStore::Entry& PeerStore::ensure(const wire::PeerId& peer, bool named) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (!named) make_room();
    it = peers_.try_emplace(peer).first;
    fresh_.push_front(peer);
    it->second.pos = fresh_.begin();
    it->second.named = named;
    if (!named) ++learned_;
  }
  Entry& e = it->second;
  if (named && !e.named) {
    e.named = true;
    --learned_;
  }
  return e;
}

void PeerStore::add(const wire::PeerId& peer, wire::Multiaddr full, AddressSource source,
                    std::uint64_t expires_ns) {
  Entry& e = ensure(peer, source == AddressSource::named);
  const auto t = now();
  std::erase_if(e.addresses, [t](const StoredAddress& a) { return expired(a, t); });
  for (auto& a : e.addresses) {
    if (a.addr != full) continue;
    a.expires_ns = later(a.expires_ns, expires_ns);
    if (rank(source) > rank(a.source)) a.source = source;
    return;
  }
  StoredAddress fresh{std::move(full), source, expires_ns};
  if (e.addresses.size() >= options_.max_addresses_per_peer) {
    auto worst = std::min_element(e.addresses.begin(), e.addresses.end(), worse);
    if (worse(fresh, *worst)) return;
    e.addresses.erase(worst);
  }
  e.addresses.push_back(std::move(fresh));
}

void PeerStore::add_address(const wire::PeerId& peer, const wire::Multiaddr& addr,
                            AddressSource source, std::chrono::nanoseconds ttl) {
  if (!addr.tcp_port()) return;  // only dialable transport addresses
  if (auto other = addr.peer_id(); other && *other != peer) return;
  auto full = addr.with_peer_id(peer);
  if (full.bytes().size() > wire::Multiaddr::kMaxBytes) return;
  std::uint64_t expires = 0;
  if (source != AddressSource::named) {
    const std::uint64_t span = ttl.count() > 0 ? async::to_ns(ttl) : ttl_ns(source);
    expires = std::max<std::uint64_t>(async::saturating_add(now(), span), 1);
  }
  add(peer, std::move(full), source, expires);
}

std::vector<wire::Multiaddr> PeerStore::addresses(const wire::PeerId& peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return {};
  std::vector<const StoredAddress*> live;
  const auto t = now();
  for (const auto& a : it->second.addresses) {
    if (!expired(a, t)) live.push_back(&a);
  }
  std::stable_sort(live.begin(), live.end(),
                   [](const StoredAddress* a, const StoredAddress* b) { return worse(*b, *a); });
  std::vector<wire::Multiaddr> out;
  out.reserve(live.size());
  for (const auto* a : live) out.push_back(a->addr);
  return out;
}

bool PeerStore::knows(const wire::PeerId& peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return false;
  const auto t = now();
  return std::any_of(it->second.addresses.begin(), it->second.addresses.end(),
                     [t](const StoredAddress& a) { return !expired(a, t); });
}

void PeerStore::set_identify(const wire::PeerId& peer, std::vector<std::string> protocols,
                             std::string agent_version) {
  Entry& e = ensure(peer, false);
  e.protocols.clear();
  for (auto& p : protocols) {
    if (e.protocols.size() >= kMaxProtocols) break;
    if (p.size() <= kMaxProtocolChars) e.protocols.push_back(std::move(p));
  }
  if (agent_version.size() > kMaxAgentChars) agent_version.resize(kMaxAgentChars);
  e.agent_version = std::move(agent_version);
}

std::optional<PeerInfo> PeerStore::info(const wire::PeerId& peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return std::nullopt;
  const Entry& e = it->second;
  PeerInfo out{peer, {}, e.protocols, e.agent_version, e.last_useful_ns, e.named};
  const auto t = now();
  for (const auto& a : e.addresses) {
    if (!expired(a, t)) out.addresses.push_back(a);
  }
  std::stable_sort(out.addresses.begin(), out.addresses.end(),
                   [](const StoredAddress& a, const StoredAddress& b) { return worse(b, a); });
  return out;
}

void PeerStore::mark_useful(const wire::PeerId& peer) {
  Entry& e = ensure(peer, false);
  e.last_useful_ns = now();
  (e.useful ? useful_ : fresh_).erase(e.pos);
  useful_.push_front(peer);
  e.pos = useful_.begin();
  e.useful = true;
}

std::vector<wire::PeerId> PeerStore::peers() const {
  std::vector<wire::PeerId> out;
  out.reserve(peers_.size());
  out.insert(out.end(), useful_.begin(), useful_.end());
  out.insert(out.end(), fresh_.begin(), fresh_.end());
  return out;
}

void PeerStore::extend(const wire::PeerId& peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  const auto t = now();
  for (auto& a : it->second.addresses) {
    if (a.expires_ns == 0 || expired(a, t)) continue;
    a.expires_ns = std::max(a.expires_ns, async::saturating_add(t, ttl_ns(a.source)));
  }
}

std::size_t PeerStore::sweep(const std::function<bool(const wire::PeerId&)>& keep) {
  const auto t = now();
  std::size_t dropped = 0;
  std::vector<wire::PeerId> empty;
  for (auto& [peer, e] : peers_) {
    dropped += std::erase_if(e.addresses, [t](const StoredAddress& a) { return expired(a, t); });
    if (e.addresses.empty() && !e.named && !(keep && keep(peer))) empty.push_back(peer);
  }
  for (const auto& peer : empty) erase(peer);
  return dropped;
}

boost::system::result<void> PeerStore::save(const std::filesystem::path& file) const {
  peerstore::PeerStoreFile out;
  out.set_version(kFileVersion);
  const auto t = now();
  const auto wall = wall_ms();
  for (const auto& peer : peers()) {
    const Entry& e = peers_.at(peer);
    auto* rec = out.add_peers();
    rec->set_peer(std::string(wire::as_chars(peer.bytes())));
    for (const auto& a : e.addresses) {
      if (expired(a, t)) continue;
      auto* sa = rec->add_addresses();
      sa->set_addr(std::string(wire::as_chars(a.addr.bytes())));
      sa->set_source(static_cast<std::uint32_t>(a.source));
      // Remaining lifetime, rounded up to a millisecond so that it does not read as "never".
      if (a.expires_ns != 0) sa->set_expires_unix_ms(wall + (a.expires_ns - t) / 1'000'000 + 1);
    }
    for (const auto& p : e.protocols) rec->add_protocols(p);
    rec->set_agent_version(e.agent_version);
    rec->set_named(e.named);
    rec->set_useful(e.useful);
  }
  const std::string bytes = out.SerializeAsString();
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return io_error(errno);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) return io_error(errno);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) return io_error(ec.value());
  return {};
}

boost::system::result<std::size_t> PeerStore::load(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return std::size_t{0};
    return io_error(ec.value());
  }
  if (size > kMaxFileBytes) return make_error_code(peer_store_errc::file_too_large);
  std::ifstream f(file, std::ios::binary);
  if (!f) return io_error(errno);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() > kMaxFileBytes) return make_error_code(peer_store_errc::file_too_large);
  peerstore::PeerStoreFile in;
  if (!in.ParseFromString(bytes)) return make_error_code(peer_store_errc::corrupt_file);
  if (in.version() > kFileVersion) return make_error_code(peer_store_errc::unsupported_version);
  if (in.version() == 0) return make_error_code(peer_store_errc::corrupt_file);

  // Everything is decoded before anything is taken: a bad record loads nothing.
  struct Loaded {
    wire::PeerId peer;
    std::vector<std::pair<wire::Multiaddr, std::uint64_t>> addresses;  // expires (unix ms)
    const peerstore::PeerRecord* record;
  };
  std::vector<Loaded> loaded;
  loaded.reserve(static_cast<std::size_t>(in.peers_size()));
  for (const auto& rec : in.peers()) {
    auto peer = wire::PeerId::from_bytes(wire::as_bytes(rec.peer()));
    if (!peer) return make_error_code(peer_store_errc::corrupt_file);
    Loaded l{*peer, {}, &rec};
    for (const auto& sa : rec.addresses()) {
      auto addr = wire::Multiaddr::from_bytes(wire::as_bytes(sa.addr()));
      if (!addr || sa.source() > static_cast<std::uint32_t>(AddressSource::loaded)) {
        return make_error_code(peer_store_errc::corrupt_file);
      }
      l.addresses.emplace_back(std::move(*addr), sa.expires_unix_ms());
    }
    loaded.push_back(std::move(l));
  }

  const auto wall = wall_ms();
  const auto t = now();
  std::size_t taken = 0;
  for (auto& l : loaded) {
    const bool named = l.record->named();
    const bool known = peers_.contains(l.peer);
    if (!named && !known && learned_ >= options_.capacity) continue;  // full: the rest wait
    std::vector<std::pair<wire::Multiaddr, std::uint64_t>> live;
    for (auto& [addr, expires_ms] : l.addresses) {
      if (expires_ms != 0 && expires_ms <= wall) continue;
      if (!addr.tcp_port() || addr.peer_id() != l.peer) continue;
      const std::uint64_t expires =
          expires_ms == 0 ? 0 : async::saturating_add(t, (expires_ms - wall) * 1'000'000);
      live.emplace_back(std::move(addr), expires);
    }
    if (live.empty() && !named) continue;
    Entry& e = ensure(l.peer, named);
    for (auto& [addr, expires] : live) {
      if (e.addresses.size() >= options_.max_addresses_per_peer) break;
      add(l.peer, std::move(addr), AddressSource::loaded, expires);
    }
    if (e.protocols.empty() && e.agent_version.empty()) {
      std::vector<std::string> protocols(l.record->protocols().begin(),
                                         l.record->protocols().end());
      set_identify(l.peer, std::move(protocols), l.record->agent_version());
    }
    if (!known && l.record->useful()) {  // after the useful peers we have, in the file's order
      fresh_.erase(e.pos);
      useful_.push_back(l.peer);
      e.pos = std::prev(useful_.end());
      e.useful = true;
    }
    ++taken;
  }
  return taken;
}

}  // namespace bb::node

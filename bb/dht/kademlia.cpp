#include "bb/dht/kademlia.hpp"

#include "bb/dht/detail/service.hpp"
#include "bb/dht/error.hpp"
#include "bb/wire/address_scope.hpp"

#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace bb::dht {

namespace asio = boost::asio;

namespace {

constexpr std::uint64_t kP2pCode = 0x01a5;

std::uint64_t ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())) * 1'000'000ULL;
}

}  // namespace

std::string_view to_string(Mode mode) noexcept {
  switch (mode) {
    case Mode::client: return "client";
    case Mode::server: return "server";
    case Mode::automatic: return "auto";
  }
  return "?";
}

Kademlia::Impl::Impl(node::Node& n, KademliaOptions o)
    : node(n),
      options(std::move(o)),
      core(n.peer_id(), options.k, options.providers, options.records),
      tasks(n.executor()),
      serve_done(n.executor()) {}

Kademlia::Kademlia(node::Node& node, KademliaOptions options)
    : impl_(std::make_shared<Impl>(node, std::move(options))) {}

Kademlia::~Kademlia() {
  if (impl_) {
    impl_->stopped = true;
    impl_->tasks.cancel_all();
  }
}

// --- addresses ------------------------------------------------------------------------------

std::vector<wire::Multiaddr> Kademlia::Impl::known_addrs(const wire::PeerId& peer) const {
  if (peer == node.peer_id()) return node.host().advertised_addrs();
  return node.peer_store().addresses(peer);
}

std::vector<wire::Multiaddr> Kademlia::Impl::addrs_for(const wire::PeerId& peer,
                                                       const wire::Multiaddr* asker_addr) const {
  std::vector<wire::Multiaddr> out;
  for (const auto& a : known_addrs(peer)) {
    if (out.size() >= options.max_addrs_per_peer) break;
    auto bare = a.decapsulate_code(kP2pCode);
    if (!bare.tcp_port()) continue;
    // Loopback only to a loopback asker, private ranges only to private ones.
    if (asker_addr && !wire::shareable_with(bare, *asker_addr)) continue;
    if (std::find(out.begin(), out.end(), bare) == out.end()) out.push_back(std::move(bare));
  }
  return out;
}

void Kademlia::Impl::learn(const PeerEntry& entry) {
  if (entry.id == node.peer_id()) return;
  std::size_t n = 0;
  for (const auto& a : entry.addrs) {
    if (n++ >= options.max_addrs_per_peer) break;
    if (!a.tcp_port()) continue;
    if (auto other = a.peer_id(); other && *other != entry.id) continue;
    node.peer_store().add_address(entry.id, a, node::AddressSource::dht);
  }
}

// --- the Host's events -------------------------------------------------------------------------

void Kademlia::Impl::on_host_event(const wire::HostEvent& e) {
  if (stopped) return;
  if (const auto* id = std::get_if<wire::PeerIdentified>(&e)) {
    const auto& protos = id->info.protocols;
    const bool serves = std::find(protos.begin(), protos.end(), options.protocol) != protos.end();
    if (serves) {
      if (!is_held(id->peer)) core.table().add(id->peer, now());
    } else {
      core.table().remove(id->peer);  // it stopped serving (a push), or never did
    }
  }
}

void Kademlia::Impl::hold(const wire::PeerId& peer) {
  const std::uint64_t t = now();
  if (held.size() >= kMaxHeldPeers && !held.contains(peer)) {
    std::erase_if(held, [t](const auto& entry) { return entry.second <= t; });
    if (held.size() >= kMaxHeldPeers) return;  // full of fresh holds: this one goes unheld
  }
  held[peer] = t + ns(options.failed_peer_hold);
}

bool Kademlia::Impl::is_held(const wire::PeerId& peer) {
  const auto it = held.find(peer);
  if (it == held.end()) return false;
  if (it->second > now()) return true;
  held.erase(it);
  return false;
}

// --- lookups ---------------------------------------------------------------------------------

Ask Kademlia::Impl::asker() {
  return [weak = weak_from_this()](const wire::PeerId& peer,
                                   const Message& request) -> asio::awaitable<Result<Message>> {
    auto self = weak.lock();
    if (!self || self->stopped) co_return make_error_code(errc::stopped);
    co_return co_await self->ask(peer, request);
  };
}

std::vector<wire::PeerId> Kademlia::Impl::seeds(const Key& target) const {
  return core.table().closest(target, options.k);
}

asio::awaitable<bool> Kademlia::Impl::run(Lookup& lookup, const Message& request,
                                          DriveHooks hooks) {
  auto user_answer = std::move(hooks.on_answer);
  hooks.on_answer = [this, user_answer](const wire::PeerId& from, const Message& answer) {
    // A peer that answered serves the DHT: it earns (or keeps) its table slot; the peers it
    // named are remembered with their addresses, not trusted with a slot before they answer.
    held.erase(from);
    core.table().add(from, now());
    for (const auto& e : answer.closer_peers) learn(e);
    return user_answer ? user_answer(from, answer) : false;
  };
  auto user_failure = std::move(hooks.on_failure);
  hooks.on_failure = [this, user_failure](const wire::PeerId& peer) {
    core.table().remove(peer);
    hold(peer);
    if (user_failure) user_failure(peer);
  };
  core.table().mark_refreshed(lookup.target(), now());
  const bool ended = co_await drive(lookup, request, asker(), hooks, node.clock(),
                                    ns(options.lookup_timeout), tasks);
  co_return ended;
}

namespace {

Lookup::Options lookup_options(const KademliaOptions& o) {
  return Lookup::Options{o.k, o.alpha, o.max_hops};
}

void fill_stats(LookupStats* stats, const Lookup& lookup, bool ended) {
  if (!stats) return;
  stats->hops = lookup.hops();
  stats->queried = lookup.queried();
  stats->answered = lookup.answered();
  stats->failed = lookup.failed();
  stats->timed_out = !ended;
}

}  // namespace

asio::awaitable<Result<std::vector<PeerAddrs>>> Kademlia::closest_peers(wire::Bytes key,
                                                                        LookupStats* stats) {
  auto& s = *impl_;
  if (s.stopped) co_return make_error_code(errc::stopped);
  const Key target = Key::of(key);
  auto seeds = s.seeds(target);
  if (seeds.empty()) co_return make_error_code(errc::no_peers);
  Lookup lookup(target, s.node.peer_id(), seeds, lookup_options(s.options));
  Message request;
  request.type = MessageType::find_node;
  request.key = key;
  const bool ended = co_await s.run(lookup, request, {});
  fill_stats(stats, lookup, ended);
  std::vector<PeerAddrs> out;
  for (const auto& p : lookup.closest()) out.push_back(PeerAddrs{p, s.known_addrs(p)});
  if (out.empty()) co_return make_error_code(ended ? errc::not_found : errc::timeout);
  co_return out;
}

asio::awaitable<Result<PeerAddrs>> Kademlia::find_peer(const wire::PeerId& peer,
                                                       LookupStats* stats) {
  co_return co_await impl_->find_peer(peer, stats);
}

asio::awaitable<Result<PeerAddrs>> Kademlia::Impl::find_peer(const wire::PeerId& peer,
                                                             LookupStats* stats) {
  auto& s = *this;
  if (s.stopped) co_return make_error_code(errc::stopped);
  if (peer == s.node.peer_id()) co_return PeerAddrs{peer, s.node.listen_addrs()};
  const Key target = Key::of(peer);
  auto seeds = s.seeds(target);
  if (seeds.empty()) {
    if (auto known = s.known_addrs(peer); !known.empty()) co_return PeerAddrs{peer, known};
    co_return make_error_code(errc::no_peers);
  }
  Lookup lookup(target, s.node.peer_id(), seeds, lookup_options(s.options));
  Message request;
  request.type = MessageType::find_node;
  request.key.assign(peer.bytes().begin(), peer.bytes().end());
  std::vector<wire::Multiaddr> found;
  DriveHooks hooks;
  hooks.on_answer = [&](const wire::PeerId& from, const Message& answer) {
    if (from == peer) {
      found = s.known_addrs(peer);
      return true;
    }
    for (const auto& e : answer.closer_peers) {
      if (e.id == peer && !e.addrs.empty()) {
        found = e.addrs;
        return true;
      }
    }
    return false;
  };
  const bool ended = co_await s.run(lookup, request, std::move(hooks));
  fill_stats(stats, lookup, ended);
  if (found.empty()) {
    // Someone we are connected to, or know from elsewhere, is still an answer.
    if (auto known = s.known_addrs(peer); !known.empty()) co_return PeerAddrs{peer, known};
    co_return make_error_code(ended ? errc::not_found : errc::timeout);
  }
  co_return PeerAddrs{peer, std::move(found)};
}

asio::awaitable<Result<std::vector<PeerAddrs>>> Kademlia::find_providers(const Cid& cid,
                                                                         std::size_t count,
                                                                         LookupStats* stats) {
  auto& s = *impl_;
  if (s.stopped) co_return make_error_code(errc::stopped);
  const wire::ByteView key = cid.key();
  std::vector<PeerAddrs> out;
  auto add = [&](const wire::PeerId& p, std::vector<wire::Multiaddr> addrs) {
    for (auto& have : out) {
      if (have.peer == p) {
        for (auto& a : addrs)
          if (std::find(have.addrs.begin(), have.addrs.end(), a) == have.addrs.end())
            have.addrs.push_back(std::move(a));
        return;
      }
    }
    if (out.size() < count) out.push_back(PeerAddrs{p, std::move(addrs)});
  };
  for (const auto& p : s.core.providers().get(key, s.now(), count)) add(p, s.known_addrs(p));
  const Key target = Key::of(key);
  auto seeds = s.seeds(target);
  if (seeds.empty()) {
    if (!out.empty()) co_return out;
    co_return make_error_code(errc::no_peers);
  }
  Lookup lookup(target, s.node.peer_id(), seeds, lookup_options(s.options));
  Message request;
  request.type = MessageType::get_providers;
  request.key.assign(key.begin(), key.end());
  DriveHooks hooks;
  hooks.on_answer = [&](const wire::PeerId&, const Message& answer) {
    for (const auto& e : answer.provider_peers) {
      s.learn(e);
      add(e.id, e.addrs.empty() ? s.known_addrs(e.id) : e.addrs);
    }
    return out.size() >= count;
  };
  const bool ended = co_await s.run(lookup, request, std::move(hooks));
  fill_stats(stats, lookup, ended);
  if (out.empty()) co_return make_error_code(ended ? errc::not_found : errc::timeout);
  co_return out;
}

asio::awaitable<std::size_t> Kademlia::Impl::announce(const Cid& cid) {
  const wire::ByteView key = cid.key();
  (void)core.providers().add(key, node.peer_id(), now());
  const Key target = Key::of(key);
  auto seeds_now = seeds(target);
  if (seeds_now.empty()) co_return 0;
  Lookup lookup(target, node.peer_id(), seeds_now, lookup_options(options));
  Message find;
  find.type = MessageType::find_node;
  find.key.assign(key.begin(), key.end());
  (void)co_await run(lookup, find, {});
  std::vector<std::pair<wire::PeerId, Message>> adds;
  for (const auto& p : lookup.closest()) {
    // Our addresses as this peer may use them (no loopback to a peer outside it, and so on).
    const auto conn = node.host().connection(p);
    const wire::Multiaddr remote = conn ? conn->remote_addr() : wire::Multiaddr();
    Message add;
    add.type = MessageType::add_provider;
    add.key.assign(key.begin(), key.end());
    add.provider_peers.push_back(PeerEntry{node.peer_id(),
                                           addrs_for(node.peer_id(), conn ? &remote : nullptr),
                                           Connectedness::connected});
    adds.emplace_back(p, std::move(add));
  }
  const Accept sent = [](const Result<Message>& r) { return r.has_value(); };
  const std::size_t took = co_await ask_all(std::move(adds), sent);
  co_return took;
}

asio::awaitable<Result<std::size_t>> Kademlia::provide(const Cid& cid) {
  auto& s = *impl_;
  if (s.stopped) co_return make_error_code(errc::stopped);
  const wire::Bytes key(cid.key().begin(), cid.key().end());
  s.providing[key] = Impl::Provided{cid, s.now()};
  const std::size_t took = co_await s.announce(cid);
  if (took == 0 && s.core.table().size() == 0) co_return make_error_code(errc::no_peers);
  co_return took;
}

void Kademlia::stop_providing(const Cid& cid) {
  impl_->providing.erase(wire::Bytes(cid.key().begin(), cid.key().end()));
}

}  // namespace bb::dht

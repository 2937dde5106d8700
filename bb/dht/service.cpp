// The Kademlia service's life (start, bootstrap, upkeep, stop) and value records.
#include "bb/dht/detail/service.hpp"
#include "bb/dht/error.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace bb::dht {

namespace asio = boost::asio;

namespace {

std::uint64_t ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())) * 1'000'000ULL;
}

}  // namespace

void Kademlia::start() {
  auto& s = *impl_;
  if (s.started || s.stopped) return;
  s.started = true;
  s.mode = s.options.mode;
  if (s.mode == Mode::automatic) {
    s.mode = s.node.listen_addrs().empty() ? Mode::client : Mode::server;
  }
  if (s.mode == Mode::server) {
    s.node.host().set_handler(s.options.protocol, [weak = std::weak_ptr<Impl>(impl_)](
                                                      wire::Connection conn, wire::Stream stream) {
      return Impl::serve_stream(weak.lock(), std::move(conn), std::move(stream));
    });
  }
  // The Node keeps its observers: this one outlives us, and then does nothing.
  s.node.observe_host([weak = std::weak_ptr<Impl>(impl_)](const wire::HostEvent& e) {
    if (auto impl = weak.lock()) impl->on_host_event(e);
  });
  // Peers the DHT asks when someone wants a peer it knows only by its PeerId.
  s.node.set_peer_router([weak = std::weak_ptr<Impl>(impl_)](const wire::PeerId& peer)
                             -> asio::awaitable<std::vector<wire::Multiaddr>> {
    auto impl = weak.lock();
    if (!impl || impl->stopped) co_return std::vector<wire::Multiaddr>{};
    Kademlia::Impl& self = *impl;
    auto found = co_await self.find_peer(peer, nullptr);
    if (!found) co_return std::vector<wire::Multiaddr>{};
    co_return std::move(found->addrs);
  });
  // The peers of an earlier run (the peer store's file) that served the DHT: a restarted node
  // finds the network again through them, without a bootstrap list.
  for (const auto& peer : s.node.peer_store().peers()) {
    if (s.core.table().size() >= s.options.k * 4) break;
    auto info = s.node.peer_store().info(peer);
    if (!info || info->addresses.empty()) continue;
    if (std::find(info->protocols.begin(), info->protocols.end(), s.options.protocol) !=
        info->protocols.end())
      s.core.table().add(peer, s.now());
  }
  if (s.core.table().size() > 0) s.tasks.spawn(s.join({}), "dht join");
  s.tasks.spawn(s.upkeep_loop(), "dht upkeep");
}

asio::awaitable<void> Kademlia::stop() {
  auto& s = *impl_;
  if (s.stopped) co_return;
  s.stopped = true;
  if (s.started && s.mode == Mode::server) s.node.host().remove_handler(s.options.protocol);
  for (auto* stream : s.serving) stream->reset();
  while (!s.serving.empty()) co_await s.serve_done.wait();
  s.tasks.cancel_all();
  co_await s.tasks.join();
}

asio::awaitable<std::size_t> Kademlia::bootstrap(std::vector<wire::Multiaddr> peers) {
  auto& s = *impl_;
  if (s.stopped) co_return 0;
  for (const auto& a : peers) {
    if (std::find(s.bootstrap_addrs.begin(), s.bootstrap_addrs.end(), a) == s.bootstrap_addrs.end())
      s.bootstrap_addrs.push_back(a);
  }
  co_await s.join(std::move(peers));
  co_return s.core.table().size();
}

asio::awaitable<void> Kademlia::Impl::join_one(wire::Multiaddr addr) {
  if (stopped) co_return;
  try {
    const wire::PeerId peer = co_await node.connect(addr);
    // Identify tells whether it serves the DHT; a bootstrap peer is asked in any case (it
    // leaves the table at its first failure if it does not).
    if (!stopped) core.table().add(peer, now());
  } catch (const boost::system::system_error& e) {
    spdlog::info("dht: bootstrap peer {} unreachable: {}", addr.to_string(), e.what());
  }
}

asio::awaitable<void> Kademlia::Impl::join(std::vector<wire::Multiaddr> peers) {
  // All at once: one after another, a join through 20 bootstrap peers took 20 handshakes' time
  // (bb-sim: most of 4,000 hosts joining within 40 s had not joined 10 s after they started).
  if (!peers.empty()) {
    const auto ex = co_await asio::this_coro::executor;
    using Op = decltype(asio::co_spawn(ex, join_one(peers.front()), asio::deferred));
    std::vector<Op> dials;
    dials.reserve(peers.size());
    for (auto& addr : peers)
      dials.push_back(asio::co_spawn(ex, join_one(std::move(addr)), asio::deferred));
    (void)co_await asio::experimental::make_parallel_group(std::move(dials))
        .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  }
  if (core.table().size() == 0 || stopped) co_return;
  const Key self_key = core.table().self_key();
  Lookup lookup(self_key, node.peer_id(), seeds(self_key),
                Lookup::Options{options.k, options.alpha, options.max_hops});
  Message request;
  request.type = MessageType::find_node;
  request.key.assign(node.peer_id().bytes().begin(), node.peer_id().bytes().end());
  (void)co_await run(lookup, request, {});
}

asio::awaitable<void> Kademlia::Impl::upkeep_loop() {
  const std::uint64_t tick = std::min(
      {ns(options.sweep_interval), ns(options.refresh_interval), ns(options.republish_interval)});
  while (!stopped) {
    const bool slept = co_await node.clock().sleep_for(std::max<std::uint64_t>(tick, 1'000'000));
    if (!slept || stopped) co_return;
    const std::uint64_t t = now();
    // Alone again (every peer failed or left): join again through the bootstrap peers.
    if (core.table().size() == 0 && !bootstrap_addrs.empty()) co_await join(bootstrap_addrs);
    core.providers().sweep(t);
    core.records().sweep(t);
    // Buckets nobody looked up for refresh_interval: a lookup of a random key in each.
    const std::uint64_t refresh = ns(options.refresh_interval);
    if (core.table().size() > 0 && t > refresh) {
      for (const std::size_t b : core.table().stale_buckets(t - refresh)) {
        if (stopped) co_return;
        const Key target = core.table().random_key_in(b);
        Lookup lookup(target, node.peer_id(), seeds(target),
                      Lookup::Options{options.k, options.alpha, options.max_hops});
        Message request;
        request.type = MessageType::find_node;
        request.key.assign(target.digest().begin(), target.digest().end());
        core.table().mark_refreshed(target, t);
        (void)co_await run(lookup, request, {});
      }
    }
    // Our provider records, before they expire at the peers.
    const std::uint64_t republish = ns(options.republish_interval);
    std::vector<Cid> due;
    for (auto& [key, p] : providing) {
      if (now() >= p.announced_ns + republish) {
        p.announced_ns = now();
        due.push_back(p.cid);
      }
    }
    for (const auto& cid : due) {
      if (stopped) co_return;
      (void)co_await announce(cid);
    }
  }
}

// --- value records ---------------------------------------------------------------------------

asio::awaitable<Result<std::size_t>> Kademlia::put_value(wire::Bytes key, wire::Bytes value) {
  auto& s = *impl_;
  if (s.stopped) co_return make_error_code(errc::stopped);
  if (auto ec = validate_record(key, value)) co_return ec;
  if (auto ec = s.core.records().put(key, value, s.node.peer_id(), s.now())) co_return ec;
  const Key target = Key::of(key);
  auto seeds = s.seeds(target);
  if (seeds.empty()) co_return make_error_code(errc::no_peers);
  Lookup lookup(target, s.node.peer_id(), seeds,
                Lookup::Options{s.options.k, s.options.alpha, s.options.max_hops});
  Message find;
  find.type = MessageType::find_node;
  find.key = key;
  (void)co_await s.run(lookup, find, {});
  Message put;
  put.type = MessageType::put_value;
  put.key = key;
  put.record = Record{key, value, {}};
  std::vector<std::pair<wire::PeerId, Message>> puts;
  for (const auto& p : lookup.closest()) puts.emplace_back(p, put);
  // (A named Accept: g++ 12 destroys a capturing temporary in a co_await expression twice.)
  const Impl::Accept stored = [value](const Result<Message>& r) {
    return r && r->record && r->record->value == value;  // the echo says it was stored
  };
  const std::size_t count = co_await s.ask_all(std::move(puts), stored);
  co_return count;
}

asio::awaitable<Result<wire::Bytes>> Kademlia::get_value(wire::Bytes key, std::size_t quorum) {
  auto& s = *impl_;
  if (s.stopped) co_return make_error_code(errc::stopped);
  std::optional<wire::Bytes> best;
  std::size_t answers = 0;
  if (auto mine = s.core.records().get(key, s.now())) {
    best = mine->value;
    ++answers;
  }
  if (best && quorum <= 1) co_return *best;
  const Key target = Key::of(key);
  auto seeds = s.seeds(target);
  if (seeds.empty()) {
    if (best) co_return *best;
    co_return make_error_code(errc::no_peers);
  }
  Lookup lookup(target, s.node.peer_id(), seeds,
                Lookup::Options{s.options.k, s.options.alpha, s.options.max_hops});
  Message request;
  request.type = MessageType::get_value;
  request.key = key;
  DriveHooks hooks;
  hooks.on_answer = [&](const wire::PeerId&, const Message& answer) {
    if (!answer.record || answer.record->key != key) return false;
    const auto& value = answer.record->value;
    if (validate_record(key, value)) return false;  // a bad record counts for nothing
    ++answers;
    if (!best || better_record(key, value, *best)) best = value;
    return answers >= quorum;
  };
  const bool ended = co_await s.run(lookup, request, std::move(hooks));
  if (!best) co_return make_error_code(ended ? errc::not_found : errc::timeout);
  (void)s.core.records().put(key, *best, s.node.peer_id(), s.now());
  co_return *best;
}

asio::awaitable<Result<Kademlia::Stored>> Kademlia::put(std::string_view name,
                                                        wire::ByteView data) {
  auto& s = *impl_;
  const std::string key = bb_key(s.node.peer_id(), name);
  const wire::Bytes key_bytes(key.begin(), key.end());
  // One above the highest sequence number we know for the key, here or in the network.
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  std::uint64_t seq = std::max(s.next_seq, static_cast<std::uint64_t>(wall.count()));
  if (auto mine = s.core.records().get(key_bytes, s.now())) {
    if (auto r = open_bb_record(key_bytes, mine->value)) seq = std::max(seq, r->seq + 1);
  } else if (s.core.table().size() > 0) {
    auto theirs = co_await get_value(key_bytes, 1);
    if (theirs) {
      if (auto r = open_bb_record(key_bytes, *theirs)) seq = std::max(seq, r->seq + 1);
    }
  }
  s.next_seq = seq + 1;
  const wire::Bytes value = make_bb_record(s.node.host().identity(), key, data, seq);
  if (validate_record(key_bytes, value)) co_return make_error_code(errc::bad_key);
  auto stored = co_await put_value(key_bytes, value);
  if (!stored) co_return stored.error();
  co_return Stored{key, seq, *stored};
}

asio::awaitable<Result<BbRecordView>> Kademlia::get(std::string_view key) {
  const wire::Bytes key_bytes(key.begin(), key.end());
  if (validate_key(key_bytes)) co_return make_error_code(errc::bad_key);
  auto value = co_await get_value(key_bytes);
  if (!value) co_return value.error();
  auto r = open_bb_record(key_bytes, *value);
  if (!r) co_return make_error_code(errc::bad_record);
  co_return std::move(*r);
}

Mode Kademlia::mode() const noexcept {
  return impl_->mode;
}
const RoutingTable& Kademlia::routing_table() const noexcept {
  return impl_->core.table();
}

KademliaStats Kademlia::stats() const {
  KademliaStats out = impl_->counters;
  out.routing_table = impl_->core.table().size();
  out.provider_keys = impl_->core.providers().keys();
  out.provider_entries = impl_->core.providers().entries();
  out.records = impl_->core.records().size();
  return out;
}

}  // namespace bb::dht

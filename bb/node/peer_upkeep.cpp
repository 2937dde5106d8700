#include "bb/node/peer_upkeep.hpp"

#include "bb/wire/error.hpp"
#include "bb/wire/protocols/ping.hpp"

#include <spdlog/spdlog.h>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <optional>

namespace bb::node::detail {

namespace asio = boost::asio;
using boost::system::system_error;

namespace {

constexpr std::uint64_t kMaxBackoffFactor = 64;

std::uint64_t to_ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

}  // namespace

void PeerUpkeep::on_host_event(const wire::HostEvent& event) {
  auto& store = core_.peers;
  if (const auto* c = std::get_if<wire::PeerConnected>(&event)) {
    // An address we dialled worked: as good as one the peer told us.
    if (c->direction == wire::Direction::outbound) {
      store.add_address(c->peer, c->addr, AddressSource::identify);
    }
    store.mark_useful(c->peer);
    backoff_.erase(c->peer);
  } else if (const auto* id = std::get_if<wire::PeerIdentified>(&event)) {
    store.set_identify(id->peer, id->info.protocols, id->info.agent_version);
    for (const auto& addr : id->info.listen_addrs) {
      store.add_address(id->peer, addr, AddressSource::identify);
    }
    store.mark_useful(id->peer);
  } else if (const auto* d = std::get_if<wire::PeerDisconnected>(&event)) {
    store.extend(d->peer);  // its addresses live on for their TTL from now
  }
}

void PeerUpkeep::load() {
  if (!core_.config.peer_store_file) return;
  const auto& file = *core_.config.peer_store_file;
  auto loaded = core_.peers.load(file);
  if (!loaded) {
    spdlog::warn("peer store {}: {}; starting without it", file.string(), loaded.error().message());
    return;
  }
  spdlog::debug("peer store {}: {} peers loaded", file.string(), *loaded);
}

void PeerUpkeep::save() const {
  if (!core_.config.peer_store_file) return;
  const auto& file = *core_.config.peer_store_file;
  if (auto saved = core_.peers.save(file); !saved) {
    spdlog::warn("peer store {}: cannot save: {}", file.string(), saved.error().message());
  }
}

void PeerUpkeep::start() {
  core_.tasks.spawn(check_loop(), "peer store upkeep");
  if (core_.config.peer_store_file) core_.tasks.spawn(save_loop(), "peer store saves");
}

asio::awaitable<void> PeerUpkeep::check_loop() {
  const auto interval = async::to_ns(core_.config.connection_check_interval);
  while (!core_.stopping) {
    check();
    const bool slept = co_await core_.clock.sleep_for(interval);
    if (!slept) co_return;
  }
}

asio::awaitable<void> PeerUpkeep::save_loop() {
  const auto interval = async::to_ns(core_.config.peer_store_save_interval);
  while (!core_.stopping) {
    const bool slept = co_await core_.clock.sleep_for(interval);
    if (!slept || core_.stopping) co_return;
    save();
  }
}

void PeerUpkeep::check() {
  if (core_.stopping || core_.draining) return;
  const auto connected = core_.host.connected_peers();
  const std::unordered_set<wire::PeerId> live(connected.begin(), connected.end());
  for (const auto& peer : connected) core_.peers.extend(peer);
  (void)core_.peers.sweep([&live](const wire::PeerId& p) { return live.contains(p); });
  const auto now = core_.clock.now_ns();
  std::erase_if(backoff_, [&](const auto& kv) { return !core_.peers.knows(kv.first); });

  const std::size_t want = core_.config.min_connections;
  if (want == 0 || connected.size() + dialing_.size() >= want) return;
  std::size_t room = want - connected.size() - dialing_.size();
  for (const auto& peer : core_.peers.peers()) {
    if (room == 0) break;
    if (peer == core_.self || live.contains(peer) || dialing_.contains(peer)) continue;
    if (core_.tables.governor().is_blocked(peer) || !core_.peers.knows(peer)) continue;
    if (auto b = backoff_.find(peer); b != backoff_.end() && b->second.retry_at_ns > now) continue;
    dialing_.insert(peer);
    core_.touched = true;
    core_.tasks.spawn(dial(peer), "low-water dial " + peer.to_base58());
    --room;
  }
}

asio::awaitable<void> PeerUpkeep::dial(wire::PeerId peer) {
  bool reached = false;
  std::string last;
  for (const auto& addr : core_.peers.addresses(peer)) {
    if (core_.stopping) break;
    try {
      (void)co_await core_.host.connect(addr);
      reached = true;
      break;
    } catch (const system_error& e) {
      if (e.code() == asio::error::operation_aborted) break;
      last = wire::error_text(e);
    }
  }
  dialing_.erase(peer);
  if (reached || core_.stopping) co_return;
  spdlog::debug("low-water dial to {} failed: {}", peer.to_base58(), last);
  const auto first =
      std::max<std::uint64_t>(async::to_ns(core_.config.connection_check_interval), 1);
  auto& b = backoff_[peer];
  b.delay_ns = b.delay_ns == 0 ? first : std::min(b.delay_ns * 2, first * kMaxBackoffFactor);
  b.retry_at_ns = async::saturating_add(core_.clock.now_ns(), b.delay_ns);
}

// Liveness: a ping per interval feeds the RTT estimate and the failure detector. It follows the
// peer, not one connection: when simultaneous dials leave the Host another connection to the
// peer than the one first registered, the pings move to it (on the old one they would time out
// and call a healthy peer down).
asio::awaitable<void> PeerUpkeep::ping_loop(wire::PeerId peer) {
  struct Leave {
    std::unordered_set<wire::PeerId>& set;
    const wire::PeerId& peer;
    ~Leave() { set.erase(peer); }
  } leave{pinging_, peer};
  const auto interval = to_ns(core_.config.ping_interval);
  const auto timeout = std::max(core_.config.ping_interval, std::chrono::milliseconds(1000));
  std::optional<wire::Connection> on;        // the connection `pinger` pings on
  std::optional<wire::ping::Pinger> pinger;  // one ping stream per connection, kept
  while (!core_.stopping) {
    const bool slept = co_await core_.clock.sleep_for(interval);
    if (!slept || core_.stopping) break;
    const auto conn = core_.host.connection(peer);
    if (!conn || !conn->is_open()) break;
    if (!on || !(*on == *conn)) {
      pinger.reset();
      on = *conn;
      pinger.emplace(*conn, core_.clock);
    }
    try {
      const auto rtt = co_await pinger->ping(timeout);
      core_.tables.on_round_trip(peer, static_cast<std::uint64_t>(rtt.count()));
      core_.metrics.round_trips.observe(static_cast<std::uint64_t>(rtt.count()));
    } catch (const system_error& e) {
      if (e.code() == asio::error::operation_aborted) co_return;
      spdlog::debug("ping to {} failed: {}", peer.to_base58(), wire::error_text(e));
    }
  }
  // Stopping, the connection still up: end the stream cleanly, so the peer sees no reset.
  if (pinger && on && on->is_open()) co_await pinger->close(std::chrono::milliseconds(200));
}

asio::awaitable<void> PeerUpkeep::tick_loop() {
  const auto interval = to_ns(core_.config.tick_interval);
  while (!core_.stopping) {
    const bool slept = co_await core_.clock.sleep_for(interval);
    if (!slept) co_return;
    core_.tables.tick();
    (void)core_.tables.backpressure().sweep(core_.clock.now_ns());  // silent periods that ran out
  }
}

}  // namespace bb::node::detail

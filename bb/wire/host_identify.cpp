// The Host's side of identify: what we advertise (per peer), asking each new peer, the observed
// addresses they report, and identify push both ways.
#include "bb/wire/detail/host_impl.hpp"

namespace bb::wire {

namespace {

// Bounds what we tell (an Identify message stays far below kMaxMessageBytes).
constexpr std::size_t kMaxAdvertised = 32;

void add_unique(std::vector<Multiaddr>& out, Multiaddr addr) {
  if (out.size() >= kMaxAdvertised) return;
  if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(std::move(addr));
}

}  // namespace

std::vector<Multiaddr> Host::Impl::advertised() const {
  std::vector<Multiaddr> out;
  for (const auto& listen : listen_addrs) {
    for (auto& addr : expand_wildcard(listen)) add_unique(out, std::move(addr));
  }
  for (const auto& ip : observed.confirmed()) {
    for (const auto& listen : listen_addrs) {
      const auto bound = ip_of(listen);
      if (!bound || bound->is_v4() != ip.is_v4() || !listen.tcp_port()) continue;
      if (auto addr = with_ip(listen, ip)) add_unique(out, std::move(*addr));
    }
  }
  return out;
}

identify::Info Host::Impl::local_info() const {
  identify::Info info;
  info.protocol_version = std::string(identify::kProtocolVersion);
  info.agent_version = options.agent_version;
  info.public_key = identity.public_key().to_protobuf();
  info.listen_addrs = advertised();
  info.protocols = supported();
  return info;
}

identify::Info Host::Impl::local_info_for(const Multiaddr& remote) const {
  identify::Info info = local_info();
  info.listen_addrs = filter_shareable(info.listen_addrs, remote);
  return info;
}

void Host::Impl::on_identified(const Connection& conn, identify::Info info, bool pushed) {
  const PeerId peer = conn.remote_peer();
  if (!pushed && info.observed_addr && observed.record(conn.remote_addr(), *info.observed_addr)) {
    schedule_push();  // a newly confirmed address of ours
  }
  auto [it, fresh] = identified.try_emplace(peer);
  identify::Info& known = it->second;
  if (fresh || !pushed) {
    known = std::move(info);
  } else {
    // A push says what changed; what it leaves out stays as it was.
    if (!info.protocol_version.empty()) known.protocol_version = std::move(info.protocol_version);
    if (!info.agent_version.empty()) known.agent_version = std::move(info.agent_version);
    if (!info.public_key.empty()) known.public_key = std::move(info.public_key);
    if (!info.listen_addrs.empty()) known.listen_addrs = std::move(info.listen_addrs);
    if (info.observed_addr) known.observed_addr = std::move(info.observed_addr);
    if (!info.protocols.empty()) known.protocols = std::move(info.protocols);
  }
  emit(PeerIdentified{peer, known, pushed});
}

asio::awaitable<void> Host::Impl::identify_peer(Connection conn) {
  try {
    auto info = co_await identify::request(conn, options.protocol_timeout, clock);
    if (conn.is_open() && !stopping) on_identified(conn, std::move(info), false);
  } catch (const system_error& e) {
    if (e.code() != asio::error::operation_aborted && conn.is_open()) {
      emit(StreamFailed{conn.remote_peer(), std::string(identify::kProtocolId), e.code(),
                        error_text(e)});
    }
  }
}

// A push is read with identify's bounds, within protocol_timeout; a bad one is the stream's
// failure (StreamFailed, from handle_stream), not the connection's.
asio::awaitable<void> Host::Impl::serve_push(Connection conn, Stream stream) {
  const PeerId peer = conn.remote_peer();
  auto info = co_await async::with_timeout(
      clock, identify::read_push(std::move(stream), peer), ns(options.protocol_timeout),
      make_error_code(errc::handshake_timeout), "identify push from " + peer.to_base58());
  if (!conn.is_open() || stopping) co_return;
  if (auto it = connections.find(peer); it == connections.end() || !(it->second == conn)) {
    co_return;  // a connection that was replaced meanwhile
  }
  on_identified(conn, std::move(info), true);
}

void Host::Impl::schedule_push() {
  if (!options.identify_push || stopping || !ticking) return;
  push_pending = true;
  push_wanted.notify();
}

asio::awaitable<void> Host::Impl::push_loop() {
  while (!stopping) {
    while (!push_pending && !stopping) co_await push_wanted.wait();
    if (stopping) break;
    // Changes that come within the debounce go out in the same push.
    const bool slept = co_await clock.sleep_for(ns(options.push_debounce));
    if (!slept || stopping) break;
    push_pending = false;
    for (const auto& [peer, conn] : connections) {
      if (!conn.is_open() || pushing.contains(peer)) continue;
      // Only to peers that said (in their identify) that they take pushes: nothing is opened
      // towards a peer that never identified, or does not speak the protocol.
      const auto known = identified.find(peer);
      if (known == identified.end()) continue;
      const auto& protos = known->second.protocols;
      if (std::find(protos.begin(), protos.end(), identify::kPushProtocolId) == protos.end())
        continue;
      pushing.insert(peer);
      tasks.spawn(push_to(conn), "identify push " + peer.to_base58());
    }
  }
}

asio::awaitable<void> Host::Impl::push_to(Connection conn) {
  const PeerId peer = conn.remote_peer();
  try {
    co_await identify::push(conn, local_info_for(conn.remote_addr()), options.protocol_timeout,
                            clock);
  } catch (const system_error& e) {
    // A peer that does not serve push, or went away: it asks again when it reconnects.
    spdlog::debug("identify push to {}: {}", peer.to_base58(), error_text(e));
  }
  pushing.erase(peer);
}

}  // namespace bb::wire

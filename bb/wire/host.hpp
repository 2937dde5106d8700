// A libp2p host for bb: listens, dials, keeps at most one connection per peer (simultaneous
// dials in either direction merge into the same one), bounds everything (connections, pending
// inbound handshakes, handshake and dial time), and serves the built-in protocols: ping,
// identify, perf and /bb/wire/1.0.0. Outcomes (connected, disconnected, dial failures, bad
// streams) come out as events, for the runtime to feed its peer tables.
//
// On an open network its connection manager (wire/connection_manager.hpp, docs/host.md) and
// resource manager (wire/resource_manager.hpp) decide at accept, before any crypto: per-IP
// limits on handshakes and connections; first_message_timeout for the first multistream-select
// message; a newcomer evicts a stuck handshake of the address with the most of them, or waits
// for a slot, rather than being refused; at max_connections it displaces an idle connection
// (or an idle one of a crowded address), never one with traffic or a protected one; idle
// unprotected connections are trimmed between high and low water marks; dials in flight are
// capped; accept() backs off when out of descriptors. A refused dialer is told why where the
// protocol allows: multistream-select "na" before the handshake, a Yamux GoAway with a libp2p
// error code after it. Refusals come out as InboundFailed / DialFailed events with their
// specific errc (ip_connection_limit, pending_connection_limit, pending_connection_evicted,
// connection_limit, dial_limit, handshake_timeout, resource_*) and trimmed or displaced
// connections as PeerDisconnected with connection_trimmed; the Host logs none of them one by
// one.
//
// Thread rule: a Host and everything it returns live on one executor. Lifetime: call stop() and
// let it finish before destroying the Host; stop() closes every connection and listener and
// returns only when every task the Host started has ended.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/connection.hpp"
#include "bb/wire/connection_manager.hpp"
#include "bb/wire/histogram.hpp"
#include "bb/wire/protocols/identify.hpp"
#include "bb/wire/resource_manager.hpp"
#include "bb/wire/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bb::wire {

std::string_view bb_version() noexcept;  // BB_VERSION_STRING of bb/version.hpp, e.g. "0.1.0"

struct HostOptions {
  // Time for the Host's deadlines (slot waits, first messages, refusal lingering, accept
  // backoff) and its upkeep (activity samples, trimming); async::steady_clock() when null. Must
  // outlive the Host.
  async::Clock* clock = nullptr;
  // Listens and dials through this transport instead of TCP when set (bb-sim's simulated
  // network); must outlive the Host. The descriptor limit then does not bound the connections.
  Transport* transport = nullptr;
  ConnectionOptions connection;
  // Both limits are lowered at construction if the process's file descriptor limit (raised to
  // its hard limit first, once per process) cannot hold them; see fit_to_fd_limit().
  std::size_t max_connections = 1024;     // established, both directions
  std::size_t max_pending_inbound = 64;   // inbound handshakes running at once
  ConnManagerOptions connection_manager;  // per-IP limits, deadlines, trimming, dial cap
  // The Host's ResourceManager: every connection opens a scope in it before any crypto (at
  // accept, before a dial) and is refused when that fails (resource_* errors).
  ResourceLimits resources = ResourceLimits::defaults();
  std::chrono::milliseconds protocol_timeout{10'000};  // ping and identify exchanges
  bool serve_perf = true;                              // /perf/1.0.0 is for tests and benchmarks
  bool identify_peers = true;  // ask every new peer who it is (PeerIdentified)
  // Serve /ipfs/id/push/1.0.0 (a push is another PeerIdentified) and push our identify to every
  // connected peer when what we advertise changes (protocols, addresses), once per
  // push_debounce (on the Host's clock) however many changes came in it.
  bool identify_push = true;
  bool serve_identify_push = true;
  std::chrono::milliseconds push_debounce{100};
  // An IP that identified peers report as ours (observedAddr) is advertised, with each TCP
  // listen port, once this many distinct observer IPs reported it.
  std::size_t observed_confirmations = 3;
  std::string agent_version;  // default "bb/<version>"
};

struct PeerConnected {
  PeerId peer;
  Multiaddr addr;
  Direction direction;
};
struct PeerDisconnected {
  PeerId peer;
  boost::system::error_code reason;  // empty for a clean close; connection_trimmed
};
struct DialFailed {
  Multiaddr addr;
  boost::system::error_code error;
  std::string detail;
};
// A connection that never completed its handshake, or was refused: error is then
// ip_connection_limit, pending_connection_limit, pending_connection_evicted, connection_limit,
// resource_* (the resource manager) or handshake_timeout (no first message within
// first_message_timeout, or the whole upgrade within ConnectionOptions::handshake_timeout).
struct InboundFailed {
  Multiaddr from;
  boost::system::error_code error;
  std::string detail;
};
struct StreamFailed {  // a stream closed for bad input; its connection lives on
  PeerId peer;
  std::string protocol;
  boost::system::error_code error;
  std::string detail;
};
// The answer to our identify request, and again after each identify push from the peer (`info`
// is then what we knew, updated by what the push said; `pushed` is set).
struct PeerIdentified {
  PeerId peer;
  identify::Info info;
  bool pushed = false;
};
// Serves the inbound streams of one protocol: called once the protocol is negotiated on a stream
// the peer opened, and owns the stream from then on. What it throws (other than a cancellation)
// is reported as StreamFailed; the connection lives on. A Stream destroyed before both sides
// closed and everything was read is reset, and a reset stream's reader gets the reset, not what
// it had not read yet: a handler that answers closes its write half, then reads on until the
// peer closes its side (read_some returns 0), and only then returns.
using StreamHandler =
    std::function<boost::asio::awaitable<void>(Connection connection, Stream stream)>;

using HostEvent = std::variant<PeerConnected, PeerDisconnected, DialFailed, InboundFailed,
                               StreamFailed, PeerIdentified>;

class Host {
 public:
  Host(const boost::asio::any_io_executor& executor, Ed25519KeyPair identity,
       HostOptions options = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Starts accepting on `addr` (/ip4|ip6/.../tcp/PORT; port 0 picks one) and returns the bound
  // address. Throws boost::system::system_error if it cannot bind.
  Multiaddr listen(const Multiaddr& addr);

  // A connection to the peer at `addr`: an existing one when `addr` names a connected peer,
  // else a new dial (merged with a dial to the same peer already in flight). With a /p2p/ part,
  // reaching anyone else fails (noise_peer_id_mismatch). Throws system_error (timeouts,
  // refused, handshake errors, connection_limit when full of connections none of which may be
  // displaced, dial_limit when max_outbound_dials are in flight); a failure is also reported
  // as DialFailed.
  boost::asio::awaitable<Connection> connect(const Multiaddr& addr);
  std::optional<Connection> connection(const PeerId& peer) const;

  // Connections over a byte stream the caller already holds (the in-memory pair of
  // tests/support, a transport the Host does not dial or accept itself). The stream must live on
  // the Host's executor (the thread rule above); the Host owns it from the call on. Both run
  // what an accepted or dialed TCP connection runs: the resource manager, the connection
  // manager's limits, the upgrade with its timeouts (ConnectionOptions::handshake_timeout), the
  // protocol registry, identify and the events. Neither needs listen(); both start the Host's
  // upkeep as listen() and connect() do.
  //
  // add_inbound: as if accepted. The per-IP decisions (pending handshakes, connections per
  // address, eviction) count it under the IP of stream->remote_addr() (/ip4|ip6/.../tcp/...),
  // or under 0.0.0.0 when it has none, so such streams share one address's limits. Refusals
  // answer "na" and close the stream; the outcome comes out only as events (PeerConnected,
  // InboundFailed).
  void add_inbound(std::unique_ptr<ByteStream> stream);
  // connect_over: as a dial to `expected` (reaching anyone else fails with
  // noise_peer_id_mismatch), counted against the connection limit and max_outbound_dials. Not
  // merged with dials in flight; when the peer is connected already, one of the two connections
  // is kept as for simultaneous dials, and returned. Throws and reports DialFailed (its addr is
  // stream->remote_addr() with /p2p/<expected>) as connect() does.
  boost::asio::awaitable<Connection> connect_over(std::unique_ptr<ByteStream> stream,
                                                  PeerId expected);

  // The protocol registry: inbound streams are negotiated against the registered protocol ids
  // (identify advertises them) and handed to their handler. The Host registers /ipfs/ping/1.0.0,
  // /ipfs/id/1.0.0 and (with serve_perf) /perf/1.0.0 itself; the protocols built on it register
  // theirs (bb_wire::register_server, an application's "/my/proto/1.0.0"). set_handler replaces
  // a handler already registered; streams already handed to the old one keep it. Adding or
  // removing a protocol once the Host runs pushes our identify to connected peers.
  void set_handler(std::string protocol, StreamHandler handler);
  void remove_handler(std::string_view protocol);

  // A new stream to the connected `peer`, negotiated to the first of `protocols` the peer
  // supports (stream.protocol() says which). Throws system_error: peer_unreachable when not
  // connected, mss_protocol_not_supported, stream errors.
  boost::asio::awaitable<Stream> open_stream(const PeerId& peer,
                                             std::vector<std::string> protocols);

  // The next event; nullopt once stopped. Events beyond the queue bound (4096) drop the oldest.
  boost::asio::awaitable<std::optional<HostEvent>> next_event();
  std::optional<HostEvent> try_next_event();

  boost::asio::awaitable<void> stop();

  // Protected peers are never trimmed or displaced (ConnManagerOptions). A peer is protected
  // while it holds at least one tag; tags may be set before it connects and outlive its
  // connections. unprotect() returns whether another tag still protects the peer.
  void protect(const PeerId& peer, std::string_view tag);
  bool unprotect(const PeerId& peer, std::string_view tag);
  bool is_protected(const PeerId& peer) const;

  // The connection manager's counters (refusals by reason, evictions, trims, accept failures).
  ConnManagerStats connection_stats() const;
  // The fd limit at construction and the limits in force after fitting them to it.
  const FdBudget& fd_budget() const noexcept;
  // What every connection and stream holds (ResourceManager::stats()), for metrics; the
  // mutable one is for what is built on the Host (a Node's inboxes hold peer memory there).
  const ResourceManager& resources() const noexcept;
  ResourceManager& resources() noexcept;
  // How long the connections established so far took from TCP accept (or connect) to secured
  // and multiplexed (wire/histogram.hpp, handshake_buckets_ns()); failed handshakes not counted.
  const Histogram& handshake_times() const noexcept;

  const PeerId& peer_id() const noexcept;
  const Ed25519KeyPair& identity() const noexcept;
  // The addresses bound by listen(), as bound (a wildcard stays a wildcard).
  std::vector<Multiaddr> listen_addrs() const;
  // What identify tells peers, before the per-peer filter (shareable_with): the listen
  // addresses with wildcards expanded to the interfaces' addresses, and confirmed observed
  // addresses (HostOptions::observed_confirmations).
  std::vector<Multiaddr> advertised_addrs() const;
  // IPs other peers report as ours, confirmed by enough of them.
  std::vector<boost::asio::ip::address> observed_ips() const;
  std::vector<std::string> protocols() const;
  std::size_t connection_count() const noexcept;
  std::vector<PeerId> connected_peers() const;
  identify::Info local_info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bb::wire

// A libp2p host for bb: listens, dials, keeps at most one connection per peer (simultaneous
// dials in either direction merge into the same one), bounds everything (connections, pending
// inbound handshakes, handshake and dial time), and serves the built-in protocols: ping,
// identify, perf and /bb/wire/1.0.0. Outcomes (connected, disconnected, dial failures, bad
// streams) come out as events, for the runtime to feed its peer tables.
//
// Thread rule: a Host and everything it returns live on one executor. Lifetime: call stop() and
// let it finish before destroying the Host; stop() closes every connection and listener and
// returns only when every task the Host started has ended.
#pragma once

#include "wire/connection.hpp"
#include "wire/envelope.hpp"
#include "wire/protocols/identify.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bb::core {
class WireEnvelope;
}

namespace bb::wire {

inline constexpr std::string_view kBbWireProtocol = "/bb/wire/1.0.0";
std::string_view bb_version() noexcept;  // "0.1.0"

struct HostOptions {
  ConnectionOptions connection;
  std::size_t max_connections = 1024;
  std::size_t max_pending_inbound = 64;                // TCP accepted, handshake not finished
  std::chrono::milliseconds protocol_timeout{10'000};  // ping and identify exchanges
  bool serve_perf = true;                              // /perf/1.0.0 is for tests and benchmarks
  bool identify_peers = true;  // ask every new peer who it is (PeerIdentified)
  EnvelopeCaps envelope_caps;
  std::string agent_version;  // default "bb/<version>"
};

struct PeerConnected {
  PeerId peer;
  Multiaddr addr;
  Direction direction;
};
struct PeerDisconnected {
  PeerId peer;
  boost::system::error_code reason;  // empty for a clean close
};
struct DialFailed {
  Multiaddr addr;
  boost::system::error_code error;
  std::string detail;
};
struct InboundFailed {  // a connection that never completed its handshake
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
struct PeerIdentified {
  PeerId peer;
  identify::Info info;
};
struct EnvelopeReceived {
  PeerId peer;
  std::shared_ptr<const core::WireEnvelope> envelope;
};

// Takes each envelope that arrives on a /bb/wire/1.0.0 stream, in order per stream, and returns
// "" when it accepts it or a stable reason label (static storage) when it refuses it; the Host
// writes the matching receipt back (wire/receipt.hpp). The stream is not read while the handler
// is suspended, so a handler that waits for room pushes back on the sender through Yamux.
using EnvelopeHandler = std::function<boost::asio::awaitable<std::string_view>(
    const PeerId& peer, std::shared_ptr<const core::WireEnvelope> envelope,
    std::size_t frame_bytes)>;

using HostEvent = std::variant<PeerConnected, PeerDisconnected, DialFailed, InboundFailed,
                               StreamFailed, PeerIdentified, EnvelopeReceived>;

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
  // refused, handshake errors, connection_limit); a failure is also reported as DialFailed.
  boost::asio::awaitable<Connection> connect(const Multiaddr& addr);
  std::optional<Connection> connection(const PeerId& peer) const;

  // Envelopes go to `handler` instead of coming out as EnvelopeReceived events. Set it before
  // listen() or connect().
  void set_envelope_handler(EnvelopeHandler handler);

  // The next event; nullopt once stopped. Events beyond the queue bound (4096) drop the oldest.
  boost::asio::awaitable<std::optional<HostEvent>> next_event();
  std::optional<HostEvent> try_next_event();

  boost::asio::awaitable<void> stop();

  const PeerId& peer_id() const noexcept;
  const Ed25519KeyPair& identity() const noexcept;
  std::vector<Multiaddr> listen_addrs() const;
  std::vector<std::string> protocols() const;
  std::size_t connection_count() const noexcept;
  std::vector<PeerId> connected_peers() const;
  identify::Info local_info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bb::wire

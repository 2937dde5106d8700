// The seams between the wire ops and a Node: wire.Send hands envelopes to a WireTransport,
// wire.Recv hands delivered fills to an Inbox. The Node implements both; tests may fake them.
#pragma once

#include "runtime/message.hpp"
#include "wire/bytes.hpp"
#include "wire/envelope.hpp"

#include <boost/asio/awaitable.hpp>

#include <span>

namespace bb::runtime {

// Thread rule: called on the owning Node's executor.
class WireTransport {
 public:
  virtual ~WireTransport() = default;

  // Whether `peer` can be reached at all: connected, being dialled, or an address is known.
  virtual bool resolvable(const wire::PeerId& peer) const = 0;
  // This node's PeerId: the origin that needs no src_peer_bytes (receivers default to the
  // connection's peer).
  virtual const wire::PeerId& local_peer() const = 0;
  // Our own addresses (binary multiaddrs) for the envelope's src_peer_addresses; empty once
  // they went out to `peer` on the current connection.
  virtual std::span<const wire::Bytes> local_addresses(const wire::PeerId& peer) const = 0;
  // Takes one envelope for `msg.peer`: dials on demand, waits for room in the peer's bounded
  // queue until the message's deadline, encodes the envelope into the queue. nullopt once it is
  // queued; a denial (peer_unreachable, queue_full, stopped, …) otherwise.
  virtual boost::asio::awaitable<Verdict> send(const Message& msg,
                                               const wire::SingleFillEnvelope& envelope) = 0;
};

// Thread rule: called on the owning Node's executor.
class Inbox {
 public:
  virtual ~Inbox() = default;
  // Delivers one fill that passed the receive gates to the subscriber of its dest_suffix,
  // waiting for room in a full channel (which holds back the sender through the transport).
  // nullopt once delivered; a denial (no_subscriber, stopped) otherwise.
  virtual boost::asio::awaitable<Verdict> deliver(const Message& msg) = 0;
};

}  // namespace bb::runtime

// bb::node::Node: the object a p2p program is written against. It owns an identity, a libp2p
// Host (TCP + Noise + Yamux), the peer-state tables and two compiled pipelines:
//
//   send:    PeerHealthGateTx -> BackoffGateTx -> wire.Send      (per destination peer)
//   receive: DeadlineCheck -> DedupGateRx -> PeerHealthGateRx -> BackoffGateRx -> wire.Recv
//            (per delivered fill)
//
// Messages travel as WireEnvelopes on /bb/wire/1.0.0 streams. The receiving node answers each
// envelope with a receipt (accepted, or refused with the reason label of the stage that said
// no), so a sender learns the outcome of every message it sent.
//
//   bb::node::Node node{io.get_executor(), config};
//   co_await node.start();
//   auto peer = co_await node.connect(bb::wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/4001/p2p/…"));
//   co_await node.send(peer, "chat", bb::wire::as_bytes("hello"));
//   std::optional<bb::node::Received> m = co_await node.receive("chat");
//   std::optional<bb::runtime::Event> e = co_await node.next_event();
//   co_await node.stop();
//
// Outcome accounting. Every send() ends in exactly one of:
//   - accepted: the peer's receipt accepted it (metrics().receipts_accepted);
//   - failed: a denial returned by send() itself (a gate said no, the peer could not be
//     resolved or reached, its queue stayed full past the deadline), or a later failure: the
//     peer refused it (its receive pipeline denied it: `blocklisted`, `duplicate`, …) or the
//     connection was lost before its receipt came (`connection_lost`, `stopped`).
// Every failed send, whichever way, is counted once in metrics().drops under its reason and
// reported once, by one rule: an outcome somebody awaits is the return value of the send() (or
// forward()) that awaits it, and nothing else; what nobody awaits is an event. So a denial
// send() returns is not an event; with SendOptions::await_receipt the later outcome is what
// send() returns, not an event either; without it, a later failure is one SendFailed event
// (its message id, the reason), except that messages still queued and never written when their
// connection is lost or the node stops are counted together in one OutboundDropped event (count,
// reason) for their peer. So, once nothing is in flight,
// metrics().sends == receipts_accepted + failed_sends(). A connection lost after the peer
// accepted a message but before its receipt arrived reports the message as failed although it
// was delivered: the one at-least-once corner, documented rather than hidden.
//
// Flow control, end to end: a receiver whose channel queue is full stops reading the stream, so
// Yamux stops the sender's writes; the sender's per-peer queue (bounded in messages and bytes)
// then fills and send() waits for room until the message's deadline, then fails with
// `queue_full`. Past the high-water mark the receiver also sends BackoffNotices, which put the
// sender in `cooldown` for that peer.
//
// Authenticated origins. The connection proves who delivered a message, not who wrote it: a
// relayed message names its author (Received::origin), and the receiver believes that only with
// the author's Ed25519 signature over the message (wire/envelope.hpp: id, channel suffix,
// payload digest, trigger flag, type hash). A fill whose author is not the connection's peer
// and whose signature is missing or wrong is refused before any gate sees it (`forged_origin`,
// counted as `rx:forged_origin`); a message from its author needs none. Signing costs tens of
// µs, so only messages meant to be relayed are signed (SendOptions::relayable, or compose());
// forward() passes the signature on, and refuses (`unsigned_origin`) to forward someone else's
// message that has none. Message ids are 64 random bits, so they cannot be guessed ahead.
//
// Thread rule: a Node and everything it returns live on its executor; call every member from
// there. Lifetime: co_await stop() before destroying a started Node when you can: it returns
// once everything is closed. Destroying a started Node without stop() is safe too: the
// destructor closes its listeners and connections and fails what is pending (`stopped`) at
// once, and hands the rest of stop() (waiting for its tasks to end) to the executor, which
// must keep running for it (the Node's memory is freed when it ends). Coroutines of yours
// that still use a destroyed Node are yours to end first.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/node/peer_store.hpp"
#include "bb/proto/onnx.pb.h"
#include "bb/runtime/events.hpp"
#include "bb/runtime/message.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/wire/envelope.hpp"
#include "bb/wire/histogram.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/multiaddr.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bb::node {

// Where a channel lives inside a receiver: the fill's dest_suffix `/site/<id>` with
// id = FNV-1a-64 of the channel name. Both ends derive it from the name.
wire::Multiaddr channel_suffix(std::string_view channel);

// A Node's Yamux stream window: 4 MiB rather than the spec's initial 256 KiB, so one stream keeps
// a fast link busy while the receiver's window updates travel back (with 256 KiB a 1 MiB message
// stops and waits four times). It bounds what a receiver buffers per stream.
inline constexpr std::uint32_t kNodeStreamWindow = 4u << 20;
wire::HostOptions default_host_options();

struct NodeConfig {
  // The node's identity; a fresh key pair when empty.
  std::optional<wire::Ed25519KeyPair> identity;
  // Addresses to listen on when start() runs, e.g. /ip4/127.0.0.1/tcp/0.
  std::vector<wire::Multiaddr> listen;
  wire::HostOptions host = default_host_options();
  runtime::PeerTablesConfig tables;
  // Pipeline gates, as NodeProtos resolved through the op registry at start(). nullopt: the
  // defaults above. The Node appends wire.Send / wire.Recv itself.
  std::optional<std::vector<bb::onnx::NodeProto>> tx_gates;
  std::optional<std::vector<bb::onnx::NodeProto>> rx_gates;
  // Per-hop budget of a message sent without one (SendOptions::budget_ns 0): this, if not 0
  // (wire.Send's `deadline_ns`); else the peer's RTT estimate (else 100 ms) raised to
  // min_hop_budget_ns (`min_budget_ns`), so that a fast link does not give a message less time
  // than a busy receiver or a full queue takes. 0: no floor.
  std::uint64_t default_deadline_ns = 0;
  std::uint64_t min_hop_budget_ns = 1'000'000'000;
  // Per-peer outbound queue bound: messages accepted by send() and not yet written.
  std::size_t max_queued_messages = 4096;
  std::size_t max_queued_bytes = std::size_t{8} << 20;
  // Messages written to a peer whose receipts have not come back. At the bound the writer waits
  // (and the queue fills), so a peer that reads but never answers cannot grow our memory.
  std::size_t max_awaiting_receipt = 65'536;
  // Per-channel inbound queue bound (messages delivered and not yet received by the app).
  std::size_t inbox_capacity = 4096;
  // Bytes of one sender's messages waiting in the inboxes (over every channel) before that
  // sender's stream waits for the application to read; below the resource manager's per-peer
  // memory limit (HostOptions::resources), which also holds the peer's stream buffers.
  std::size_t inbox_bytes_per_peer = std::size_t{32} << 20;
  // Distinct channels a node holds messages for before anyone subscribed to them.
  std::size_t max_unsubscribed_channels = 64;
  // The peer store (node/peer_store.hpp, docs/peer-store.md): addresses learned from identify
  // (while a peer is connected, and identify_ttl after), from envelopes and from the peer
  // router, bounded by peer_store.capacity peers (the least recently useful go first);
  // addresses the application gave (connect(), add_address()) are kept whatever it is.
  PeerStoreOptions peer_store;
  // Where the peer store lives between runs: loaded by start() before listening (a missing
  // file is an empty store; a bad one is logged and ignored), saved by stop() and every
  // peer_store_save_interval (on the Node's clock).
  std::optional<std::filesystem::path> peer_store_file;
  std::chrono::milliseconds peer_store_save_interval{60'000};
  // Low-water mark: every connection_check_interval (on the Node's clock; also once at start)
  // while fewer than min_connections peers are connected, dial known, unconnected, unblocked
  // peers of the peer store, most recently useful first, at most the shortfall at once; a peer
  // whose dial failed waits connection_check_interval, doubling up to 64 times that. 0: off.
  // The Host's limits stay the ceiling.
  std::size_t min_connections = 0;
  std::chrono::milliseconds connection_check_interval{5'000};
  // Table upkeep (failure detector, expiries) and liveness pings to connected peers.
  std::chrono::milliseconds tick_interval{100};
  std::chrono::milliseconds ping_interval{1'000};
  // stop() first flushes: what is queued goes out and its receipts come back, what was taken
  // from peers is answered (receipts, and the responses of the request handlers running), for
  // up to this long; meanwhile new sends and new requests are refused `stopped`. Then what is
  // left fails `stopped` and the handlers still running are cancelled.
  std::chrono::milliseconds drain_timeout{2'000};
  // Bounds of the envelopes this node takes on /bb/wire/1.0.0.
  wire::EnvelopeCaps envelope_caps;
  // Time source for the tables and gates; async::SteadyClock when null. Must outlive the Node (when
  // the Node is destroyed without stop(): until the executor has finished stopping it).
  async::Clock* clock = nullptr;
  // Sees every connection-level event of the Host (connected with direction, identified, dial
  // and stream failures) before the Node acts on it; for tools that report them.
  std::function<void(const wire::HostEvent&)> host_observer;
};

struct SendOptions {
  // Relative budget for this message (overrides the deadline rule); 0: the rule.
  std::uint64_t budget_ns = 0;
  // Complete only when the peer's receipt arrives (or the message is lost), returning that
  // outcome; otherwise send() completes once the message is queued for the peer.
  bool await_receipt = false;
  // The message's id; 0: a fresh one. One message sent to several peers keeps one id (the
  // fan-out send() does this), so a node that it reaches by two paths keeps one copy.
  std::uint64_t message_id = 0;
  // A trigger-only fill: no payload goes out, the receiver gets Received::trigger_only.
  bool trigger_only = false;
  // Sign the message as its author, so that receivers can forward() it: a relay's copy is
  // refused (`forged_origin`) without the signature. Costs one Ed25519 signature (20–50 µs,
  // plus SHA-256 of the payload) per message id: the fan-out send() and compose() sign once.
  bool relayable = false;
};

// A message delivered to a channel, after the receive pipeline let it through.
struct Received {
  wire::PeerId from = runtime::unset_peer();    // the connected peer that delivered it
  wire::PeerId origin = runtime::unset_peer();  // its author (relays keep it)
  std::string channel;  // the subscribed name, or the suffix's text form when none matches
  // The fill's dest_suffix bytes and its payload: views into `storage`, valid while this
  // Received or any copy of it lives. Copy the bytes out to keep them longer.
  wire::ByteView suffix;
  wire::ByteView payload;
  std::uint64_t message_id = 0;  // per-origin id, random, never 0
  bool trigger_only = false;
  std::uint64_t type_hash = 0;
  std::uint64_t arrival_ns = 0;  // on the Node's clock
  std::uint64_t budget_ns = 0;   // the envelope's remaining deadline at arrival; 0: none
  // The author's signature (verified on arrival), when it sent the message as relayable:
  // what lets forward() pass it on. nullopt: a message that only its author may send.
  std::optional<wire::Signature> origin_signature;
  // What suffix and payload point into, shared by every copy of this Received: for a payload
  // of 4 KiB or more, the decoded envelope the message arrived in (not copied out of it;
  // shared with the envelope's other fills); for a smaller one, or from compose(), one buffer
  // of its own (a copy of 64 B costs less than an envelope per message).
  std::shared_ptr<const void> storage;
};

// Request/response (node/requests.hpp). A service lives inside a receiver at the fill's
// dest_suffix `/component/0/op/<service>`: the original's in-node address of an op, with
// component 0 reserved for the Node's named services (channels live at /site/<id>). nullopt
// when `service` is not a valid op name (empty, or containing '/').
std::optional<wire::Multiaddr> service_suffix(std::string_view service);

struct RequestOptions {
  // How long request() waits for the response, on the Node's clock; also the request's
  // budget on the wire, so the server drops it unanswered once the requester has given up.
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);
};

// What request() returns: the response, or why there is none. Exactly one of them is set.
//   failure reasons: `timeout` (no response within RequestOptions::timeout), `no_service`
//   (nobody serves that name at the peer), `resource_limit` (too many requests in flight here,
//   or at the peer), `stopped`, `connection_lost` (the connection to the peer closed before the
//   response came), or the denial of the request's send (a gate's, `peer_unreachable`,
//   `queue_full`, or the peer's receipt refusing it: `blocklisted`, `deadline_exceeded`, …).
struct RequestResult {
  std::optional<Received> response;
  runtime::Verdict failure;
  bool ok() const noexcept { return response.has_value(); }
};

// Where a peer is, when the peer store knows no address of it: a DHT's lookup, say. Its answer
// is stored (AddressSource::dht) and dialled. It runs on the Node's executor; the Node stops
// waiting for it at the message's deadline (the cancellation reaches it as for `||`).
using PeerRouter =
    std::function<boost::asio::awaitable<std::vector<wire::Multiaddr>>(const wire::PeerId&)>;

// A service's handler: runs as its own task for each request; its value is the response
// payload, or nullopt for no answer (the requester then times out).
using ServiceHandler =
    std::function<boost::asio::awaitable<std::optional<wire::Bytes>>(const Received& request)>;

struct NodeMetrics {
  std::uint64_t messages_out = 0;  // messages written to connections (alone or in batches)
  std::uint64_t bytes_out = 0;     // their framed size
  std::uint64_t messages_in = 0;   // fills delivered to channels
  std::uint64_t bytes_in = 0;      // framed size of envelopes read
  std::uint64_t envelopes_in = 0;  // envelopes read (a batch is one)
  std::uint64_t receipts_accepted = 0;
  std::uint64_t sends = 0;  // send()/forward() calls per destination peer
  // Messages that did not make it, by reason label: denials on the way out, refusals and
  // losses reported later, and denials on the way in (prefixed "rx:"), e.g. "cooldown",
  // "queue_full", "connection_lost", "rx:duplicate", "rx:blocklisted".
  std::map<std::string, std::uint64_t, std::less<>> drops;
  std::size_t connections = 0;
  std::size_t connections_inbound = 0;  // of `connections`, those the peer dialled
  std::size_t connections_outbound = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t backoff_notices_sent = 0;
  std::uint64_t backoff_notices_received = 0;
  // Times an inbound message waited for its sender's memory in the resource manager (its
  // earlier messages were still unread); refusals count as drops "rx:resource_limit".
  std::uint64_t inbox_memory_waits = 0;
  // The Host's resource manager (docs/limits.md): usage and limits of the system and transient
  // scopes and of each protocol in use, peak memory, refusals by "scope:resource".
  wire::ResourceStats resources;
  // The Host's connection manager: refusals by reason, evictions, trims, handshakes running.
  wire::ConnManagerStats connection_manager;
  // Handshakes (TCP accept or connect to secured and multiplexed), from the Host; round trips
  // of the Node's pings.
  wire::Histogram handshake_times{wire::handshake_buckets_ns()};
  wire::Histogram round_trips{wire::rtt_buckets_ns()};

  std::uint64_t dropped(std::string_view reason) const;
  std::uint64_t failed_sends() const;  // every drop not prefixed "rx:"
};

// One peer's outbound queue (Node::outbound_queues()).
struct PeerQueue {
  wire::PeerId peer = runtime::unset_peer();
  std::size_t queued_messages = 0;  // accepted by send(), not yet written
  std::size_t queued_bytes = 0;
  std::size_t awaiting_receipt = 0;  // written, receipt not yet back
};

struct PeerStatus {
  bool connected = false;
  bool blocked = false;
  bool down = false;
  std::optional<runtime::PeerHealth> health;
  std::optional<runtime::BackoffState> backoff;
  std::optional<std::uint64_t> retry_at_ns;  // set while in a backoff window
  std::optional<runtime::RttEstimate> rtt;
  double phi = 0.0;
  std::size_t queued_messages = 0;  // accepted by send(), not yet written
  std::size_t queued_bytes = 0;
  std::size_t awaiting_receipt = 0;  // written, receipt not yet back
  std::vector<wire::Multiaddr> addresses;
};

class Node {
 public:
  Node(const boost::asio::any_io_executor& executor, NodeConfig config = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Builds both pipelines (throws boost::system::system_error naming the bad node), listens on
  // config.listen (throws if it cannot bind) and starts the node's tasks.
  boost::asio::awaitable<void> start();
  // Drains first (NodeConfig::drain_timeout: queued sends, receipts and answers to running
  // requests go out), then closes every connection and listener, fails what is still queued
  // (`stopped`), and returns when every task the node started has ended. Idempotent.
  boost::asio::awaitable<void> stop();

  // Dials (or reuses the connection to) the peer at `addr` and returns its proven PeerId; the
  // address is remembered for dialling on demand. Throws boost::system::system_error.
  boost::asio::awaitable<wire::PeerId> connect(const wire::Multiaddr& addr);
  // Remembers an address of `peer` for dialling on demand (a /p2p/ suffix is added).
  void add_address(const wire::PeerId& peer, const wire::Multiaddr& addr);

  // What the node knows of peers (addresses, identify, usefulness): node/peer_store.hpp.
  PeerStore& peer_store() noexcept;
  const PeerStore& peer_store() const noexcept;
  // Asked when send(), request() or a dial on demand needs a peer that is neither connected
  // nor in the peer store; empty: such a peer is `peer_resolve_failed` at once. Replaces the
  // router set before.
  void set_peer_router(PeerRouter router);

  // Runs the send pipeline for one destination: gates, then wire.Send (dial on demand, queue,
  // write). nullopt when queued (or, with await_receipt, accepted by the peer); otherwise the
  // denial with its stable reason label. The payload is copied before send() returns.
  boost::asio::awaitable<runtime::Verdict> send(const wire::PeerId& peer, std::string_view channel,
                                                wire::ByteView payload, SendOptions options = {});
  // One message to several peers: one envelope each, all under one message id, each through the
  // send pipeline in turn. The verdicts come back in the order of `peers`.
  boost::asio::awaitable<std::vector<runtime::Verdict>> send(std::span<const wire::PeerId> peers,
                                                             std::string_view channel,
                                                             wire::ByteView payload,
                                                             SendOptions options = {});
  // A fresh message id (64 random bits, never 0), for SendOptions::message_id.
  std::uint64_t mint_message_id();

  // One message of our own, made once to be sent peer by peer with forward() (each copy under
  // one id, and with options.relayable one signature, computed here): origin and from are this
  // node, the id options.message_id or a fresh one, arrival_ns now, budget_ns options.budget_ns
  // (0: each forward() uses the deadline rule), trigger_only options.trigger_only.
  Received compose(std::string_view channel, wire::ByteView payload, SendOptions options = {});

  // Sends a received message on to `peer`, keeping its origin, id, channel, payload and origin
  // signature and the remaining deadline (budget − time since arrival): what a relay does.
  // Someone else's message without a signature is denied at once with `unsigned_origin` (the
  // peer would refuse it as forged); counted and reported like any denied send.
  boost::asio::awaitable<runtime::Verdict> forward(const wire::PeerId& peer,
                                                   const Received& message,
                                                   SendOptions options = {});

  // Request/response on the envelope's correlation. request() sends `payload` to `service` at
  // `peer` as a REQUEST whose wire_req_id is a fresh RequestTracker token (tracked with the
  // timeout as its deadline) and returns the RESPONSE carrying that token from that peer, or
  // the failure (RequestResult). One-report rule: the outcome of an awaited request is its
  // return value and nothing else (no event, no Timeout). A request whose caller stopped
  // awaiting it (cancelled, e.g. the loser of `||`) stays tracked until its deadline and is then
  // reported once as a runtime::Timeout event; its response, if one comes, is refused.
  // Responses nobody waits for (unknown or late tokens, or from another peer than the one asked)
  // are refused `unknown_request` and counted as drops "rx:unknown_request"; they never reach a
  // channel. `payload` is read until request() returns.
  boost::asio::awaitable<RequestResult> request(const wire::PeerId& peer, std::string_view service,
                                                wire::ByteView payload,
                                                RequestOptions options = {});
  // Answers requests to `service` (replacing an earlier handler for the name) from now on. Each
  // request runs `handler` as a task of the Node, at most 64 at once per peer and 4096 in all:
  // more wait, holding the peer's stream as a full channel does, until one ends or their budget
  // runs out (`deadline_exceeded`); one the peer's memory limit cannot hold is `resource_limit`;
  // a request for a name nobody serves is refused `no_service`. The request's budget is checked
  // before the handler runs and before the answer goes out: a request whose requester has given
  // up is dropped unanswered (counted "rx:deadline_exceeded"). The answer is a RESPONSE through
  // the send pipeline (gates apply) with the request's remaining budget; a denied answer is a
  // SendFailed event (nobody awaits it). Throws std::invalid_argument for a bad service name.
  void serve(std::string service, ServiceHandler handler);

  // Messages for `channel` are kept (up to inbox_capacity) from now on. receive() subscribes
  // implicitly; messages that arrive for a channel nobody subscribed to yet are kept too, for
  // up to max_unsubscribed_channels channels.
  void subscribe(std::string_view channel);
  // The next message on `channel`; nullopt once the node stopped.
  boost::asio::awaitable<std::optional<Received>> receive(std::string_view channel);
  std::optional<Received> try_receive(std::string_view channel);
  // The next message on any channel, in arrival order; nullopt once the node stopped.
  boost::asio::awaitable<std::optional<Received>> receive_any();

  // The next lifecycle or outcome event (PeerUp, PeerDown, SendFailed, …); nullopt once stopped.
  boost::asio::awaitable<std::optional<runtime::Event>> next_event();
  std::optional<runtime::Event> try_next_event();

  // Policy. A blocked peer stays connected, and the gates deny both directions with
  // `blocklisted`: our sends to it fail at once, its messages to us are refused (it learns
  // that from the receipts).
  void block(const wire::PeerId& peer);
  void unblock(const wire::PeerId& peer);
  // Admission allowlist: once any peer is allowed, only allowed peers pass (`not_allowlisted`).
  void allow(const wire::PeerId& peer);
  void clear_allowlist();

  PeerStatus peer_status(const wire::PeerId& peer) const;
  NodeMetrics metrics() const;
  // The outbound queue of every peer the Node has a link to (connected or being dialled), in
  // no particular order: one entry per such peer, for metrics.
  std::vector<PeerQueue> outbound_queues() const;
  std::vector<wire::PeerId> connected_peers() const;

  const wire::PeerId& peer_id() const noexcept;
  // Bound listen addresses (after start()), each ending in /p2p/<peer id>.
  std::vector<wire::Multiaddr> listen_addrs() const;
  const boost::asio::any_io_executor& executor() const noexcept;
  async::Clock& clock() const noexcept;

  // Lower layers, for tools and tests.
  runtime::PeerTables& tables() noexcept;
  // Also calls `observer` with every Host event, after NodeConfig::host_observer and before the
  // Node acts on it: for what is built on the Node and follows connections (pubsub).
  void observe_host(std::function<void(const wire::HostEvent&)> observer);
  wire::Host& host() noexcept;

  // Nodes (in this process) destroyed without stop() whose stop is still running on their
  // executors; 0 once each has closed everything, its tasks have ended and its memory is freed.
  static std::size_t detached_stops() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bb::node

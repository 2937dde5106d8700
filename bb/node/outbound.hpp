// The Node's outbound links: one /bb/wire/1.0.0 Sender per destination peer, dialled on demand
// (a connection, else the peer store's addresses in turn, else the peer router's), with the outcome
// of every message it queued: accepted by the peer's receipt, refused by it, or lost with the
// connection.
//
// Each outcome is reported once (node.hpp's rule): to the send() that awaits it, else as one
// SendFailed event; messages never written when a link fails are one OutboundDropped per peer.
// Thread rule: the Node's executor.
#pragma once

#include "bb/node/detail/core.hpp"
#include "bb/wire/envelope.hpp"
#include "bb/wire/protocols/bb_wire.hpp"

#include <deque>
#include <memory>
#include <unordered_map>

namespace bb::node::detail {

class Outbound {
 public:
  // A send() that waits for its receipt.
  struct Waiter {
    explicit Waiter(const boost::asio::any_io_executor& ex) : done_event(ex) {}
    async::Event done_event;
    runtime::Verdict verdict;
    bool done = false;
  };

  explicit Outbound(Core& core);
  Outbound(const Outbound&) = delete;
  Outbound& operator=(const Outbound&) = delete;

  // Whether `peer` can be reached at all: a link, a connection, an address or a peer router.
  bool resolvable(const wire::PeerId& peer) const;
  // Our listen addresses for src_peer_addresses: once per link.
  std::span<const wire::Bytes> local_addresses(const wire::PeerId& peer) const;
  void set_local_addresses(std::vector<wire::Bytes> addrs) { local_addrs_ = std::move(addrs); }

  // Queues one envelope for `peer`: dials on demand, waits for room until `deadline_ns`, encodes
  // it. nullopt once queued; a denial (peer_unreachable, queue_full, connection_lost, stopped)
  // otherwise. `waiter`: the send() that awaits the receipt, if any.
  boost::asio::awaitable<runtime::Verdict> send(const wire::PeerId& peer, std::uint64_t message_id,
                                                const wire::SingleFillEnvelope& envelope,
                                                std::uint64_t deadline_ns,
                                                std::shared_ptr<Waiter> waiter);
  // send() when it would not wait nor deny: the link is open and has room. True once queued;
  // false with nothing done otherwise.
  bool try_send(const wire::PeerId& peer, std::uint64_t message_id,
                const wire::SingleFillEnvelope& envelope, std::shared_ptr<Waiter> waiter);
  // A control envelope (a BackoffNotice): queued when the link is open, never counted.
  boost::asio::awaitable<void> send_control(const wire::PeerId& peer,
                                            const wire::SingleFillEnvelope& envelope);

  // Nothing queued or awaiting a receipt on any link; wait_change() returns after an outcome.
  bool idle() const;
  boost::asio::awaitable<void> wait_change() { return resolved_.wait(); }

  // Fails every link (`why`): what stop() does.
  void fail_all(std::string_view why, std::string detail);

  // For peer_status().
  struct LinkStatus {
    std::size_t queued = 0, queued_bytes = 0, awaiting_receipt = 0;
  };
  std::optional<LinkStatus> status(const wire::PeerId& peer) const;
  // Every link's, for Node::outbound_queues().
  std::vector<PeerQueue> queues() const;

 private:
  struct Entry {
    std::uint64_t message_id = 0;
    std::shared_ptr<Waiter> waiter;  // null unless the sender awaits the receipt
    bool control = false;            // a BackoffNotice: not a send, not counted
  };
  struct Link {
    enum class State : std::uint8_t { connecting, open, closed };
    Link(const boost::asio::any_io_executor& ex, wire::PeerId p, wire::bb_wire::SenderLimits l)
        : peer(std::move(p)), sender(ex, l) {}
    wire::PeerId peer;
    State state = State::connecting;
    std::optional<wire::Stream> stream;
    wire::bb_wire::Sender sender;
    std::deque<Entry> entries;  // unresolved, in the order they were queued
    std::string_view failure = runtime::reason::peer_unreachable;
    std::string failure_detail;
    bool addresses_sent = false;          // our listen addresses went out on this link
    std::uint64_t route_deadline_ns = 0;  // how long asking the peer router may take
  };

  std::shared_ptr<Link> link_for(const wire::PeerId& peer, std::uint64_t deadline_ns);
  boost::asio::awaitable<wire::Connection> dial(const wire::PeerId& peer,
                                                std::uint64_t deadline_ns);
  // The peer router's addresses for `peer` (stored as `dht`), within `deadline_ns`.
  boost::asio::awaitable<std::vector<wire::Multiaddr>> route(const wire::PeerId& peer,
                                                             std::uint64_t deadline_ns);
  boost::asio::awaitable<void> run_link(std::shared_ptr<Link> link);
  void on_receipt_run(Link& link, std::uint64_t count, std::string_view reason);
  bool fail_entry(const wire::PeerId& peer, Entry& e, std::string_view why, std::string detail,
                  bool unsent);
  void fail_link(Link& link, std::string_view why, std::string detail);
  static void complete(Waiter& w, runtime::Verdict v);

  Core& core_;
  std::vector<wire::Bytes> local_addrs_;
  std::unordered_map<wire::PeerId, std::shared_ptr<Link>> links_;
  async::Event resolved_;  // an entry got its outcome, or a link failed
};

}  // namespace bb::node::detail

// The Kademlia service's state, shared by dht/kademlia.cpp (the API, lookups, upkeep) and
// dht/streams.cpp (requests over streams, both ways). Not part of the API.
#pragma once

#include "bb/async/event.hpp"
#include "bb/async/task_group.hpp"
#include "bb/dht/core.hpp"
#include "bb/dht/kademlia.hpp"
#include "bb/dht/query.hpp"

#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace bb::dht {

struct Kademlia::Impl : std::enable_shared_from_this<Kademlia::Impl> {
  Impl(node::Node& n, KademliaOptions o);

  node::Node& node;
  KademliaOptions options;
  Core core;
  async::TaskGroup tasks;
  async::Event serve_done;
  Mode mode = Mode::client;
  bool started = false;
  bool stopped = false;
  KademliaStats counters;
  std::unordered_map<wire::PeerId, std::size_t> serving_per_peer;
  std::unordered_set<wire::Stream*> serving;
  struct Provided {
    Cid cid;
    std::uint64_t announced_ns = 0;
  };
  std::map<wire::Bytes, Provided> providing;
  std::uint64_t next_seq = 0;  // for our /bb/ records: one above the highest we have seen
  // The addresses bootstrap() was given: dialled again when the routing table runs empty.
  std::vector<wire::Multiaddr> bootstrap_addrs;
  // Peers that failed a request, with when their hold ends (failed_peer_hold), at most
  // kMaxHeldPeers: a peer's identify does not put it back in the table before then.
  static constexpr std::size_t kMaxHeldPeers = 4096;
  std::unordered_map<wire::PeerId, std::uint64_t> held;
  void hold(const wire::PeerId& peer);
  bool is_held(const wire::PeerId& peer);
  // Dials the addresses, all at once, adds those that answer to the table, then looks up our
  // own key.
  boost::asio::awaitable<void> join(std::vector<wire::Multiaddr> peers);
  boost::asio::awaitable<void> join_one(wire::Multiaddr addr);

  // --- streams (dht/streams.cpp)
  static boost::asio::awaitable<void> serve_stream(std::shared_ptr<Impl> impl,
                                                   wire::Connection conn, wire::Stream stream);
  boost::asio::awaitable<void> serve(wire::Connection conn, wire::Stream stream);
  // One request to `peer` (dialled from what we know of it if not connected) and its answer
  // (none for ADD_PROVIDER), within request_timeout.
  boost::asio::awaitable<Result<Message>> ask(const wire::PeerId& peer, const Message& request);
  // ask's work: a request whose connection closed under it (the peer trimmed it, or kept the
  // other of two simultaneous dials) goes once more, on whatever connection the Host then has
  // or a new dial. Every kad request is idempotent, so the peer may see it twice.
  boost::asio::awaitable<Message> ask_retrying(wire::PeerId peer, Message request);
  // `on`: the connection the request's stream went out on, once there is one.
  boost::asio::awaitable<Message> ask_once(wire::PeerId peer, Message request,
                                           std::optional<wire::Connection>& on);
  // One request to each of `requests` at once (each bounded by request_timeout); how many
  // answers `ok` accepted. Returns once every request has ended (or stop() cancelled it).
  using Accept = std::function<bool(const Result<Message>&)>;
  boost::asio::awaitable<std::size_t> ask_all(
      std::vector<std::pair<wire::PeerId, Message>> requests, Accept ok);

  // --- addresses
  // What we tell `asker_addr` about `peer`: its known addresses (ours for ourselves) that the
  // asker may use, without /p2p/, at most max_addrs_per_peer.
  std::vector<wire::Multiaddr> addrs_for(const wire::PeerId& peer,
                                         const wire::Multiaddr* asker_addr) const;
  std::vector<wire::Multiaddr> known_addrs(const wire::PeerId& peer) const;
  void learn(const PeerEntry& entry);

  // --- lookups (dht/kademlia.cpp)
  Ask asker();
  boost::asio::awaitable<Result<PeerAddrs>> find_peer(const wire::PeerId& peer, LookupStats* stats);
  boost::asio::awaitable<bool> run(Lookup& lookup, const Message& request, DriveHooks hooks);
  std::vector<wire::PeerId> seeds(const Key& target) const;
  void on_host_event(const wire::HostEvent& e);
  boost::asio::awaitable<void> upkeep_loop();
  boost::asio::awaitable<std::size_t> announce(const Cid& cid);
  std::uint64_t now() const noexcept { return node.clock().now_ns(); }
};

}  // namespace bb::dht

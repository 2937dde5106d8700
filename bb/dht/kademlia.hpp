// The Kademlia DHT on a Node (/ipfs/kad/1.0.0, libp2p kad-dht spec): peer routing, provider
// records and value records, interoperable with go-, rust- and js-libp2p.
//
//   bb::dht::Kademlia dht(node);                  // after node.start()
//   dht.start();
//   co_await dht.bootstrap({bootstrap_addr});      // joins: dials, looks itself up
//   auto where = co_await dht.find_peer(peer);     // the peer's addresses, or not_found
//   co_await dht.provide(bb::dht::Cid::of(bytes)); // announced to the k closest, republished
//   auto who = co_await dht.find_providers(cid);
//   co_await dht.put(name, data);                  // /bb/<our PeerId>/<name>, signed
//   auto value = co_await dht.get(key);
//
// What it does with the Node: it serves the protocol on the Host (server mode), adds peers that
// serve it (seen through identify) to its routing table, stores the addresses it learns in the
// Node's peer store (source dht), and installs itself as the Node's peer router, so that
// send()/request() to a peer known only by its PeerId looks it up.
//
// Bounds (every one checked before the thing it bounds grows): one message at most
// MessageLimits::max_message_bytes, reserved in the stream's resource scope before it is read;
// requests running at once per peer (max_requests_per_peer: more, and the stream is reset with
// errc::peer_query_limit) and in all (max_requests); provider records (ProviderLimits: keys,
// providers per key, entries per announcing peer); value records (RecordLimits: records, bytes,
// records per putting peer); a lookup's candidates (k × 4 closest kept), its hops (max_hops) and
// its time (lookup_timeout); each request's time (request_timeout).
//
// Thread rule: the Node's executor. Lifetime: stop() before the Node stops and before this goes.
#pragma once

#include "bb/dht/cid.hpp"
#include "bb/dht/message.hpp"
#include "bb/dht/providers.hpp"
#include "bb/dht/records.hpp"
#include "bb/dht/routing_table.hpp"
#include "bb/node/node.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bb::dht {

// server: answers queries and is put in others' routing tables; client: only asks (it does not
// serve the protocol, so peers do not add it); automatic: server when the Node listens (it has
// an address others can dial), client when it does not.
enum class Mode : std::uint8_t { client, server, automatic };
std::string_view to_string(Mode mode) noexcept;

struct KademliaOptions {
  std::string protocol = std::string(kProtocolId);
  std::size_t k = 20;
  std::size_t alpha = 3;
  Mode mode = Mode::automatic;
  std::size_t max_hops = 32;  // a lookup queries no peer learned more than this many hops away
  std::chrono::milliseconds lookup_timeout{30'000};
  std::chrono::milliseconds request_timeout{5'000};
  std::chrono::milliseconds refresh_interval{300'000};  // buckets not looked up for this long
  std::chrono::milliseconds republish_interval{22 * 3600 * 1000LL};  // our provider records
  std::chrono::milliseconds sweep_interval{60'000};  // expired providers and records go
  // A peer that failed a request leaves the table and its identify (a push it may send at
  // will) does not bring it back for this long; an answer to a lookup does at once.
  std::chrono::milliseconds failed_peer_hold{60'000};
  MessageLimits messages;
  ProviderLimits providers;
  RecordLimits records;
  std::size_t max_requests_per_peer = 16;  // inbound, at once
  std::size_t max_requests = 512;          // inbound, at once, over all peers
  // Addresses put in our answers per peer, after leaving out those the asker may not use
  // (loopback to a non-loopback asker, private ranges to a public one).
  std::size_t max_addrs_per_peer = 8;
};

struct PeerAddrs {
  wire::PeerId peer;
  std::vector<wire::Multiaddr> addrs;
};

struct LookupStats {
  std::size_t hops = 0;     // depth of the deepest peer that answered
  std::size_t queried = 0;  // requests sent
  std::size_t answered = 0;
  std::size_t failed = 0;  // errors, timeouts, bad answers
  bool timed_out = false;
};

struct KademliaStats {
  std::size_t routing_table = 0;
  std::size_t provider_keys = 0;
  std::size_t provider_entries = 0;
  std::size_t records = 0;
  std::uint64_t requests_in = 0;
  std::uint64_t requests_refused = 0;  // over a per-peer or total bound
  std::uint64_t streams_closed = 0;    // for bad input
  std::uint64_t requests_out = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t requests_retried = 0;  // once, after their connection closed under them
  std::uint64_t providers_refused = 0;
  std::uint64_t records_refused = 0;
};

template <class T>
using Result = boost::system::result<T>;

class Kademlia {
 public:
  explicit Kademlia(node::Node& node, KademliaOptions options = {});
  ~Kademlia();
  Kademlia(const Kademlia&) = delete;
  Kademlia& operator=(const Kademlia&) = delete;

  // Serves the protocol (server mode), follows the Host's connections and identify results,
  // installs the peer router and starts the refresh, republish and sweep tasks. The Node must
  // be started.
  void start();
  boost::asio::awaitable<void> stop();

  // Dials each address (failures are skipped), adds the peers that serve the DHT, then looks up
  // our own key to fill the table. Returns the routing table's size afterwards.
  boost::asio::awaitable<std::size_t> bootstrap(std::vector<wire::Multiaddr> peers);

  // The k peers closest to `key` (the raw key; it is hashed), with addresses, closest first.
  boost::asio::awaitable<Result<std::vector<PeerAddrs>>> closest_peers(
      wire::Bytes key, LookupStats* stats = nullptr);
  // The peer's addresses: from a connection or the peer store if it is known, else a lookup.
  // errc::not_found, errc::timeout, errc::no_peers, errc::stopped.
  boost::asio::awaitable<Result<PeerAddrs>> find_peer(const wire::PeerId& peer,
                                                      LookupStats* stats = nullptr);
  // Up to `count` providers of `cid` (ourselves included when we provide it), with addresses.
  boost::asio::awaitable<Result<std::vector<PeerAddrs>>> find_providers(
      const Cid& cid, std::size_t count = 20, LookupStats* stats = nullptr);
  // Announces us as a provider of `cid` to the k closest peers and re-announces every
  // republish_interval while running; returns how many peers took the announcement.
  boost::asio::awaitable<Result<std::size_t>> provide(const Cid& cid);
  void stop_providing(const Cid& cid);

  // Stores a record (validated here first) at the k closest peers and locally; returns how many
  // peers stored it. errc::unknown_namespace, errc::bad_record, lookup errors.
  boost::asio::awaitable<Result<std::size_t>> put_value(wire::Bytes key, wire::Bytes value);
  // The best valid record for `key` from up to `quorum` answers (ours counts); errc::not_found.
  boost::asio::awaitable<Result<wire::Bytes>> get_value(wire::Bytes key, std::size_t quorum = 3);
  // The /bb/ namespace: put() signs `data` as /bb/<our PeerId>/<name> and stores it (as
  // put_value); its seq is above any we know for the key (here or in the network) and at least
  // the wall clock in milliseconds, so a restarted author's records still win. get() takes a
  // full key and returns the verified data.
  struct Stored {
    std::string key;
    std::uint64_t seq = 0;
    std::size_t peers = 0;  // peers that stored it
  };
  boost::asio::awaitable<Result<Stored>> put(std::string_view name, wire::ByteView data);
  boost::asio::awaitable<Result<BbRecordView>> get(std::string_view key);

  Mode mode() const noexcept;  // the mode in force (automatic resolved)
  const RoutingTable& routing_table() const noexcept;
  KademliaStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the streams being served
};

}  // namespace bb::dht

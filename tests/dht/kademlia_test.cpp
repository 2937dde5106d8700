// The Kademlia service on real Nodes over loopback: joining through a chain of bootstrap peers,
// finding peers, providers and /bb/ records, and hostile peers (junk answers, ADD_PROVIDER
// floods, too many streams at once) whose cost stays within their budget while an honest peer
// still gets through.
#include "bb/dht/kademlia.hpp"
#include "bb/async/event.hpp"
#include "bb/dht/error.hpp"
#include "bb/wire/frame.hpp"
#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <filesystem>
#include <memory>
#include <optional>

namespace bb::dht::test {
namespace {

namespace asio = boost::asio;
using node::Node;
using node::node_test::Cluster;
using node::node_test::dial_addr;

// Waits until `done()` holds, looking again every millisecond, for at most 10 s of real time
// (the state it waits for comes from other tasks on this executor and the sockets).
template <class Pred>
asio::awaitable<bool> eventually(Pred done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) co_return false;
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

struct Member {
  Node* node = nullptr;
  std::unique_ptr<Kademlia> dht;
};

// `n` DHT servers joined as a chain: each bootstraps through the one before it.
// (Options by pointer: g++ 12 destroys a coroutine's defaulted by-value parameter twice.)
asio::awaitable<std::vector<Member>> chain(Cluster& cluster, std::size_t n,
                                           const KademliaOptions* options = nullptr) {
  std::vector<Member> out;
  for (std::size_t i = 0; i < n; ++i) {
    Member m;
    m.node = co_await cluster.start();
    m.dht = std::make_unique<Kademlia>(*m.node, options ? *options : KademliaOptions{});
    m.dht->start();
    if (i > 0) {
      std::vector<wire::Multiaddr> boot{dial_addr(*out.back().node)};
      const std::size_t table = co_await m.dht->bootstrap(std::move(boot));
      EXPECT_GE(table, 1u);
    }
    out.push_back(std::move(m));
  }
  co_return out;
}

asio::awaitable<void> stop_all(std::vector<Member>& members) {
  for (auto& m : members) co_await m.dht->stop();
}

asio::awaitable<void> finds_through_a_chain(Cluster& cluster) {
  auto members = co_await chain(cluster, 8);
  EXPECT_EQ(members.front().dht->mode(), Mode::server);
  // The first finds the last, which it was never told about.
  LookupStats stats;
  auto found = co_await members.front().dht->find_peer(members.back().node->peer_id(), &stats);
  EXPECT_TRUE(found.has_value());
  if (found) {
    EXPECT_EQ(found->peer, members.back().node->peer_id());
    EXPECT_FALSE(found->addrs.empty());
  }
  // Everyone finds everyone.
  for (auto& a : members) {
    for (auto& b : members) {
      if (a.node == b.node) continue;
      auto r = co_await a.dht->find_peer(b.node->peer_id());
      EXPECT_TRUE(r.has_value()) << "not found";
    }
  }
  wire::Bytes key(3, 7);
  auto closest = co_await members[3].dht->closest_peers(std::move(key));
  EXPECT_TRUE(closest.has_value() && closest->size() == 7u);
  co_await stop_all(members);
}

TEST(Kademlia, NodesJoinedAsAChainFindEachOther) {
  node::node_test::run_scenario(&finds_through_a_chain, std::chrono::seconds(60));
}

asio::awaitable<void> providers_and_records(Cluster& cluster) {
  auto members = co_await chain(cluster, 6);
  const Cid cid = Cid::of(wire::as_bytes(std::string("bb dht test content")));
  auto took = co_await members[1].dht->provide(cid);
  EXPECT_TRUE(took.has_value() && *took >= 1u);
  auto who = co_await members[5].dht->find_providers(cid);
  EXPECT_TRUE(who.has_value());
  if (who) {
    EXPECT_EQ(who->size(), 1u);
    EXPECT_EQ(who->at(0).peer, members[1].node->peer_id());
    EXPECT_FALSE(who->at(0).addrs.empty());
  }
  // A /bb/ record: signed by its author, found by anyone, the later one wins.
  auto put = co_await members[2].dht->put("status", wire::as_bytes(std::string("first")));
  EXPECT_TRUE(put && put->peers >= 1u);
  if (put) {
    const std::string key = put->key;
    EXPECT_EQ(key, bb_key(members[2].node->peer_id(), "status"));
    auto got = co_await members[4].dht->get(key);
    EXPECT_TRUE(got && wire::as_chars(got->data) == "first");
    auto again = co_await members[2].dht->put("status", wire::as_bytes(std::string("second")));
    EXPECT_TRUE(again && again->seq > put->seq);
    got = co_await members[0].dht->get(key);
    EXPECT_TRUE(got && wire::as_chars(got->data) == "second" && got->seq == again->seq);
  }
  auto none = co_await members[3].dht->get(bb_key(members[3].node->peer_id(), "nothing"));
  EXPECT_EQ(none.error(), make_error_code(errc::not_found));
  auto bad = co_await members[3].dht->get("/elsewhere/x");
  EXPECT_EQ(bad.error(), make_error_code(errc::bad_key));
  co_await stop_all(members);
}

TEST(Kademlia, ProvidersAndSignedRecordsAreFound) {
  node::node_test::run_scenario(&providers_and_records, std::chrono::seconds(60));
}

// A DHT "server" that answers every request with 20 made-up peers at addresses where nothing
// listens, and a second kind that answers garbage bytes.
void serve_junk(Node& node, bool garbage) {
  node.host().set_handler(
      std::string(kProtocolId),
      [garbage](wire::Connection, wire::Stream stream) -> asio::awaitable<void> {
        std::uint8_t buf[4096];
        std::uint64_t seq = 0;
        for (;;) {
          const std::size_t n = co_await stream.read_some(buf);
          if (n == 0) break;
          wire::Bytes out;
          if (garbage) {
            const wire::Bytes junk(200, 0xEE);
            wire::append_frame(out, junk);
          } else {
            Message m;
            m.type = MessageType::find_node;
            for (int i = 0; i < 20; ++i) {
              m.closer_peers.push_back(PeerEntry{
                  wire::Ed25519KeyPair::generate().peer_id(),
                  {*wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/" + std::to_string(1 + seq++ % 3))},
                  {}});
            }
            wire::append_frame(out, encode_message(m));
          }
          co_await stream.write(out);
        }
        stream.close_write();
      });
}

// Identify pushes a node receives from one peer (set `from` before it pushes).
struct PushWatch {
  std::optional<wire::PeerId> from;
  std::size_t pushes = 0;
};

asio::awaitable<void> junk_answers(Cluster& cluster) {
  auto members = co_await chain(cluster, 5);
  auto watch = std::make_shared<PushWatch>();
  members[4].node->observe_host([watch](const wire::HostEvent& e) {
    const auto* id = std::get_if<wire::PeerIdentified>(&e);
    if (id && id->pushed && watch->from == id->peer) ++watch->pushes;
  });
  // Two hostile servers join through the first member.
  std::vector<Node*> hostile;
  for (int i = 0; i < 2; ++i) {
    Node* h = co_await cluster.start();
    serve_junk(*h, i == 1);
    (void)co_await h->connect(dial_addr(*members[0].node));
    hostile.push_back(h);
  }
  // The first member meets them (identify says they serve the DHT) before the lookups.
  for (auto* h : hostile) (void)co_await members[4].node->connect(dial_addr(*h));
  auto& table = members[4].dht->routing_table();
  EXPECT_TRUE(co_await eventually([&] { return table.size() >= 6; }));
  LookupStats stats;
  auto found = co_await members[4].dht->find_peer(members[1].node->peer_id(), &stats);
  EXPECT_TRUE(found.has_value());
  // Made-up peers cost one failed dial each, within the lookup's candidate bound.
  EXPECT_LE(stats.queried, 4u * 20u + 3u);
  // A lookup that asks everyone: the garbage server's answer fails its request, and it leaves
  // the routing table.
  wire::Bytes key(4, 9);
  auto all = co_await members[4].dht->closest_peers(std::move(key));
  EXPECT_TRUE(all.has_value());
  EXPECT_GE(members[4].dht->stats().requests_failed, 1u);  // at least the garbage server's
  EXPECT_FALSE(members[4].dht->routing_table().contains(hostile[1]->peer_id()));
  // Nor does its identify bring it back, pushed whenever it likes (here: a new protocol; the
  // push its DHT handler caused may also arrive only now).
  watch->from = hostile[1]->peer_id();
  const std::size_t pushes = watch->pushes;
  hostile[1]->host().set_handler(
      "/bb/test/another/1.0.0",
      [](wire::Connection, wire::Stream) -> asio::awaitable<void> { co_return; });
  EXPECT_TRUE(co_await eventually([&] { return watch->pushes > pushes; }));
  EXPECT_FALSE(members[4].dht->routing_table().contains(hostile[1]->peer_id()));
  co_await stop_all(members);
}

TEST(Kademlia, PeersAnsweringWithJunkCostABoundedLookupAndHonestPeersAreStillFound) {
  node::node_test::run_scenario(&junk_answers, std::chrono::seconds(60));
}

asio::awaitable<void> add_provider_flood(Cluster& cluster) {
  KademliaOptions options;
  options.providers.max_entries_per_peer = 50;
  auto members = co_await chain(cluster, 3, &options);
  Node* mallory = co_await cluster.start();
  (void)co_await mallory->connect(dial_addr(*members[0].node));
  // 1000 announcements of different keys on one stream, then 40 streams at once.
  std::vector<std::string> protocols{std::string(kProtocolId)};
  wire::Stream stream = co_await mallory->host().open_stream(members[0].node->peer_id(), protocols);
  wire::Bytes burst;
  for (int i = 0; i < 1000; ++i) {
    const Cid cid = Cid::of(wire::as_bytes("flood " + std::to_string(i)));
    Message m;
    m.type = MessageType::add_provider;
    m.key.assign(cid.key().begin(), cid.key().end());
    std::vector<wire::Multiaddr> addrs{dial_addr(*mallory).decapsulate_code(0x01a5)};
    m.provider_peers.push_back(PeerEntry{mallory->peer_id(), std::move(addrs), {}});
    wire::append_frame(burst, encode_message(m));
  }
  co_await stream.write(burst);
  stream.close_write();
  // Its stream is closed at the 51st (store_full), having stored its share and no more.
  std::uint8_t sink[64];
  try {
    while (co_await stream.read_some(sink) > 0) {
    }
  } catch (const boost::system::system_error&) {
  }
  const auto s = members[0].dht->stats();
  EXPECT_EQ(s.provider_entries, 50u);
  EXPECT_EQ(s.providers_refused, 1u);
  EXPECT_EQ(s.streams_closed, 1u);
  // An honest provider still gets in, and is found.
  const Cid cid = Cid::of(wire::as_bytes(std::string("honest")));
  auto took = co_await members[2].dht->provide(cid);
  EXPECT_TRUE(took.has_value() && *took >= 1u);
  auto who = co_await members[1].dht->find_providers(cid);
  EXPECT_TRUE(who && !who->empty() && who->at(0).peer == members[2].node->peer_id());
  co_await stop_all(members);
}

TEST(Kademlia, AnAddProviderFloodFillsOnlyItsOwnShare) {
  node::node_test::run_scenario(&add_provider_flood, std::chrono::seconds(60));
}

asio::awaitable<void> stream_flood(Cluster& cluster) {
  KademliaOptions options;
  options.max_requests_per_peer = 4;
  auto members = co_await chain(cluster, 2, &options);
  Node* mallory = co_await cluster.start();
  (void)co_await mallory->connect(dial_addr(*members[0].node));
  // Ten streams held open without a request: the fifth and later are reset at once.
  std::vector<wire::Stream> held;
  for (int i = 0; i < 10; ++i) {
    std::vector<std::string> protocols{std::string(kProtocolId)};
    held.push_back(co_await mallory->host().open_stream(members[0].node->peer_id(), protocols));
    const wire::Bytes half(1, 0x80);  // half a length prefix: the stream waits
    co_await held.back().write(half);
  }
  auto& server = *members[0].dht;
  EXPECT_TRUE(co_await eventually([&] { return server.stats().requests_refused >= 6; }));
  EXPECT_EQ(members[0].dht->stats().requests_refused, 6u);
  // Someone else is still served.
  auto found = co_await members[1].dht->find_peer(members[0].node->peer_id());
  EXPECT_TRUE(found.has_value());
  for (auto& s : held) s.reset();
  co_await stop_all(members);
}

TEST(Kademlia, TooManyStreamsFromOnePeerAreRefusedAndOthersStillServed) {
  node::node_test::run_scenario(&stream_flood, std::chrono::seconds(60));
}

// A Node sends to a peer it knows only by its PeerId: the DHT is its peer router.
asio::awaitable<void> peer_routing(Cluster& cluster) {
  auto members = co_await chain(cluster, 5);
  node::NodeConfig config = node::node_test::loopback_config();
  Node* x = co_await cluster.start(config);
  KademliaOptions client;
  client.mode = Mode::client;  // nobody adds X to a table, so T's join cannot tell X about T
  Kademlia xd(*x, client);
  xd.start();
  (void)co_await xd.bootstrap(members[0].node->listen_addrs());
  // T joins after X did, through the last member: X has never heard of it.
  Node* t = co_await cluster.start(config);
  Kademlia td(*t);
  td.start();
  (void)co_await td.bootstrap(members[4].node->listen_addrs());
  EXPECT_FALSE(x->peer_store().knows(t->peer_id()));
  node::SendOptions send;
  send.await_receipt = true;
  const wire::Bytes hello(5, 'h');
  auto verdict = co_await x->send(t->peer_id(), "chan", hello, send);
  EXPECT_FALSE(verdict.has_value()) << "the send was denied";
  auto got = co_await t->receive("chan");
  EXPECT_TRUE(got && got->from == x->peer_id());
  EXPECT_TRUE(x->peer_store().knows(t->peer_id()));
  co_await td.stop();
  co_await xd.stop();
  co_await stop_all(members);
}

TEST(Kademlia, ANodeReachesAPeerItKnowsOnlyByPeerIdThroughTheDht) {
  node::node_test::run_scenario(&peer_routing, std::chrono::seconds(60));
}

// A server of the protocol that holds the first request it gets (no answer, its stream left
// open) and answers each later one with a FIND_NODE naming nobody.
struct Holding {
  explicit Holding(const asio::any_io_executor& ex) : first(ex) {}
  int streams = 0;
  std::optional<wire::Connection> held_on;
  async::Event first;
};

void serve_holding_the_first(Node& node, std::shared_ptr<Holding> h) {
  node.host().set_handler(std::string(kProtocolId),
                          [h](wire::Connection conn, wire::Stream stream) -> asio::awaitable<void> {
                            const bool hold = h->streams++ == 0;
                            std::uint8_t buf[4096];
                            try {
                              if (co_await stream.read_some(buf) == 0) co_return;
                              if (hold) {
                                h->held_on = conn;
                                h->first.set();
                                while (co_await stream.read_some(buf) > 0) {
                                }
                                co_return;
                              }
                            } catch (const boost::system::system_error&) {
                              co_return;  // the held stream, when its connection closes
                            }
                            Message m;
                            m.type = MessageType::find_node;
                            wire::Bytes out;
                            wire::append_frame(out, encode_message(m));
                            co_await stream.write(out);
                            stream.close_write();
                            try {
                              while (co_await stream.read_some(buf) > 0) {
                              }
                            } catch (const boost::system::system_error&) {
                            }
                          });
}

asio::awaitable<void> closest_into(Kademlia& dht, wire::Bytes key,
                                   std::optional<Result<std::vector<PeerAddrs>>>& out) {
  out = co_await dht.closest_peers(std::move(key));
}

// The connection a request went out on closes before the answer (the peer trimmed it, or kept
// the other of two simultaneous dials): the request goes once more and is answered.
asio::awaitable<void> request_outlives_its_connection(Cluster& cluster) {
  Node* asker = co_await cluster.start();
  Node* server = co_await cluster.start();
  auto holding = std::make_shared<Holding>(server->executor());
  serve_holding_the_first(*server, holding);
  Kademlia dht(*asker);
  dht.start();
  (void)co_await asker->connect(dial_addr(*server));
  EXPECT_TRUE(co_await eventually([&] { return dht.routing_table().contains(server->peer_id()); }));
  std::optional<Result<std::vector<PeerAddrs>>> closest;
  asio::co_spawn(asker->executor(), closest_into(dht, wire::Bytes(4, 5), closest), asio::detached);
  co_await holding->first.wait();
  EXPECT_EQ(dht.stats().requests_retried, 0u);
  holding->held_on->close();
  EXPECT_TRUE(co_await eventually([&] { return closest.has_value(); }));
  const auto s = dht.stats();
  EXPECT_EQ(s.requests_retried, 1u);
  EXPECT_EQ(s.requests_failed, 0u) << "the request failed with its connection";
  EXPECT_GE(holding->streams, 2);
  if (closest) {
    EXPECT_TRUE(closest->has_value() && closest->value().size() == 1u &&
                closest->value().front().peer == server->peer_id())
        << "the server, which answered the second time, is not the closest peer: "
        << (closest->has_value() ? std::to_string(closest->value().size()) + " peers"
                                 : closest->error().message());
  }
  co_await dht.stop();
}

TEST(Kademlia, ARequestWhoseConnectionClosesUnderItGoesOnceMore) {
  node::node_test::run_scenario(&request_outlives_its_connection, std::chrono::seconds(60));
}

// A restarted node finds the network again from its peer store's file, with no bootstrap list.
asio::awaitable<void> restart(Cluster& cluster) {
  auto members = co_await chain(cluster, 5);
  const auto file = std::filesystem::temp_directory_path() /
                    ("bb-dht-restart-" + std::to_string(::getpid()) + ".peers");
  std::filesystem::remove(file);
  node::NodeConfig config = node::node_test::loopback_config();
  config.peer_store_file = file;
  Node* first = co_await cluster.start(config);
  {
    Kademlia d(*first);
    d.start();
    (void)co_await d.bootstrap(members[0].node->listen_addrs());
    co_await d.stop();
  }
  co_await first->stop();  // saves the peer store
  EXPECT_TRUE(std::filesystem::exists(file));
  Node* again = co_await cluster.start(config);
  Kademlia d(*again);
  d.start();  // no bootstrap(): the table comes from the file
  EXPECT_GE(d.routing_table().size(), 1u);
  auto found = co_await d.find_peer(members[4].node->peer_id());
  EXPECT_TRUE(found.has_value());
  auto closest = co_await d.closest_peers(wire::Bytes(members[2].node->peer_id().bytes().begin(),
                                                      members[2].node->peer_id().bytes().end()));
  EXPECT_TRUE(closest && closest->size() == 5u);
  co_await d.stop();
  co_await stop_all(members);
  std::filesystem::remove(file);
}

TEST(Kademlia, ARestartedNodeFindsTheNetworkFromItsPeerStoreFile) {
  node::node_test::run_scenario(&restart, std::chrono::seconds(60));
}

}  // namespace
}  // namespace bb::dht::test

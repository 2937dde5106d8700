// The Node and its peer store (node/peer_store.hpp) over loopback TCP: what identify teaches it
// survives a restart through NodeConfig::peer_store_file, a peer router finds a peer the store
// does not know, and the low-water mark (NodeConfig::min_connections) dials known peers unasked.
#include "tests/node/node_fixture.hpp"

#include <unistd.h>

#include <filesystem>

namespace bb::node::node_test {
namespace {

using namespace std::chrono_literals;

struct TempFile {
  TempFile()
      : path(std::filesystem::temp_directory_path() /
             ("bb_node_peer_store_" + std::to_string(::getpid()) + "_" +
              testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove(path);
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::filesystem::path path;
};

// Waits (bounded by kEventWait, looking every millisecond) until `done()` holds.
template <class Done>
asio::awaitable<bool> eventually(Done& done) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + kEventWait;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

asio::awaitable<void> persistence(const std::filesystem::path& file) {
  auto ex = co_await asio::this_coro::executor;
  Cluster cluster(ex);
  Node* b = co_await cluster.start();
  b->subscribe("chat");
  NodeConfig config = loopback_config();
  config.peer_store_file = file;

  // First run: b dials a, and a learns b's listen address from identify.
  {
    Node a(ex, config);
    co_await a.start();
    (void)co_await b->connect(dial_addr(a));
    auto knows_b = [&] { return a.peer_store().knows(b->peer_id()); };
    EXPECT_TRUE(co_await eventually(knows_b));
    const auto info = a.peer_store().info(b->peer_id());
    EXPECT_TRUE(info && !info->named && !info->addresses.empty() &&
                info->addresses[0].source == AddressSource::identify);
    co_await a.stop();
  }
  EXPECT_TRUE(std::filesystem::exists(file));

  // Second run: nobody tells it where b is.
  Node again(ex, config);
  co_await again.start();
  EXPECT_TRUE(again.peer_store().knows(b->peer_id()));
  EXPECT_TRUE(contains(again.peer_store().addresses(b->peer_id()), dial_addr(*b)));
  SendOptions options;
  options.await_receipt = true;
  const wire::Bytes payload = numbered(7, 1);
  const Verdict v = co_await again.send(b->peer_id(), "chat", payload, options);
  EXPECT_FALSE(v) << reason_of(v) << ": " << (v ? v->detail : "");
  const auto m = b->try_receive("chat");
  EXPECT_TRUE(m && m->from == again.peer_id());
  co_await again.stop();
  co_await cluster.stop_all();
}

TEST(NodePeerStore, ANodeReachesAPeerItLearnedInAnEarlierRunThroughItsFile) {
  TempFile file;
  test::run_async(persistence(file.path), kTestLimit);
}

// The router's answer for a peer nobody named: stored as `dht`, then dialled.
asio::awaitable<std::vector<wire::Multiaddr>> answer(std::vector<wire::Multiaddr> where) {
  co_return where;
}

asio::awaitable<void> routed() {
  auto ex = co_await asio::this_coro::executor;
  Cluster cluster(ex);
  Node* a = co_await cluster.start();
  Node* b = co_await cluster.start();
  b->subscribe("chat");
  const auto b_addr = dial_addr(*b);
  std::size_t asked = 0;
  a->set_peer_router([&asked, b_addr](const wire::PeerId&) {
    ++asked;
    return answer({b_addr});
  });
  SendOptions options;
  options.await_receipt = true;
  const wire::Bytes payload = numbered(8, 1);
  const Verdict v = co_await a->send(b->peer_id(), "chat", payload, options);
  EXPECT_FALSE(v) << reason_of(v) << ": " << (v ? v->detail : "");
  EXPECT_EQ(asked, 1u);
  // Stored (as `dht`; the connection that worked may have promoted it to `identify` since).
  EXPECT_TRUE(contains(a->peer_store().addresses(b->peer_id()), b_addr));
  EXPECT_TRUE(b->try_receive("chat"));
  co_await cluster.stop_all();
}

TEST(NodePeerStore, APeerRouterFindsAPeerTheStoreDoesNotKnow) {
  test::run_async(routed(), kTestLimit);
}

asio::awaitable<void> low_water() {
  auto ex = co_await asio::this_coro::executor;
  Cluster cluster(ex);
  std::vector<Node*> known;
  for (int i = 0; i < 3; ++i) known.push_back(co_await cluster.start());
  auto& clock = cluster.manual_clock();
  NodeConfig config = loopback_config();
  config.clock = &clock;
  config.min_connections = 2;
  config.connection_check_interval = 5s;
  Node* a = co_await cluster.start(config);
  NodeEvents events(*a);
  // Learned, not named: the store is what the node dials from.
  for (Node* n : known) {
    a->peer_store().add_address(n->peer_id(), dial_addr(*n), AddressSource::dht);
  }
  a->peer_store().mark_useful(known[2]->peer_id());  // the most recently useful goes first
  EXPECT_TRUE(a->connected_peers().empty());

  clock.advance(std::chrono::nanoseconds(5s).count());  // the next check
  const auto first = co_await events.wait<PeerUp>();
  const auto second = co_await events.wait<PeerUp>();
  EXPECT_TRUE(first && second);
  auto two = [&] { return a->connected_peers().size() >= 2; };
  EXPECT_TRUE(co_await eventually(two));
  const auto peers = a->connected_peers();
  EXPECT_EQ(peers.size(), 2u);
  EXPECT_NE(std::find(peers.begin(), peers.end(), known[2]->peer_id()), peers.end());

  // At the mark: later checks dial nobody else.
  clock.advance(std::chrono::nanoseconds(5s).count());
  for (int i = 0; i < 200; ++i) co_await test::yield_now();
  EXPECT_EQ(a->connected_peers().size(), 2u);
  EXPECT_EQ(events.count<PeerUp>(), 0u);
  co_await cluster.stop_all();
}

TEST(NodePeerStore, BelowTheLowWaterMarkANodeDialsKnownPeersUnasked) {
  test::run_async(low_water(), kTestLimit);
}

}  // namespace
}  // namespace bb::node::node_test

// ~Node without stop() (issue 10, finding 8). Destroying a started Node used to free what its
// tasks (and its Host's) were still using: a use-after-free as soon as the io_context ran them
// again, which is what happened when connect() threw and the Node went out of scope. Now the
// destructor closes everything at once and the executor finishes the stop, with the memory kept
// until every task ended. These tests destroy Nodes that are in the middle of things while the
// io_context keeps running and another Node keeps talking to them; under ASan, any touch of freed
// memory fails them.
#include "bb/node/node.hpp"

#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

namespace asio = boost::asio;
using namespace node_test;
using wire::PeerId;

// Waits (bounded, real time) until every Node destroyed without stop() has finished stopping.
asio::awaitable<bool> detached_stops_finish() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 3000 && Node::detached_stops() > 0; ++i) {
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return Node::detached_stops() == 0;
}

// a and b talk both ways, with messages queued, in flight and awaiting receipts, and a subscriber
// that never reads; then a is destroyed without stop(). b goes on: it sees a go, its sends to a
// fail with a reason, and every one of them is accounted for.
asio::awaitable<void> destroyed_while_talking(Cluster& cluster) {
  const auto executor = co_await asio::this_coro::executor;
  Node& b = *co_await cluster.start();
  const PeerId b_id = b.peer_id();
  NodeEvents b_events(b);
  auto a = std::make_unique<Node>(executor, loopback_config());
  co_await a->start();
  const PeerId a_id = a->peer_id();
  const wire::Multiaddr a_addr = dial_addr(*a);
  a->subscribe("ch");
  (void)co_await a->connect(dial_addr(b));
  (void)co_await b_events.wait<PeerUp>([&a_id](const PeerUp& e) { return e.peer == a_id; });

  SendOptions await;
  await.await_receipt = true;
  SendTally b_tally;
  for (std::uint64_t i = 0; i < 3; ++i) {
    const Verdict v = co_await b.send(a_id, "ch", numbered(1, i, 1024), await);
    EXPECT_FALSE(v) << reason_of(v);
    b_tally.record(v);
  }
  // More from b, not awaited (some will be in flight when a goes), and from a to b.
  for (std::uint64_t i = 3; i < 50; ++i)
    b_tally.record(co_await b.send(a_id, "ch", numbered(1, i, 4096)));
  for (std::uint64_t i = 0; i < 20; ++i) (void)co_await a->send(b_id, "ch", numbered(2, i, 4096));
  EXPECT_GT(a->peer_status(b_id).queued_messages + a->peer_status(b_id).awaiting_receipt, 0u);

  a.reset();  // no stop()

  // The destructor closed a's side at once: b sees the connection go.
  const bool b_saw_a_down = co_await expect_down(b_events, a_id, "connection_lost");
  EXPECT_TRUE(b_saw_a_down);
  EXPECT_TRUE(co_await detached_stops_finish()) << Node::detached_stops() << " stops unfinished";
  // a's listener is closed: dialling it fails; b's sends to a fail with a reason.
  bool dial_failed = false;
  try {
    (void)co_await b.connect(a_addr);
  } catch (const boost::system::system_error&) {
    dial_failed = true;
  }
  EXPECT_TRUE(dial_failed) << "a's listener outlived a";
  const Verdict late = co_await b.send(a_id, "ch", wire::as_bytes("anyone there?"));
  EXPECT_TRUE(late) << "a send to a destroyed node was queued";
  b_tally.record(late);
  // b's books close: everything it sent to a was accepted or is reported failed.
  EXPECT_EQ(b.metrics().sends, b_tally.sent);
  EXPECT_TRUE(all_sends_accounted(b));
  EXPECT_GE(b.metrics().receipts_accepted, 3u);
  // b itself is unharmed: it still works with others.
  Node& c = *co_await cluster.start();
  (void)co_await c.connect(dial_addr(b));
  const Verdict v = co_await c.send(b_id, "ch", wire::as_bytes("still here?"), await);
  EXPECT_FALSE(v) << reason_of(v);
}

TEST(NodeLifetime, DestroyingAStartedConnectedNodeWithoutStopIsSafe) {
  run_scenario(&destroyed_while_talking);
}

// The path of finding 8: connect() throws, and the Node (started, with a live connection to b and
// a send pending) goes out of scope as the exception leaves it.
asio::awaitable<void> connect_throws_then_scope_exit(Cluster& cluster) {
  const auto executor = co_await asio::this_coro::executor;
  const GonePeer gone = co_await gone_peer(cluster);
  Node& b = *co_await cluster.start();
  const PeerId b_id = b.peer_id();
  NodeEvents b_events(b);
  std::optional<PeerId> a_id;
  bool threw = false;
  try {
    Node a(executor, loopback_config());
    co_await a.start();
    a_id = a.peer_id();
    (void)co_await a.connect(dial_addr(b));
    (void)co_await a.send(b_id, "ch", wire::as_bytes("queued, then the node goes"));
    (void)co_await a.connect(gone.addr);  // nobody listens there any more: throws
  } catch (const boost::system::system_error&) {
    threw = true;
  }
  EXPECT_TRUE(threw);
  EXPECT_TRUE(co_await detached_stops_finish()) << Node::detached_stops() << " stops unfinished";
  if (a_id) {
    const bool b_saw_a_down = co_await expect_down(b_events, *a_id, "connection_lost");
    EXPECT_TRUE(b_saw_a_down);
  }
  // Nothing was left behind on the io_context that b cannot live with.
  Node& c = *co_await cluster.start();
  (void)co_await c.connect(dial_addr(b));
  SendOptions await;
  await.await_receipt = true;
  const Verdict v = co_await c.send(b_id, "ch", wire::as_bytes("after"), await);
  EXPECT_FALSE(v) << reason_of(v);
}

TEST(NodeLifetime, ANodeLeftByAThrowingConnectIsDestroyedSafely) {
  run_scenario(&connect_throws_then_scope_exit);
}

// Destroyed while its own stop() is under way elsewhere, and destroyed right after start()
// before anything happened: both finish cleanly.
asio::awaitable<void> destroyed_in_odd_moments(Cluster& cluster) {
  const auto executor = co_await asio::this_coro::executor;
  {
    Node fresh(executor, loopback_config());
    co_await fresh.start();
  }
  {
    Node unstarted(executor, loopback_config());  // never started: nothing to stop
  }
  EXPECT_TRUE(co_await detached_stops_finish());
  Node& b = *co_await cluster.start();
  auto a = std::make_unique<Node>(executor, loopback_config());
  co_await a->start();
  (void)co_await a->connect(dial_addr(b));
  // stop() begins elsewhere and waits for the Host, then the Node is destroyed under it.
  auto stopping = [](Node& node) -> asio::awaitable<void> { co_await node.stop(); };
  asio::co_spawn(executor, stopping(*a), asio::detached);
  for (int i = 0; i < 2; ++i) co_await asio::post(executor, asio::use_awaitable);
  a.reset();
  EXPECT_TRUE(co_await detached_stops_finish());
}

TEST(NodeLifetime, NodesDestroyedFreshOrMidStopFinishCleanly) {
  run_scenario(&destroyed_in_odd_moments);
}

}  // namespace
}  // namespace bb::node

// Graceful stop (NodeConfig::drain_timeout): what was queued goes out before the node closes,
// and what the node took is answered, so neither end reports a delivered message as lost.
#include "bb/node/node.hpp"
#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

namespace asio = boost::asio;
using namespace node_test;

// The next message on `channel`, waiting at most kEventWait.
asio::awaitable<std::optional<Received>> receive_within(Node& node, std::string_view channel) {
  auto got = co_await async::capture(async::with_timeout(
      node.receive(channel), kEventWait, make_error_code(asio::error::timed_out), "receive"));
  if (got.error || !got.value) co_return std::nullopt;
  co_return std::move(*got.value);
}

// Send, then stop at once: the message is not lost in the stop, it arrives, and its receipt
// came back before the node closed.
asio::awaitable<void> send_then_stop(Cluster& cluster) {
  Node& b = *co_await cluster.start();
  Node& a = *co_await cluster.start();
  b.subscribe("greetings");
  (void)co_await a.connect(dial_addr(b));
  constexpr int kMessages = 50;
  for (int i = 0; i < kMessages; ++i) {
    const Verdict v = co_await a.send(b.peer_id(), "greetings", numbered(1, i, 1000));
    EXPECT_FALSE(v) << reason_of(v);
  }
  co_await a.stop();
  const NodeMetrics m = a.metrics();
  EXPECT_EQ(m.receipts_accepted, static_cast<std::uint64_t>(kMessages));
  EXPECT_EQ(m.failed_sends(), 0u) << describe(m);
  int arrived = 0;
  for (int i = 0; i < kMessages; ++i) {
    auto r = co_await receive_within(b, "greetings");
    if (!r) break;
    EXPECT_EQ(wire::copy_of(r->payload), numbered(1, i, 1000));
    ++arrived;
  }
  EXPECT_EQ(arrived, kMessages);
}

TEST(NodeStop, ASendThenStopDeliversTheMessage) {
  run_scenario(&send_then_stop);
}

// The receiver stops right after taking a message whose sender awaits the receipt: the receipt
// still goes out (the receiver answers what it took before it closes), so the sender is told
// "accepted", not `connection_lost`. Repeated, since the stop and the receipt used to race.
asio::awaitable<void> receiver_stops_after_taking(Cluster& cluster) {
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    Node& b = *co_await cluster.start();
    Node& a = *co_await cluster.start();
    (void)co_await a.connect(dial_addr(b));
    SendOptions await;
    await.await_receipt = true;
    Verdict verdict = Denial{};
    auto sending = [&]() -> asio::awaitable<void> {
      verdict = co_await a.send(b.peer_id(), "once", numbered(2, round, 100), await);
    };
    auto receiving_then_stopping = [&]() -> asio::awaitable<void> {
      auto r = co_await receive_within(b, "once");
      EXPECT_TRUE(r.has_value());
      co_await b.stop();
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (sending() && receiving_then_stopping());
    EXPECT_FALSE(verdict) << "round " << round << ": " << reason_of(verdict);
    co_await a.stop();
  }
}

TEST(NodeStop, AReceiverThatStopsAnswersWhatItTook) {
  run_scenario(&receiver_stops_after_taking);
}

// stop() refuses new sends at once while it drains.
asio::awaitable<void> sends_during_drain(Cluster& cluster) {
  Node& b = *co_await cluster.start();
  Node& a = *co_await cluster.start();
  (void)co_await a.connect(dial_addr(b));
  (void)co_await a.send(b.peer_id(), "x", numbered(3, 0, 100));
  Verdict late;
  auto stopping = [&]() -> asio::awaitable<void> { co_await a.stop(); };
  auto sending = [&]() -> asio::awaitable<void> {
    late = co_await a.send(b.peer_id(), "x", numbered(3, 1, 100));
  };
  using namespace asio::experimental::awaitable_operators;
  co_await (stopping() && sending());
  EXPECT_EQ(reason_of(late), "stopped");
}

TEST(NodeStop, SendsDuringTheDrainAreRefusedStopped) {
  run_scenario(&sends_during_drain);
}

}  // namespace
}  // namespace bb::node

// bb::node::Node when things go wrong, over real loopback sockets: a peer whose node stops is
// reported down and recovers when it comes back; dial failures open backoff windows that are
// honoured (virtual time drives the tables, real sockets the I/O); repeated failures take a peer
// down; a slow receiver bounds the sender's queue; stop() fails what is pending instead of
// hanging. Every test closes its books: sent = delivered + reported-failed.
#include "bb/node/node.hpp"
#include "bb/wire/protocols/bb_wire.hpp"

#include "bb/syscalls/ops.hpp"

#include "bb/wire/connection.hpp"
#include "bb/wire/tcp.hpp"
#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace node_test;
using wire::PeerId;

std::optional<std::string> payload_text(std::optional<Received> m) {
  if (!m) return std::nullopt;
  return wire::to_string(m->payload);
}

constexpr std::uint64_t kBackoffBase = 10'000'000;  // BackoffConfig's default: 10 ms, doubling

// ---- a peer whose node stops, then comes back -------------------------------------------------

// a and c keep virtual time: the backoff windows a lost connection opens stay open until the test
// moves the clock, whatever the machine's speed. b runs on real time.
asio::awaitable<void> peer_stops_and_returns(Cluster& cluster) {
  async::ManualClock& clock = cluster.manual_clock();
  NodeConfig virtual_time = loopback_config();
  virtual_time.clock = &clock;
  virtual_time.tx_gates = syscalls::dropping_tx_gates();  // windows deny: the test reads them
  NodeConfig b_config = loopback_config();
  b_config.identity = wire::Ed25519KeyPair::generate();
  Node& a = *co_await cluster.start(virtual_time);
  Node& c = *co_await cluster.start(virtual_time);
  Node& b = *co_await cluster.start(b_config);
  const PeerId b_id = b.peer_id();
  const wire::Multiaddr b_old_addr = dial_addr(b);
  NodeEvents a_events(a);
  NodeEvents c_events(c);
  (void)co_await a.connect(dial_addr(b));
  (void)co_await c.connect(dial_addr(b));
  (void)co_await a_events.wait<PeerUp>([&b_id](const PeerUp& e) { return e.peer == b_id; });
  (void)co_await c_events.wait<PeerUp>([&b_id](const PeerUp& e) { return e.peer == b_id; });

  SendOptions await;
  await.await_receipt = true;
  SendTally a_tally, b_tally, c_tally;
  Verdict v = co_await a.send(b_id, "ch", wire::as_bytes("before"), await);
  EXPECT_FALSE(v) << reason_of(v);
  a_tally.record(v);
  EXPECT_EQ(payload_text(b.try_receive("ch")), "before");
  v = co_await b.send(a.peer_id(), "ch", wire::as_bytes("from b's first life"), await);
  EXPECT_FALSE(v) << reason_of(v);
  b_tally.record(v);
  EXPECT_EQ(payload_text(a.try_receive("ch")), "from b's first life");

  // b's process dies (its sockets close): both peers report it down, and the lost connection
  // opens a backoff window.
  co_await b.stop();
  const bool a_saw_b_down = co_await expect_down(a_events, b_id, "connection_lost");
  EXPECT_TRUE(a_saw_b_down);
  const bool c_saw_b_down = co_await expect_down(c_events, b_id, "connection_lost");
  EXPECT_TRUE(c_saw_b_down);
  PeerStatus s = a.peer_status(b_id);
  EXPECT_FALSE(s.connected);
  EXPECT_TRUE(s.down);
  EXPECT_EQ(s.retry_at_ns, std::optional<std::uint64_t>(clock.now_ns() + kBackoffBase));

  // While the window is open, sends to it fail at once.
  v = co_await a.send(b_id, "ch", wire::as_bytes("while down"));
  EXPECT_EQ(reason_of(v), "peer_down");
  a_tally.record(v);
  v = co_await c.send(b_id, "ch", wire::as_bytes("while down, awaited"), await);
  EXPECT_EQ(reason_of(v), "peer_down");
  c_tally.record(v);

  // Past it, a send is a probe: b is still gone, the dial fails, the window doubles.
  clock.advance_to(s.retry_at_ns.value_or(clock.now_ns()));
  v = co_await a.send(b_id, "ch", wire::as_bytes("probe from a"));
  EXPECT_EQ(reason_of(v), "peer_unreachable");
  a_tally.record(v);
  v = co_await c.send(b_id, "ch", wire::as_bytes("probe from c"));
  EXPECT_EQ(reason_of(v), "peer_unreachable");
  c_tally.record(v);
  EXPECT_EQ(a.peer_status(b_id).retry_at_ns,
            std::optional<std::uint64_t>(clock.now_ns() + 2 * kBackoffBase));
  EXPECT_EQ(a_events.count<PeerDown>(), 0u) << "reported down twice:" << a_events.dump();

  // b restarts with the same identity on a new port and dials a, as a restarted process does:
  // the connection brings it back up on a at once.
  Node& b2 = *co_await cluster.start(b_config);
  EXPECT_EQ(b2.peer_id(), b_id);
  EXPECT_NE(dial_addr(b2), b_old_addr);
  (void)co_await b2.connect(dial_addr(a));
  const auto a_up =
      co_await a_events.wait<PeerUp>([&b_id](const PeerUp& e) { return e.peer == b_id; });
  EXPECT_TRUE(a_up);
  s = a.peer_status(b_id);
  EXPECT_FALSE(s.down);
  EXPECT_FALSE(s.retry_at_ns);
  v = co_await a.send(b_id, "ch", wire::as_bytes("after, from a"), await);
  EXPECT_FALSE(v) << reason_of(v);
  a_tally.record(v);
  EXPECT_EQ(payload_text(b2.try_receive("ch")), "after, from a");
  // The restarted process numbers its messages afresh; a's dedup must not take them for the
  // first life's.
  v = co_await b2.send(a.peer_id(), "ch", wire::as_bytes("from b's second life"), await);
  EXPECT_FALSE(v) << reason_of(v);
  b_tally.record(v);
  EXPECT_EQ(payload_text(a.try_receive("ch")), "from b's second life");

  // c only learns the new address: it honours its window, then its probe finds b.
  c.add_address(b_id, dial_addr(b2));
  EXPECT_TRUE(contains(c.peer_status(b_id).addresses, dial_addr(b2)));
  v = co_await c.send(b_id, "ch", wire::as_bytes("c, inside the window"));
  EXPECT_EQ(reason_of(v), "peer_down");
  c_tally.record(v);
  EXPECT_FALSE(c.peer_status(b_id).connected);  // nothing was dialled
  clock.advance_to(c.peer_status(b_id).retry_at_ns.value_or(clock.now_ns()));
  v = co_await c.send(b_id, "ch", wire::as_bytes("after, from c"), await);
  EXPECT_FALSE(v) << reason_of(v);
  c_tally.record(v);
  const auto c_up =
      co_await c_events.wait<PeerUp>([&b_id](const PeerUp& e) { return e.peer == b_id; });
  EXPECT_TRUE(c_up);
  s = c.peer_status(b_id);
  EXPECT_TRUE(s.connected);
  EXPECT_FALSE(s.down);
  EXPECT_FALSE(s.retry_at_ns);
  EXPECT_EQ(payload_text(b2.try_receive("ch")), "after, from c");
  EXPECT_FALSE(b2.try_receive("ch"));

  // The books.
  EXPECT_TRUE(all_sends_accounted(a));
  EXPECT_TRUE(all_sends_accounted(c));
  EXPECT_TRUE(all_sends_accounted(b));
  EXPECT_TRUE(all_sends_accounted(b2));
  EXPECT_EQ(a.metrics().sends, a_tally.sent);
  EXPECT_EQ(c.metrics().sends, c_tally.sent);
  EXPECT_EQ(b.metrics().sends + b2.metrics().sends, b_tally.sent);
  const std::uint64_t delivered =
      a.metrics().messages_in + b.metrics().messages_in + b2.metrics().messages_in;
  EXPECT_EQ(delivered, 5u);
  EXPECT_EQ(a_tally.sent + b_tally.sent + c_tally.sent,
            delivered + a.metrics().failed_sends() + b.metrics().failed_sends() +
                b2.metrics().failed_sends() + c.metrics().failed_sends());
  EXPECT_EQ(a.metrics().dropped("peer_down"), 1u);
  EXPECT_EQ(a.metrics().dropped("peer_unreachable"), 1u);
  EXPECT_EQ(c.metrics().dropped("peer_down"), 2u);
  EXPECT_EQ(c.metrics().dropped("peer_unreachable"), 1u);
}

TEST(NodeFaults, PeerWhoseNodeStopsIsReportedDownAndRecoversWhenItComesBack) {
  run_scenario(&peer_stops_and_returns);
}

// ---- dial failures and backoff, on virtual time ---------------------------------------------

asio::awaitable<void> dial_failures_back_off(Cluster& cluster) {
  async::ManualClock& clock = cluster.manual_clock();
  NodeConfig a_config = loopback_config();
  a_config.clock = &clock;
  a_config.tx_gates = syscalls::dropping_tx_gates();  // windows deny: the test reads them
  Node& a = *co_await cluster.start(a_config);
  NodeEvents a_events(a);

  // p's first life leaves an address where nothing listens any more.
  const GonePeer p = co_await gone_peer(cluster);
  const PeerId& p_id = p.id;
  const wire::Multiaddr& dead = p.addr;
  const NodeConfig& p_config = p.config;
  a.add_address(p_id, dead);
  EXPECT_TRUE(contains(a.peer_status(p_id).addresses, dead));

  SendTally tally;
  std::vector<std::string> reasons;
  Verdict v = co_await a.send(p_id, "ch", wire::as_bytes("1"));
  tally.record(v);
  reasons.push_back(reason_of(v));
  PeerStatus s = a.peer_status(p_id);
  EXPECT_TRUE(s.backoff && s.backoff->attempts == 1u);
  EXPECT_EQ(s.retry_at_ns, std::optional<std::uint64_t>(clock.now_ns() + kBackoffBase));
  EXPECT_FALSE(s.down);

  v = co_await a.send(p_id, "ch", wire::as_bytes("2"));  // inside the window
  tally.record(v);
  reasons.push_back(reason_of(v));

  clock.advance_to(s.retry_at_ns.value_or(clock.now_ns()));
  v = co_await a.send(p_id, "ch", wire::as_bytes("3"));  // the window passed: dialled, fails
  tally.record(v);
  reasons.push_back(reason_of(v));
  s = a.peer_status(p_id);
  EXPECT_TRUE(s.backoff && s.backoff->attempts == 2u);
  EXPECT_EQ(s.retry_at_ns, std::optional<std::uint64_t>(clock.now_ns() + 2 * kBackoffBase));

  v = co_await a.send(p_id, "ch", wire::as_bytes("4"));
  tally.record(v);
  reasons.push_back(reason_of(v));

  // p comes back on a new port and a learns the address, but a still honours its window.
  Node& p2 = *co_await cluster.start(p_config);
  a.add_address(p_id, dial_addr(p2));
  v = co_await a.send(p_id, "ch", wire::as_bytes("5"));
  tally.record(v);
  reasons.push_back(reason_of(v));
  EXPECT_EQ(a.metrics().connections_opened, 0u);  // nothing was dialled inside the window

  clock.advance_to(s.retry_at_ns.value_or(clock.now_ns()));
  SendOptions await;
  await.await_receipt = true;
  v = co_await a.send(p_id, "ch", wire::as_bytes("6"), await);
  tally.record(v);
  reasons.push_back(reason_of(v));

  EXPECT_EQ(reasons, (std::vector<std::string>{"peer_unreachable", "cooldown", "peer_unreachable",
                                               "cooldown", "cooldown", "ok"}));
  EXPECT_EQ(payload_text(p2.try_receive("ch")), "6");
  EXPECT_FALSE(p2.try_receive("ch"));
  const auto up =
      co_await a_events.wait<PeerUp>([&p_id](const PeerUp& e) { return e.peer == p_id; });
  EXPECT_TRUE(up);
  s = a.peer_status(p_id);
  EXPECT_TRUE(s.connected);
  EXPECT_FALSE(s.down);
  EXPECT_FALSE(s.backoff);  // the success cleared it
  EXPECT_FALSE(s.retry_at_ns);
  EXPECT_EQ(a_events.count<PeerDown>(), 0u) << a_events.dump();  // 2 failures < threshold 5

  const NodeMetrics m = a.metrics();
  EXPECT_EQ(m.sends, 6u);
  EXPECT_EQ(m.dropped("peer_unreachable"), 2u) << describe(m);
  EXPECT_EQ(m.dropped("cooldown"), 3u) << describe(m);
  EXPECT_EQ(m.receipts_accepted, 1u);
  EXPECT_TRUE(all_sends_accounted(a));
  EXPECT_EQ(tally.sent, p2.metrics().messages_in + m.failed_sends());
}

TEST(NodeFaults, DialFailuresOpenBackoffWindowsThatAreHonouredUntilThePeerIsBack) {
  run_scenario(&dial_failures_back_off);
}

// A down peer is a circuit breaker: denied while its window is open, probed once it has passed.
asio::awaitable<void> failures_take_peer_down(Cluster& cluster) {
  async::ManualClock& clock = cluster.manual_clock();
  NodeConfig a_config = loopback_config();
  a_config.clock = &clock;
  a_config.tx_gates = syscalls::dropping_tx_gates();  // windows deny: the test reads them
  a_config.tables.governor.failure_threshold = 2;
  Node& a = *co_await cluster.start(a_config);
  NodeEvents a_events(a);
  const GonePeer p = co_await gone_peer(cluster);
  const PeerId& p_id = p.id;
  const NodeConfig& p_config = p.config;
  a.add_address(p_id, p.addr);

  SendTally tally;
  std::vector<std::string> reasons;
  SendOptions plain;
  SendOptions await;
  await.await_receipt = true;
  Node* p2 = nullptr;
  // Each step: whether to move past the window first, and whether p is back by then.
  for (int step = 0; step < 6; ++step) {
    if (step == 1 || step == 3 || step == 5) {
      clock.advance_to(a.peer_status(p_id).retry_at_ns.value_or(clock.now_ns()));
    }
    if (step == 4) {  // p restarts on a new port; a learns the address
      p2 = co_await cluster.start(p_config);
      a.add_address(p_id, dial_addr(*p2));
    }
    const Verdict v = co_await a.send(p_id, "ch", wire::as_bytes("x"), step == 5 ? await : plain);
    tally.record(v);
    reasons.push_back(reason_of(v));
    if (step == 1) {
      // The second failure reaches the threshold.
      const auto down =
          co_await a_events.wait<PeerDown>([&p_id](const PeerDown& e) { return e.peer == p_id; });
      EXPECT_TRUE(down);
      if (down) {
        EXPECT_EQ(down->cause, "failures");
      }
      EXPECT_TRUE(a.peer_status(p_id).down);
    }
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{
                         "peer_unreachable",  // dial fails
                         "peer_unreachable",  // after the window: fails again, p is down
                         "peer_down",         // inside the window
                         "peer_unreachable",  // a probe after it: still gone
                         "peer_down",         // p is back, but the window is open
                         "ok",                // the probe finds it
                     }));
  const auto up =
      co_await a_events.wait<PeerUp>([&p_id](const PeerUp& e) { return e.peer == p_id; });
  EXPECT_TRUE(up);
  EXPECT_EQ(a_events.count<PeerDown>(), 0u) << "reported down more than once:" << a_events.dump();
  const PeerStatus s = a.peer_status(p_id);
  EXPECT_FALSE(s.down);
  EXPECT_FALSE(s.retry_at_ns);
  if (p2 != nullptr) {
    EXPECT_EQ(payload_text(p2->try_receive("ch")), "x");
    EXPECT_FALSE(p2->try_receive("ch"));
  }
  const NodeMetrics m = a.metrics();
  EXPECT_EQ(m.dropped("peer_unreachable"), 3u) << describe(m);
  EXPECT_EQ(m.dropped("peer_down"), 2u) << describe(m);
  EXPECT_TRUE(all_sends_accounted(a));
  EXPECT_EQ(tally.sent, (p2 != nullptr ? p2->metrics().messages_in : 0) + m.failed_sends());
}

TEST(NodeFaults, RepeatedDialFailuresTakeThePeerDownAndAProbeFindsItBack) {
  run_scenario(&failures_take_peer_down);
}

// ---- the default gates wait out a cooldown within the budget ---------------------------------

// Polls (bounded) until `clock` has `count` sleepers: a send has started waiting on it.
asio::awaitable<bool> sleepers_reach(async::ManualClock& clock, std::size_t count) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  for (int i = 0; i < 1000 && clock.sleepers() < count; ++i) {
    poll.expires_after(std::chrono::milliseconds(2));
    co_await poll.async_wait(asio::use_awaitable);
  }
  co_return clock.sleepers() >= count;
}

asio::awaitable<void> cooldown_is_waited_out(Cluster& cluster) {
  async::ManualClock& clock = cluster.manual_clock();
  NodeConfig a_config = loopback_config();
  a_config.clock = &clock;
  Node& a = *co_await cluster.start(a_config);
  Node& b = *co_await cluster.start();
  const PeerId b_id = co_await a.connect(dial_addr(b));
  SendOptions confirmed;
  confirmed.await_receipt = true;

  // One failure: a 10 ms window. The send (a 1 s budget by default) waits for its end.
  a.tables().on_send_failed(b_id, "peer_unreachable", "a test's failure");
  const std::uint64_t retry = a.peer_status(b_id).retry_at_ns.value();
  const std::size_t idle_sleepers = clock.sleepers();
  Verdict waited = Denial{};
  bool done = false;
  auto sending = [&]() -> asio::awaitable<void> {
    waited = co_await a.send(b_id, "ch", wire::as_bytes("after the window"), confirmed);
    done = true;
  };
  auto driving = [&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await sleepers_reach(clock, idle_sleepers + 1)) << "the send never waited";
    EXPECT_FALSE(done);
    clock.advance_to(retry);
  };
  co_await (sending() && driving());
  EXPECT_FALSE(waited) << reason_of(waited);
  EXPECT_EQ(payload_text(b.try_receive("ch")), "after the window");

  // A budget that ends first: denied at once, nothing sleeps.
  a.tables().on_send_failed(b_id, "peer_unreachable", "a test's failure");
  SendOptions short_budget;
  short_budget.budget_ns = 1'000'000;
  const Verdict denied = co_await a.send(b_id, "ch", wire::as_bytes("too soon"), short_budget);
  EXPECT_EQ(reason_of(denied), "cooldown");
  EXPECT_FALSE(b.try_receive("ch"));

  // stop() ends a wait at once: the send fails `stopped`.
  Verdict stopped_send;
  auto waiting = [&]() -> asio::awaitable<void> {
    stopped_send = co_await a.send(b_id, "ch", wire::as_bytes("never"));
  };
  auto stopping = [&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await sleepers_reach(clock, idle_sleepers + 1));
    co_await a.stop();
  };
  co_await (waiting() && stopping());
  EXPECT_EQ(reason_of(stopped_send), "stopped");
  EXPECT_TRUE(all_sends_accounted(a));
}

TEST(NodeFaults, TheDefaultGatesWaitOutACooldownWithinTheBudgetAndStopEndsTheWait) {
  run_scenario(&cooldown_is_waited_out);
}

// ---- a slow receiver ------------------------------------------------------------------------

constexpr std::size_t kQueueMessages = 8;
constexpr std::size_t kQueueBytes = 128 * 1024;
constexpr std::size_t kInbox = 16;
constexpr std::uint64_t kBurst = 300;
constexpr std::uint64_t kEndSeq = 1'000'000;
constexpr std::array<std::size_t, 4> kBulkSizes{1024, 4096, 16 * 1024, 64 * 1024};
constexpr std::uint64_t kBulkTag = 7;

struct Drained {
  std::vector<std::uint64_t> seqs;  // in arrival order, the final message included
  std::uint64_t damaged = 0;
};

// Takes everything on "bulk" until the final message.
asio::awaitable<void> drain_until_end(Node& receiver, Drained& out) {
  while (true) {
    const std::optional<Received> m = co_await receiver.receive("bulk");
    if (!m) co_return;
    const auto n = read_numbered(m->payload);
    if (!n || n->tag != kBulkTag) {
      ++out.damaged;
      continue;
    }
    out.seqs.push_back(n->seq);
    if (n->seq == kEndSeq) co_return;
  }
}

// The final message, confirmed by its receipt: receipts come back in order, so once it is
// accepted the fate of every earlier message is known. Retried while the sender is held back
// (each attempt counts as a send); a cooldown is waited out by moving the sender's virtual
// clock to its end. Its budget is never spent (the clock stands still while it waits for the
// receiver to make room).
asio::awaitable<void> send_final(Node& sender, async::ManualClock& clock, const PeerId& receiver,
                                 SendTally& tally) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    SendOptions options;
    options.await_receipt = true;
    options.budget_ns = 5'000'000'000;
    const Verdict v =
        co_await sender.send(receiver, "bulk", numbered(kBulkTag, kEndSeq, 64), options);
    tally.record(v);
    if (!v) co_return;
    if (v->reason == "cooldown") {
      if (auto retry = sender.peer_status(receiver).retry_at_ns) clock.advance_to(*retry);
    } else if (v->reason != "queue_full") {
      ADD_FAILURE() << "final message: " << reason_of(v) << " (" << v->detail << ")";
      co_return;
    }
  }
  ADD_FAILURE() << "the final message never got through";
}

// The sender keeps virtual time: a message's budget runs out only when the test says so (once
// the queue is full: send_on_virtual_time), so what the sender is told depends on its queue and
// the receiver's notices, never on how fast the machine runs (a real 2 ms budget could run out
// before the message reached the queue: `deadline_exceeded` under a loaded sanitizer build).
asio::awaitable<void> slow_receiver(Cluster& cluster) {
  async::ManualClock& clock = cluster.manual_clock();
  NodeConfig r_config = loopback_config();
  r_config.inbox_capacity = kInbox;
  r_config.tables.backpressure.min_notice_interval_ns = 20'000'000;  // short cooldowns
  NodeConfig s_config = loopback_config();
  s_config.max_queued_messages = kQueueMessages;
  s_config.max_queued_bytes = kQueueBytes;
  s_config.clock = &clock;
  Node& receiver = *co_await cluster.start(r_config);
  Node& sender = *co_await cluster.start(s_config);
  const PeerId& r_id = receiver.peer_id();
  (void)co_await sender.connect(dial_addr(receiver));
  receiver.subscribe("bulk");

  // The receiver takes nothing; the sender keeps sending with a 2 ms budget per message (of
  // virtual time, spent only while the queue is full).
  SendTally tally;
  std::vector<std::uint64_t> queued_seqs;
  std::size_t max_messages = 0, max_bytes = 0, over_bound = 0;
  SendOptions quick;
  quick.budget_ns = 2'000'000;
  for (std::uint64_t seq = 1; seq <= kBurst; ++seq) {
    const wire::Bytes payload = numbered(kBulkTag, seq, kBulkSizes[seq % kBulkSizes.size()]);
    const Verdict v = co_await send_on_virtual_time(sender, clock, r_id, "bulk", payload, quick,
                                                    kQueueMessages, kQueueBytes);
    tally.record(v);
    if (!v) queued_seqs.push_back(seq);
    // A cooldown (from the receiver's notice) passes as the burst goes on, as it would in real
    // time: the next message is sent at its end.
    if (v && v->reason == "cooldown") {
      if (auto retry = sender.peer_status(r_id).retry_at_ns) clock.advance_to(*retry);
    }
    const PeerStatus s = sender.peer_status(r_id);
    max_messages = std::max(max_messages, s.queued_messages);
    max_bytes = std::max(max_bytes, s.queued_bytes);
    if (s.queued_messages > kQueueMessages || s.queued_bytes > kQueueBytes) ++over_bound;
  }
  EXPECT_EQ(over_bound, 0u) << "max seen: " << max_messages << " messages, " << max_bytes << " B";
  EXPECT_LE(max_messages, kQueueMessages);
  EXPECT_LE(max_bytes, kQueueBytes);
  EXPECT_GT(max_bytes, 0u) << "the outbound queue was never used";
  EXPECT_GT(tally.ok, 0u) << tally.dump();
  EXPECT_GT(tally.denied_for("queue_full") + tally.denied_for("cooldown"), 0u) << tally.dump();
  EXPECT_EQ(tally.denied_for("queue_full") + tally.denied_for("cooldown"), tally.denied_total())
      << "unexpected reasons: " << tally.dump();
  EXPECT_GE(receiver.metrics().backoff_notices_sent, 1u) << describe(receiver.metrics());

  // The receiver drains; the final message closes the books.
  Drained drained;
  co_await (drain_until_end(receiver, drained) && send_final(sender, clock, r_id, tally));

  const NodeMetrics sm = sender.metrics();
  const NodeMetrics rm = receiver.metrics();
  EXPECT_EQ(drained.damaged, 0u);
  EXPECT_FALSE(receiver.try_receive("bulk"));
  EXPECT_EQ(sm.sends, tally.sent);
  EXPECT_TRUE(all_sends_accounted(sender));
  // sent = delivered + reported-failed, and what was delivered is what the receiver accepted.
  EXPECT_EQ(tally.sent, drained.seqs.size() + sm.failed_sends()) << tally.dump() << describe(sm);
  EXPECT_EQ(sm.receipts_accepted, drained.seqs.size());
  EXPECT_EQ(rm.messages_in, drained.seqs.size());
  // Everything the sender queued arrived, in order: nothing queued was lost later.
  const std::uint64_t later_failures = sm.failed_sends() - tally.denied_total();
  EXPECT_EQ(later_failures, 0u) << describe(sm);
  std::vector<std::uint64_t> expected = queued_seqs;
  expected.push_back(kEndSeq);
  EXPECT_EQ(drained.seqs, expected);
  // Notices the receiver sent reached the sender (and its cooldowns came from them).
  EXPECT_GE(sm.backoff_notices_received, 1u) << describe(sm);
  EXPECT_LE(sm.backoff_notices_received, rm.backoff_notices_sent);
  const PeerStatus s = sender.peer_status(r_id);
  EXPECT_EQ(s.queued_messages, 0u);
  EXPECT_EQ(s.queued_bytes, 0u);
  EXPECT_EQ(s.awaiting_receipt, 0u);
}

TEST(NodeFlow, SlowReceiverKeepsTheSendersQueueBoundedAndAllItAcceptedArrives) {
  run_scenario(&slow_receiver, std::chrono::seconds(30));
}

// ---- stop() with sends pending ----------------------------------------------------------------

constexpr std::size_t kSmallInbox = 2;

asio::awaitable<Verdict> awaited_send(Node& node, const PeerId& peer) {
  SendOptions options;
  options.await_receipt = true;
  options.budget_ns = 10'000'000'000;
  co_return co_await node.send(peer, "bulk", numbered(9, 100, 64 * 1024), options);
}

// Lets stop() begin its drain, then runs the drain's time out on the manual clock.
asio::awaitable<void> run_out_the_drain(async::ManualClock& clock) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  clock.advance(std::chrono::nanoseconds(NodeConfig{}.drain_timeout).count() + 1);
}

// Queues a few more behind the pending one, then stops the node under all of them: b reads
// nothing, so the drain runs out and what is left fails `stopped`.
asio::awaitable<void> queue_then_stop(Node& node, const PeerId& peer, SendTally& tally,
                                      async::ManualClock& clock) {
  SendOptions quick;
  quick.budget_ns = 1'000'000;
  for (std::uint64_t i = 0; i < 6; ++i) {
    tally.record(co_await node.send(peer, "bulk", numbered(9, 200 + i, 64 * 1024), quick));
  }
  co_await (node.stop() && run_out_the_drain(clock));
}

asio::awaitable<void> stop_with_pending_sends(Cluster& cluster) {
  NodeConfig b_config = loopback_config();
  b_config.inbox_capacity = kSmallInbox;
  NodeConfig a_config = loopback_config();
  a_config.max_queued_messages = 4;
  // Virtual time for a: the 1 ms budgets below bound the wait for queue room, and must not run
  // out on a slow machine before a message even reaches the queue (`deadline_exceeded`).
  a_config.clock = &cluster.manual_clock();
  Node& b = *co_await cluster.start(b_config);
  Node& a = *co_await cluster.start(a_config);
  const PeerId& b_id = b.peer_id();
  (void)co_await a.connect(dial_addr(b));

  // b's inbox fills (nobody receives there).
  SendTally tally;
  SendOptions await;
  await.await_receipt = true;
  for (std::uint64_t i = 0; i < kSmallInbox; ++i) {
    const Verdict v = co_await a.send(b_id, "bulk", numbered(9, i, 64 * 1024), await);
    EXPECT_FALSE(v) << reason_of(v);
    tally.record(v);
  }

  // One send waits for its receipt, more are queued behind it, and a stops.
  const Verdict pending =
      co_await (awaited_send(a, b_id) && queue_then_stop(a, b_id, tally, cluster.manual_clock()));
  tally.record(pending);
  EXPECT_EQ(reason_of(pending), "stopped");

  // Stopped means stopped: nothing waits, nothing is sent. Each failure was reported once:
  // returned to its send() (the awaited one, those refused at once), or, awaited by nobody,
  // a SendFailed (written, no receipt) or counted in an OutboundDropped (never written).
  std::uint64_t reported_by_events = 0;
  std::uint64_t outbound_dropped_events = 0;
  while (auto event = a.try_next_event()) {
    if (const auto* f = std::get_if<SendFailed>(&*event); f && f->reason == "stopped") {
      ++reported_by_events;
    } else if (const auto* d = std::get_if<OutboundDropped>(&*event); d && d->reason == "stopped") {
      reported_by_events += d->count;
      ++outbound_dropped_events;
    }
  }
  EXPECT_FALSE(co_await a.next_event());
  EXPECT_FALSE(co_await a.receive("bulk"));
  const Verdict late = co_await a.send(b_id, "bulk", wire::as_bytes("too late"));
  EXPECT_EQ(reason_of(late), "stopped");
  tally.record(late);
  EXPECT_TRUE(a.connected_peers().empty());

  const NodeMetrics m = a.metrics();
  EXPECT_EQ(m.connections, 0u);
  EXPECT_EQ(m.sends, tally.sent) << tally.dump();
  EXPECT_TRUE(all_sends_accounted(a));
  EXPECT_GE(m.dropped("stopped"), 2u) << describe(m);
  EXPECT_EQ(reported_by_events + tally.denied_for("stopped"), m.dropped("stopped"))
      << tally.dump() << describe(m);
  EXPECT_LE(outbound_dropped_events, 1u) << "one OutboundDropped for the queue of one peer";
  // What b holds: everything a saw accepted, plus at most the ones whose receipt the stop cut
  // off (the documented at-least-once corner).
  std::uint64_t delivered = 0;
  while (b.try_receive("bulk")) ++delivered;
  EXPECT_GE(delivered, m.receipts_accepted);
  EXPECT_LE(delivered, m.receipts_accepted + m.dropped("stopped") + m.dropped("connection_lost"));
  EXPECT_EQ(m.receipts_accepted, kSmallInbox);
}

TEST(NodeFlow, StopFailsPendingAndQueuedSendsInsteadOfHanging) {
  run_scenario(&stop_with_pending_sends);
}

}  // namespace
}  // namespace bb::node

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

// ---- a peer that reads everything and never answers -------------------------------------------

// The far end of a connection, by hand: accepts one connection and its /bb/wire/1.0.0 stream,
// reads every byte and never writes a receipt. `stop` ends it and closes the connection.
struct SilentReader {
  wire::Ed25519KeyPair identity = wire::Ed25519KeyPair::generate();
  std::optional<wire::TcpListener> listener;
  std::optional<wire::Connection> connection;
  std::uint64_t bytes_read = 0;
};

asio::awaitable<void> serve_silently(wire::Connection conn, SilentReader& reader) {
  while (auto stream = co_await conn.accept_stream()) {
    std::vector<std::string> supported{std::string(wire::bb_wire::kProtocolId)};
    auto negotiated = co_await async::capture(conn.negotiate_inbound(*stream, supported));
    if (negotiated.error) continue;  // a protocol it does not serve (identify, ping)
    std::array<std::uint8_t, 16 * 1024> buf{};
    while (true) {
      const std::size_t n = co_await stream->read_some(buf);
      if (n == 0) break;
      reader.bytes_read += n;
    }
  }
}

// Ends when the connection does; errors end it too (the test closes the connection).
asio::awaitable<void> read_silently(SilentReader& r) {
  try {
    auto socket = co_await r.listener->accept();
    r.connection = co_await wire::Connection::upgrade(std::move(socket), wire::Direction::inbound,
                                                      r.identity, std::nullopt, {});
    auto conn = *r.connection;
    co_await (conn.run() && serve_silently(conn, r));
  } catch (const std::exception&) {
  }
}

constexpr std::size_t kAwaiting = 32;
constexpr std::size_t kQueued = 8;

// a keeps virtual time: each message's 2 ms budget runs out only once a's queue is full
// (send_on_virtual_time), so every send ends queued or `queue_full` however slow the machine;
// on real time a loaded sanitizer build saw the budget run out before the queue
// (`deadline_exceeded`).
asio::awaitable<void> send_to_silent_reader(Node& a, async::ManualClock& clock,
                                            SilentReader& reader) {
  NodeEvents events(a);
  const PeerId r_id = reader.identity.peer_id();
  a.add_address(r_id, reader.listener->local_addr());

  SendOptions short_budget;
  short_budget.budget_ns = 2'000'000;  // 2 ms of waiting for queue room, then queue_full
  SendTally tally;
  std::size_t peak_awaiting = 0;
  std::size_t peak_queued = 0;
  const std::vector<std::uint8_t> payload(100, 0x42);
  for (int i = 0; i < 300; ++i) {
    tally.record(co_await send_on_virtual_time(a, clock, r_id, "ch", payload, short_budget, kQueued,
                                               std::size_t{8} << 20));
    const PeerStatus st = a.peer_status(r_id);
    peak_awaiting = std::max(peak_awaiting, st.awaiting_receipt);
    peak_queued = std::max(peak_queued, st.queued_messages);
  }
  // The writer stopped at the bound: at most one queue's worth beyond it went out.
  EXPECT_LE(peak_awaiting, kAwaiting + kQueued);
  EXPECT_LE(peak_queued, kQueued);
  EXPECT_GT(tally.denied_for("queue_full"), 0u) << tally.dump() << events.dump();
  // Every message a accepted is still held, written or queued: nothing came back, nothing left.
  const PeerStatus held = a.peer_status(r_id);
  EXPECT_EQ(held.queued_messages, kQueued);
  EXPECT_GE(held.awaiting_receipt, kAwaiting);
  EXPECT_EQ(tally.ok, held.awaiting_receipt + held.queued_messages) << tally.dump();
  EXPECT_EQ(tally.denied_total(), tally.denied_for("queue_full")) << tally.dump();
  EXPECT_GT(reader.bytes_read, 0u);
  EXPECT_EQ(a.metrics().receipts_accepted, 0u);

  // The silent peer goes away: everything written or queued to it is reported lost.
  if (reader.connection) reader.connection->close();
  reader.listener->close();
  const auto down =
      co_await events.wait<PeerDown>([&r_id](const PeerDown& e) { return e.peer == r_id; });
  EXPECT_TRUE(down);
  const NodeMetrics m = a.metrics();
  EXPECT_EQ(m.sends, tally.sent);
  EXPECT_EQ(m.dropped("connection_lost"), tally.ok) << describe(m);
  EXPECT_TRUE(all_sends_accounted(a));
}

asio::awaitable<void> silent_reader_bounds_memory(Cluster& cluster) {
  NodeConfig config = loopback_config();
  config.max_awaiting_receipt = kAwaiting;
  config.max_queued_messages = kQueued;
  config.clock = &cluster.manual_clock();
  Node& a = *co_await cluster.start(std::move(config));
  SilentReader reader;
  reader.listener.emplace(wire::TcpListener::listen(
      co_await asio::this_coro::executor, *wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0")));
  co_await (read_silently(reader) && send_to_silent_reader(a, cluster.manual_clock(), reader));
}

TEST(NodeFlow, APeerThatNeverSendsReceiptsCannotGrowTheSendersMemory) {
  run_scenario(&silent_reader_bounds_memory);
}

}  // namespace
}  // namespace bb::node

// bb::node::Node over real loopback sockets, several nodes in one io_context: connecting and
// its events and counters, exactly-once in-order delivery per sender, a peer that cannot be
// resolved, a blocked peer (denied both ways with `blocklisted`), a flood of relayed duplicates.
// Every test closes its books: sent = delivered + reported-failed.
#include "bb/node/node.hpp"

#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>
#include <map>
#include <set>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace node_test;
using wire::PeerId;

// ---- connect, events, counters --------------------------------------------------------------

asio::awaitable<void> connect_and_count(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  Node& b = *co_await cluster.start();
  NodeEvents a_events(a);
  NodeEvents b_events(b);
  const PeerId& a_id = a.peer_id();
  const PeerId& b_id = b.peer_id();

  // Bound addresses carry the real port and the node's id.
  EXPECT_EQ(a.listen_addrs().size(), 1u);
  EXPECT_NE(dial_addr(a).tcp_port(), std::optional<std::uint16_t>(0));
  EXPECT_TRUE(dial_addr(a).to_string().ends_with("/p2p/" + a_id.to_base58()))
      << dial_addr(a).to_string();
  EXPECT_EQ(a.metrics().connections, 0u);

  const PeerId got = co_await a.connect(dial_addr(b));
  EXPECT_EQ(got, b_id);
  // Both ends see the other come up.
  const auto a_up =
      co_await a_events.wait<PeerUp>([&b_id](const PeerUp& e) { return e.peer == b_id; });
  const auto b_up =
      co_await b_events.wait<PeerUp>([&a_id](const PeerUp& e) { return e.peer == a_id; });
  EXPECT_TRUE(a_up && b_up);

  EXPECT_EQ(a.connected_peers(), std::vector<PeerId>{b_id});
  EXPECT_EQ(b.connected_peers(), std::vector<PeerId>{a_id});
  const PeerStatus status = a.peer_status(b_id);
  EXPECT_TRUE(status.connected);
  EXPECT_FALSE(status.blocked);
  EXPECT_FALSE(status.down);
  EXPECT_TRUE(contains(status.addresses, dial_addr(b)));  // connect() remembers the address
  for (const Node* n : {&a, &b}) {
    const NodeMetrics m = n->metrics();
    EXPECT_EQ(m.connections, 1u);
    EXPECT_EQ(m.connections_opened, 1u);
    EXPECT_EQ(m.connections_closed, 0u);
  }

  // Three messages, each confirmed by its receipt.
  const std::array<std::size_t, 3> sizes{10, 1000, 100'000};
  std::uint64_t payload_bytes = 0;
  SendTally tally;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const wire::Bytes payload = numbered(1, i + 1, sizes[i]);
    payload_bytes += payload.size();
    SendOptions options;
    options.await_receipt = true;
    const Verdict v = co_await a.send(b_id, "chat", payload, options);
    EXPECT_FALSE(v) << reason_of(v) << ": " << v->detail;
    tally.record(v);
  }
  std::set<std::uint64_t> ids;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::optional<Received> m = co_await b.receive("chat");
    EXPECT_TRUE(m);
    if (!m) break;
    EXPECT_EQ(m->from, a_id);
    EXPECT_EQ(m->origin, a_id);
    EXPECT_EQ(m->channel, "chat");
    EXPECT_EQ(wire::copy_of(m->payload), numbered(1, i + 1, sizes[i]));
    // Ids are random (nobody can claim one ahead of its author), never 0, one per message.
    EXPECT_NE(m->message_id, 0u);
    EXPECT_TRUE(ids.insert(m->message_id).second) << "id " << m->message_id << " repeated";
    EXPECT_FALSE(m->trigger_only);
    EXPECT_GT(m->arrival_ns, 0u);
    // With no budget set, a hop gets the RTT rule's budget raised to the 1 s floor (on
    // loopback the RTT alone gives well under a millisecond), less the time before it went.
    EXPECT_LE(m->budget_ns, 1'000'000'000u);
    EXPECT_GT(m->budget_ns, 500'000'000u);
  }
  EXPECT_FALSE(b.try_receive("chat"));

  const NodeMetrics am = a.metrics();
  const NodeMetrics bm = b.metrics();
  EXPECT_EQ(am.sends, 3u);
  EXPECT_EQ(am.receipts_accepted, 3u);
  EXPECT_EQ(am.messages_out, 3u);
  EXPECT_GT(am.bytes_out, payload_bytes);  // framed: payload plus envelope
  EXPECT_LT(am.bytes_out, payload_bytes + 3 * 1024);
  EXPECT_EQ(bm.messages_in, 3u);
  EXPECT_EQ(bm.bytes_in, am.bytes_out);  // both ends count the same frames
  EXPECT_EQ(bm.messages_out, 0u);
  EXPECT_EQ(am.messages_in, 0u);
  EXPECT_TRUE(am.drops.empty()) << describe(am);
  EXPECT_TRUE(bm.drops.empty()) << describe(bm);
  // The connection is charged to the resource manager's scopes on both ends.
  EXPECT_EQ(am.resources.system.connections_outbound + am.resources.system.connections_inbound, 1u);
  EXPECT_EQ(bm.resources.system.connections_inbound + bm.resources.system.connections_outbound, 1u);
  EXPECT_GT(bm.resources.peak_memory, 0u);
  EXPECT_TRUE(bm.resources.refusals.empty());
  EXPECT_EQ(tally.ok, 3u);
  EXPECT_TRUE(all_sends_accounted(a));

  // The socket dies under both: each side reports the other down, with the connection counted
  // closed.
  auto conn = b.host().connection(a_id);
  EXPECT_TRUE(conn);
  if (conn) conn->close();
  const bool a_saw_b_down = co_await expect_down(a_events, b_id, "connection_lost");
  EXPECT_TRUE(a_saw_b_down);
  const bool b_saw_a_down = co_await expect_down(b_events, a_id, "connection_lost");
  EXPECT_TRUE(b_saw_a_down);
  EXPECT_FALSE(a.peer_status(b_id).connected);
  EXPECT_TRUE(a.peer_status(b_id).down);
  EXPECT_TRUE(a.connected_peers().empty());
  EXPECT_EQ(a.metrics().connections, 0u);
  EXPECT_EQ(a.metrics().connections_closed, 1u);
  EXPECT_EQ(b.metrics().connections_closed, 1u);
  EXPECT_EQ(a_events.count<SendFailed>(), 0u) << a_events.dump();
}

TEST(Node, ConnectEmitsPeerUpAndCountsMessagesBytesAndConnections) {
  run_scenario(&connect_and_count);
}

// ---- unknown peer ---------------------------------------------------------------------------

asio::awaitable<void> unknown_peer(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  const PeerId stranger = wire::Ed25519KeyPair::generate().peer_id();
  const Verdict v = co_await a.send(stranger, "chat", wire::as_bytes("hello?"));
  EXPECT_TRUE(v);
  EXPECT_EQ(reason_of(v), "peer_resolve_failed");
  SendOptions await;
  await.await_receipt = true;
  const Verdict w = co_await a.send(stranger, "chat", wire::as_bytes("anyone?"), await);
  EXPECT_EQ(reason_of(w), "peer_resolve_failed");

  const NodeMetrics m = a.metrics();
  EXPECT_EQ(m.sends, 2u);
  EXPECT_EQ(m.dropped("peer_resolve_failed"), 2u);
  EXPECT_EQ(m.failed_sends(), 2u);
  EXPECT_EQ(m.messages_out, 0u);
  EXPECT_EQ(m.connections_opened, 0u);  // nothing was dialled
  EXPECT_TRUE(all_sends_accounted(a));
}

// The per-hop budget of a message sent without one: NodeConfig::default_deadline_ns when set,
// else the RTT rule raised to min_hop_budget_ns (1 s by default; 0 leaves the RTT rule alone).
asio::awaitable<void> hop_budgets(Cluster& cluster) {
  Node& receiver = *co_await cluster.start();
  NodeConfig fixed = loopback_config();
  fixed.default_deadline_ns = 250'000'000;
  NodeConfig unfloored = loopback_config();
  unfloored.min_hop_budget_ns = 0;
  std::vector<std::pair<Node*, std::string_view>> senders;
  senders.emplace_back(co_await cluster.start(), "default");
  senders.emplace_back(co_await cluster.start(fixed), "deadline_ns 250 ms");
  senders.emplace_back(co_await cluster.start(unfloored), "no floor");
  SendOptions confirmed;
  confirmed.await_receipt = true;
  for (const auto& [sender, what] : senders) {
    (void)co_await sender->connect(dial_addr(receiver));
    const Verdict v =
        co_await sender->send(receiver.peer_id(), "budget", wire::as_bytes(what), confirmed);
    EXPECT_FALSE(v) << what << ": " << reason_of(v);
  }
  std::map<std::string, std::uint64_t> budgets;
  for (std::size_t i = 0; i < senders.size(); ++i) {
    const auto m = receiver.try_receive("budget");
    if (!m) break;
    budgets[wire::to_string(m->payload)] = m->budget_ns;
  }
  // What remains of each when it went (the node gives it at send(); microseconds pass).
  EXPECT_LE(budgets["default"], 1'000'000'000u);
  EXPECT_GT(budgets["default"], 500'000'000u);
  EXPECT_LE(budgets["deadline_ns 250 ms"], 250'000'000u);
  EXPECT_GT(budgets["deadline_ns 250 ms"], 125'000'000u);
  EXPECT_GT(budgets["no floor"], 0u);
  EXPECT_LE(budgets["no floor"], 100'000'000u) << "the RTT rule on loopback, or 100 ms";
}

TEST(Node, AHopWithoutABudgetGetsTheConfiguredOneOrTheRttRuleRaisedToTheFloor) {
  run_scenario(&hop_budgets);
}

TEST(Node, SendToAPeerWithoutConnectionOrAddressIsDeniedPeerResolveFailed) {
  run_scenario(&unknown_peer);
}

// ---- fan-out and triggers -------------------------------------------------------------------

asio::awaitable<void> fan_out_and_trigger(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  Node& b = *co_await cluster.start();
  Node& c = *co_await cluster.start();
  std::vector<PeerId> peers;  // (no braced list with co_await inside: g++ 12 rejects it)
  peers.push_back(co_await a.connect(dial_addr(b)));
  peers.push_back(co_await a.connect(dial_addr(c)));
  SendOptions await;
  await.await_receipt = true;
  const auto verdicts = co_await a.send(peers, "fan", wire::as_bytes("to both"), await);
  EXPECT_EQ(verdicts.size(), 2u);
  for (const auto& v : verdicts) EXPECT_FALSE(v) << reason_of(v);
  auto at_b = b.try_receive("fan");
  auto at_c = c.try_receive("fan");
  EXPECT_TRUE(at_b && at_c);
  if (at_b && at_c) {
    EXPECT_EQ(at_b->message_id, at_c->message_id);  // one message, one id, two envelopes
    EXPECT_EQ(at_b->origin, a.peer_id());
    EXPECT_EQ(wire::to_string(at_c->payload), "to both");
  }

  // A trigger carries no payload, whatever bytes the sender handed over.
  SendOptions trigger;
  trigger.await_receipt = true;
  trigger.trigger_only = true;
  const Verdict v = co_await a.send(peers[0], "fan", wire::as_bytes("ignored"), trigger);
  EXPECT_FALSE(v) << reason_of(v);
  if (auto t = b.try_receive("fan")) {
    EXPECT_TRUE(t->trigger_only);
    EXPECT_TRUE(t->payload.empty());
    EXPECT_NE(t->message_id, at_b ? at_b->message_id : 0);
  } else {
    ADD_FAILURE() << "b got no trigger";
  }
  EXPECT_EQ(a.metrics().sends, 3u);
  EXPECT_EQ(a.metrics().receipts_accepted, 3u);
  EXPECT_TRUE(all_sends_accounted(a));
}

TEST(Node, FanOutSendsOneMessageIdToEveryPeerAndTriggersArriveWithoutPayload) {
  run_scenario(&fan_out_and_trigger);
}

// ---- exactly once, in order, per sender -----------------------------------------------------

constexpr std::size_t kMeshNodes = 4;
constexpr std::uint64_t kPerPair = 500;  // plus one final message confirmed by its receipt

struct MeshReceipt {
  std::uint64_t delivered = 0;
  std::uint64_t out_of_order = 0;  // a gap, a repeat or a step back in one sender's sequence
  std::uint64_t foreign = 0;       // from an unexpected peer, or a damaged payload
};

// Round-robin: message `seq` goes from every node to every other before `seq + 1` does. The
// last one of each pair waits for its receipt: receipts come back in order on the pair's stream,
// so once it is accepted, the fate of every earlier one is known.
asio::awaitable<void> mesh_send(std::array<Node*, kMeshNodes>& nodes, SendTally& tally) {
  for (std::uint64_t seq = 1; seq <= kPerPair + 1; ++seq) {
    for (std::size_t from = 0; from < kMeshNodes; ++from) {
      for (std::size_t to = 0; to < kMeshNodes; ++to) {
        if (from == to) continue;
        SendOptions options;
        options.await_receipt = seq == kPerPair + 1;
        const wire::Bytes payload = numbered(from, seq, 16 + (seq % 7) * 150);
        const Verdict v = co_await nodes[from]->send(nodes[to]->peer_id(), "seq", payload, options);
        EXPECT_FALSE(v) << from << "->" << to << " #" << seq << ": " << reason_of(v);
        tally.record(v);
      }
    }
  }
}

asio::awaitable<void> mesh_receive(std::array<Node*, kMeshNodes>& nodes, std::size_t self,
                                   MeshReceipt& out) {
  std::array<std::uint64_t, kMeshNodes> last_seq{};
  std::array<std::set<std::uint64_t>, kMeshNodes> ids;
  for (std::uint64_t i = 0; i < (kMeshNodes - 1) * (kPerPair + 1); ++i) {
    const std::optional<Received> m = co_await nodes[self]->receive("seq");
    if (!m) break;
    ++out.delivered;
    const auto n = read_numbered(m->payload);
    if (!n || n->tag >= kMeshNodes || n->tag == self || m->from != nodes[n->tag]->peer_id() ||
        m->origin != m->from) {
      ++out.foreign;
      continue;
    }
    // Order is the payload's sequence number's to tell; ids (random) must only never repeat.
    if (n->seq != last_seq[n->tag] + 1 || !ids[n->tag].insert(m->message_id).second) {
      ++out.out_of_order;
    }
    last_seq[n->tag] = n->seq;
  }
}

// The nodes keep virtual time, which nothing here moves: no message's budget can run out
// however slow the machine (on real time, once pings had given an RTT estimate, a budget of a
// fraction of a millisecond could, for a sender preempted at the wrong moment).
asio::awaitable<void> exactly_once_in_order(Cluster& cluster) {
  std::array<Node*, kMeshNodes> nodes{};
  NodeConfig config = loopback_config();
  config.clock = &cluster.manual_clock();
  for (auto& node : nodes) node = co_await cluster.start(config);
  for (auto* node : nodes) node->subscribe("seq");
  for (std::size_t i = 0; i < kMeshNodes; ++i) {
    for (std::size_t j = i + 1; j < kMeshNodes; ++j) {
      EXPECT_EQ(co_await nodes[i]->connect(dial_addr(*nodes[j])), nodes[j]->peer_id());
    }
  }
  // Every node sees each other node come up once (dialled or accepted).
  for (std::size_t i = 0; i < kMeshNodes; ++i) {
    NodeEvents events(*nodes[i]);
    for (std::size_t j = 0; j < kMeshNodes; ++j) {
      if (i == j) continue;
      const PeerId& peer = nodes[j]->peer_id();
      const auto up =
          co_await events.wait<PeerUp>([&peer](const PeerUp& e) { return e.peer == peer; });
      EXPECT_TRUE(up) << "node " << i << " never saw node " << j << " come up";
    }
    EXPECT_EQ(events.count<PeerUp>(), 0u) << "more than one PeerUp per peer:" << events.dump();
    EXPECT_EQ(nodes[i]->metrics().connections, kMeshNodes - 1);
  }

  SendTally tally;
  std::array<MeshReceipt, kMeshNodes> got{};
  co_await (mesh_send(nodes, tally) && mesh_receive(nodes, 0, got[0]) &&
            mesh_receive(nodes, 1, got[1]) && mesh_receive(nodes, 2, got[2]) &&
            mesh_receive(nodes, 3, got[3]));

  constexpr std::uint64_t kPerNode = (kMeshNodes - 1) * (kPerPair + 1);
  std::uint64_t delivered = 0, sends = 0, failed = 0, bytes_out = 0, bytes_in = 0;
  for (std::size_t i = 0; i < kMeshNodes; ++i) {
    EXPECT_EQ(got[i].delivered, kPerNode) << "node " << i;
    EXPECT_EQ(got[i].out_of_order, 0u) << "node " << i;
    EXPECT_EQ(got[i].foreign, 0u) << "node " << i;
    EXPECT_FALSE(nodes[i]->try_receive("seq")) << "node " << i << " got more than was sent";
    const NodeMetrics m = nodes[i]->metrics();
    EXPECT_EQ(m.sends, kPerNode) << describe(m);
    EXPECT_EQ(m.receipts_accepted, kPerNode) << describe(m);
    EXPECT_EQ(m.messages_out, kPerNode) << describe(m);
    EXPECT_EQ(m.messages_in, kPerNode) << describe(m);
    EXPECT_TRUE(m.drops.empty()) << describe(m);
    EXPECT_EQ(m.connections, kMeshNodes - 1);
    EXPECT_EQ(m.connections_opened, kMeshNodes - 1);
    EXPECT_EQ(m.connections_closed, 0u);
    EXPECT_EQ(m.backoff_notices_sent + m.backoff_notices_received, 0u);
    EXPECT_TRUE(all_sends_accounted(*nodes[i]));
    for (std::size_t j = 0; j < kMeshNodes; ++j) {
      if (i == j) continue;
      const PeerStatus s = nodes[i]->peer_status(nodes[j]->peer_id());
      EXPECT_TRUE(s.connected && !s.down && !s.blocked);
      EXPECT_EQ(s.queued_messages, 0u);
      EXPECT_EQ(s.queued_bytes, 0u);
      EXPECT_EQ(s.awaiting_receipt, 0u);
    }
    NodeEvents events(*nodes[i]);
    EXPECT_EQ(events.count<SendFailed>(), 0u) << events.dump();
    delivered += got[i].delivered;
    sends += m.sends;
    failed += m.failed_sends();
    bytes_out += m.bytes_out;
    bytes_in += m.bytes_in;
  }
  // sent = delivered + reported-failed, over the whole mesh and from the test's own count.
  EXPECT_EQ(tally.sent, sends);
  EXPECT_EQ(tally.ok, tally.sent) << tally.dump();
  EXPECT_EQ(sends, delivered + failed);
  EXPECT_EQ(bytes_in, bytes_out);
}

TEST(Node, FourNodesDeliverEveryMessageExactlyOnceInOrderPerSender) {
  run_scenario(&exactly_once_in_order, std::chrono::seconds(60));
}

// ---- a blocked peer -------------------------------------------------------------------------

asio::awaitable<void> blocked_both_ways(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  // b keeps virtual time, so a backoff window it might open stays open until the test moves on.
  NodeConfig b_config = loopback_config();
  b_config.clock = &cluster.manual_clock();
  Node& b = *co_await cluster.start(std::move(b_config));
  Node& c = *co_await cluster.start();
  NodeEvents a_events(a);
  NodeEvents b_events(b);
  const PeerId& a_id = a.peer_id();
  const PeerId& b_id = b.peer_id();
  const PeerId& c_id = c.peer_id();
  (void)co_await b.connect(dial_addr(a));
  (void)co_await c.connect(dial_addr(a));
  (void)co_await a_events.wait<PeerUp>([&b_id](const PeerUp& e) { return e.peer == b_id; });
  (void)co_await a_events.wait<PeerUp>([&c_id](const PeerUp& e) { return e.peer == c_id; });

  SendOptions await;
  await.await_receipt = true;
  SendTally a_tally, b_tally, c_tally;

  a.block(b_id);
  const auto blocked =
      co_await a_events.wait<PeerBlocked>([&b_id](const PeerBlocked& e) { return e.peer == b_id; });
  EXPECT_TRUE(blocked);
  EXPECT_TRUE(a.peer_status(b_id).blocked);

  // Out: a's own gate says no.
  Verdict v = co_await a.send(b_id, "ch", wire::as_bytes("a->b while blocked"));
  EXPECT_EQ(reason_of(v), "blocklisted");
  a_tally.record(v);
  v = co_await a.send(b_id, "ch", wire::as_bytes("a->b while blocked, awaited"), await);
  EXPECT_EQ(reason_of(v), "blocklisted");
  a_tally.record(v);

  // b stays connected: what it sends is refused by a's receive gates, and b is told why.
  EXPECT_TRUE(b.peer_status(a_id).connected);
  {
    constexpr int kQueued = 3;
    for (int i = 0; i < kQueued; ++i) {
      v = co_await b.send(a_id, "ch", wire::as_bytes("b->a queued while blocked"));
      EXPECT_FALSE(v) << reason_of(v);  // b's own gates let it out
      b_tally.record(v);
    }
    v = co_await b.send(a_id, "ch", wire::as_bytes("b->a awaited while blocked"), await);
    EXPECT_EQ(reason_of(v), "blocklisted");
    b_tally.record(v);
    // Receipts are in order, so the queued ones' refusals came first. One report each: the
    // queued ones (nobody awaits them) as SendFailed events, the awaited one as send()'s value.
    EXPECT_EQ(b_events.count<SendFailed>([&a_id](const SendFailed& e) {
      return e.peer == a_id && e.reason == "blocklisted";
    }),
              static_cast<std::size_t>(kQueued))
        << b_events.dump();
    EXPECT_EQ(a.metrics().dropped("rx:blocklisted"), static_cast<std::uint64_t>(kQueued + 1));
    EXPECT_EQ(b.metrics().dropped("blocklisted"), static_cast<std::uint64_t>(kQueued + 1));
    // A refusal is the receiver's policy, not a failure of the link: b does not back off.
    EXPECT_FALSE(b.peer_status(a_id).retry_at_ns) << "b backs off from a after refusals";
  }
  EXPECT_FALSE(a.try_receive("ch"));

  // c is not affected, either way.
  v = co_await a.send(c_id, "ch", wire::as_bytes("a->c"), await);
  EXPECT_FALSE(v) << reason_of(v);
  a_tally.record(v);
  v = co_await c.send(a_id, "ch", wire::as_bytes("c->a"), await);
  EXPECT_FALSE(v) << reason_of(v);
  c_tally.record(v);
  if (auto m = c.try_receive("ch")) {
    EXPECT_EQ(wire::to_string(m->payload), "a->c");
  } else {
    ADD_FAILURE() << "c got nothing";
  }
  if (auto m = a.try_receive("ch")) {
    EXPECT_EQ(wire::to_string(m->payload), "c->a");
  } else {
    ADD_FAILURE() << "a got nothing from c";
  }

  // Unblocked, both directions work again.
  a.unblock(b_id);
  EXPECT_FALSE(a.peer_status(b_id).blocked);
  if (auto retry = b.peer_status(a_id).retry_at_ns) cluster.manual_clock().advance_to(*retry);
  (void)co_await b.connect(dial_addr(a));  // the existing connection, or a new one
  v = co_await b.send(a_id, "ch", wire::as_bytes("b->a after unblock"), await);
  EXPECT_FALSE(v) << reason_of(v);
  b_tally.record(v);
  v = co_await a.send(b_id, "ch", wire::as_bytes("a->b after unblock"), await);
  EXPECT_FALSE(v) << reason_of(v);
  a_tally.record(v);
  if (auto m = a.try_receive("ch")) {
    EXPECT_EQ(m->from, b_id);
    EXPECT_EQ(wire::to_string(m->payload), "b->a after unblock");
  } else {
    ADD_FAILURE() << "a got nothing from b after unblocking it";
  }
  if (auto m = b.try_receive("ch")) {
    EXPECT_EQ(wire::to_string(m->payload), "a->b after unblock");
  } else {
    ADD_FAILURE() << "b got nothing from a after the unblock";
  }
  EXPECT_FALSE(a.try_receive("ch"));
  EXPECT_FALSE(b.try_receive("ch"));

  // The books: 2 + 2 delivered to a (c, b after unblock) and b, c; everything else refused.
  const std::array<std::pair<Node*, SendTally*>, 3> books{
      {{&a, &a_tally}, {&b, &b_tally}, {&c, &c_tally}}};
  for (const auto& [node, tally] : books) {
    EXPECT_TRUE(all_sends_accounted(*node));
    EXPECT_EQ(node->metrics().sends, tally->sent) << tally->dump();
  }
  const std::uint64_t delivered =
      a.metrics().messages_in + b.metrics().messages_in + c.metrics().messages_in;
  EXPECT_EQ(delivered, 4u);
  EXPECT_EQ(a_tally.sent + b_tally.sent + c_tally.sent, delivered + a.metrics().failed_sends() +
                                                            b.metrics().failed_sends() +
                                                            c.metrics().failed_sends());
}

TEST(Node, BlockedPeerIsDeniedBothWaysWithBlocklistedUntilUnblocked) {
  run_scenario(&blocked_both_ways);
}

// ---- a flood of duplicates ------------------------------------------------------------------

asio::awaitable<void> duplicate_flood(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  Node& relay = *co_await cluster.start();
  Node& b = *co_await cluster.start();
  NodeEvents relay_events(relay);
  const PeerId& a_id = a.peer_id();
  const PeerId& relay_id = relay.peer_id();
  const PeerId& b_id = b.peer_id();
  (void)co_await a.connect(dial_addr(relay));
  (void)co_await relay.connect(dial_addr(b));

  // a's message, with a budget that outlasts the test, reaches the relay; a sends it relayable
  // (signed), or the relay could not forward it.
  SendOptions await;
  await.await_receipt = true;
  SendOptions long_budget = await;
  long_budget.budget_ns = 60'000'000'000;
  long_budget.relayable = true;
  Verdict v = co_await a.send(relay_id, "relay", wire::as_bytes("rumour"), long_budget);
  EXPECT_FALSE(v) << reason_of(v);
  const std::optional<Received> original = co_await relay.receive("relay");
  if (!original) {
    ADD_FAILURE() << "the relay got nothing";
    co_return;
  }
  EXPECT_EQ(original->origin, a_id);

  // The first forward is delivered, with its origin and id.
  SendTally tally;
  v = co_await relay.forward(b_id, *original, await);
  EXPECT_FALSE(v) << reason_of(v);
  tally.record(v);
  if (auto got = b.try_receive("relay")) {
    EXPECT_EQ(got->from, relay_id);
    EXPECT_EQ(got->origin, a_id);
    EXPECT_EQ(got->message_id, original->message_id);
    EXPECT_EQ(wire::to_string(got->payload), "rumour");
    EXPECT_EQ(got->channel, "relay");
    EXPECT_GT(got->budget_ns, 0u);
    EXPECT_LE(got->budget_ns, original->budget_ns);
  } else {
    ADD_FAILURE() << "b did not get the first forward";
  }

  // The flood: queued by the relay, refused by b's DedupGateRx, each refusal reported.
  constexpr std::uint64_t kFlood = 200;
  constexpr std::uint64_t kAwaited = 5;
  for (std::uint64_t i = 0; i < kFlood; ++i) {
    v = co_await relay.forward(b_id, *original);
    EXPECT_FALSE(v) << "forward " << i << ": " << reason_of(v);
    tally.record(v);
  }
  for (std::uint64_t i = 0; i < kAwaited; ++i) {
    v = co_await relay.forward(b_id, *original, await);
    EXPECT_EQ(reason_of(v), "duplicate");
    tally.record(v);
  }
  // Receipts come back in order, so the queued ones' refusals are all in: each is one
  // SendFailed event; the awaited ones are forward()'s values and no event.
  EXPECT_EQ(relay_events.count<SendFailed>(
                [&b_id](const SendFailed& e) { return e.peer == b_id && e.reason == "duplicate"; }),
            kFlood)
      << relay_events.dump();
  EXPECT_FALSE(b.try_receive("relay")) << "a duplicate got through";

  const NodeMetrics bm = b.metrics();
  const NodeMetrics rm = relay.metrics();
  EXPECT_EQ(bm.messages_in, 1u);
  EXPECT_EQ(bm.dropped("rx:duplicate"), kFlood + kAwaited) << describe(bm);
  EXPECT_EQ(rm.dropped("duplicate"), kFlood + kAwaited) << describe(rm);
  EXPECT_EQ(rm.sends, tally.sent);
  EXPECT_TRUE(all_sends_accounted(relay));
  EXPECT_TRUE(all_sends_accounted(a));
  // sent = delivered + reported-failed, for the relay's forwards.
  EXPECT_EQ(tally.sent, bm.messages_in + rm.failed_sends());

  // Absorbed: duplicates cost the relay nothing with b; a new message goes through.
  EXPECT_FALSE(relay.peer_status(b_id).down);
  EXPECT_FALSE(relay.peer_status(b_id).retry_at_ns);
  v = co_await relay.send(b_id, "relay", wire::as_bytes("fresh"), await);
  EXPECT_FALSE(v) << reason_of(v);
  if (auto got = b.try_receive("relay")) {
    EXPECT_EQ(wire::to_string(got->payload), "fresh");
  } else {
    ADD_FAILURE() << "b did not get a fresh message after the flood";
  }
}

TEST(Node, FloodOfRelayedDuplicatesIsAbsorbedByDedupGateRx) {
  run_scenario(&duplicate_flood);
}

}  // namespace
}  // namespace bb::node

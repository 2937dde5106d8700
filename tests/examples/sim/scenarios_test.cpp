// Small bb-sim scenarios as invariants: real Nodes, gossipsub and the DHT on a simulated network,
// seconds of wall-clock time each. A healthy network delivers every message to every node
// exactly once, and every lookup finds its target; a partition keeps each side whole and the
// heal joins them again; after churn, lookups and gossip reach the survivors and the restarted.
#include "examples/sim/random.hpp"
#include "examples/sim/report.hpp"
#include "examples/sim/scenario.hpp"
#include "examples/sim/world.hpp"

#include <gtest/gtest.h>

namespace bb::sim {
namespace {

struct PhaseTotals {
  std::size_t expected = 0, delivered = 0, elsewhere = 0, lookups = 0, found = 0;
};

PhaseTotals totals(const Results& r, const std::string& label) {
  PhaseTotals t;
  std::size_t phase = r.phases.size();
  for (std::size_t p = 0; p < r.phases.size(); ++p)
    if (r.phases[p].label == label) phase = p;
  EXPECT_LT(phase, r.phases.size()) << "no phase " << label;
  for (const auto& m : r.messages) {
    if (m.phase != phase) continue;
    t.expected += m.expected;
    t.delivered += m.delivered;
    t.elsewhere += m.delivered_elsewhere;
  }
  for (const auto& l : r.lookups) {
    if (l.phase != phase) continue;
    ++t.lookups;
    t.found += l.found ? 1 : 0;
  }
  return t;
}

Results run(const std::string& json) {
  const Scenario s = parse_scenario(json);
  seed_randomness(s.seed);
  return run_world(s, nullptr);
}

TEST(SimHealthyNetwork, EveryMessageReachesEveryNodeOnceAndEveryLookupFindsItsTarget) {
  const Results r = run(R"({
    "name": "healthy", "nodes": 16, "seed": 21, "bootstrap_nodes": 2, "join_spread_ms": 2000,
    "link": {"latency_ms": [5, 30], "bandwidth_mbps": 20},
    "events": [
      {"at_ms": 8000, "label": "lookups", "lookups": {"count": 10, "every_ms": 50}},
      {"at_ms": 10000, "label": "gossip", "publish": {"count": 10, "every_ms": 100, "bytes": 300}}
    ],
    "end_ms": 14000})");
  EXPECT_EQ(r.joined, 16u);
  EXPECT_EQ(r.task_failures, 0u);
  const auto gossip = totals(r, "gossip");
  EXPECT_EQ(gossip.expected, 10u * 15u);
  EXPECT_EQ(gossip.delivered, gossip.expected);
  EXPECT_EQ(r.app_duplicates, 0u);
  EXPECT_EQ(r.untraced_hops, 0u);
  EXPECT_EQ(r.hops.size(), gossip.delivered);
  for (auto h : r.hops) EXPECT_GE(h, 1u);
  for (auto l : r.latencies_ns) EXPECT_GE(l, 5'000'000u);  // never faster than one link
  const auto lookups = totals(r, "lookups");
  EXPECT_EQ(lookups.lookups, 10u);
  EXPECT_EQ(lookups.found, 10u);
  EXPECT_EQ(r.mesh_unreachable, 0u);  // the meshes form one connected graph
  // Simultaneous dials (the bootstrap hosts dial each other at 0 s) once left a Node pinging a
  // replaced connection, and its failure detector then called a healthy peer down.
  for (const auto& h : r.hosts) EXPECT_EQ(h.connected_but_down, 0u);
  EXPECT_FALSE(r.mesh_distances.empty());
  for (const auto& h : r.hosts) {
    EXPECT_TRUE(h.alive);
    EXPECT_GE(h.mesh, 1u);
    EXPECT_LE(h.mesh, 12u);  // D_high
  }
  const std::string json = summary_json(r);
  EXPECT_NE(json.find("\"delivery_ratio\":1.0"), std::string::npos) << json;
}

TEST(SimJoin, AJoinThroughManyBootstrapPeersTakesAboutOneHandshake) {
  // 8 bootstrap hosts, links of 40 ms one way: one dial (SYN, then multistream-select, Noise and
  // Yamux) is a few round trips of 80 ms; dialled one after another, the 8 took 8 times that.
  const Results r = run(R"({
    "name": "join", "nodes": 16, "seed": 4, "bootstrap_nodes": 8, "join_spread_ms": 1000,
    "link": {"latency_ms": 40, "bandwidth_mbps": 20},
    "events": [], "end_ms": 8000})");
  EXPECT_EQ(r.joined, 16u);
  for (std::size_t i = 8; i < r.hosts.size(); ++i) {
    EXPECT_GT(r.hosts[i].join_ms, 0.0) << "host " << i;
    // Here: 0.96 to 2.24 s; one dial after another: 3.04 to 3.38 s.
    EXPECT_LT(r.hosts[i].join_ms, 2600.0) << "host " << i;
  }
}

TEST(SimPartition, EachSideStaysWholeAndTheHealJoinsThem) {
  // Shorter than a connection's idle timeout (45 s): the connections live through it, and what
  // was sent across waits, as TCP's retransmissions would, until the heal.
  const Results r = run(R"({
    "name": "partition", "nodes": 20, "seed": 8, "bootstrap_nodes": 2, "join_spread_ms": 2000,
    "link": {"latency_ms": [5, 30], "bandwidth_mbps": 20},
    "events": [
      {"at_ms": 8000, "partition": {"fraction": 0.5}},
      {"at_ms": 10000, "label": "split", "publish": {"count": 10, "every_ms": 100, "bytes": 100}},
      {"at_ms": 30000, "heal": {}},
      {"at_ms": 40000, "label": "healed", "publish": {"count": 10, "every_ms": 100, "bytes": 100}}
    ],
    "end_ms": 45000})");
  const auto split = totals(r, "split");
  EXPECT_EQ(split.expected, 10u * 9u);  // the publisher's side: 10 hosts
  EXPECT_EQ(split.delivered, split.expected);
  const auto healed = totals(r, "healed");
  EXPECT_EQ(healed.expected, 10u * 19u);
  EXPECT_EQ(healed.delivered, healed.expected);
  EXPECT_EQ(r.app_duplicates, 0u);
}

TEST(SimChurn, LookupsAndGossipReachSurvivorsAndTheRestarted) {
  const Results r = run(R"({
    "name": "churn", "nodes": 20, "seed": 13, "bootstrap_nodes": 2, "join_spread_ms": 2000,
    "link": {"latency_ms": [5, 30], "bandwidth_mbps": 20, "loss": 0.001},
    "events": [
      {"at_ms": 8000, "kill": {"fraction": 0.3}},
      {"at_ms": 12000, "label": "lookups-churned", "lookups": {"count": 10, "every_ms": 50}},
      {"at_ms": 13000, "label": "gossip-churned", "publish": {"count": 5, "every_ms": 100, "bytes": 100}},
      {"at_ms": 15000, "restart": {}},
      {"at_ms": 30000, "label": "lookups-restarted", "lookups": {"count": 10, "every_ms": 50}},
      {"at_ms": 31000, "label": "gossip-restarted", "publish": {"count": 5, "every_ms": 100, "bytes": 100}}
    ],
    "end_ms": 35000})");
  EXPECT_EQ(r.task_failures, 0u);
  const auto churned = totals(r, "gossip-churned");
  EXPECT_EQ(churned.expected, 5u * (20u - 1u - 5u));  // 30 % of the 18 that may die: 5
  EXPECT_EQ(churned.delivered, churned.expected);
  EXPECT_EQ(totals(r, "lookups-churned").found, 10u);
  const auto restarted = totals(r, "gossip-restarted");
  EXPECT_EQ(restarted.expected, 5u * 19u);
  EXPECT_EQ(restarted.delivered, restarted.expected);
  EXPECT_EQ(totals(r, "lookups-restarted").found, 10u);
  std::size_t restarts = 0;
  for (const auto& h : r.hosts) restarts += h.restarts;
  EXPECT_EQ(restarts, 5u);
}

TEST(SimScenarioFile, BadFieldsAreNamed) {
  EXPECT_THROW(
      {
        try {
          parse_scenario(R"({"nodes": 10, "linx": {}})");
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("unknown field \"linx\""), std::string::npos);
          throw;
        }
      },
      std::runtime_error);
  EXPECT_THROW(parse_scenario(R"({"link": {"loss": 1.5}})"), std::runtime_error);
  EXPECT_THROW(parse_scenario(R"({"events": [{"at_ms": 1, "publish": {}, "heal": {}}]})"),
               std::runtime_error);
  EXPECT_THROW(parse_scenario("{not json"), std::runtime_error);
  const Scenario s = parse_scenario(R"({"link": {"latency_ms": 30}})");
  EXPECT_EQ(s.link.latency_ms_min, 30);
  EXPECT_EQ(s.link.latency_ms_max, 30);
}

}  // namespace
}  // namespace bb::sim

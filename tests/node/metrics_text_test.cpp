// node/metrics_text.hpp: the Prometheus text format of a snapshot, checked line by line.
#include "bb/node/metrics_text.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace bb::node {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text)) {
    if (l == line) return true;
  }
  return false;
}

std::size_t count_prefix(const std::string& text, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& l : lines_of(text)) n += l.starts_with(prefix) ? 1 : 0;
  return n;
}

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  s.version = "1.2.3";
  s.node.connections = 3;
  s.node.connections_inbound = 1;
  s.node.connections_outbound = 2;
  s.node.messages_out = 10;
  s.node.bytes_out = 1000;
  s.node.sends = 7;
  s.node.receipts_accepted = 5;
  s.node.drops["queue_full"] = 2;
  s.node.drops["rx:duplicate"] = 4;
  return s;
}

TEST(MetricsText, EveryFamilyHasHelpThenTypeAndEverySampleBelongsToTheFamilyAbove) {
  const std::string text = to_prometheus_text(sample_snapshot());
  std::set<std::string> declared;
  std::string family, type;
  std::string help_for;
  for (const auto& line : lines_of(text)) {
    ASSERT_FALSE(line.empty());
    if (line.starts_with("# HELP ")) {
      help_for = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_GT(line.size(), 7 + help_for.size() + 1) << "empty help: " << line;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::istringstream in(line.substr(7));
      in >> family >> type;
      EXPECT_EQ(family, help_for) << "TYPE without HELP just before: " << line;
      EXPECT_TRUE(declared.insert(family).second) << "family declared twice: " << family;
      EXPECT_TRUE(type == "gauge" || type == "counter" || type == "histogram") << line;
      EXPECT_TRUE(family.starts_with("bb_")) << family;
      EXPECT_EQ(type == "counter", family.ends_with("_total")) << family;
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    if (type == "histogram") {
      EXPECT_TRUE(name == family + "_bucket" || name == family + "_sum" ||
                  name == family + "_count")
          << line;
    } else {
      EXPECT_EQ(name, family) << line;
    }
  }
  for (const char* f :
       {"bb_build_info", "bb_connections", "bb_streams", "bb_sent_messages_total",
        "bb_sent_bytes_total", "bb_received_messages_total", "bb_received_bytes_total",
        "bb_sends_total", "bb_receipts_accepted_total", "bb_sends_failed_total", "bb_drops_total",
        "bb_peer_queued_messages", "bb_resource_used", "bb_resource_limit",
        "bb_handshake_duration_seconds", "bb_ping_rtt_seconds"}) {
    EXPECT_TRUE(declared.contains(f)) << f;
  }
}

TEST(MetricsText, ReportsTheSnapshotsFigures) {
  const std::string text = to_prometheus_text(sample_snapshot());
  EXPECT_TRUE(has_line(text, R"(bb_build_info{version="1.2.3"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(bb_connections{direction="inbound"} 1)"));
  EXPECT_TRUE(has_line(text, R"(bb_connections{direction="outbound"} 2)"));
  EXPECT_TRUE(has_line(text, "bb_sent_messages_total 10"));
  EXPECT_TRUE(has_line(text, "bb_sent_bytes_total 1000"));
  EXPECT_TRUE(has_line(text, "bb_sends_total 7"));
  EXPECT_TRUE(has_line(text, "bb_receipts_accepted_total 5"));
  EXPECT_TRUE(has_line(text, "bb_sends_failed_total 2"));  // rx: drops are not failed sends
  EXPECT_TRUE(has_line(text, R"(bb_drops_total{reason="queue_full"} 2)"));
  EXPECT_TRUE(has_line(text, R"(bb_drops_total{reason="rx:duplicate"} 4)"));
}

TEST(MetricsText, ResourceUsageAndLimitsOfTheSystemAndTransientScopesUnlimitedIsInf) {
  MetricsSnapshot s = sample_snapshot();
  s.node.resources.system.memory = 4096;
  s.node.resources.system.limits.memory = 1 << 20;
  s.node.resources.system.streams_inbound = 2;
  s.node.resources.system.streams_outbound = 3;
  s.node.resources.transient.limits.connections = wire::kUnlimited;
  s.node.resources.refusals["peer:memory"] = 9;
  const std::string text = to_prometheus_text(s);
  EXPECT_TRUE(has_line(text, R"(bb_resource_used{scope="system",resource="memory"} 4096)"));
  EXPECT_TRUE(has_line(text, R"(bb_resource_limit{scope="system",resource="memory"} 1048576)"));
  EXPECT_TRUE(has_line(text, R"(bb_resource_used{scope="system",resource="streams"} 5)"));
  EXPECT_TRUE(
      has_line(text, R"(bb_resource_limit{scope="transient",resource="connections"} +Inf)"));
  EXPECT_TRUE(has_line(text, R"(bb_resource_used{scope="transient",resource="fds"} 0)"));
  EXPECT_TRUE(has_line(text, R"(bb_resource_refusals_total{scope="peer",resource="memory"} 9)"));
}

TEST(MetricsText, LabelValuesAreEscapedAndMadeUtf8) {
  EXPECT_EQ(escape_label_value("plain /ipfs/ping/1.0.0"), "plain /ipfs/ping/1.0.0");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), R"(a\"b\\c\nd)");
  EXPECT_EQ(escape_label_value("x\xff"
                               "y"),
            "x\xEF\xBF\xBDy");
  EXPECT_EQ(escape_label_value("caf\xC3\xA9"), "caf\xC3\xA9");  // UTF-8 stays as it is

  // A protocol a peer chose, with every character the format must escape.
  MetricsSnapshot s = sample_snapshot();
  wire::ScopeStat p;
  p.kind = wire::ScopeKind::protocol;
  p.name = "/evil\"}\\\n/1.0.0";
  p.streams_inbound = 2;
  s.node.resources.protocols.push_back(p);
  const std::string text = to_prometheus_text(s);
  EXPECT_TRUE(has_line(text, R"(bb_streams{protocol="/evil\"}\\\n/1.0.0",direction="inbound"} 2)"))
      << text;
  EXPECT_EQ(count_prefix(text, "/1.0.0"), 0u) << "a raw line feed split the sample";
}

TEST(MetricsText, HistogramBucketsAreCumulativeInSecondsAndInfEqualsCount) {
  MetricsSnapshot s = sample_snapshot();
  auto& h = s.node.handshake_times;
  h.observe(500'000);         // 0.5 ms: the first bucket (1 ms)
  h.observe(1'000'000);       // exactly 1 ms: still the first (le is inclusive)
  h.observe(3'000'000);       // 3 ms: le 0.005
  h.observe(20'000'000'000);  // 20 s: above every bound
  const std::string text = to_prometheus_text(s);
  EXPECT_TRUE(has_line(text, R"(bb_handshake_duration_seconds_bucket{le="0.001"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(bb_handshake_duration_seconds_bucket{le="0.0025"} 2)"));
  EXPECT_TRUE(has_line(text, R"(bb_handshake_duration_seconds_bucket{le="0.005"} 3)"));
  EXPECT_TRUE(has_line(text, R"(bb_handshake_duration_seconds_bucket{le="10"} 3)"));
  EXPECT_TRUE(has_line(text, R"(bb_handshake_duration_seconds_bucket{le="+Inf"} 4)"));
  EXPECT_TRUE(has_line(text, "bb_handshake_duration_seconds_count 4"));
  EXPECT_TRUE(has_line(text, "bb_handshake_duration_seconds_sum 20.0045"));

  // Cumulative: never decreasing, and the last (+Inf) equals _count, in both histograms.
  for (const std::string name : {"bb_handshake_duration_seconds", "bb_ping_rtt_seconds"}) {
    std::uint64_t last = 0;
    std::string inf;
    for (const auto& line : lines_of(text)) {
      if (!line.starts_with(name + "_bucket{")) continue;
      const std::uint64_t v = std::stoull(line.substr(line.rfind(' ') + 1));
      EXPECT_GE(v, last) << line;
      last = v;
      inf = line;
    }
    EXPECT_TRUE(inf.starts_with(name + R"(_bucket{le="+Inf"})")) << inf;
    EXPECT_TRUE(has_line(text, name + "_count " + std::to_string(last)));
  }
}

TEST(MetricsText, PerPeerQueueSeriesAreBoundedToTheDeepestQueues) {
  MetricsSnapshot s = sample_snapshot();
  for (std::uint64_t i = 1; i <= 100; ++i) {
    s.queues.push_back(PeerQueue{wire::PeerId::from_u64(i), i, i * 100, 0});
  }
  const std::string text = to_prometheus_text(s);  // the default bound: 64
  EXPECT_EQ(count_prefix(text, "bb_peer_queued_messages{"), 64u);
  EXPECT_EQ(count_prefix(text, "bb_peer_queued_bytes{"), 64u);
  const auto peer = [](std::uint64_t i) { return wire::PeerId::from_u64(i).to_base58(); };
  EXPECT_TRUE(has_line(text, "bb_peer_queued_messages{peer=\"" + peer(100) + "\"} 100"));
  EXPECT_TRUE(has_line(text, "bb_peer_queued_messages{peer=\"" + peer(37) + "\"} 37"));
  EXPECT_FALSE(has_line(text, "bb_peer_queued_messages{peer=\"" + peer(36) + "\"} 36"));
  EXPECT_NE(text.find("only the 64 peers with the deepest queues"), std::string::npos);
  // The totals still count every peer.
  EXPECT_TRUE(has_line(text, "bb_queued_messages 5050"));

  const std::string three = to_prometheus_text(s, MetricsTextOptions{.max_peer_series = 3});
  EXPECT_EQ(count_prefix(three, "bb_peer_queued_messages{"), 3u);
}

TEST(MetricsText, HistogramRefusesBoundsThatDoNotAscend) {
  const std::uint64_t bad[] = {2, 1};
  EXPECT_THROW(wire::Histogram{bad}, std::invalid_argument);
}

}  // namespace
}  // namespace bb::node

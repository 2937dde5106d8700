// A Node's state in the Prometheus text exposition format (version 0.0.4), sans-IO: snapshot()
// reads the Node, to_prometheus_text() renders what was read. node/metrics_server.hpp serves it
// over HTTP; docs/metrics.md lists every metric.
//
// Every series is bounded whatever peers do: label values come from bb's own sets (drop
// reasons are interned, at most 64 distinct; resource scopes and kinds are fixed), from the
// protocols the Host serves or uses, or from peer ids, of which at most
// MetricsTextOptions::max_peer_series (the deepest outbound queues) are shown. Label values
// are escaped as the format requires, and bytes that are not UTF-8 become U+FFFD.
//
// Thread rule: snapshot() runs on the Node's executor; the rest is plain functions.
#pragma once

#include "bb/node/node.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace bb::node {

// The Content-Type of the text: what Prometheus expects for this format.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

struct MetricsSnapshot {
  NodeMetrics node;
  std::vector<PeerQueue> queues;  // every link's; to_prometheus_text() shows the deepest
  std::string version;            // bb_build_info's label
};

// The Node's metrics, its outbound queues and bb's version, read now.
MetricsSnapshot snapshot(const Node& node);

struct MetricsTextOptions {
  // Per-peer series (bb_peer_queued_messages, bb_peer_queued_bytes) for at most this many
  // peers: those with the most queued messages (then bytes, then awaiting receipts).
  std::size_t max_peer_series = 64;
};

std::string to_prometheus_text(const MetricsSnapshot& snapshot,
                               const MetricsTextOptions& options = {});

// A label value as the format writes it between quotes: backslash, double quote and line feed
// escaped (\\, \", \n); bytes that are not UTF-8 replaced by U+FFFD.
std::string escape_label_value(std::string_view value);

}  // namespace bb::node

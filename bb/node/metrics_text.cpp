#include "bb/node/metrics_text.hpp"

#include "bb/wire/host.hpp"
#include "bb/wire/utf8.hpp"

#include <algorithm>
#include <initializer_list>
#include <tuple>
#include <utility>

namespace bb::node {

namespace {

using Label = std::pair<std::string_view, std::string_view>;

// Exact decimal seconds of a duration in ns ("0.0025", "10"): no floating-point noise in the
// `le` labels, which Prometheus compares as text across scrapes.
std::string seconds(std::uint64_t ns) {
  std::string out = std::to_string(ns / 1'000'000'000);
  std::uint64_t frac = ns % 1'000'000'000;
  if (frac == 0) return out;
  std::string digits = std::to_string(frac);
  digits.insert(0, 9 - digits.size(), '0');
  digits.erase(digits.find_last_not_of('0') + 1);
  return out + "." + digits;
}

std::string limit_value(std::size_t limit) {
  return limit == wire::kUnlimited ? "+Inf" : std::to_string(limit);
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }

  void sample(std::string_view name, std::initializer_list<Label> labels, std::string_view value) {
    out_.append(name);
    if (labels.size() > 0) {
      out_.push_back('{');
      bool first = true;
      for (const auto& [key, v] : labels) {
        if (!first) out_.push_back(',');
        first = false;
        out_.append(key).append("=\"").append(escape_label_value(v)).append("\"");
      }
      out_.push_back('}');
    }
    out_.append(" ").append(value).append("\n");
  }
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }

  // A family of one unlabelled sample.
  void single(std::string_view name, std::string_view type, std::string_view help,
              std::uint64_t value) {
    family(name, type, help);
    sample(name, {}, value);
  }

  void histogram(std::string_view name, std::string_view help, const wire::Histogram& h) {
    family(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    const auto bounds = h.bounds_ns();
    const auto counts = h.counts();
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      cumulative += counts[i];
      sample(bucket, {{"le", seconds(bounds[i])}}, cumulative);
    }
    sample(bucket, {{"le", "+Inf"}}, h.count());
    sample(std::string(name) + "_sum", {}, seconds(h.sum_ns()));
    sample(std::string(name) + "_count", {}, h.count());
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void write_resources(Writer& w, const wire::ResourceStats& stats) {
  w.family("bb_resource_used", "gauge",
           "What the resource manager's scope holds now (memory in bytes, streams, connections, "
           "file descriptors); scope system (the whole node) or transient (not yet "
           "authenticated).");
  const std::pair<std::string_view, const wire::ScopeStat*> scopes[] = {
      {"system", &stats.system}, {"transient", &stats.transient}};
  for (const auto& [scope, s] : scopes) {
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "memory"}}, s->memory);
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "streams"}},
             s->streams_inbound + s->streams_outbound);
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "streams_inbound"}},
             s->streams_inbound);
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "streams_outbound"}},
             s->streams_outbound);
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "connections"}},
             s->connections_inbound + s->connections_outbound);
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "connections_inbound"}},
             s->connections_inbound);
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "connections_outbound"}},
             s->connections_outbound);
    w.sample("bb_resource_used", {{"scope", scope}, {"resource", "fds"}}, s->fds);
  }
  w.family("bb_resource_limit", "gauge",
           "The resource manager's limit of the scope and resource of bb_resource_used (+Inf: "
           "unlimited).");
  for (const auto& [scope, s] : scopes) {
    const auto& l = s->limits;
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "memory"}},
             limit_value(l.memory));
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "streams"}},
             limit_value(l.streams));
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "streams_inbound"}},
             limit_value(l.streams_inbound));
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "streams_outbound"}},
             limit_value(l.streams_outbound));
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "connections"}},
             limit_value(l.connections));
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "connections_inbound"}},
             limit_value(l.connections_inbound));
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "connections_outbound"}},
             limit_value(l.connections_outbound));
    w.sample("bb_resource_limit", {{"scope", scope}, {"resource", "fds"}}, limit_value(l.fds));
  }
  w.single("bb_resource_peak_memory_bytes", "gauge",
           "The most memory the system scope has held since the node started.", stats.peak_memory);
  w.single("bb_resource_peers", "gauge", "Peers that hold anything in the resource manager.",
           stats.peers);
  w.family("bb_resource_refusals_total", "counter",
           "Reservations the resource manager refused, by the scope and resource whose limit "
           "said no.");
  for (const auto& [key, count] : stats.refusals) {
    const auto colon = std::string_view(key).find(':');
    const std::string_view scope = std::string_view(key).substr(0, colon);
    const std::string_view resource = colon == std::string_view::npos
                                          ? std::string_view()
                                          : std::string_view(key).substr(colon + 1);
    w.sample("bb_resource_refusals_total", {{"scope", scope}, {"resource", resource}}, count);
  }
}

void write_connections(Writer& w, const NodeMetrics& m) {
  w.family("bb_connections", "gauge", "Established connections, by who dialled.");
  w.sample("bb_connections", {{"direction", "inbound"}}, m.connections_inbound);
  w.sample("bb_connections", {{"direction", "outbound"}}, m.connections_outbound);
  w.single("bb_connections_opened_total", "counter", "Connections established.",
           m.connections_opened);
  w.single("bb_connections_closed_total", "counter", "Connections closed.", m.connections_closed);
  const auto& cm = m.connection_manager;
  w.single("bb_handshakes_running", "gauge", "Inbound handshakes in progress.",
           cm.handshakes_running);
  w.single("bb_handshakes_waiting", "gauge", "Inbound connections waiting for a handshake slot.",
           cm.handshakes_waiting);
  w.single("bb_dials_running", "gauge", "Outbound dials in flight.", cm.dials);
  w.family("bb_connection_refusals_total", "counter",
           "Connections the connection manager refused or ended before they were established, "
           "by reason.");
  const std::pair<std::string_view, std::uint64_t> refusals[] = {
      {"ip_connection_limit", cm.refused_ip},
      {"connection_limit", cm.refused_connections},
      {"pending_connection_limit", cm.refused_pending},
      {"pending_connection_evicted", cm.evicted},
      {"dial_limit", cm.refused_dials},
      {"first_message_timeout", cm.first_message_timeouts}};
  for (const auto& [why, count] : refusals) {
    w.sample("bb_connection_refusals_total", {{"reason", why}}, count);
  }
  w.single("bb_connections_trimmed_total", "counter",
           "Idle connections closed to stay under the connection limits.", cm.trimmed);
  w.single("bb_accept_failures_total", "counter",
           "accept() errors (out of file descriptors and the like).", cm.accept_failures);
  w.family("bb_streams", "gauge",
           "Streams open, by negotiated protocol and by who opened them (protocols with any "
           "stream open).");
  for (const auto& p : m.resources.protocols) {
    w.sample("bb_streams", {{"protocol", p.name}, {"direction", "inbound"}}, p.streams_inbound);
    w.sample("bb_streams", {{"protocol", p.name}, {"direction", "outbound"}}, p.streams_outbound);
  }
}

void write_messages(Writer& w, const NodeMetrics& m) {
  w.single("bb_sent_messages_total", "counter", "Messages written to connections.", m.messages_out);
  w.single("bb_sent_bytes_total", "counter", "Framed bytes of the envelopes written.", m.bytes_out);
  w.single("bb_received_messages_total", "counter", "Messages delivered to channels.",
           m.messages_in);
  w.single("bb_received_bytes_total", "counter", "Framed bytes of the envelopes read.", m.bytes_in);
  w.single("bb_received_envelopes_total", "counter",
           "Envelopes read (a /bb/wire/1.1.0 batch is one).", m.envelopes_in);
  w.single("bb_sends_total", "counter", "send() and forward() calls, one per destination peer.",
           m.sends);
  w.single("bb_receipts_accepted_total", "counter",
           "Sends whose receipt from the peer accepted them.", m.receipts_accepted);
  w.single("bb_sends_failed_total", "counter",
           "Sends that failed, whichever way (denied here, refused by the peer, lost).",
           m.failed_sends());
  w.family("bb_drops_total", "counter",
           "Messages that did not make it, by reason label; reasons prefixed rx: were refused on "
           "the way in.");
  for (const auto& [why, count] : m.drops) w.sample("bb_drops_total", {{"reason", why}}, count);
  w.single("bb_backoff_notices_sent_total", "counter",
           "BackoffNotices sent to peers that sent faster than we read.", m.backoff_notices_sent);
  w.single("bb_backoff_notices_received_total", "counter", "BackoffNotices received from peers.",
           m.backoff_notices_received);
  w.single("bb_inbox_memory_waits_total", "counter",
           "Times an inbound message waited for its sender's memory in the resource manager.",
           m.inbox_memory_waits);
}

void write_queues(Writer& w, std::vector<PeerQueue> queues, std::size_t max_series) {
  std::uint64_t messages = 0, bytes = 0, awaiting = 0;
  for (const auto& q : queues) {
    messages += q.queued_messages;
    bytes += q.queued_bytes;
    awaiting += q.awaiting_receipt;
  }
  w.single("bb_queued_messages", "gauge",
           "Messages accepted by send() and not yet written, over every peer.", messages);
  w.single("bb_queued_bytes", "gauge", "Bytes of those messages.", bytes);
  w.single("bb_awaiting_receipt", "gauge", "Messages written whose receipt has not come back.",
           awaiting);
  const auto deeper = [](const PeerQueue& a, const PeerQueue& b) {
    return std::tie(a.queued_messages, a.queued_bytes, a.awaiting_receipt) >
           std::tie(b.queued_messages, b.queued_bytes, b.awaiting_receipt);
  };
  const std::size_t shown = std::min(queues.size(), max_series);
  std::partial_sort(queues.begin(), queues.begin() + static_cast<std::ptrdiff_t>(shown),
                    queues.end(), deeper);
  const std::string bound = std::to_string(max_series);
  std::vector<std::string> ids;
  ids.reserve(shown);
  for (std::size_t i = 0; i < shown; ++i) ids.push_back(queues[i].peer.to_base58());
  w.family("bb_peer_queued_messages", "gauge",
           "Messages queued for one peer, not yet written; only the " + bound +
               " peers with the deepest queues have a series, so that many peers do not make "
               "unbounded series.");
  for (std::size_t i = 0; i < shown; ++i) {
    w.sample("bb_peer_queued_messages", {{"peer", ids[i]}}, queues[i].queued_messages);
  }
  w.family("bb_peer_queued_bytes", "gauge",
           "Bytes queued for one peer, for the same peers as bb_peer_queued_messages (at most " +
               bound + ").");
  for (std::size_t i = 0; i < shown; ++i) {
    w.sample("bb_peer_queued_bytes", {{"peer", ids[i]}}, queues[i].queued_bytes);
  }
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = wire::decode_utf8(value, i, cp);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD: Prometheus requires UTF-8 label values
      ++i;
      continue;
    }
    if (cp == '\\') {
      out.append("\\\\");
    } else if (cp == '"') {
      out.append("\\\"");
    } else if (cp == '\n') {
      out.append("\\n");
    } else {
      out.append(value.substr(i, n));
    }
    i += n;
  }
  return out;
}

MetricsSnapshot snapshot(const Node& node) {
  return MetricsSnapshot{node.metrics(), node.outbound_queues(), std::string(wire::bb_version())};
}

std::string to_prometheus_text(const MetricsSnapshot& snapshot, const MetricsTextOptions& options) {
  Writer w;
  w.family("bb_build_info", "gauge", "Always 1; the label says which bb this node runs.");
  w.sample("bb_build_info", {{"version", snapshot.version}}, 1);
  write_connections(w, snapshot.node);
  write_messages(w, snapshot.node);
  write_queues(w, snapshot.queues, options.max_peer_series);
  write_resources(w, snapshot.node.resources);
  w.histogram("bb_handshake_duration_seconds",
              "Time from TCP accept or connect to a secured, multiplexed connection "
              "(established connections only).",
              snapshot.node.handshake_times);
  w.histogram("bb_ping_rtt_seconds", "Round trips of the node's pings to connected peers.",
              snapshot.node.round_trips);
  return w.take();
}

}  // namespace bb::node

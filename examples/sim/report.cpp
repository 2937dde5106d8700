#include "examples/sim/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <stdexcept>

namespace bb::sim {

namespace {

// The value below which a share q of the sorted samples lie (nearest rank).
template <class T>
double percentile(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)]);
}

double ms(double ns) {
  return std::round(ns / 1e3) / 1e3;
}  // ns to ms, 3 decimals
double round3(double x) {
  return std::round(x * 1e3) / 1e3;
}
double round6(double x) {
  return std::round(x * 1e6) / 1e6;
}

struct Summary {
  std::size_t messages = 0, published = 0, expected = 0, delivered = 0, elsewhere = 0;
  double ratio = 0;
  std::vector<std::uint64_t> latencies;
  std::vector<std::uint32_t> hops;
  std::vector<std::uint32_t> mesh;
  double mesh_hops_mean = 0;
  std::size_t lookups = 0, found = 0, failed = 0;
  std::vector<std::size_t> lookup_hops;
  double queried_mean = 0;
  std::uint64_t duplicates = 0, messages_in = 0;
  std::size_t connected_but_down = 0;
  std::vector<double> join_ms;
  double mesh_mean = 0, conn_mean = 0, table_mean = 0, bytes_out_mean = 0;
  std::size_t mesh_min = 0, mesh_max = 0, live = 0;
  std::uint64_t bytes_out_max = 0;
};

Summary summarise(const Results& r) {
  Summary s;
  for (const auto& m : r.messages) {
    ++s.messages;
    s.published += m.published ? 1 : 0;
    s.expected += m.expected;
    s.delivered += m.delivered;
    s.elsewhere += m.delivered_elsewhere;
  }
  s.ratio =
      s.expected == 0 ? 0 : static_cast<double>(s.delivered) / static_cast<double>(s.expected);
  s.latencies = r.latencies_ns;
  std::sort(s.latencies.begin(), s.latencies.end());
  s.hops = r.hops;
  std::sort(s.hops.begin(), s.hops.end());
  s.mesh = r.mesh_distances;
  std::sort(s.mesh.begin(), s.mesh.end());
  if (!s.mesh.empty())
    s.mesh_hops_mean =
        static_cast<double>(std::accumulate(s.mesh.begin(), s.mesh.end(), std::uint64_t{0})) /
        static_cast<double>(s.mesh.size());
  std::size_t queried = 0;
  for (const auto& l : r.lookups) {
    ++s.lookups;
    s.found += l.found ? 1 : 0;
    s.failed += l.failed ? 1 : 0;
    if (!l.failed) s.lookup_hops.push_back(l.hops);
    queried += l.queried;
  }
  std::sort(s.lookup_hops.begin(), s.lookup_hops.end());
  s.queried_mean =
      s.lookups == 0 ? 0 : static_cast<double>(queried) / static_cast<double>(s.lookups);
  std::size_t mesh = 0, conns = 0, table = 0;
  std::uint64_t out = 0;
  s.mesh_min = SIZE_MAX;
  for (const auto& h : r.hosts) {
    s.duplicates += h.pubsub_duplicates;
    s.connected_but_down += h.connected_but_down;
    if (h.join_ms > 0) s.join_ms.push_back(h.join_ms);
    s.messages_in += h.pubsub_messages_in;
    s.bytes_out_max = std::max(s.bytes_out_max, h.bytes_out);
    out += h.bytes_out;
    if (!h.alive) continue;
    ++s.live;
    mesh += h.mesh;
    conns += h.connections;
    table += h.routing_table;
    s.mesh_min = std::min(s.mesh_min, h.mesh);
    s.mesh_max = std::max(s.mesh_max, h.mesh);
  }
  if (s.live == 0) s.mesh_min = 0;
  std::sort(s.join_ms.begin(), s.join_ms.end());
  const auto per = [](double total, std::size_t n) {
    return n == 0 ? 0.0 : total / static_cast<double>(n);
  };
  s.mesh_mean = per(static_cast<double>(mesh), s.live);
  s.conn_mean = per(static_cast<double>(conns), s.live);
  s.table_mean = per(static_cast<double>(table), s.live);
  s.bytes_out_mean = per(static_cast<double>(out), r.hosts.size());
  return s;
}

}  // namespace

void print_tables(const Results& r, std::FILE* out) {
  const Summary s = summarise(r);
  const Scenario& sc = r.scenario;
  std::fprintf(out, "bb-sim: scenario %s: %zu nodes, seed %llu, %.1f s of simulated time\n",
               sc.name.c_str(), sc.nodes, static_cast<unsigned long long>(sc.seed),
               static_cast<double>(r.sim_end_ns) / 1e9);
  std::fprintf(out,
               "  every node is a bb::node::Node with gossipsub and the Kademlia DHT, over Noise "
               "and Yamux (real crypto) on a simulated network\n");
  std::fprintf(out,
               "hosts: %zu joined the DHT, %zu live at the end; %llu connections made; %zu "
               "connected peers called down by their host's failure detector\n",
               r.joined, s.live, static_cast<unsigned long long>(r.links_made),
               s.connected_but_down);
  std::fprintf(out, "  joining (start to the DHT bootstrap's end): p50 %.0f ms, p99 %.0f ms\n",
               percentile(s.join_ms, 0.5), percentile(s.join_ms, 0.99));
  std::fprintf(out,
               "  per live host: %.1f connections, %.1f peers in the routing table, mesh degree "
               "%.2f (min %zu, max %zu; D=%zu, D_low=%zu, D_high=%zu)\n",
               s.conn_mean, s.table_mean, s.mesh_mean, s.mesh_min, s.mesh_max, sc.mesh_d,
               sc.mesh_d_low, sc.mesh_d_high);
  std::fprintf(out, "\n%-24s %-9s %8s %10s %10s %9s %9s %9s %9s\n", "phase", "kind", "count",
               "expected", "delivered", "ratio", "p50_ms", "p99_ms", "elsewhere");
  for (std::size_t p = 0; p < r.phases.size(); ++p) {
    const auto& ph = r.phases[p];
    if (ph.kind == Event::Kind::publish) {
      std::size_t count = 0, expected = 0, delivered = 0, elsewhere = 0;
      for (const auto& m : r.messages) {
        if (m.phase != p) continue;
        ++count;
        expected += m.expected;
        delivered += m.delivered;
        elsewhere += m.delivered_elsewhere;
      }
      const double ratio =
          expected == 0 ? 0 : static_cast<double>(delivered) / static_cast<double>(expected);
      std::fprintf(out, "%-24s %-9s %8zu %10zu %10zu %9.4f %9s %9s %9zu\n", ph.label.c_str(),
                   "publish", count, expected, delivered, ratio, "", "", elsewhere);
    } else if (ph.kind == Event::Kind::lookups) {
      std::size_t count = 0, found = 0;
      for (const auto& l : r.lookups) {
        if (l.phase != p) continue;
        ++count;
        found += l.found ? 1 : 0;
      }
      std::fprintf(out, "%-24s %-9s %8zu %10s %10zu %9.4f\n", ph.label.c_str(), "lookups", count,
                   "found:", found,
                   count == 0 ? 0.0 : static_cast<double>(found) / static_cast<double>(count));
    } else {
      std::fprintf(out, "%-24s %-9s at %.0f ms\n", ph.label.c_str(), to_string(ph.kind).c_str(),
                   ph.at_ms);
    }
  }
  std::fprintf(out,
               "\ngossip: %zu messages (%zu published with recipients), %zu of %zu deliveries "
               "(%.4f), %zu outside the publisher's side\n",
               s.messages, s.published, s.delivered, s.expected, s.ratio, s.elsewhere);
  std::fprintf(out, "  latency ms: p50 %.1f, p90 %.1f, p99 %.1f, max %.1f\n",
               ms(percentile(s.latencies, 0.5)), ms(percentile(s.latencies, 0.9)),
               ms(percentile(s.latencies, 0.99)), ms(percentile(s.latencies, 1.0)));
  std::map<std::uint32_t, std::size_t> histogram;
  for (auto h : s.hops) ++histogram[h];
  std::fprintf(out, "  hops (first delivery's path): p50 %.0f, p99 %.0f, max %.0f; untraced %zu;",
               percentile(s.hops, 0.5), percentile(s.hops, 0.99), percentile(s.hops, 1.0),
               r.untraced_hops);
  for (const auto& [h, n] : histogram) std::fprintf(out, " %u:%zu", h, n);
  std::fprintf(
      out,
      "\n  hops in the final mesh graph: mean %.2f, p50 %.0f, p99 %.0f, max %.0f; unreached %zu",
      s.mesh_hops_mean, percentile(s.mesh, 0.5), percentile(s.mesh, 0.99), percentile(s.mesh, 1.0),
      r.mesh_unreachable);
  std::fprintf(
      out,
      "\n  duplicates received by the routers: %llu (%.2f per delivery); delivered twice to an "
      "application: %llu\n",
      static_cast<unsigned long long>(s.duplicates),
      s.delivered == 0 ? 0.0 : static_cast<double>(s.duplicates) / static_cast<double>(s.delivered),
      static_cast<unsigned long long>(r.app_duplicates));
  std::fprintf(out, "  per host: %.0f bytes sent (max %llu), %.1f pubsub messages received\n",
               s.bytes_out_mean, static_cast<unsigned long long>(s.bytes_out_max),
               r.hosts.empty()
                   ? 0.0
                   : static_cast<double>(s.messages_in) / static_cast<double>(r.hosts.size()));
  std::fprintf(out,
               "lookups: %zu, %zu found the target among the k closest, %zu failed; hops p50 %.0f, "
               "p99 %.0f; %.1f requests each\n",
               s.lookups, s.found, s.failed, percentile(s.lookup_hops, 0.5),
               percentile(s.lookup_hops, 0.99), s.queried_mean);
  if (r.task_failures > 0)
    std::fprintf(out, "tasks that failed: %llu\n",
                 static_cast<unsigned long long>(r.task_failures));
}

std::string summary_json(const Results& r) {
  const Summary s = summarise(r);
  nlohmann::ordered_json j;
  j["nodes"] = r.scenario.nodes;
  j["seed"] = r.scenario.seed;
  j["scenario"] = r.scenario.name;
  j["delivery_ratio"] = round6(s.ratio);
  j["p50_ms"] = ms(percentile(s.latencies, 0.5));
  j["p99_ms"] = ms(percentile(s.latencies, 0.99));
  j["max_ms"] = ms(percentile(s.latencies, 1.0));
  j["messages"] = s.messages;
  j["deliveries"] = s.delivered;
  j["expected_deliveries"] = s.expected;
  j["delivered_elsewhere"] = s.elsewhere;
  j["hops_p50"] = percentile(s.hops, 0.5);
  j["hops_p99"] = percentile(s.hops, 0.99);
  j["hops_max"] = percentile(s.hops, 1.0);
  j["mesh_hops_mean"] = round3(s.mesh_hops_mean);
  j["mesh_hops_max"] = percentile(s.mesh, 1.0);
  j["mesh_unreachable"] = r.mesh_unreachable;
  j["router_duplicates"] = s.duplicates;
  j["app_duplicates"] = r.app_duplicates;
  j["mesh_degree_mean"] = round3(s.mesh_mean);
  j["mesh_degree_min"] = s.mesh_min;
  j["mesh_degree_max"] = s.mesh_max;
  j["connections_mean"] = round3(s.conn_mean);
  j["connected_but_down"] = s.connected_but_down;
  j["joined"] = r.joined;
  j["join_ms_p50"] = std::round(percentile(s.join_ms, 0.5));
  j["join_ms_p99"] = std::round(percentile(s.join_ms, 0.99));
  j["live"] = s.live;
  j["bytes_out_mean"] = std::round(s.bytes_out_mean);
  j["bytes_out_max"] = s.bytes_out_max;
  j["lookups"] = s.lookups;
  j["lookups_found"] = s.found;
  j["lookups_failed"] = s.failed;
  j["lookup_hops_p50"] = percentile(s.lookup_hops, 0.5);
  j["lookup_hops_p99"] = percentile(s.lookup_hops, 0.99);
  j["connections_made"] = r.links_made;
  j["task_failures"] = r.task_failures;
  j["sim_seconds"] = static_cast<double>(r.sim_end_ns) / 1e9;
  j["io_handlers"] = r.io_handlers;
  return j.dump();
}

void write_data(const Results& r, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const auto open = [&](const char* name) {
    std::ofstream f(dir / name);
    if (!f) throw std::runtime_error("cannot write " + (dir / name).string());
    return f;
  };
  const Summary s = summarise(r);
  {
    auto f = open("latency_cdf.dat");
    f << "# latency_ms share_of_deliveries\n";
    const std::size_t n = s.latencies.size();
    const std::size_t step = std::max<std::size_t>(1, n / 2000);
    for (std::size_t i = 0; i < n; i += step)
      f << ms(static_cast<double>(s.latencies[i])) << ' '
        << static_cast<double>(i + 1) / static_cast<double>(n) << '\n';
    if (n > 0) f << ms(static_cast<double>(s.latencies.back())) << " 1\n";
  }
  {
    auto f = open("hops.dat");
    f << "# hops deliveries\n";
    std::map<std::uint32_t, std::size_t> histogram;
    for (auto h : s.hops) ++histogram[h];
    for (const auto& [h, n] : histogram) f << h << ' ' << n << '\n';
  }
  {
    auto f = open("hosts.dat");
    f << "# host bytes_out bytes_in pubsub_messages_in duplicates mesh connections routing_table\n";
    for (std::size_t i = 0; i < r.hosts.size(); ++i) {
      const auto& h = r.hosts[i];
      f << i << ' ' << h.bytes_out << ' ' << h.bytes_in << ' ' << h.pubsub_messages_in << ' '
        << h.pubsub_duplicates << ' ' << h.mesh << ' ' << h.connections << ' ' << h.routing_table
        << '\n';
    }
  }
  {
    auto f = open("messages.dat");
    f << "# message published_s expected delivered ratio\n";
    for (std::size_t i = 0; i < r.messages.size(); ++i) {
      const auto& m = r.messages[i];
      f << i << ' ' << static_cast<double>(m.published_ns) / 1e9 << ' ' << m.expected << ' '
        << m.delivered << ' '
        << (m.expected == 0 ? 0.0
                            : static_cast<double>(m.delivered) / static_cast<double>(m.expected))
        << '\n';
    }
  }
}

}  // namespace bb::sim

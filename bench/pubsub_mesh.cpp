// Gossipsub latency and throughput of bb on a loopback mesh, the same run as
// tests/interop/js/pubsub_bench.mjs does for js-libp2p, so the two compare side by side:
//   bb_pubsub_mesh [--nodes K] [--messages M] [--seed S] [--chords C] [--interval-ms MS]
//                  [--timeout-ms MS]
// K Nodes (default 10) in one process and one thread on 127.0.0.1, connected in a ring plus C
// chords (default K/3) picked by the same seeded PRNG as the js script, all in one topic. Once
// every node has all its neighbours subscribed and min(degree, D) of them in its mesh, M
// messages (default 1000) are published round-robin by node i % K, back to back (letting
// deliveries run every 16 publishes) or --interval-ms apart. Each payload is 64 bytes: the publish
// time (steady clock, ns, u64 big-endian), the message index (u32 big-endian), zeros. One JSON line
// on stdout with the same fields as the js script's ("impl":"bb"). Exits 0 when every message
// reached every other node exactly once. A benchmark: never run by CTest, nothing asserted on its
// timings.
#include "bb/node/node.hpp"
#include "bb/pubsub/gossipsub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace bb;

const std::string kTopic = "bb-pubsub-bench";
constexpr std::size_t kPayloadBytes = 64;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// mulberry32, as in the js script: the same seed picks the same chords.
struct Mulberry32 {
  std::uint32_t a;
  double next() {
    a += 0x6d2b79f5u;
    std::uint32_t t = a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return static_cast<double>(t ^ (t >> 14)) / 4294967296.0;
  }
};

std::vector<std::pair<int, int>> topology(int k, int chords, std::uint32_t seed) {
  std::set<std::pair<int, int>> edges;
  const auto key = [](int a, int b) { return a < b ? std::pair{a, b} : std::pair{b, a}; };
  std::vector<std::pair<int, int>> order;
  const auto add = [&](int a, int b) {
    if (edges.insert(key(a, b)).second) order.push_back(key(a, b));
  };
  for (int i = 0; i < k; ++i) {
    if (k > 2 || i == 0) add(i, (i + 1) % k);
  }
  Mulberry32 random{seed};
  for (int tries = 0, added = 0; added < chords && tries < 1000 * (chords + 1); ++tries) {
    const int a = static_cast<int>(std::floor(random.next() * k));
    const int b = static_cast<int>(std::floor(random.next() * k));
    if (a == b || edges.contains(key(a, b))) continue;
    add(a, b);
    ++added;
  }
  return order;
}

int arg_int(int argc, char** argv, const std::string& name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, i == 0 ? 0 : i - 1)];
}

double round1(double x) {
  return std::round(x * 10) / 10;
}

struct Bench {
  int k, m, chords, timeout_ms, interval_ms;
  std::uint32_t seed;
  std::vector<std::unique_ptr<node::Node>> nodes;
  std::vector<std::unique_ptr<pubsub::Gossipsub>> pubsubs;
  std::vector<std::vector<std::uint8_t>> seen;
  std::vector<double> latencies_us;
  std::uint64_t deliveries = 0, duplicates = 0, last_delivery = 0;
  nlohmann::json result;
  int exit_code = 1;
};

asio::awaitable<void> collect(Bench& b, std::size_t n) {
  while (auto msg = co_await b.pubsubs[n]->next_message(kTopic)) {
    const std::uint64_t now = now_ns();
    const auto data = msg->data();
    if (data.size() < 12) continue;
    std::uint64_t sent = 0;
    std::uint32_t index = 0;
    for (int i = 0; i < 8; ++i) sent = (sent << 8) | data[static_cast<std::size_t>(i)];
    for (int i = 8; i < 12; ++i) index = (index << 8) | data[static_cast<std::size_t>(i)];
    if (index >= static_cast<std::uint32_t>(b.m)) continue;
    if (b.seen[n][index] != 0) {
      ++b.duplicates;
      continue;
    }
    b.seen[n][index] = 1;
    b.latencies_us.push_back(static_cast<double>(now - sent) / 1000.0);
    ++b.deliveries;
    b.last_delivery = now;
  }
}

asio::awaitable<void> run(Bench& b) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  const auto edges = topology(b.k, b.chords, b.seed);
  std::vector<std::size_t> degree(static_cast<std::size_t>(b.k), 0);
  for (const auto& [x, y] : edges) {
    ++degree[static_cast<std::size_t>(x)];
    ++degree[static_cast<std::size_t>(y)];
  }
  for (int i = 0; i < b.k; ++i) {
    node::NodeConfig config;
    config.listen = {wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value()};
    b.nodes.push_back(std::make_unique<node::Node>(ex, std::move(config)));
    co_await b.nodes.back()->start();
    b.pubsubs.push_back(std::make_unique<pubsub::Gossipsub>(*b.nodes.back()));
    b.pubsubs.back()->start();
    b.pubsubs.back()->subscribe(kTopic);
    b.seen.emplace_back(static_cast<std::size_t>(b.m), 0);
    asio::co_spawn(ex, collect(b, static_cast<std::size_t>(i)), asio::detached);
  }
  for (const auto& [x, y] : edges) {
    (void)co_await b.nodes[static_cast<std::size_t>(x)]->connect(
        b.nodes[static_cast<std::size_t>(y)]->listen_addrs().at(0));
  }
  const auto ready = [&] {
    for (std::size_t n = 0; n < b.pubsubs.size(); ++n) {
      const auto& r = b.pubsubs[n]->router();
      if (r.topic_peers(kTopic).size() < degree[n]) return false;
      if (r.mesh_peers(kTopic).size() < std::min<std::size_t>(degree[n], r.config().d))
        return false;
    }
    return true;
  };
  const auto mesh_start = std::chrono::steady_clock::now();
  while (!ready() && std::chrono::steady_clock::now() - mesh_start < std::chrono::seconds(10)) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
  }
  const bool mesh_ready = ready();
  const auto mesh_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - mesh_start)
                           .count();

  const std::uint64_t first_publish = now_ns();
  const std::uint64_t deadline =
      first_publish + static_cast<std::uint64_t>(b.timeout_ms) * 1'000'000;
  std::uint64_t publish_errors = 0;
  std::vector<std::uint8_t> data(kPayloadBytes, 0);
  for (int i = 0; i < b.m && now_ns() < deadline; ++i) {
    if (i > 0 && b.interval_ms > 0) {
      timer.expires_after(std::chrono::milliseconds(b.interval_ms));
      co_await timer.async_wait(asio::use_awaitable);
    }
    const std::uint64_t t = now_ns();
    for (int j = 0; j < 8; ++j)
      data[static_cast<std::size_t>(j)] = static_cast<std::uint8_t>(t >> (56 - 8 * j));
    for (int j = 0; j < 4; ++j) {
      data[static_cast<std::size_t>(8 + j)] =
          static_cast<std::uint8_t>(static_cast<std::uint32_t>(i) >> (24 - 8 * j));
    }
    if (!b.pubsubs[static_cast<std::size_t>(i % b.k)]->publish(kTopic, data)) ++publish_errors;
    if (i % 16 == 15) co_await asio::post(ex, asio::use_awaitable);
  }
  const std::uint64_t publish_end = now_ns();
  const std::uint64_t expected =
      static_cast<std::uint64_t>(b.m) * static_cast<std::uint64_t>(b.k - 1);
  while (b.deliveries < expected && now_ns() < deadline) {
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(asio::use_awaitable);
  }
  timer.expires_after(std::chrono::milliseconds(200));  // a look for late duplicates
  co_await timer.async_wait(asio::use_awaitable);

  auto sorted = b.latencies_us;
  std::sort(sorted.begin(), sorted.end());
  const double seconds =
      b.deliveries > 0 ? static_cast<double>(b.last_delivery - first_publish) / 1e9 : 0;
  b.result = {
      {"impl", "bb"},
      {"nodes", b.k},
      {"messages", b.m},
      {"deliveries", b.deliveries},
      {"expected", expected},
      {"p50_us", round1(percentile(sorted, 0.5))},
      {"p99_us", round1(percentile(sorted, 0.99))},
      {"msgs_per_s", seconds > 0 ? round1(static_cast<double>(b.deliveries) / seconds) : 0},
      {"max_us", sorted.empty() ? 0 : round1(sorted.back())},
      {"duplicates", b.duplicates},
      {"publish_errors", publish_errors},
      {"seconds", std::round(seconds * 1e3) / 1e3},
      {"publish_seconds", std::round(static_cast<double>(publish_end - first_publish) / 1e6) / 1e3},
      {"edges", edges.size()},
      {"seed", b.seed},
      {"mesh_ready", mesh_ready},
      {"mesh_ms", mesh_ms}};
  b.exit_code = b.deliveries == expected && b.duplicates == 0 ? 0 : 1;
  for (auto& ps : b.pubsubs) co_await ps->stop();
  for (auto& n : b.nodes) co_await n->stop();
}

}  // namespace

int main(int argc, char** argv) {
  Bench b;
  b.k = std::max(2, arg_int(argc, argv, "nodes", 10));
  b.m = std::max(1, arg_int(argc, argv, "messages", 1000));
  b.seed = static_cast<std::uint32_t>(arg_int(argc, argv, "seed", 1));
  b.chords = arg_int(argc, argv, "chords", b.k / 3);
  b.timeout_ms = arg_int(argc, argv, "timeout-ms", 60'000);
  b.interval_ms = arg_int(argc, argv, "interval-ms", 0);
  asio::io_context io(1);
  asio::co_spawn(io, run(b), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cerr << "bb_pubsub_mesh: " << ex.what() << "\n";
    }
  });
  io.run();
  std::cout << b.result.dump() << std::endl;
  return b.exit_code;
}

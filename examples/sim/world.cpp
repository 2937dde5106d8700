#include "examples/sim/world.hpp"

#include "bb/async/clock.hpp"
#include "bb/dht/kademlia.hpp"
#include "bb/node/node.hpp"
#include "bb/pubsub/gossipsub.hpp"
#include "examples/sim/network.hpp"
#include "examples/sim/random.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <random>
#include <unordered_map>

namespace bb::sim {

namespace asio = boost::asio;

namespace {

constexpr std::uint16_t kUntraced = 0xffff;
constexpr std::uint64_t kMs = 1'000'000;

std::uint64_t ms_to_ns(double ms) {
  return ms <= 0 ? 0 : static_cast<std::uint64_t>(ms * 1e6);
}

struct Host {
  std::size_t index = 0;
  std::uint32_t ip = 0;
  std::array<std::uint8_t, 32> key_seed{};
  wire::PeerId id = wire::PeerId::from_u64(0);
  std::size_t host_class = 0;  // 0: the scenario's link; i: classes[i - 1]
  std::unique_ptr<node::Node> node;
  std::unique_ptr<pubsub::Gossipsub> ps;
  std::unique_ptr<dht::Kademlia> kad;
  bool bootstrap = false;
  bool started = false;  // its Node is running (it counts as a receiver)
  bool joined = false;   // its DHT bootstrap ended with peers in the table
  bool alive = false;
  std::size_t restarts = 0;
  std::uint64_t join_ns = 0;  // from its start to the end of its DHT bootstrap (its last life)
};

struct Message {
  MessageRecord record;
  std::vector<bool> expected;
  std::vector<std::uint16_t> depth;
};

class World {
 public:
  World(const Scenario& s, std::FILE* progress)
      : s_(s),
        progress_(progress),
        rng_(mix64(s.seed)),
        net_(io_.get_executor(), clock_, s.seed,
             [this](std::uint32_t a, std::uint32_t b) { return link_between(a, b); }) {
    net_.connect_timeout_ns = ms_to_ns(s.connect_timeout_ms);
    results_.scenario = s;
    hosts_.reserve(s.nodes);
    for (std::size_t i = 0; i < s.nodes; ++i) {
      auto h = std::make_unique<Host>();
      h->index = i;
      h->ip = host_ip(i);
      randombytes_buf(h->key_seed.data(), h->key_seed.size());
      auto key = wire::Ed25519KeyPair::from_seed(wire::ByteView(h->key_seed));
      h->id = key->peer_id();
      h->bootstrap = i < s.bootstrap_nodes;
      by_peer_.emplace(h->id, i);
      hosts_.push_back(std::move(h));
    }
    // Host classes: each host draws one (in order, by the classes' fractions).
    for (auto& h : hosts_) {
      double u = uniform();
      for (std::size_t c = 0; c < s.classes.size(); ++c) {
        if (u < s.classes[c].fraction) {
          h->host_class = c + 1;
          break;
        }
        u -= s.classes[c].fraction;
      }
    }
  }

  Results run() {
    struct Action {
      std::uint64_t at_ns;
      std::size_t order;
      std::function<void()> act;
    };
    std::vector<Action> plan;
    std::size_t order = 0;
    for (auto& h : hosts_) {
      const std::uint64_t at = h->bootstrap ? 0 : ms_to_ns(uniform() * s_.join_spread_ms);
      Host* host = h.get();
      plan.push_back({at, order++, [this, host] { spawn(start_host(*host)); }});
    }
    for (const auto& e : s_.events) {
      const std::size_t phase = results_.phases.size();
      results_.phases.push_back({e.label, e.kind, e.at_ms});
      const std::uint64_t at = ms_to_ns(e.at_ms);
      switch (e.kind) {
        case Event::Kind::publish:
          for (std::size_t i = 0; i < e.count; ++i)
            plan.push_back({at + ms_to_ns(e.every_ms * static_cast<double>(i)), order++,
                            [this, phase, bytes = e.bytes] { publish(phase, bytes); }});
          break;
        case Event::Kind::lookups:
          for (std::size_t i = 0; i < e.count; ++i)
            plan.push_back({at + ms_to_ns(e.every_ms * static_cast<double>(i)), order++,
                            [this, phase] { lookup(phase); }});
          break;
        case Event::Kind::partition:
          plan.push_back({at, order++, [this, f = e.fraction] { partition(f); }});
          break;
        case Event::Kind::heal: plan.push_back({at, order++, [this] { net_.heal(); }}); break;
        case Event::Kind::kill:
          plan.push_back({at, order++, [this, f = e.fraction] { kill(f); }});
          break;
        case Event::Kind::restart: plan.push_back({at, order++, [this] { restart(); }}); break;
      }
    }
    std::stable_sort(plan.begin(), plan.end(), [](const Action& a, const Action& b) {
      return a.at_ns != b.at_ns ? a.at_ns < b.at_ns : a.order < b.order;
    });
    const auto wall_start = std::chrono::steady_clock::now();
    std::uint64_t next_report = 0;
    for (auto& a : plan) {
      run_until(a.at_ns, wall_start, next_report);
      a.act();
      drain();
    }
    run_until(ms_to_ns(s_.end_ms), wall_start, next_report);
    finish();
    return std::move(results_);
  }

 private:
  LinkParams link_between(std::uint32_t a, std::uint32_t b) {
    const auto spec_of = [this](std::uint32_t ip) -> const LinkSpec& {
      const std::size_t i = ip - host_ip(0);
      const std::size_t c = i < hosts_.size() ? hosts_[i]->host_class : 0;
      return c == 0 ? s_.link : s_.classes[c - 1].link;
    };
    const LinkSpec& x = spec_of(a);
    const LinkSpec& y = spec_of(b);
    // Each pair has its own latency, the same whichever side dials and whenever.
    const std::uint64_t pair = (std::uint64_t{std::min(a, b)} << 32) | std::max(a, b);
    const double u = static_cast<double>(mix64(s_.seed ^ mix64(pair)) >> 11) * 0x1.0p-53;
    const double lo = std::max(x.latency_ms_min, y.latency_ms_min);
    const double hi = std::max({x.latency_ms_max, y.latency_ms_max, lo});
    LinkSpec worst;
    worst.latency_ms_min = lo + u * (hi - lo);
    const auto slower = [](double p, double q) {
      if (p == 0) return q;
      if (q == 0) return p;
      return std::min(p, q);
    };
    worst.bandwidth_mbps = slower(x.bandwidth_mbps, y.bandwidth_mbps);
    worst.loss = std::max(x.loss, y.loss);
    worst.loss_delay_ms = std::max(x.loss_delay_ms, y.loss_delay_ms);
    worst.window_kib = std::min(x.window_kib, y.window_kib);
    return to_params(worst);
  }

  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

  void spawn(asio::awaitable<void> task) {
    asio::co_spawn(io_, std::move(task), [this](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        ++task_failures_;
        if (progress_ != nullptr && task_failures_ <= 5)
          std::fprintf(progress_, "bb-sim: a task failed: %s\n", ex.what());
      }
    });
  }

  void drain() {
    for (;;) {
      if (io_.stopped()) io_.restart();
      const std::size_t n = io_.poll();
      results_.io_handlers += n;
      if (n == 0) return;
    }
  }

  void run_until(std::uint64_t t, std::chrono::steady_clock::time_point wall_start,
                 std::uint64_t& next_report) {
    for (;;) {
      drain();
      if (progress_ != nullptr && clock_.now_ns() >= next_report) {
        report_progress(wall_start);
        next_report = clock_.now_ns() + 10'000 * kMs;
      }
      const auto next = clock_.next_deadline();
      if (!next || *next > t) {
        clock_.advance_to(t);
        drain();
        return;
      }
      clock_.advance_to(*next);
    }
  }

  void report_progress(std::chrono::steady_clock::time_point wall_start) {
    std::size_t alive = 0, joined = 0;
    for (const auto& h : hosts_) {
      alive += h->alive ? 1u : 0u;
      joined += h->joined ? 1u : 0u;
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    std::fprintf(progress_, "bb-sim: t=%.0f s (wall %.1f s): %zu alive, %zu joined, %llu links\n",
                 static_cast<double>(clock_.now_ns()) / 1e9, wall, alive, joined,
                 static_cast<unsigned long long>(net_.links_made()));
  }

  node::NodeConfig node_config(const Host& h) {
    node::NodeConfig cfg;
    cfg.identity = *wire::Ed25519KeyPair::from_seed(wire::ByteView(h.key_seed));
    cfg.listen = {endpoint_addr({h.ip, 4001})};
    cfg.clock = &clock_;
    cfg.host.clock = &clock_;
    cfg.host.transport = &net_.transport(h.ip);
    cfg.ping_interval = std::chrono::milliseconds(static_cast<long long>(s_.ping_interval_ms));
    return cfg;
  }

  std::vector<wire::Multiaddr> bootstrap_addrs(const Host& self) {
    std::vector<std::size_t> chosen;
    for (std::size_t i = 0; i < s_.bootstrap_nodes && i < hosts_.size(); ++i)
      if (i != self.index) chosen.push_back(i);
    if (s_.bootstrap_per_host > 0 && chosen.size() > s_.bootstrap_per_host) {
      std::shuffle(chosen.begin(), chosen.end(), rng_);
      chosen.resize(s_.bootstrap_per_host);
      std::sort(chosen.begin(), chosen.end());
    }
    std::vector<wire::Multiaddr> out;
    for (const std::size_t i : chosen)
      out.push_back(endpoint_addr({hosts_[i]->ip, 4001}).with_peer_id(hosts_[i]->id));
    return out;
  }

  asio::awaitable<void> start_host(Host& h) {
    h.alive = true;
    const std::uint64_t started_ns = clock_.now_ns();
    h.node = std::make_unique<node::Node>(io_.get_executor(), node_config(h));
    co_await h.node->start();
    pubsub::GossipsubOptions go;
    go.router.d = s_.mesh_d;
    go.router.d_lo = s_.mesh_d_low;
    go.router.d_hi = s_.mesh_d_high;
    go.router.d_lazy = s_.mesh_d_lazy;
    go.rng_seed = mix64(s_.seed ^ mix64(h.index * 1000 + h.restarts + 1));
    go.first_seqno = clock_.now_ns() + 1;  // above any of an earlier life, as the wall clock is
    h.ps = std::make_unique<pubsub::Gossipsub>(*h.node, go);
    h.ps->start();
    h.ps->subscribe(s_.topic);
    h.kad = std::make_unique<dht::Kademlia>(*h.node);
    h.kad->start();
    h.started = true;
    spawn(read_loop(h, *h.ps));
    const std::size_t table = co_await h.kad->bootstrap(bootstrap_addrs(h));
    h.joined = h.alive && (table > 0 || hosts_.size() == 1);
    if (h.joined) h.join_ns = clock_.now_ns() - started_ns;
  }

  asio::awaitable<void> read_loop(Host& h, pubsub::Gossipsub& ps) {
    while (auto m = co_await ps.next_message(s_.topic)) record(h, *m);
  }

  void record(const Host& h, const pubsub::PubsubMessage& m) {
    const auto data = m.data();
    if (data.size() < 8) return;
    std::uint64_t index = 0;
    std::memcpy(&index, data.data(), 8);
    if (index >= messages_.size()) return;
    Message& msg = messages_[index];
    if (msg.depth[h.index] != kUntraced) {
      ++app_duplicates_;  // a message delivered twice to one application: a bug
      return;
    }
    auto from = by_peer_.find(m.received_from);
    const std::uint16_t parent = from == by_peer_.end() ? kUntraced : msg.depth[from->second];
    msg.depth[h.index] =
        parent == kUntraced ? std::uint16_t{kUntraced - 1} : static_cast<std::uint16_t>(parent + 1);
    if (!msg.expected[h.index]) {
      ++msg.record.delivered_elsewhere;
      return;
    }
    ++msg.record.delivered;
    results_.latencies_ns.push_back(clock_.now_ns() - msg.record.published_ns);
    if (parent == kUntraced || parent == kUntraced - 1) {
      ++results_.untraced_hops;
    } else {
      results_.hops.push_back(static_cast<std::uint32_t>(parent) + 1);
    }
  }

  Host* random_live_host(const Host* except) {
    std::vector<Host*> live;
    for (auto& h : hosts_)
      if (h->started && h->alive && h.get() != except) live.push_back(h.get());
    if (live.empty()) return nullptr;
    return live[static_cast<std::size_t>(uniform() * static_cast<double>(live.size())) %
                live.size()];
  }

  void publish(std::size_t phase, std::size_t bytes) {
    Host* from = random_live_host(nullptr);
    const std::uint64_t index = messages_.size();
    Message msg;
    msg.record.phase = phase;
    msg.record.published_ns = clock_.now_ns();
    msg.expected.assign(hosts_.size(), false);
    msg.depth.assign(hosts_.size(), kUntraced);
    if (from != nullptr) {
      msg.record.publisher = from->index;
      msg.depth[from->index] = 0;
      const int group = net_.group(from->ip);
      for (const auto& h : hosts_) {
        if (h.get() != from && h->started && h->alive && net_.group(h->ip) == group) {
          msg.expected[h->index] = true;
          ++msg.record.expected;
        }
      }
    }
    messages_.push_back(std::move(msg));
    if (from == nullptr) return;
    std::vector<std::uint8_t> data(bytes, 0);
    std::memcpy(data.data(), &index, 8);
    const std::uint64_t now = clock_.now_ns();
    std::memcpy(data.data() + 8, &now, 8);
    auto done = from->ps->publish(s_.topic, wire::ByteView(data));
    messages_.back().record.published = done.has_value() && done->recipients > 0;
  }

  void lookup(std::size_t phase) {
    Host* from = random_live_host(nullptr);
    Host* target = from == nullptr ? nullptr : random_live_host(from);
    if (from == nullptr || target == nullptr || !from->kad) return;
    const std::size_t slot = results_.lookups.size();
    results_.lookups.push_back(LookupRecord{phase});
    spawn(run_lookup(*from, target->id, slot));
  }

  asio::awaitable<void> run_lookup(Host& asker, wire::PeerId target, std::size_t slot) {
    dht::LookupStats stats;
    wire::Bytes key(target.bytes().begin(), target.bytes().end());
    auto found = co_await asker.kad->closest_peers(std::move(key), &stats);
    LookupRecord& r = results_.lookups[slot];
    r.hops = stats.hops;
    r.queried = stats.queried;
    if (!found) {
      r.failed = true;
      co_return;
    }
    for (const auto& p : *found) r.found = r.found || p.peer == target;
  }

  void partition(double fraction) {
    std::unordered_map<std::uint32_t, int> groups;
    const auto cut = static_cast<std::size_t>(fraction * static_cast<double>(hosts_.size()));
    for (const auto& h : hosts_) groups[h->ip] = h->index < cut ? 1 : 0;
    net_.partition(groups);
  }

  void kill(double fraction) {
    std::vector<Host*> candidates;
    for (auto& h : hosts_)
      if (h->alive && h->started && !h->bootstrap) candidates.push_back(h.get());
    std::shuffle(candidates.begin(), candidates.end(), rng_);
    const auto n = static_cast<std::size_t>(fraction * static_cast<double>(candidates.size()));
    for (std::size_t i = 0; i < n; ++i) {
      Host& h = *candidates[i];
      h.alive = false;
      h.started = false;
      h.joined = false;
      net_.cut(h.ip);
      killed_.push_back(&h);
      spawn(stop_host(h));
    }
  }

  void restart() {
    auto back = std::move(killed_);
    killed_.clear();
    for (Host* h : back) {
      if (h->alive || h->node) continue;  // still stopping: stays down
      ++h->restarts;
      spawn(start_host(*h));
    }
  }

  asio::awaitable<void> stop_host(Host& h) {
    if (h.ps) co_await h.ps->stop();
    if (h.kad) co_await h.kad->stop();
    if (h.node) co_await h.node->stop();
    h.ps.reset();
    h.kad.reset();
    h.node.reset();
  }

  void measure_mesh() {
    std::vector<std::vector<std::size_t>> adjacent(hosts_.size());
    std::vector<std::size_t> live;
    for (const auto& h : hosts_) {
      if (!h->alive || !h->ps) continue;
      live.push_back(h->index);
      for (const auto& p : h->ps->router().mesh_peers(s_.topic)) {
        auto it = by_peer_.find(p);
        if (it != by_peer_.end()) adjacent[h->index].push_back(it->second);
      }
    }
    const std::size_t sources = std::min<std::size_t>(32, live.size());
    for (std::size_t k = 0; k < sources; ++k) {
      const std::size_t source = live[k * live.size() / sources];
      std::vector<std::uint32_t> dist(hosts_.size(), UINT32_MAX);
      std::vector<std::size_t> queue{source};
      dist[source] = 0;
      for (std::size_t q = 0; q < queue.size(); ++q) {
        for (const std::size_t next : adjacent[queue[q]]) {
          if (dist[next] != UINT32_MAX) continue;
          dist[next] = dist[queue[q]] + 1;
          queue.push_back(next);
        }
      }
      for (const std::size_t h : live) {
        if (h == source) continue;
        if (dist[h] == UINT32_MAX) {
          ++results_.mesh_unreachable;
        } else {
          results_.mesh_distances.push_back(dist[h]);
        }
      }
    }
  }

  asio::awaitable<void> stop_at_end(Host& h, std::size_t& left) {
    h.alive = false;
    co_await stop_host(h);
    --left;
  }

  void finish() {
    results_.sim_end_ns = clock_.now_ns();
    for (const auto& h : hosts_) {
      HostRecord r;
      r.bootstrap = h->bootstrap;
      // In the DHT: its bootstrap found peers, or peers found it since (a bootstrap host
      // whose own bootstrap raced the others').
      r.joined = h->alive && h->kad && h->kad->routing_table().size() > 0;
      r.alive = h->alive;
      r.restarts = h->restarts;
      r.join_ms = static_cast<double>(h->join_ns) / 1e6;
      const HostTraffic& t = net_.traffic(h->ip);
      r.bytes_out = t.bytes_out;
      r.bytes_in = t.bytes_in;
      if (h->ps) {
        const auto st = h->ps->stats();
        r.pubsub_messages_in = st.router.messages_in;
        r.pubsub_duplicates = st.router.duplicates;
        r.mesh = h->ps->router().mesh_peers(s_.topic).size();
      }
      if (h->node) {
        r.connections = h->node->host().connection_count();
        for (const auto& peer : h->node->host().connected_peers())
          if (h->node->peer_status(peer).down) ++r.connected_but_down;
      }
      if (h->kad) r.routing_table = h->kad->routing_table().size();
      results_.joined += r.joined ? 1 : 0;
      results_.hosts.push_back(r);
    }
    for (auto& m : messages_) results_.messages.push_back(m.record);
    measure_mesh();
    results_.links_made = net_.links_made();
    results_.app_duplicates = app_duplicates_;
    results_.task_failures = task_failures_;
    // Stop every host, on virtual time, then let the executor finish what the Nodes handed it.
    std::size_t stopping = 0;
    for (auto& h : hosts_) {
      if (!h->node) continue;
      ++stopping;
      spawn(stop_at_end(*h, stopping));
    }
    const std::uint64_t limit = clock_.now_ns() + 60'000 * kMs;
    while (stopping > 0 && clock_.now_ns() < limit) {
      drain();
      if (!clock_.advance_to_next()) break;
    }
    drain();
    for (auto& h : hosts_) {
      h->ps.reset();
      h->kad.reset();
      h->node.reset();
    }
    drain();
  }

  Scenario s_;
  std::FILE* progress_;
  std::mt19937_64 rng_;
  asio::io_context io_;
  async::ManualClock clock_;  // after the io_context: its sleepers' handlers belong to it
  Network net_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::unordered_map<wire::PeerId, std::size_t> by_peer_;
  std::vector<Message> messages_;
  std::vector<Host*> killed_;
  Results results_;
  std::uint64_t app_duplicates_ = 0;
  std::uint64_t task_failures_ = 0;
};

}  // namespace

Results run_world(const Scenario& scenario, std::FILE* progress) {
  World world(scenario, progress);
  return world.run();
}

}  // namespace bb::sim

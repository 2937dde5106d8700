// The DHT's logic at network scale, in one process: 100 nodes, each a dht::Core (routing table
// and stores) whose requests go straight to the other nodes' Cores, driven by the same lookup
// driver as the streams. Every node finds every other within the expected hops; a third of the
// nodes leave and lookups still succeed; providers and records are found; peers that answer with
// junk cost a bounded number of requests.
#include "bb/async/clock.hpp"
#include "bb/async/task_group.hpp"
#include "bb/dht/cid.hpp"
#include "bb/dht/core.hpp"
#include "bb/dht/error.hpp"
#include "bb/dht/query.hpp"
#include "tests/support/async_test.hpp"

#include <gtest/gtest.h>

#include <boost/asio/this_coro.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <set>

namespace bb::dht {
namespace {

namespace asio = boost::asio;

struct SimNode {
  wire::PeerId id = wire::PeerId::from_u64(0);
  wire::Multiaddr addr;
  std::unique_ptr<Core> core;
  bool alive = true;
  bool junk = false;  // answers every request with 64 made-up peers
};

class SimNet {
 public:
  explicit SimNet(std::size_t n, std::size_t k = 20) : k_(k) {
    for (std::size_t i = 0; i < n; ++i) {
      SimNode s;
      s.id = wire::PeerId::from_u64(1000 + i);
      s.addr = *wire::Multiaddr::parse("/ip4/10.0." + std::to_string(i / 250) + "." +
                                       std::to_string(i % 250 + 1) + "/tcp/4001");
      s.core = std::make_unique<Core>(s.id, k, ProviderLimits{}, RecordLimits{});
      index_[s.id] = nodes_.size();
      nodes_.push_back(std::move(s));
    }
  }

  SimNode& node(std::size_t i) { return nodes_[i]; }
  std::size_t size() const { return nodes_.size(); }
  std::uint64_t requests = 0;
  std::uint64_t junk_requests = 0;

  // What `knower` can tell of a peer: its address, if the peer is in knower's table (a node
  // knows only the addresses of the peers it has met).
  Core::AddrsOf addrs_of(const SimNode& knower) {
    return [this, &knower](const wire::PeerId& p) {
      auto it = index_.find(p);
      if (it == index_.end() || (p != knower.id && !knower.core->table().contains(p)))
        return std::vector<wire::Multiaddr>{};
      return std::vector<wire::Multiaddr>{nodes_[it->second].addr};
    };
  }

  // `from` asks: the answer comes from the target's Core, which (as identify would) adds the
  // asker to its table.
  Ask ask_from(std::size_t from) {
    return [this, from](const wire::PeerId& peer,
                        const Message& request) -> asio::awaitable<boost::system::result<Message>> {
      ++requests;
      auto it = index_.find(peer);
      if (it == index_.end() || !nodes_[it->second].alive) co_return make_error_code(errc::timeout);
      SimNode& target = nodes_[it->second];
      if (target.junk) {
        ++junk_requests;
        Message out;
        out.type = request.type;
        for (std::uint64_t i = 0; i < 64; ++i)
          out.closer_peers.push_back(
              PeerEntry{wire::PeerId::from_u64(900'000 + junk_seq_++), {}, {}});
        co_return out;
      }
      target.core->table().add(nodes_[from].id, 0);
      auto handled = target.core->handle(nodes_[from].id, request, 0, addrs_of(target));
      if (handled.error) co_return handled.error;
      if (!handled.reply) co_return Message{};
      co_return std::move(*handled.reply);
    };
  }

  struct Outcome {
    bool found = false;
    std::size_t hops = 0;
    std::vector<wire::PeerId> closest;
  };

  // A lookup by node `from` for `key`; the answering peers join its table, failed ones leave.
  asio::awaitable<Outcome> lookup(std::size_t from, wire::Bytes key,
                                  std::optional<wire::PeerId> wanted = std::nullopt,
                                  MessageType type = MessageType::find_node) {
    auto& me = nodes_[from];
    const Key target = Key::of(key);
    Lookup lookup(target, me.id, me.core->table().closest(target, k_), Lookup::Options{k_, 3, 32});
    Message request;
    request.type = type;
    request.key = key;
    Outcome out;
    DriveHooks hooks;
    hooks.on_answer = [&](const wire::PeerId& p, const Message& answer) {
      me.core->table().add(p, 0);
      if (wanted && p == *wanted) out.found = true;
      for (const auto& e : answer.closer_peers)
        if (wanted && e.id == *wanted) out.found = true;
      return out.found;
    };
    hooks.on_failure = [&](const wire::PeerId& p) { me.core->table().remove(p); };
    async::TaskGroup tasks(co_await asio::this_coro::executor);
    (void)co_await drive(lookup, request, ask_from(from), hooks, clock_, 1'000'000'000, tasks);
    co_await tasks.join();
    out.hops = lookup.hops();
    out.closest = lookup.closest();
    co_return out;
  }

  // Every node joins through node 0: it knows node 0, then looks itself up.
  asio::awaitable<void> join_all() {
    for (std::size_t i = 1; i < nodes_.size(); ++i) {
      nodes_[i].core->table().add(nodes_[0].id, 0);
      nodes_[0].core->table().add(nodes_[i].id, 0);
      const auto& id = nodes_[i].id;
      (void)co_await lookup(i, wire::Bytes(id.bytes().begin(), id.bytes().end()));
    }
  }

 private:
  std::size_t k_;
  async::ManualClock clock_;
  std::vector<SimNode> nodes_;
  std::map<wire::PeerId, std::size_t> index_;
  std::uint64_t junk_seq_ = 0;
};

wire::Bytes bytes_of(const wire::PeerId& p) {
  return wire::Bytes(p.bytes().begin(), p.bytes().end());
}

struct Reach {
  std::size_t lookups = 0, found = 0, max_hops = 0, total_hops = 0;
  double mean_hops() const { return lookups ? static_cast<double>(total_hops) / lookups : 0.0; }
};

// Every node of `net` looks up every other (stride 1), or every stride-th pair.
Reach all_pairs(SimNet& net, std::size_t stride = 1) {
  Reach r;
  test::run_async(
      [&]() -> asio::awaitable<void> {
        co_await net.join_all();
        std::size_t pair = 0;
        for (std::size_t a = 0; a < net.size(); ++a) {
          for (std::size_t b = 0; b < net.size(); ++b) {
            if (a == b || pair++ % stride != 0) continue;
            auto out = co_await net.lookup(a, bytes_of(net.node(b).id), net.node(b).id);
            ++r.lookups;
            if (out.found) ++r.found;
            r.max_hops = std::max(r.max_hops, out.hops);
            r.total_hops += out.hops;
          }
        }
      }(),
      std::chrono::seconds(120));
  return r;
}

TEST(DhtNetwork, EveryNodeOfAHundredFindsEveryOtherWithinTheExpectedHops) {
  // k = 20: with 100 nodes a table holds most of the network, so one or two hops do.
  SimNet wide(100);
  const Reach r = all_pairs(wide);
  EXPECT_EQ(r.lookups, 9900u);
  EXPECT_EQ(r.found, r.lookups);
  EXPECT_LE(r.max_hops, 2u);
  for (std::size_t i = 0; i < wide.size(); ++i) EXPECT_GE(wide.node(i).core->table().size(), 20u);
  RecordProperty("k20_mean_hops", std::to_string(r.mean_hops()));
  RecordProperty("k20_max_hops", std::to_string(r.max_hops));
}

TEST(DhtNetwork, InAThousandNodesWithSmallBucketsLookupsWalkAtMostLog2NHops) {
  // k = 4 and 1000 nodes: a table holds a few peers per distance, so a lookup has to walk
  // towards its target; Kademlia's O(log n) bounds the walk by log2(1000). 2,000 pairs.
  SimNet narrow(1000, 4);
  const Reach n = all_pairs(narrow, 499);
  EXPECT_GE(n.lookups, 1900u);
  // With buckets this small a newcomer may not get into its neighbours' full buckets, and a
  // lookup that ends at the k closest it reached then misses it: at most a few percent (here
  // 22 of 2,003; the network is deterministic, so this does not vary between runs).
  EXPECT_GE(n.found * 100, n.lookups * 97);
  EXPECT_LE(n.max_hops, static_cast<std::size_t>(std::ceil(std::log2(1000.0))));
  EXPECT_GT(n.mean_hops(), 1.0);
  for (std::size_t i = 0; i < narrow.size(); ++i)
    EXPECT_LT(narrow.node(i).core->table().size(), 120u);
  RecordProperty("k4_mean_hops", std::to_string(n.mean_hops()));
  RecordProperty("k4_max_hops", std::to_string(n.max_hops));
}

TEST(DhtNetwork, WhenAThirdLeavesLookupsStillSucceed) {
  SimNet net(100);
  std::size_t found = 0, lookups = 0;
  test::run_async(
      [&]() -> asio::awaitable<void> {
        co_await net.join_all();
        for (std::size_t i = 0; i < net.size(); i += 3) net.node(i).alive = false;  // 34 leave
        for (std::size_t a = 1; a < net.size(); a += 2) {
          if (!net.node(a).alive) continue;
          for (std::size_t b = 0; b < net.size(); ++b) {
            if (a == b || !net.node(b).alive) continue;
            auto out = co_await net.lookup(a, bytes_of(net.node(b).id), net.node(b).id);
            ++lookups;
            if (out.found) ++found;
          }
        }
        // A peer that failed a request left the asker's table (it may come back through
        // others' answers until they, too, find it gone).
        std::size_t stale = 0;
        for (std::size_t i = 0; i < net.size(); i += 3)
          stale += net.node(1).core->table().contains(net.node(i).id) ? 1 : 0;
        EXPECT_LT(stale, 34u);
      }(),
      std::chrono::seconds(120));
  EXPECT_GT(lookups, 1000u);
  EXPECT_EQ(found, lookups);
}

TEST(DhtNetwork, ProvidersAndRecordsAreFoundAtTheClosestNodes) {
  SimNet net(60);
  test::run_async(
      [&]() -> asio::awaitable<void> {
        co_await net.join_all();
        const Cid cid = Cid::of(wire::as_bytes(std::string("content")));
        const wire::Bytes key(cid.key().begin(), cid.key().end());
        // Node 5 announces itself to the 20 closest it finds.
        auto closest = co_await net.lookup(5, key);
        EXPECT_EQ(closest.closest.size(), 20u);
        Message add;
        add.type = MessageType::add_provider;
        add.key = key;
        add.provider_peers.push_back(PeerEntry{net.node(5).id, {net.node(5).addr}, {}});
        auto ask = net.ask_from(5);
        for (const auto& p : closest.closest) (void)co_await ask(p, add);
        // Node 40 finds it through GET_PROVIDERS answers.
        std::size_t with_provider = 0;
        for (const auto& p : closest.closest) {
          Message get;
          get.type = MessageType::get_providers;
          get.key = key;
          auto r = co_await net.ask_from(40)(p, get);
          if (r && !r->provider_peers.empty() && r->provider_peers[0].id == net.node(5).id)
            ++with_provider;
        }
        EXPECT_EQ(with_provider, 20u);
        auto from40 = co_await net.lookup(40, key);
        const std::set<wire::PeerId> a(closest.closest.begin(), closest.closest.end());
        std::size_t same = 0;
        for (const auto& p : from40.closest) same += a.count(p);
        EXPECT_GE(same, 18u);  // two lookups of one key agree on (nearly) the same closest nodes
      }(),
      std::chrono::seconds(60));
}

TEST(DhtNetwork, PeersThatAnswerWithJunkCostABoundedNumberOfRequests) {
  SimNet net(60);
  test::run_async(
      [&]() -> asio::awaitable<void> {
        co_await net.join_all();
        for (std::size_t i = 50; i < 60; ++i) net.node(i).junk = true;  // a sixth turn hostile
        std::size_t found = 0, lookups = 0;
        for (std::size_t b = 1; b < 50; ++b) {
          const auto before = net.requests;
          auto out = co_await net.lookup(0, bytes_of(net.node(b).id), net.node(b).id);
          ++lookups;
          if (out.found) ++found;
          // Made-up peers fail at once, each at most once: a lookup asks at most the k × 4
          // candidates it keeps plus what it replaces them with, never without end.
          EXPECT_LE(net.requests - before, 200u);
        }
        EXPECT_EQ(found, lookups);
      }(),
      std::chrono::seconds(60));
}

}  // namespace
}  // namespace bb::dht

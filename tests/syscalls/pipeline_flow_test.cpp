// TX -> in-memory transport -> RX for many messages and peers, with blocked peers, unreachable
// peers and duplicated deliveries: every message is delivered exactly once or reported to its
// sender with a reason. Nothing vanishes.
#include "bb/runtime/node_builder.hpp"
#include "bb/syscalls/ops.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/memory_network.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace bb {
namespace {

using runtime::Verdict;
using wire::PeerId;

struct Outcome {
  std::size_t sent = 0;
  std::size_t delivered_ok = 0;               // sender told "delivered"
  std::map<std::string, std::size_t> denied;  // reason -> count
};

boost::asio::awaitable<Outcome> traffic(test::MemoryNetwork& net, std::vector<PeerId> ids,
                                        async::ManualClock& clock, std::size_t rounds,
                                        std::uint64_t first_id) {
  Outcome out;
  std::mt19937_64 rng(7);
  std::uint64_t next_id = first_id;
  for (std::size_t round = 0; round < rounds; ++round) {
    for (const auto& from : ids) {
      const PeerId& to = ids[rng() % ids.size()];
      if (to == from) continue;
      const std::uint64_t id = next_id++;
      Verdict v = co_await net.find(from)->send(to, "m" + std::to_string(id), id);
      ++out.sent;
      if (v) {
        ++out.denied[std::string(v->reason)];
      } else {
        ++out.delivered_ok;
      }
    }
    clock.advance(1'000'000);  // 1 ms per round: backoff windows open and close
  }
  co_return out;
}

TEST(PipelineFlow, EveryMessageIsDeliveredOnceOrReportedWithItsReason) {
  async::ManualClock clock(1'000'000'000);
  test::MemoryNetwork net(clock);
  std::vector<PeerId> ids;
  for (std::uint64_t i = 1; i <= 8; ++i) ids.push_back(PeerId::from_u64(i));
  // The drop policy: these runs move the manual clock only between rounds, so a gate waiting
  // out a cooldown would wait for good (the wait policy has its own tests).
  for (const auto& id : ids)
    net.add(id).build(syscalls::dropping_tx_gates(), syscalls::default_rx_gates());

  // Node 1 blocks node 2 (its sends to 2 are denied on the way out, and 2's messages to it on
  // the way in); node 8 is unreachable for the first half of the run; every 7th delivery is
  // duplicated by the network.
  net.find(ids[0])->tables().block(ids[1]);
  net.set_reachable(ids[7], false);
  net.duplicate_every(7);

  Outcome first = test::run_async(traffic(net, ids, clock, 150, 1));
  // Two minutes later (past every backoff window, 60 s cap) node 8 is back and every node
  // reconnects; the failure detector has seen the new connections as heartbeats.
  clock.advance(120'000'000'000);
  for (auto& id : ids) net.set_reachable(id, true);
  for (auto& id : ids) net.find(id)->tables().tick();
  Outcome second = test::run_async(traffic(net, ids, clock, 150, 100000));

  std::size_t delivered = 0;
  std::set<std::pair<PeerId, std::uint64_t>> seen;
  for (const auto& id : ids) {
    for (const auto& d : net.find(id)->inbox()) {
      ++delivered;
      EXPECT_TRUE(seen.insert({d.origin, d.message_id}).second)
          << "delivered twice: " << d.message_id;
      EXPECT_EQ(d.payload, "m" + std::to_string(d.message_id));
    }
  }

  for (const Outcome* o : {&first, &second}) {
    std::size_t denied = 0;
    for (const auto& [reason, n] : o->denied) denied += n;
    EXPECT_EQ(o->sent, o->delivered_ok + denied);
  }
  // The invariant: sent = delivered + reported-failed, and "delivered" means exactly once.
  std::size_t reported = 0;
  for (const Outcome* o : {&first, &second}) {
    for (const auto& [reason, n] : o->denied) reported += n;
  }
  EXPECT_EQ(first.sent + second.sent, delivered + reported);
  EXPECT_EQ(first.delivered_ok + second.delivered_ok, delivered);

  // Each fault showed up with its own reason.
  EXPECT_GT(first.denied["blocklisted"], 0u);
  EXPECT_GT(first.denied["peer_unreachable"], 0u);
  EXPECT_GT(first.denied["cooldown"] + first.denied["peer_down"], 0u);
  EXPECT_GT(net.duplicates_injected(), 10u);
  EXPECT_EQ(net.duplicates_delivered(), 0u);
  // Once reachable and past its backoff, node 8 receives again.
  EXPECT_EQ(second.denied["peer_unreachable"], 0u);
  std::size_t to_8_late = 0;
  for (const auto& d : net.find(ids[7])->inbox()) to_8_late += d.message_id >= 100000 ? 1 : 0;
  EXPECT_GT(to_8_late, 0u);
}

TEST(PipelineFlow, SendFailuresFeedBackoffHealthAndEvents) {
  async::ManualClock clock(1'000'000'000);
  test::MemoryNetwork net(clock);
  const PeerId a = PeerId::from_u64(1), b = PeerId::from_u64(2);
  auto& na = net.add(a);
  net.add(b).build(syscalls::dropping_tx_gates(), syscalls::default_rx_gates());
  na.build(syscalls::dropping_tx_gates(), syscalls::default_rx_gates());
  net.set_reachable(b, false);

  // Five failures, each after its backoff window: the fifth takes b down.
  std::vector<std::string> reasons;
  test::run_async([&]() -> boost::asio::awaitable<void> {
    for (std::uint64_t i = 1; i <= 5; ++i) {
      Verdict v = co_await na.send(b, "x", i);
      reasons.emplace_back(v ? v->reason : "ok");
      Verdict held = co_await na.send(b, "y", 100 + i);  // inside the window: cooldown
      reasons.emplace_back(held ? held->reason : "ok");
      clock.advance(na.tables().backoff().retry_at(b).value() - clock.now_ns());
    }
    // Past the fifth window a send goes out as a probe (and fails again); inside the next
    // window the down peer is denied as peer_down.
    Verdict probe = co_await na.send(b, "z", 200);
    reasons.emplace_back(probe ? probe->reason : "ok");
    Verdict down = co_await na.send(b, "z", 201);
    reasons.emplace_back(down ? down->reason : "ok");
  }());
  EXPECT_EQ(reasons, (std::vector<std::string>{"peer_unreachable", "cooldown", "peer_unreachable",
                                               "cooldown", "peer_unreachable", "cooldown",
                                               "peer_unreachable", "cooldown", "peer_unreachable",
                                               "peer_down", "peer_unreachable", "peer_down"}));
  std::map<std::string_view, int> counts;
  while (auto e = na.events().try_next()) ++counts[runtime::event_name(*e)];
  EXPECT_EQ(counts["send_failed"], 12);
  EXPECT_EQ(counts["peer_down"], 1);

  // b comes back and reconnects: health recovers with one PeerUp, backoff clears.
  net.set_reachable(b, true);
  auto e = na.events().try_next();
  ASSERT_TRUE(e);
  EXPECT_EQ(runtime::event_name(*e), "peer_up");
  Verdict ok = test::run_async(na.send(b, "back", 300));
  EXPECT_FALSE(ok) << ok->reason;
  ASSERT_EQ(net.find(b)->inbox().size(), 1u);
  EXPECT_EQ(net.find(b)->inbox()[0].payload, "back");
}

}  // namespace
}  // namespace bb

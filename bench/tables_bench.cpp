// Hot operations of the peer-state tables (runtime/), each over ~1000 distinct peers. Timings
// are reported, never asserted. Run: build/bench/bb_bench_tables --benchmark_min_time=0.2
#include "bb/runtime/backoff_table.hpp"
#include "bb/runtime/inbound_dedup.hpp"
#include "bb/runtime/peer_governor.hpp"
#include "bb/runtime/phi_accrual.hpp"
#include "bb/runtime/request_tracker.hpp"
#include "bb/runtime/rtt_tracker.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace bb::runtime {
namespace {

constexpr std::size_t kPeers = 1000;
constexpr std::uint64_t kMs = 1'000'000;

const std::vector<wire::PeerId>& peers(std::uint64_t offset = 0) {
  static const auto make = [](std::uint64_t first) {
    std::vector<wire::PeerId> v;
    for (std::uint64_t i = 0; i < kPeers; ++i) v.push_back(wire::PeerId::from_u64(first + i));
    return v;
  };
  static const std::vector<wire::PeerId> known = make(1);
  static const std::vector<wire::PeerId> unknown = make(1'000'000);
  return offset == 0 ? known : unknown;
}

void BM_BackoffShouldRetryHit(benchmark::State& state) {
  const auto& ps = peers();
  BackoffTable t;
  for (const auto& p : ps) t.record_failure(p, 0);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.should_retry(ps[i], 5 * kMs));
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_BackoffShouldRetryHit);

void BM_BackoffShouldRetryMiss(benchmark::State& state) {
  const auto& ps = peers();
  BackoffTable t;
  for (const auto& p : ps) t.record_failure(p, 0);
  const auto& absent = peers(1);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.should_retry(absent[i], 5 * kMs));
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_BackoffShouldRetryMiss);

void BM_BackoffRecordFailure(benchmark::State& state) {
  const auto& ps = peers();
  BackoffTable t;
  std::size_t i = 0;
  std::uint64_t now = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.record_failure(ps[i], ++now));
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_BackoffRecordFailure);

void BM_GovernorCheckOutbound(benchmark::State& state) {
  const auto& ps = peers();
  PeerGovernor g;
  BackoffTable b;
  for (std::size_t i = 0; i < kPeers; ++i) {
    if (i % 10 == 0) g.block(ps[i]);
    if (i % 3 == 0) b.record_failure(ps[i], 0);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(g.check_outbound(ps[i], b, 5 * kMs));
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_GovernorCheckOutbound);

void BM_DedupMakeKey(benchmark::State& state) {
  const auto& ps = peers();
  std::uint64_t id = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(InboundDedup::make_key(ps[i], ++id, 0));
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_DedupMakeKey);

// Steady state: the window is full, so every new key also evicts the oldest.
void BM_DedupRecordFullWindow(benchmark::State& state) {
  const auto& ps = peers();
  InboundDedup d;
  std::uint64_t id = 0;
  std::vector<DedupKey> keys;
  for (std::size_t i = 0; i < 4 * kDefaultDedupWindow; ++i) {
    keys.push_back(InboundDedup::make_key(ps[i % kPeers], ++id, 0));
  }
  for (std::size_t i = 0; i < kDefaultDedupWindow; ++i) d.record(keys[i]);
  std::size_t next = kDefaultDedupWindow;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.record(keys[next]));
    next = next + 1 == keys.size() ? 0 : next + 1;  // keys re-enter long after eviction
  }
}
BENCHMARK(BM_DedupRecordFullWindow);

void BM_DedupRecordDuplicate(benchmark::State& state) {
  const auto& ps = peers();
  InboundDedup d;
  std::vector<DedupKey> keys;
  for (std::size_t i = 0; i < kDefaultDedupWindow; ++i) {
    keys.push_back(InboundDedup::make_key(ps[i % kPeers], i, 0));
    d.record(keys.back());
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.record(keys[i]));
    i = i + 1 == keys.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_DedupRecordDuplicate);

void BM_RttObserve(benchmark::State& state) {
  const auto& ps = peers();
  RttTracker t;
  std::size_t i = 0;
  std::uint64_t now = 0;
  for (auto _ : state) {
    t.observe(ps[i], 2 * kMs + (now & 0xffff), now);
    ++now;
    i = i + 1 == kPeers ? 0 : i + 1;
  }
  benchmark::DoNotOptimize(t.global_estimate());
}
BENCHMARK(BM_RttObserve);

void BM_RttBudget(benchmark::State& state) {
  const auto& ps = peers();
  RttTracker t;
  for (int r = 0; r < 3; ++r) {
    for (const auto& p : ps) t.observe(p, 2 * kMs, 0);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.budget_ns(ps[i]));
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_RttBudget);

void BM_PhiHeartbeat(benchmark::State& state) {
  const auto& ps = peers();
  PhiAccrualDetector fd;
  std::uint64_t now = 0;
  for (const auto& p : ps) fd.heartbeat(p, now);
  std::size_t i = 0;
  for (auto _ : state) {
    now += 1 * kMs;  // each peer is heard from once a second
    fd.heartbeat(ps[i], now);
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_PhiHeartbeat);

void BM_PhiQuery(benchmark::State& state) {
  const auto& ps = peers();
  PhiAccrualDetector fd;
  for (std::uint64_t t = 0; t < 20; ++t) {
    for (const auto& p : ps) fd.heartbeat(p, t * 1000 * kMs);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(fd.phi(ps[i], 20'500 * kMs));
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_PhiQuery);

void BM_PhiScan1000(benchmark::State& state) {
  const auto& ps = peers();
  PhiAccrualDetector fd;
  for (const auto& p : ps) fd.heartbeat(p, 0);
  for (auto _ : state) benchmark::DoNotOptimize(fd.scan(500 * kMs));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPeers));
}
BENCHMARK(BM_PhiScan1000);

void BM_RequestMintTrackComplete(benchmark::State& state) {
  const auto& ps = peers();
  RequestTracker r;
  // A realistic backlog: 1000 requests in flight while new ones come and go.
  for (const auto& p : ps) r.track(r.mint(), p, 0, 60'000 * kMs);
  std::size_t i = 0;
  std::uint64_t now = 0;
  for (auto _ : state) {
    const auto token = r.mint();
    r.track(token, ps[i], now, 5'000 * kMs);
    benchmark::DoNotOptimize(r.complete(token, now + 3 * kMs));
    now += 1000;
    i = i + 1 == kPeers ? 0 : i + 1;
  }
}
BENCHMARK(BM_RequestMintTrackComplete);

}  // namespace
}  // namespace bb::runtime

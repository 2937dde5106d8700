// The TX chain with every gate allowing: ns per message and heap allocations per message.
// Run: build/default/bench/bb_bench_pipeline
//
// Allocations are counted by replacing global operator new for this program; coroutine frames
// of asio::awaitable come from Asio's per-thread recycling allocator, so a steady-state chain
// that allocates nothing else shows 0.
#include "bb/async/clock.hpp"
#include "bb/runtime/attributes.hpp"
#include "bb/runtime/events.hpp"
#include "bb/runtime/node_builder.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/runtime/pipeline.hpp"
#include "bb/syscalls/ops.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using namespace bb;
namespace asio = boost::asio;

// The send op of this benchmark does nothing: what is measured is the gates and the pipeline.
class NullSend final : public runtime::Stage {
 public:
  using Stage::Stage;
  asio::awaitable<runtime::Verdict> invoke(runtime::Message& msg) override {
    benchmark::DoNotOptimize(msg.payload.data());
    co_return std::nullopt;
  }
};
std::unique_ptr<runtime::Stage> make_null_send(const bb::onnx::NodeProto& node,
                                               const runtime::StageContext&) {
  return std::make_unique<NullSend>(runtime::stage_name(node));
}
BB_REGISTER_OP(null_send, "bb.bench", "NullSend", &make_null_send);

asio::awaitable<void> run_messages(benchmark::State& state, const runtime::Pipeline& pipeline,
                                   const std::vector<wire::PeerId>& peers) {
  const std::string payload(64, 'x');
  runtime::Message msg;
  msg.payload = wire::as_bytes(payload);
  std::size_t i = 0;
  std::uint64_t denied = 0;
  // Warm Asio's frame recycler before counting.
  for (int w = 0; w < 16; ++w) (void)co_await pipeline.run(msg);
  const auto before = g_allocations.load(std::memory_order_relaxed);
  for (auto _ : state) {
    msg.peer = peers[i++ % peers.size()];
    msg.origin = msg.peer;
    msg.message_id = i;  // every message is new to DedupGateRx
    if (co_await pipeline.run(msg)) ++denied;
  }
  const auto allocations = g_allocations.load(std::memory_order_relaxed) - before;
  state.counters["allocs_per_msg"] =
      benchmark::Counter(static_cast<double>(allocations), benchmark::Counter::kAvgIterations);
  state.counters["denied"] = static_cast<double>(denied);
}

void run_chain(benchmark::State& state, std::vector<bb::onnx::NodeProto> nodes) {
  async::ManualClock clock(1'000'000'000);
  runtime::EventQueue events;
  runtime::PeerTables tables(clock, events);
  std::vector<wire::PeerId> peers;
  for (std::uint64_t i = 1; i <= 1000; ++i) {
    peers.push_back(wire::PeerId::from_u64(i));
    tables.on_connected(peers.back());  // known, healthy peers with table entries
  }
  nodes.push_back(runtime::make_node("bb.bench", "NullSend"));
  const runtime::StageContext ctx{clock, tables};
  auto pipeline = runtime::Pipeline::build(nodes, ctx);
  asio::io_context io(1);
  asio::co_spawn(io, run_messages(state, pipeline, peers), asio::detached);
  io.run();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_NullSendOnly(benchmark::State& state) {
  run_chain(state, {});
}
BENCHMARK(BM_NullSendOnly);

void BM_PeerHealthGateTx(benchmark::State& state) {
  run_chain(state, {runtime::make_node(syscalls::kPeerHealthGateTx.domain,
                                       syscalls::kPeerHealthGateTx.op_type)});
}
BENCHMARK(BM_PeerHealthGateTx);

void BM_BackoffGateTx(benchmark::State& state) {
  run_chain(state, {runtime::make_node(syscalls::kBackoffGateTx.domain,
                                       syscalls::kBackoffGateTx.op_type)});
}
BENCHMARK(BM_BackoffGateTx);

// The default TX chain: PeerHealthGateTx -> BackoffGateTx -> (null send).
void BM_DefaultTxChain(benchmark::State& state) {
  run_chain(state, syscalls::default_tx_gates());
}
BENCHMARK(BM_DefaultTxChain);

void BM_DefaultRxChain(benchmark::State& state) {
  // Every message is new to DedupGateRx: message ids keep growing.
  run_chain(state, syscalls::default_rx_gates());
}
BENCHMARK(BM_DefaultRxChain);

}  // namespace

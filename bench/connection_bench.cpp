// The connection stack over loopback, in one process on one thread (so each figure includes
// the work of both ends): Noise+Yamux handshakes per second, perf throughput with 1 MiB writes,
// and the reference it is held against: libsodium's ChaCha20-Poly1305 on one core.
// Run: build/default/bench/bb_bench_connection
#include "bb/wire/connection.hpp"
#include "bb/wire/protocols/perf.hpp"

#include <benchmark/benchmark.h>
#include <sodium.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>

#include <vector>

namespace {

using namespace bb::wire;
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

void BM_LibsodiumChaCha20Poly1305(benchmark::State& state) {
  ensure_sodium();
  // The same shape as Noise transport messages: 65519-byte chunks, detached tag.
  std::vector<std::uint8_t> buf(65519), key(32, 1), nonce(12, 0);
  std::uint8_t tag[16];
  for (auto _ : state) {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf.data(), tag, nullptr, buf.data(),
                                                       buf.size(), nullptr, 0, nullptr,
                                                       nonce.data(), key.data());
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}
BENCHMARK(BM_LibsodiumChaCha20Poly1305);

struct Pair {
  Connection dialer;
  Connection listener;
};

asio::awaitable<Connection> accept_one(TcpListener& listener, const Ed25519KeyPair& id) {
  auto socket = co_await listener.accept();
  co_return co_await Connection::upgrade(std::move(socket), Direction::inbound, id, {}, {});
}

asio::awaitable<Connection> dial_one(Multiaddr addr, const Ed25519KeyPair& id, PeerId expected) {
  auto socket = co_await tcp_connect(addr, 5s);
  co_return co_await Connection::upgrade(std::move(socket), Direction::outbound, id, expected, {});
}

asio::awaitable<void> handshakes(benchmark::State& state) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  auto listener = TcpListener::listen(co_await asio::this_coro::executor,
                                      Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  const Multiaddr addr = listener.local_addr();
  for (auto _ : state) {
    auto [d, l] = co_await (dial_one(addr, a, b.peer_id()) && accept_one(listener, b));
    d.close();
    l.close();
  }
}

void BM_Handshake(benchmark::State& state) {
  asio::io_context io(1);
  asio::co_spawn(io, handshakes(state), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Handshake)->Unit(benchmark::kMicrosecond);

asio::awaitable<void> serve_perf(Connection conn) {
  while (auto stream = co_await conn.accept_stream()) {
    std::vector<std::string> protocols{std::string(perf::kProtocolId)};
    co_await conn.negotiate_inbound(*stream, protocols);
    co_await perf::serve(std::move(*stream));
  }
}

asio::awaitable<void> perf_runs(benchmark::State& state, Pair& p, std::uint64_t up,
                                std::uint64_t down) {
  for (auto _ : state) {
    auto r = co_await perf::run(p.dialer, up, down);
    benchmark::DoNotOptimize(r);
  }
  p.dialer.close();
  p.listener.close();
}

asio::awaitable<void> perf_bench(benchmark::State& state, std::uint64_t up, std::uint64_t down) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  auto listener = TcpListener::listen(co_await asio::this_coro::executor,
                                      Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  auto [d, l] =
      co_await (dial_one(listener.local_addr(), a, b.peer_id()) && accept_one(listener, b));
  Pair p{d, l};
  co_await (perf_runs(state, p, up, down) && p.dialer.run() && p.listener.run() &&
            serve_perf(p.listener));
}

// 64 MiB per iteration in 1 MiB writes, one direction at a time.
void BM_PerfUpload(benchmark::State& state) {
  asio::io_context io(1);
  asio::co_spawn(io, perf_bench(state, 64 << 20, 0), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * (64 << 20));
}
BENCHMARK(BM_PerfUpload)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PerfDownload(benchmark::State& state) {
  asio::io_context io(1);
  asio::co_spawn(io, perf_bench(state, 0, 64 << 20), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * (64 << 20));
}
BENCHMARK(BM_PerfDownload)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

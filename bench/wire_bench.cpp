// Micro-benchmarks of the wire codecs: varint, framing, envelope encode/decode.
// Run: build/default/bench/bb_bench_wire [--benchmark_format=json]
#include "bb/proto/bb_core.pb.h"
#include "bb/wire/envelope.hpp"
#include "bb/wire/frame.hpp"
#include "bb/wire/peer_id.hpp"
#include "bb/wire/varint.hpp"

#include <benchmark/benchmark.h>

#include <random>

namespace {

using namespace bb::wire;

std::vector<std::uint64_t> varint_values() {
  std::mt19937_64 rng(42);
  std::vector<std::uint64_t> values(4096);
  for (auto& v : values) v = rng() >> (rng() % 64);
  for (auto& v : values) v &= kMaxVarintValue;
  return values;
}

void BM_VarintEncode(benchmark::State& state) {
  const auto values = varint_values();
  std::uint8_t buf[16];
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(encode_varint(values[i++ & 4095], buf));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_VarintEncode);

void BM_VarintDecode(benchmark::State& state) {
  const auto values = varint_values();
  std::vector<Bytes> encoded;
  for (auto v : values) {
    Bytes b;
    append_varint(b, v);
    encoded.push_back(b);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = decode_varint(encoded[i++ & 4095]);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_VarintDecode);

// Frames of `range(0)` bytes: append N frames to a buffer, then decode them all.
void BM_FrameEncode(benchmark::State& state) {
  const Bytes body(static_cast<std::size_t>(state.range(0)), 0x5a);
  Bytes out;
  out.reserve((body.size() + 10) * 64);
  for (auto _ : state) {
    out.clear();
    for (int i = 0; i < 64; ++i) append_frame(out, body);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 64);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_FrameEncode)->Arg(64)->Arg(1024)->Arg(65536);

void BM_FrameReaderDecode(benchmark::State& state) {
  const Bytes body(static_cast<std::size_t>(state.range(0)), 0x5a);
  Bytes stream;
  for (int i = 0; i < 64; ++i) append_frame(stream, body);
  FrameReader reader(kDefaultMaxFrameBytes);
  for (auto _ : state) {
    // Feed in 64 KiB reads, as a socket reader would.
    for (std::size_t at = 0; at < stream.size(); at += 65536) {
      reader.append(ByteView(stream).subspan(at, std::min<std::size_t>(65536, stream.size() - at)));
      while (auto f = reader.next().value()) benchmark::DoNotOptimize(f->data());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 64);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_FrameReaderDecode)->Arg(64)->Arg(1024)->Arg(65536);

bb::core::WireEnvelope make_envelope(std::size_t payload) {
  bb::core::WireEnvelope env;
  auto* fill = env.add_fills();
  fill->set_dest_suffix(std::string("\xe2\x01\x00\x00\x00\x00\x00\x00\x00\x11", 10));
  fill->set_payload(std::string(payload, 'x'));
  fill->set_type_hash(0x1234);
  env.mutable_correlation()->set_kind(bb::core::CORRELATION_KIND_REQUEST);
  env.mutable_correlation()->set_wire_req_id(12345);
  env.set_remaining_deadline_ns(100'000'000);
  env.set_src_peer_bytes(std::string(as_chars(PeerId::from_u64(7).bytes())));
  return env;
}

void BM_EnvelopeEncodeFrame(benchmark::State& state) {
  const auto env = make_envelope(static_cast<std::size_t>(state.range(0)));
  Bytes out;
  for (auto _ : state) {
    out.clear();
    encode_envelope_frame(env, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_EnvelopeEncodeFrame)->Arg(64)->Arg(1024)->Arg(65536);

void BM_EnvelopeDecode(benchmark::State& state) {
  const auto env = make_envelope(static_cast<std::size_t>(state.range(0)));
  Bytes bytes;
  encode_envelope(env, bytes);
  bb::core::WireEnvelope out;  // reused, as a connection reader would
  const EnvelopeCaps caps;
  for (auto _ : state) {
    auto ec = decode_envelope(bytes, caps, out);
    benchmark::DoNotOptimize(ec);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_EnvelopeDecode)->Arg(64)->Arg(1024)->Arg(65536);

}  // namespace

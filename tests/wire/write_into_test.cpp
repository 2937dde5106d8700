// Stream::write_into and try_write_into: bytes encoded straight into the connection's output
// arrive intact and in order, for one small write, for writes larger than the frame size and
// the peer's window, and fail as write() does on a reset stream. And the envelope encoder that
// the bb_wire Sender hands them writes any range of a frame exactly as the whole encoding.
#include "bb/wire/connection.hpp"
#include "bb/wire/envelope.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/system/system_error.hpp>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using test::ConnectionPair;
using test::memory_connection_pair;
using test::run_with;

const std::vector<std::string> kSink{"/sink/1.0.0"};

std::uint8_t pattern(std::size_t i) {
  return static_cast<std::uint8_t>(i * 7 + i / 251);
}

// Writes bytes [offset, offset + out.size()) of the pattern, and checks that the pieces come
// in order with nothing skipped.
struct PatternFill {
  std::size_t base = 0;  // where this write starts in the whole pattern
  std::size_t next = 0;  // the offset the next piece must start at
  std::size_t calls = 0;
  void operator()(std::size_t offset, std::span<std::uint8_t> out) {
    EXPECT_EQ(offset, next);
    for (std::size_t j = 0; j < out.size(); ++j) out[j] = pattern(base + offset + j);
    next = offset + out.size();
    ++calls;
  }
};

// The listener reads everything until end of stream.
asio::awaitable<Bytes> read_all(Connection conn) {
  auto stream = co_await conn.accept_stream();
  Bytes got;
  if (!stream) co_return got;
  co_await conn.negotiate_inbound(*stream, kSink);
  Bytes buf(64 * 1024);
  while (true) {
    const std::size_t n = co_await stream->read_some(buf);
    if (n == 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  stream->close_write();
  co_return got;
}

constexpr std::size_t kSmall = 100;
constexpr std::size_t kLarge = (3 << 20) + 12345;  // frames of 256 KiB, past several windows

asio::awaitable<void> write_small_and_large(Connection conn) {
  auto stream = co_await conn.open_stream(kSink);
  PatternFill small;
  // One small write fits the fresh window and the empty output: written now, in one piece.
  EXPECT_TRUE(stream.try_write_into(kSmall, small));
  EXPECT_EQ(small.calls, 1u);
  EXPECT_EQ(small.next, kSmall);
  // More than the window cannot be written without waiting: nothing is written.
  PatternFill refused;
  EXPECT_FALSE(stream.try_write_into(stream.send_window() + 1, refused));
  EXPECT_EQ(refused.calls, 0u);
  // The awaitable form waits for window updates and splits into frames.
  PatternFill large{kSmall};
  co_await stream.write_into(kLarge, large);
  EXPECT_EQ(large.next, kLarge);
  EXPECT_GT(large.calls, 4u);
  stream.close_write();
  std::uint8_t end = 0;
  EXPECT_EQ(co_await stream.read_some(std::span(&end, 1)), 0u);
}

TEST(WriteInto, SmallAndLargeWritesArriveIntactAndInOrder) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& a, const Ed25519KeyPair& b) -> asio::awaitable<void> {
    ConnectionPair p = co_await memory_connection_pair(a, b, b.peer_id());
    auto scenario = [](ConnectionPair& p) -> asio::awaitable<void> {
      auto got = co_await (write_small_and_large(p.dialer) && read_all(p.listener));
      EXPECT_EQ(got.size(), kSmall + kLarge);
      std::size_t bad = 0;
      for (std::size_t i = 0; i < got.size(); ++i) bad += got[i] != pattern(i) ? 1 : 0;
      EXPECT_EQ(bad, 0u);
    };
    co_await run_with(p, scenario(p));
  }(a, b));
}

asio::awaitable<void> write_after_reset(Connection conn) {
  auto stream = co_await conn.open_stream(kSink);
  stream.reset();
  PatternFill fill;
  EXPECT_FALSE(stream.try_write_into(kSmall, fill));
  bool threw = false;
  try {
    co_await stream.write_into(kSmall, fill);
  } catch (const boost::system::system_error& e) {
    threw = true;
    EXPECT_EQ(e.code(), errc::yamux_stream_reset) << e.what();
  }
  EXPECT_TRUE(threw);
  EXPECT_EQ(fill.calls, 0u);
}

asio::awaitable<void> accept_and_drop(Connection conn) {
  auto stream = co_await conn.accept_stream();
  if (stream) co_await conn.negotiate_inbound(*stream, kSink);
}

TEST(WriteInto, FailsOnAResetStreamWithoutWriting) {
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  test::run_async([](const Ed25519KeyPair& a, const Ed25519KeyPair& b) -> asio::awaitable<void> {
    ConnectionPair p = co_await memory_connection_pair(a, b, b.peer_id());
    auto scenario = [](ConnectionPair& p) -> asio::awaitable<void> {
      co_await (write_after_reset(p.dialer) && accept_and_drop(p.listener));
    };
    co_await run_with(p, scenario(p));
  }(a, b));
}

TEST(EnvelopeFrameRange, AnyRangeMatchesTheWholeEncoding) {
  Bytes payload(300'000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = pattern(i);
  const Bytes suffix = copy_of(as_bytes("/site/12345"));
  const Bytes signature(kOriginSignatureSize, 0x33);
  const Bytes src_peer(38, 0x44);
  const std::vector<Bytes> addresses{Bytes(8, 1), Bytes(20, 2)};
  for (const std::size_t size : {std::size_t{0}, std::size_t{64}, payload.size()}) {
    SingleFillEnvelope env;
    env.dest_suffix = suffix;
    env.payload = ByteView(payload).first(size);
    env.type_hash = 0x1234567890;
    env.correlation_kind = 1;
    env.wire_req_id = 77;
    env.remaining_deadline_ns = 5'000'000'000;
    env.src_peer = src_peer;
    env.src_addresses = addresses;
    env.origin_signature = signature;
    Bytes whole;
    append_envelope_frame(whole, env);
    ASSERT_EQ(whole.size(), envelope_frame_size(env));
    for (const std::size_t piece :
         {std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{65536}, whole.size()}) {
      Bytes pieced(whole.size(), 0);
      for (std::size_t at = 0; at < whole.size(); at += piece) {
        const std::size_t n = std::min(piece, whole.size() - at);
        encode_envelope_frame_range(env, at, std::span(pieced).subspan(at, n));
      }
      EXPECT_EQ(pieced, whole) << "payload " << size << ", pieces of " << piece;
      if (piece == 1 && size > 4096) break;  // a byte at a time is slow for the large one
    }
  }
}

}  // namespace
}  // namespace bb::wire

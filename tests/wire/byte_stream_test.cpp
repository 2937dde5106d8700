// The ByteStream contract (wire/byte_stream.hpp), for the test's in-memory pair
// (tests/support/memory_stream.hpp) and for a TCP socket.
#include "bb/wire/byte_stream.hpp"

#include "bb/async/timeout.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"
#include "tests/support/memory_stream.hpp"

#include <gtest/gtest.h>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;

// Reads until `n` bytes arrived or the stream reports an error; the error (none if n arrived).
asio::awaitable<std::pair<Bytes, error_code>> read_n(ByteStream& s, std::size_t n) {
  Bytes got;
  std::uint8_t buf[64];
  while (got.size() < n) {
    auto chunk = co_await async::capture(s.read_some_or_throw(buf));
    if (chunk.error) co_return std::pair{got, test::code_of(chunk.error)};
    got.insert(got.end(), buf, buf + *chunk.value);
  }
  co_return std::pair{got, error_code{}};
}

asio::awaitable<void> settle() {
  for (int i = 0; i < 50; ++i) co_await test::yield_now();
}

TEST(MemoryStream, DeliversInOrderAndAWriterWaitsForRoom) {
  test::run_async([]() -> asio::awaitable<void> {
    test::MemoryStreamOptions options;
    options.buffer_bytes = 8;
    auto p = test::make_memory_stream_pair(co_await asio::this_coro::executor, options);
    Bytes sent(20);
    for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>(i);
    // Alone, the write fills the peer's buffer and waits.
    auto write = [](ByteStream& s, ByteView data) -> asio::awaitable<void> {
      co_await s.write_or_throw(data);
    };
    auto first = co_await (write(*p.a, sent) || settle());
    EXPECT_EQ(first.index(), 1u) << "the write did not wait for room";
    EXPECT_EQ(p.link->bytes_moved(), 8u);
    // With a reader it completes, in order (the 8 bytes already queued come first).
    auto [got, end] = co_await (write(*p.a, ByteView(sent).subspan(8)) && read_n(*p.b, 20));
    EXPECT_FALSE(end);
    EXPECT_EQ(got, sent);
    EXPECT_EQ(p.link->bytes_moved(), 20u);
  }());
}

TEST(MemoryStream, CloseGivesThePeerTheRestThenEof) {
  test::run_async([]() -> asio::awaitable<void> {
    auto p = test::make_memory_stream_pair(co_await asio::this_coro::executor);
    co_await p.a->write_or_throw(as_bytes("hello"));
    p.a->close();
    EXPECT_FALSE(p.a->is_open());
    auto [got, end] = co_await read_n(*p.b, 6);
    EXPECT_EQ(to_string(got), "hello");
    EXPECT_EQ(end, asio::error::eof);
    auto [ec, n] = co_await p.b->async_write(as_bytes("x"));
    EXPECT_EQ(ec, asio::error::broken_pipe);
    EXPECT_EQ(n, 0u);
    error_code own;
    std::uint8_t byte = 0;
    (void)p.a->read_some(std::span(&byte, 1), own);
    EXPECT_EQ(own, asio::error::bad_descriptor);
  }());
}

TEST(MemoryStream, ResetFailsAPendingReadOnBothEnds) {
  test::run_async([]() -> asio::awaitable<void> {
    auto p = test::make_memory_stream_pair(co_await asio::this_coro::executor);
    auto reset_later = [](test::MemoryLink& link) -> asio::awaitable<void> {
      co_await settle();
      link.reset();
    };
    auto [a_end, b_end] = co_await (read_n(*p.a, 1) && (read_n(*p.b, 1) && reset_later(*p.link)));
    EXPECT_EQ(a_end.second, asio::error::connection_reset);
    EXPECT_EQ(b_end.second, asio::error::connection_reset);
    EXPECT_EQ(p.link->broken(), asio::error::connection_reset);
  }());
}

TEST(MemoryStream, FailAtDeliversUpToTheByteThenFailsBothEnds) {
  test::run_async([]() -> asio::awaitable<void> {
    auto p = test::make_memory_stream_pair(co_await asio::this_coro::executor);
    const error_code injected = test::MemoryStreamErrc::injected_fault;
    p.link->fail_at(7);
    co_await p.b->write_or_throw(as_bytes("abc"));  // bytes 1-3, the other way
    auto [ec, n] = co_await p.a->async_write(as_bytes("0123456789"));
    EXPECT_EQ(ec, injected);
    EXPECT_EQ(n, 4u);  // bytes 4-7
    auto [got, end] = co_await read_n(*p.b, 10);
    EXPECT_EQ(to_string(got), "0123");
    EXPECT_EQ(end, injected);
    auto [back, back_end] = co_await read_n(*p.a, 10);
    EXPECT_EQ(to_string(back), "abc");
    EXPECT_EQ(back_end, injected);
    auto [ec2, n2] = co_await p.b->async_write(as_bytes("x"));
    EXPECT_EQ(ec2, injected);
    EXPECT_EQ(n2, 0u);
    EXPECT_EQ(p.link->bytes_moved(), 7u);
    EXPECT_NE(injected.message().find("injected fault"), std::string::npos);
  }());
  EXPECT_EQ(test::MemoryLink::alive(), 0u);
}

TEST(MemoryStream, FailAtZeroFailsTheFirstWrite) {
  test::run_async([]() -> asio::awaitable<void> {
    auto p = test::make_memory_stream_pair(co_await asio::this_coro::executor);
    p.link->fail_at(0);
    auto [ec, n] = co_await p.a->async_write(as_bytes("x"));
    EXPECT_EQ(ec, test::MemoryStreamErrc::injected_fault);
    EXPECT_EQ(n, 0u);
  }());
}

TEST(TcpStream, CarriesBytesAndEndsWithEof) {
  test::run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto listener = TcpListener::listen(ex, test::loopback());
    const Multiaddr addr = listener.local_addr();  // tcp_connect keeps a reference to it
    auto dial = tcp_connect(addr, test::kEventWait);
    auto accept = listener.accept();
    auto [client, server] = co_await (std::move(dial) && std::move(accept));
    auto a = make_tcp_stream(std::move(client));
    auto b = make_tcp_stream(std::move(server));
    EXPECT_EQ(a->remote_addr(), b->local_addr());
    co_await a->write_or_throw(as_bytes("over tcp"));
    a->close();
    auto [got, end] = co_await async::with_timeout(
        read_n(*b, 100), test::kEventWait, make_error_code(asio::error::timed_out), "reading");
    EXPECT_EQ(to_string(got), "over tcp");
    EXPECT_EQ(end, asio::error::eof);
  }());
}

}  // namespace
}  // namespace bb::wire

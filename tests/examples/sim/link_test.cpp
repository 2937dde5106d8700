// bb-sim's links and network on a ManualClock: latency and bandwidth as the model says, order
// kept through losses, the window, partitions holding bytes until the heal, a killed host's
// links reset, dials refused or timed out.
#include "examples/sim/link.hpp"
#include "examples/sim/network.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>
#include <vector>

namespace bb::sim {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr std::uint64_t kMs = 1'000'000;

class SimLinkTest : public ::testing::Test {
 protected:
  SimLinkTest()
      : net(io.get_executor(), clock, 42, [this](std::uint32_t, std::uint32_t) { return params; }) {
  }

  // Runs ready handlers, then moves virtual time to each next deadline up to `t`.
  void run_until(std::uint64_t t) {
    for (;;) {
      while (io.poll() > 0) {
      }
      io.restart();
      const auto next = clock.next_deadline();
      if (!next || *next > t) {
        clock.advance_to(t);
        while (io.poll() > 0) {
        }
        io.restart();
        return;
      }
      clock.advance_to(*next);
    }
  }

  // A connection from host 0 to host 1 (listening on port 4001): {dialer's end, listener's end}.
  std::pair<std::unique_ptr<wire::ByteStream>, std::unique_ptr<wire::ByteStream>> connect() {
    std::unique_ptr<wire::ByteStream> dialled;
    if (!listening) {
      listening = true;
      net.transport(host_ip(1))
          .listen(endpoint_addr({host_ip(1), 4001}),
                  [this](std::unique_ptr<wire::ByteStream> s) { accepted = std::move(s); });
    }
    asio::co_spawn(io, net.transport(host_ip(0)).dial(endpoint_addr({host_ip(1), 4001})),
                   [&](std::exception_ptr e, std::unique_ptr<wire::ByteStream> s) {
                     if (!e) dialled = std::move(s);
                   });
    run_until(clock.now_ns() + 10 * params.latency_ns);
    return {std::move(dialled), std::move(accepted)};
  }

  // Reads what is there now.
  static std::vector<std::uint8_t> read_now(wire::ByteStream& s, error_code& ec) {
    std::vector<std::uint8_t> out(1 << 20);
    const std::size_t n = s.read_some(out, ec);
    out.resize(n);
    return out;
  }

  asio::io_context io;
  async::ManualClock clock;
  bool listening = false;
  std::unique_ptr<wire::ByteStream> accepted;
  LinkParams params;
  Network net;
};

TEST_F(SimLinkTest, BytesArriveAfterTheSerialisationAndTheLatency) {
  params.latency_ns = 10 * kMs;
  params.bandwidth_bps = 8'000'000;  // one byte per microsecond
  auto [a, b] = connect();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->remote_addr().to_string(), "/ip4/10.0.0.2/tcp/4001");
  EXPECT_EQ(b->remote_addr().to_string().rfind("/ip4/10.0.0.1/tcp/", 0), 0u);
  const std::uint64_t t0 = clock.now_ns();
  std::vector<std::uint8_t> data(1000, 7);
  error_code ec;
  ASSERT_EQ(a->try_write(data, ec), 1000u);
  run_until(t0 + 11 * kMs - 1);
  EXPECT_TRUE(read_now(*b, ec).empty());
  EXPECT_EQ(ec, asio::error::would_block);
  run_until(t0 + 11 * kMs);
  EXPECT_EQ(read_now(*b, ec), data);
  // The link is busy until the first chunk is on the wire: a second one queues behind it.
  const std::uint64_t t1 = clock.now_ns();
  ASSERT_EQ(a->try_write(data, ec), 1000u);
  ASSERT_EQ(a->try_write(data, ec), 1000u);
  run_until(t1 + 12 * kMs - 1);
  EXPECT_EQ(read_now(*b, ec).size(), 1000u);
  run_until(t1 + 12 * kMs);
  EXPECT_EQ(read_now(*b, ec).size(), 1000u);
  EXPECT_EQ(net.traffic(host_ip(0)).bytes_out, 3000u);
  EXPECT_EQ(net.traffic(host_ip(1)).bytes_in, 3000u);
}

TEST_F(SimLinkTest, LossesDelayButNeverReorder) {
  params.latency_ns = 5 * kMs;
  params.loss = 0.3;
  params.loss_delay_ns = 200 * kMs;
  auto [a, b] = connect();
  ASSERT_TRUE(a && b);
  std::vector<std::uint8_t> sent, got;
  error_code ec;
  for (int i = 0; i < 200; ++i) {
    const std::vector<std::uint8_t> chunk(100, static_cast<std::uint8_t>(i));
    ASSERT_EQ(a->try_write(chunk, ec), 100u);
    sent.insert(sent.end(), chunk.begin(), chunk.end());
    run_until(clock.now_ns() + kMs);
    auto part = read_now(*b, ec);
    got.insert(got.end(), part.begin(), part.end());
  }
  // Some chunks were lost: less than everything had arrived by the time the last was sent.
  EXPECT_LT(got.size(), sent.size());
  run_until(clock.now_ns() + 400 * kMs);
  auto rest = read_now(*b, ec);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, sent);
}

TEST_F(SimLinkTest, AWriterWaitsForTheWindow) {
  params.latency_ns = kMs;
  params.window_bytes = 4096;
  auto [a, b] = connect();
  ASSERT_TRUE(a && b);
  std::vector<std::uint8_t> data(16384, 1);
  std::optional<std::pair<error_code, std::size_t>> written;
  asio::co_spawn(io, a->async_write(data),
                 [&](std::exception_ptr, std::pair<error_code, std::size_t> r) { written = r; });
  run_until(clock.now_ns() + 100 * kMs);
  EXPECT_FALSE(written);  // 4 KiB in flight or unread; the rest waits
  std::size_t read = 0;
  error_code ec;
  while (!written && read < data.size()) {
    read += read_now(*b, ec).size();
    run_until(clock.now_ns() + 10 * kMs);
  }
  ASSERT_TRUE(written);
  EXPECT_FALSE(written->first);
  EXPECT_EQ(written->second, data.size());
}

TEST_F(SimLinkTest, APartitionHoldsTheBytesUntilTheHeal) {
  params.latency_ns = 10 * kMs;
  auto [a, b] = connect();
  ASSERT_TRUE(a && b);
  net.partition({{host_ip(0), 1}, {host_ip(1), 0}});
  error_code ec;
  std::vector<std::uint8_t> data(100, 3);
  ASSERT_EQ(a->try_write(data, ec), 100u);
  run_until(clock.now_ns() + 5'000 * kMs);
  EXPECT_TRUE(read_now(*b, ec).empty());
  const std::uint64_t healed = clock.now_ns();
  net.heal();
  run_until(healed + 10 * kMs - 1);
  EXPECT_TRUE(read_now(*b, ec).empty());
  run_until(healed + 10 * kMs);
  EXPECT_EQ(read_now(*b, ec), data);
}

TEST_F(SimLinkTest, AClosedEndIsReadAsTheEndOfTheStreamAndACutHostResetsItsLinks) {
  params.latency_ns = kMs;
  auto [a, b] = connect();
  ASSERT_TRUE(a && b);
  error_code ec;
  std::vector<std::uint8_t> data(10, 9);
  ASSERT_EQ(a->try_write(data, ec), 10u);
  a->close();
  run_until(clock.now_ns() + 2 * kMs);
  EXPECT_EQ(read_now(*b, ec), data);
  read_now(*b, ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(b->try_write(data, ec), 0u);
  EXPECT_EQ(ec, asio::error::broken_pipe);

  auto [c, d] = connect();
  ASSERT_TRUE(c && d);
  net.cut(host_ip(1));
  read_now(*c, ec);
  EXPECT_EQ(ec, asio::error::connection_reset);
  EXPECT_EQ(d->try_write(data, ec), 0u);
  EXPECT_EQ(ec, asio::error::connection_reset);
}

TEST_F(SimLinkTest, DialsAreRefusedWithoutAListenerAndTimeOutAcrossAPartition) {
  params.latency_ns = 10 * kMs;
  net.connect_timeout_ns = 3'000 * kMs;
  std::optional<error_code> failure;
  auto dial = [&] {
    failure.reset();
    asio::co_spawn(io, net.transport(host_ip(0)).dial(endpoint_addr({host_ip(1), 4001})),
                   [&](std::exception_ptr e, std::unique_ptr<wire::ByteStream>) {
                     try {
                       if (e) std::rethrow_exception(e);
                       failure = error_code{};
                     } catch (const boost::system::system_error& x) {
                       failure = x.code();
                     }
                   });
  };
  const std::uint64_t t0 = clock.now_ns();
  dial();
  run_until(t0 + 20 * kMs);
  ASSERT_TRUE(failure);
  EXPECT_EQ(*failure, asio::error::connection_refused);

  net.partition({{host_ip(0), 1}});
  const std::uint64_t t1 = clock.now_ns();
  dial();
  run_until(t1 + 3'000 * kMs - 1);
  EXPECT_FALSE(failure);
  run_until(t1 + 3'000 * kMs);
  ASSERT_TRUE(failure);
  EXPECT_EQ(*failure, asio::error::timed_out);
}

}  // namespace
}  // namespace bb::sim

// /ipfs/ping/1.0.0 over a kept stream (wire::ping::Pinger), between two Hosts on the in-memory
// stream pair: after the first ping no stream is opened again, and a stream the peer ended
// between pings costs no failed ping.
#include "bb/wire/protocols/ping.hpp"

#include "bb/wire/host.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/host_pair.hpp"
#include "tests/wire/host_fixture.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using host_test::kTestLimit;
using host_test::run_then_stop;

struct Costs {
  std::vector<std::uint64_t> bytes_per_ping;
  int pings_ok = 0;
};

asio::awaitable<void> ping_three_times(Host& server, Host& client, Costs& costs) {
  std::shared_ptr<test::MemoryLink> link;
  Connection conn = co_await test::connect_in_memory(client, server, {}, &link);
  ping::Pinger pinger(conn);
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t before = link->bytes_moved();
    const auto rtt = co_await pinger.ping(std::chrono::milliseconds(3000));
    if (rtt.count() > 0) ++costs.pings_ok;
    costs.bytes_per_ping.push_back(link->bytes_moved() - before);
  }
  co_await pinger.close(std::chrono::milliseconds(1000));
}

using Scenario = asio::awaitable<void> (*)(Host& server, Host& client, Costs& costs);

asio::awaitable<void> two_hosts(Scenario scenario, Costs& costs) {
  auto ex = co_await asio::this_coro::executor;
  Host server(ex, Ed25519KeyPair::generate());
  Host client(ex, Ed25519KeyPair::generate());
  co_await run_then_stop(scenario(server, client, costs), server, client);
}

TEST(Pinger, KeepsOneStreamSoALaterPingIsOnlyItsRoundTrip) {
  Costs costs;
  test::run_async(two_hosts(ping_three_times, costs), kTestLimit);
  EXPECT_EQ(costs.pings_ok, 3);
  ASSERT_EQ(costs.bytes_per_ping.size(), 3u);
  // The first opens the stream and negotiates /ipfs/ping/1.0.0; the others move the same
  // smaller amount: 32 bytes each way in Yamux frames, sealed.
  EXPECT_LT(costs.bytes_per_ping[1], costs.bytes_per_ping[0]);
  EXPECT_EQ(costs.bytes_per_ping[1], costs.bytes_per_ping[2]);
}

// A server that answers one ping per stream and resets the stream when a second one comes (as
// a peer that bounds a ping stream's life does).
asio::awaitable<void> one_ping_then_reset(Connection, Stream stream) {
  std::array<std::uint8_t, ping::kPayloadBytes> buf{};
  co_await stream.read_exact(buf);
  co_await stream.write(buf);
  co_await stream.read_exact(buf);
  stream.reset();
}

asio::awaitable<void> ping_a_forgetful_server(Host& server, Host& client, Costs& costs) {
  server.set_handler(std::string(ping::kProtocolId), one_ping_then_reset);
  Connection conn = co_await test::connect_in_memory(client, server);
  ping::Pinger pinger(conn);
  for (int i = 0; i < 3; ++i) {
    const auto rtt = co_await pinger.ping(std::chrono::milliseconds(3000));
    if (rtt.count() > 0) ++costs.pings_ok;
  }
}

TEST(Pinger, AStreamThePeerEndedBetweenPingsIsNoFailedPing) {
  Costs costs;
  test::run_async(two_hosts(ping_a_forgetful_server, costs), kTestLimit);
  EXPECT_EQ(costs.pings_ok, 3);
}

}  // namespace
}  // namespace bb::wire

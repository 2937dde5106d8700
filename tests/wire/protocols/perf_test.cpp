// /perf/1.0.0 served by a Host: transfers of every shape, the request limit, serve_perf = false,
// and what perf streams that send only their header cost the server. The Hosts talk over the
// in-memory stream pair (tests/support/host_pair.hpp): none of this is about sockets.
#include "bb/wire/protocols/perf.hpp"

#include "bb/wire/host.hpp"
#include "tests/wire/host_fixture.hpp"

#include <gtest/gtest.h>
#include <malloc.h>

#include <array>
#include <cstdint>
#include <vector>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using host_test::code_of;
using host_test::EventLog;
using host_test::kTestLimit;
using host_test::pings;
using host_test::run_then_stop;

constexpr std::size_t kMiB = std::size_t{1} << 20;

using Scenario = asio::awaitable<void> (*)(Host& server, Host& client);

// The client is a tool: its own resource limits are lifted, whatever the server's are.
asio::awaitable<void> server_and_client(Scenario scenario, HostOptions server_options) {
  auto ex = co_await asio::this_coro::executor;
  Host server(ex, Ed25519KeyPair::generate(), std::move(server_options));
  HostOptions client_options;
  client_options.resources = ResourceLimits::unlimited();
  Host client(ex, Ed25519KeyPair::generate(), std::move(client_options));
  co_await run_then_stop(scenario(server, client), server, client);
}

asio::awaitable<void> server_and_client(Scenario scenario) {
  co_await server_and_client(scenario, HostOptions());
}

std::array<std::uint8_t, 8> request_header(std::uint64_t download_bytes) {
  std::array<std::uint8_t, 8> header{};
  for (std::size_t i = 0; i < header.size(); ++i) {
    header[i] = static_cast<std::uint8_t>(download_bytes >> (56 - 8 * i));
  }
  return header;
}

asio::awaitable<Stream> open_perf(Connection& conn) {
  std::vector<std::string> protocols{std::string(perf::kProtocolId)};
  co_return co_await conn.open_stream(std::move(protocols));
}

// ---- transfers --------------------------------------------------------------------------------

asio::awaitable<void> transfers_of_every_shape(Host& server, Host& client) {
  Connection conn = co_await test::connect_in_memory(client, server);
  struct Case {
    std::uint64_t up;
    std::uint64_t down;
  };
  // Sizes that are not multiples of the server's buffers, both directions, either one, neither.
  const std::vector<Case> cases{{0, 0},
                                {1, 1},
                                {0, 3 * perf::kServeChunkBytes + 17},
                                {5 * perf::kDrainBytes + 3, 0},
                                {std::uint64_t{3} << 20, (std::uint64_t{5} << 20) + 1}};
  for (const auto& c : cases) {
    const perf::Result r = co_await perf::run(conn, c.up, c.down);
    EXPECT_EQ(r.uploaded, c.up);
    EXPECT_EQ(r.downloaded, c.down);
  }
  const auto after = co_await pings(client, server.peer_id());
  EXPECT_TRUE(after);
}

TEST(Perf, TransfersOfEveryShapeMoveExactlyTheAgreedBytes) {
  test::run_async(server_and_client(&transfers_of_every_shape), kTestLimit);
}

// ---- refusals ---------------------------------------------------------------------------------

asio::awaitable<void> too_large_is_refused(Host& server, Host& client) {
  EventLog events(server);
  Connection conn = co_await test::connect_in_memory(client, server);
  Stream stream = co_await open_perf(conn);
  co_await stream.write(request_header(perf::kMaxDownloadBytes + 1));
  std::array<std::uint8_t, 16> buf{};
  auto read = co_await async::capture(stream.read_some(buf));
  EXPECT_TRUE(read.error) << "the server answered a request over its limit";
  if (auto failed = co_await events.wait<StreamFailed>()) {
    EXPECT_EQ(failed->protocol, perf::kProtocolId);
    EXPECT_EQ(failed->error, errc::perf_request_too_large) << failed->error.message();
  }
  const auto after = co_await pings(client, server.peer_id());
  EXPECT_TRUE(after) << "the connection did not survive the refusal";
}

TEST(Perf, ARequestOverTheLimitResetsTheStream) {
  test::run_async(server_and_client(&too_large_is_refused), kTestLimit);
}

asio::awaitable<void> not_offered(Host& server, Host& client) {
  Connection conn = co_await test::connect_in_memory(client, server);
  auto opened = co_await async::capture(open_perf(conn));
  EXPECT_TRUE(opened.error);
  if (opened.error) {
    EXPECT_EQ(code_of(opened.error), errc::mss_protocol_not_supported)
        << code_of(opened.error).message();
  }
  for (const auto& protocol : server.protocols()) EXPECT_NE(protocol, perf::kProtocolId);
}

TEST(Perf, AHostWithoutServePerfDoesNotOfferIt) {
  HostOptions options;
  options.serve_perf = false;
  test::run_async(server_and_client(&not_offered, options), kTestLimit);
}

// ---- what idle perf streams cost --------------------------------------------------------------

std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Streams that ask for a big download and never finish their upload: the server waits in the
// upload's drain for each. It must hold a small scratch buffer per stream then, not a buffer
// the size of its download writes (the 1 MiB zero-filled buffer per stream that let 8
// connections of 250 such streams pin 1.8 GiB). The resource manager's limits are lifted: this
// is about what perf itself allocates.
constexpr std::size_t kIdleStreams = 30;  // under perf's default limit of 32 inbound streams

asio::awaitable<void> header_only_streams(Host& server, Host& client) {
  Connection conn = co_await test::connect_in_memory(client, server);
  const auto settled = co_await pings(client, server.peer_id());  // identify done, buffers warm
  EXPECT_TRUE(settled);
  const std::size_t before = heap_in_use();
  std::vector<Stream> streams;
  streams.reserve(kIdleStreams);
  for (std::size_t i = 0; i < kIdleStreams; ++i) {
    streams.push_back(co_await open_perf(conn));
    co_await streams.back().write(request_header(std::uint64_t{1} << 30));
  }
  // The headers went out before this ping's stream: by its answer, every perf stream has read
  // its header and waits for the upload.
  const auto answered = co_await pings(client, server.peer_id());
  EXPECT_TRUE(answered);
  const std::size_t during = heap_in_use();
  const std::size_t growth = during > before ? during - before : 0;
  testing::Test::RecordProperty("heap_bytes_per_idle_stream",
                                std::to_string(growth / kIdleStreams));
  // Both ends live in this process; each stream's share on both sides, scratch included, is
  // far below 128 KiB.
  EXPECT_LT(growth, kIdleStreams * 128 * 1024)
      << "idle perf streams hold " << growth / kMiB << " MiB (" << growth / kIdleStreams
      << " bytes per stream, both sides)";

  // The server still serves: one of them finishes its upload and gets its download.
  Stream& last = streams.back();
  std::vector<std::uint8_t> upload(3 * perf::kDrainBytes + 5, 0xab);
  co_await last.write(upload);
  last.reset();  // never mind the download: the others stay as they are
  const perf::Result r = co_await perf::run(conn, 1 << 20, 2 << 20);
  EXPECT_EQ(r.downloaded, std::uint64_t{2} << 20);
  EXPECT_EQ(server.connection_count(), 1u);
}

TEST(Perf, StreamsThatSendOnlyTheHeaderHoldLittleMemory) {
  HostOptions options;
  options.resources = ResourceLimits::unlimited();
  test::run_async(server_and_client(&header_only_streams, options), kTestLimit);
}

// The scratch buffer is reserved in the stream's resource scope: with room in the perf
// protocol's scope for three, a fourth header-only stream is reset with the refusal, and the
// three go on.
constexpr std::size_t kRoomForDrains = 3;

asio::awaitable<void> drains_are_reserved(Host& server, Host& client) {
  EventLog events(server);
  Connection conn = co_await test::connect_in_memory(client, server);
  std::vector<Stream> streams;
  for (std::size_t i = 0; i <= kRoomForDrains; ++i) {
    streams.push_back(co_await open_perf(conn));
    co_await streams.back().write(request_header(1000));
    if (i < kRoomForDrains) {
      const auto answered = co_await pings(client, server.peer_id());  // one at a time
      EXPECT_TRUE(answered);
    }
  }
  if (auto refused = co_await events.wait<StreamFailed>()) {
    EXPECT_EQ(refused->protocol, perf::kProtocolId);
    EXPECT_EQ(refused->error, errc::resource_memory_limit) << refused->detail;
  }
  std::array<std::uint8_t, 16> buf{};
  auto read = co_await async::capture(streams.back().read_some(buf));
  EXPECT_TRUE(read.error) << "the refused stream was not reset";

  // The first three keep their reservations and finish normally.
  for (std::size_t i = 0; i < kRoomForDrains; ++i) {
    streams[i].close_write();
    std::uint64_t got = 0;
    while (true) {
      const std::size_t n = co_await streams[i].read_some(buf);
      if (n == 0) break;
      got += n;
    }
    EXPECT_EQ(got, 1000u);
  }
  // Their reservations were released: another stream fits again.
  const perf::Result r = co_await perf::run(conn, 100, 100);
  EXPECT_EQ(r.downloaded, 100u);
}

TEST(Perf, TheUploadBufferIsReservedAndARefusalResetsTheStream) {
  HostOptions options;
  options.resources.protocols[std::string(perf::kProtocolId)].memory =
      kRoomForDrains * perf::kDrainBytes + 4096;  // and a little for the bytes in flight
  test::run_async(server_and_client(&drains_are_reserved, options), kTestLimit);
}

}  // namespace
}  // namespace bb::wire

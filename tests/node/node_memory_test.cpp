// A Node's inboxes hold memory on behalf of the peers that filled them, reserved in the Host's
// resource manager: a peer that fills a channel nobody reads is stopped at its share (its stream
// waits until the channel is read), a legitimate peer still gets through meanwhile, and a message
// over its sender's limit, with nothing of that sender waiting, is refused with
// `resource_limit`.
// The address book keeps a bounded number of learned peers.
#include "bb/node/node.hpp"

#include "bb/wire/host.hpp"
#include "bb/wire/resource_manager.hpp"
#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/steady_timer.hpp>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

namespace asio = boost::asio;
using namespace node_test;
using wire::PeerId;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kHoardPayload = 128 * 1024;
constexpr std::uint64_t kHoardTag = 7;
constexpr std::uint64_t kHoardCount = 48;  // 6 MiB: more than the receiver lets one peer hold

// The receiver: a peer may hold `peer_memory` (its stream buffers included), the node
// `system_memory`; 256 KiB stream windows, so the Yamux buffers stay small beside them.
NodeConfig receiver_config(std::size_t peer_memory, std::size_t system_memory) {
  NodeConfig config = loopback_config();
  config.host.connection.stream_window = 256 * 1024;
  auto& limits = config.host.resources;
  limits.system.memory = system_memory;
  limits.peer.memory = peer_memory;
  limits.connection.memory = peer_memory;
  limits.stream.memory = peer_memory;
  config.inbox_bytes_per_peer = peer_memory / 2;
  return config;
}

// The next message on `channel`, or nullopt after kEventWait.
asio::awaitable<std::optional<Received>> receive_within(Node& node, std::string_view channel) {
  co_return co_await async::with_timeout(node.receive(channel), kEventWait,
                                         make_error_code(asio::error::timed_out), "receive");
}

// Waits (bounded by kEventWait) until `done()` holds; true if it did. Polls: the counters it
// reads have no event of their own.
template <typename Done>
asio::awaitable<bool> eventually(Done done) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  const auto give_up = std::chrono::steady_clock::now() + kEventWait;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) co_return false;
    poll.expires_after(std::chrono::milliseconds(2));
    co_await poll.async_wait(asio::use_awaitable);
  }
  co_return true;
}

asio::awaitable<void> hoarder_is_held_at_its_limit(Cluster& cluster) {
  constexpr std::size_t kPeerMemory = 4 * kMiB;
  Node& receiver = *co_await cluster.start(receiver_config(kPeerMemory, 64 * kMiB));
  Node& hoarder = *co_await cluster.start();
  Node& legit = *co_await cluster.start();
  const PeerId& r_id = receiver.peer_id();
  (void)co_await hoarder.connect(dial_addr(receiver));
  (void)co_await legit.connect(dial_addr(receiver));
  receiver.subscribe("hoard");
  receiver.subscribe("chat");

  // The hoarder sends 6 MiB to a channel the receiver does not read (yet).
  for (std::uint64_t seq = 1; seq <= kHoardCount; ++seq) {
    const Verdict v = co_await hoarder.send(r_id, "hoard", numbered(kHoardTag, seq, kHoardPayload));
    EXPECT_FALSE(v) << reason_of(v);
  }
  // The receiver takes what fits in the hoarder's memory, then its stream waits.
  const auto stalled = [&receiver] { return receiver.metrics().inbox_memory_waits > 0; };
  const bool waited = co_await eventually(stalled);
  EXPECT_TRUE(waited) << describe(receiver.metrics());
  const auto held = receiver.metrics().messages_in;
  EXPECT_GT(held, 0u);
  EXPECT_LE(held * kHoardPayload, kPeerMemory / 2) << held << " messages of the hoarder queued";
  const auto stat = receiver.host().resources().peer_stat(hoarder.peer_id());
  EXPECT_TRUE(stat.has_value());
  if (stat) {
    EXPECT_LE(stat->memory, kPeerMemory);
    EXPECT_GE(stat->memory, held * kHoardPayload) << "queued messages are not charged";
  }

  // Meanwhile a legitimate peer gets through.
  SendOptions confirmed;
  confirmed.await_receipt = true;
  const Verdict hello = co_await legit.send(r_id, "chat", wire::as_bytes("hello"), confirmed);
  EXPECT_FALSE(hello) << reason_of(hello);
  auto got = co_await receive_within(receiver, "chat");
  EXPECT_TRUE(got.has_value());
  if (got) {
    EXPECT_EQ(wire::to_string(got->payload), "hello");
    EXPECT_EQ(got->from, legit.peer_id());
  }

  // Reading the channel makes room: every hoarded message arrives, in order, none refused.
  for (std::uint64_t seq = 1; seq <= kHoardCount; ++seq) {
    auto m = co_await receive_within(receiver, "hoard");
    const auto n = m ? read_numbered(m->payload) : std::nullopt;
    if (!n || n->seq != seq) {
      ADD_FAILURE() << "message " << seq << " did not come next";
      co_return;
    }
  }
  EXPECT_EQ(receiver.metrics().dropped("rx:resource_limit"), 0u) << describe(receiver.metrics());
  const auto given_back = [&receiver, &hoarder] {
    const auto s = receiver.host().resources().peer_stat(hoarder.peer_id());
    // What stays: the connection's and the stream's own buffers (a frame buffer, the last
    // decoded envelope), a few of the hoarded messages' size.
    return s && s->memory <= 4 * kHoardPayload;
  };
  const bool released = co_await eventually(given_back);
  const auto after = receiver.host().resources().peer_stat(hoarder.peer_id());
  EXPECT_TRUE(released) << "the hoarder's queued messages were not given back: "
                        << (after ? after->memory : 0) << " bytes held";
}

TEST(NodeMemory, APeerFillingAnUnreadChannelIsHeldAtItsLimitAndOthersGetThrough) {
  run_scenario(&hoarder_is_held_at_its_limit, std::chrono::seconds(30));
}

asio::awaitable<void> oversized_message_is_refused(Cluster& cluster) {
  // A 1 MiB message is held three times on its way in: its frame, the decoded envelope and the
  // inbox's copy. The sender may hold 2.5 MiB: the first two fit, the third does not, and the
  // sender has nothing waiting whose reading would make room.
  constexpr std::size_t kBig = kMiB;
  Node& receiver = *co_await cluster.start(receiver_config(2 * kMiB + kMiB / 2, 64 * kMiB));
  Node& sender = *co_await cluster.start();
  const PeerId& r_id = receiver.peer_id();
  (void)co_await sender.connect(dial_addr(receiver));
  receiver.subscribe("big");

  SendOptions confirmed;
  confirmed.await_receipt = true;
  const Verdict refused = co_await sender.send(r_id, "big", numbered(1, 1, kBig), confirmed);
  EXPECT_EQ(reason_of(refused), reason::resource_limit) << (refused ? refused->detail : "");
  EXPECT_EQ(receiver.metrics().dropped("rx:resource_limit"), 1u) << describe(receiver.metrics());

  // Only that message was refused: the connection and the stream go on.
  const Verdict small = co_await sender.send(r_id, "big", numbered(1, 2, 1024), confirmed);
  EXPECT_FALSE(small) << reason_of(small);
  const auto got = co_await receive_within(receiver, "big");
  const auto n = got ? read_numbered(got->payload) : std::nullopt;
  EXPECT_TRUE(n && n->seq == 2);
  EXPECT_EQ(receiver.metrics().connections_closed, 0u);
}

TEST(NodeMemory, AMessageOverItsSendersMemoryLimitIsRefusedWithResourceLimit) {
  run_scenario(&oversized_message_is_refused, std::chrono::seconds(30));
}

}  // namespace
}  // namespace bb::node

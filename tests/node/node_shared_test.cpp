// A Received with a payload of 4 KiB or more shares the envelope it arrived in instead of copying
// out of it; a smaller one has one buffer of its own; copies of the Received keep either alive.
#include "tests/node/node_fixture.hpp"

#include "bb/proto/bb_core.pb.h"

#include <gtest/gtest.h>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: Verdict, as the other Node suites
namespace {

namespace asio = boost::asio;
using namespace node_test;

asio::awaitable<void> received_shares_envelope(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  Node& b = *co_await cluster.start();
  const wire::PeerId b_id = co_await a.connect(dial_addr(b));
  const wire::Bytes small = numbered(1, 1, 64);
  const wire::Bytes large = numbered(1, 2, 300'000);
  for (const wire::Bytes* payload : {&small, &large}) {
    SendOptions options;
    options.await_receipt = true;
    const Verdict v = co_await a.send(b_id, "shared", *payload, options);
    EXPECT_FALSE(v) << reason_of(v);
  }
  std::optional<Received> copy;
  for (const wire::Bytes* payload : {&small, &large}) {
    std::optional<Received> m = co_await b.receive("shared");
    EXPECT_TRUE(m);
    if (!m) co_return;
    EXPECT_EQ(wire::copy_of(m->payload), *payload);
    if (payload == &large) {
      // The payload and the suffix are views into the decoded envelope, not copies of it.
      auto shared = std::static_pointer_cast<const core::WireEnvelope>(m->storage);
      EXPECT_EQ(shared->fills_size(), 1);
      if (shared->fills_size() != 1) co_return;
      const auto& fill = shared->fills(0);
      EXPECT_EQ(static_cast<const void*>(m->payload.data()),
                static_cast<const void*>(fill.payload().data()));
      EXPECT_EQ(static_cast<const void*>(m->suffix.data()),
                static_cast<const void*>(fill.dest_suffix().data()));
    } else {
      // A small payload is copied with its suffix into one buffer of the Received's own.
      const auto* own = static_cast<const std::uint8_t*>(m->storage.get());
      EXPECT_EQ(m->suffix.data(), own);
      EXPECT_EQ(m->payload.data(), own + m->suffix.size());
    }
    // A copy shares the same bytes and keeps them alive once the original is gone.
    copy = *m;
    EXPECT_EQ(copy->payload.data(), m->payload.data());
    EXPECT_EQ(copy->storage, m->storage);
    m.reset();
    // (The stream's reader may still hold the envelope it parsed last, until the next frame.)
    EXPECT_LE(copy->storage.use_count(), 2);
    EXPECT_EQ(wire::copy_of(copy->payload), *payload);  // ASan: still valid memory
  }
  // compose() gives a Received bytes of its own.
  const Received own = b.compose("shared", small);
  EXPECT_TRUE(own.storage);
  EXPECT_EQ(wire::copy_of(own.payload), small);
  co_await a.stop();
  co_await b.stop();
  EXPECT_EQ(wire::copy_of(copy->payload), large);  // outlives both nodes
}

TEST(NodeSharing, AReceivedSharesTheDecodedEnvelopeAndACopyKeepsItAlive) {
  run_scenario(&received_shares_envelope);
}

// Many small messages queued at once: each still reads its own bytes (the receiver parses the
// next frame into the same envelope once no Received holds it).
asio::awaitable<void> queued_small_messages_keep_their_bytes(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  Node& b = *co_await cluster.start();
  const wire::PeerId b_id = co_await a.connect(dial_addr(b));
  constexpr std::size_t kCount = 1500;  // more than the receiver keeps for reuse
  for (std::size_t i = 0; i < kCount; ++i) {
    SendOptions options;
    options.await_receipt = i + 1 == kCount;  // all queued at the receiver before we read
    const Verdict v = co_await a.send(b_id, "many", numbered(2, i, 16 + i % 200), options);
    EXPECT_FALSE(v) << reason_of(v);
  }
  std::vector<Received> held;
  for (std::size_t i = 0; i < kCount; ++i) {
    auto m = co_await b.receive("many");
    EXPECT_TRUE(m);
    if (!m) break;
    held.push_back(std::move(*m));
  }
  for (std::size_t i = 0; i < held.size(); ++i) {
    const auto n = read_numbered(held[i].payload);
    EXPECT_TRUE(n && n->seq == i && held[i].payload.size() == 16 + i % 200) << i;
  }
  co_await a.stop();
  co_await b.stop();
}

TEST(NodeSharing, QueuedSmallMessagesEachKeepTheirOwnBytes) {
  run_scenario(&queued_small_messages_keep_their_bytes);
}

}  // namespace
}  // namespace bb::node

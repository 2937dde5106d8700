// /bb/wire/1.1.0 batches: the fill records are protobuf's encoding of the fill, a batch decodes
// as one envelope whose fills carry their own correlations, a Sender over 1.1.0 gathers queued
// messages into batches and its receipts count messages (refusals inside a batch come back for
// exactly the refused ones), and a peer that speaks only 1.0.0 still gets every message, one
// envelope each.
#include "bb/async/event.hpp"
#include "bb/proto/bb_core.pb.h"
#include "bb/wire/envelope.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/protocols/bb_wire.hpp"
#include "bb/wire/varint.hpp"
#include "tests/support/host_pair.hpp"
#include "tests/wire/host_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <memory>
#include <string>
#include <vector>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using host_test::kTestLimit;

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

SingleFillEnvelope message(const Bytes& suffix, const Bytes& payload, std::uint64_t id) {
  SingleFillEnvelope env;
  env.dest_suffix = suffix;
  env.payload = payload;
  env.type_hash = 0xabcd;
  env.correlation_kind = core::CORRELATION_KIND_REQUEST;
  env.wire_req_id = id;
  env.remaining_deadline_ns = 250'000'000 + id;
  return env;
}

TEST(BbWireBatch, AFillRecordIsProtobufsEncodingOfTheFill) {
  const Bytes suffix = bytes_of("/site/7");
  const Bytes payload = bytes_of("payload");
  const Bytes signature(kOriginSignatureSize, 0x11);
  SingleFillEnvelope env = message(suffix, payload, 42);
  env.origin_signature = signature;

  core::SlotFill fill;
  fill.set_dest_suffix("/site/7");
  fill.set_payload("payload");
  fill.set_type_hash(0xabcd);
  fill.set_origin_signature(std::string(kOriginSignatureSize, '\x11'));
  fill.set_wire_req_id(42);
  fill.set_correlation_kind(core::CORRELATION_KIND_REQUEST);
  fill.set_remaining_deadline_ns(250'000'042);
  const std::string body = fill.SerializeAsString();
  Bytes expected{0x12};  // field 2, length-delimited
  append_varint(expected, body.size());
  expected.insert(expected.end(), body.begin(), body.end());

  Bytes record;
  append_batch_fill_record(record, env);
  EXPECT_EQ(record, expected);
  EXPECT_EQ(batch_fill_record_size(env), record.size());
}

TEST(BbWireBatch, ABatchDecodesAsOneEnvelopeOfMessages) {
  const Bytes suffix = bytes_of("/site/7");
  const Bytes address = bytes_of("\x04\x7f\x00\x00\x01\x06\x0f\xa1");
  Bytes records;
  std::vector<Bytes> payloads;
  for (std::uint64_t id = 1; id <= 3; ++id) payloads.push_back(Bytes(10 * id, 0x5a));
  for (std::uint64_t id = 1; id <= 3; ++id) {
    append_batch_fill_record(records, message(suffix, payloads[id - 1], id));
  }
  const std::vector<Bytes> addresses{address};
  Bytes tail;
  append_batch_tail(tail, addresses);
  Bytes body = records;
  body.insert(body.end(), tail.begin(), tail.end());

  core::WireEnvelope env;
  ASSERT_FALSE(decode_envelope(body, EnvelopeCaps::edge(), env));
  ASSERT_EQ(env.fills_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto& fill = env.fills(i);
    EXPECT_TRUE(fill.has_wire_req_id());
    EXPECT_EQ(fill.wire_req_id(), static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(fill.correlation_kind(), core::CORRELATION_KIND_REQUEST);
    EXPECT_EQ(fill.remaining_deadline_ns(), 250'000'001u + static_cast<std::uint64_t>(i));
    EXPECT_EQ(fill.payload().size(), 10u * static_cast<std::size_t>(i + 1));
    EXPECT_EQ(fill.dest_suffix(), "/site/7");
  }
  EXPECT_FALSE(env.has_correlation());
  EXPECT_EQ(env.schema_version(), kEnvelopeSchemaVersion);
  ASSERT_EQ(env.src_peer_addresses_size(), 1);
  EXPECT_EQ(env.src_peer_addresses(0), std::string(address.begin(), address.end()));
}

// Two hosts with fresh identities, stopped when `scenario` ends however it ends.
asio::awaitable<void> two_hosts(asio::awaitable<void> (*scenario)(Host&, Host&)) {
  auto ex = co_await asio::this_coro::executor;
  HostOptions quiet;
  quiet.identify_peers = false;
  Host a(ex, Ed25519KeyPair::generate(), quiet);
  Host b(ex, Ed25519KeyPair::generate(), quiet);
  co_await host_test::run_then_stop(scenario(a, b), a, b);
}

// What a receiving host saw, and refuses every message whose id is a multiple of 3.
struct Seen {
  std::size_t envelopes = 0;
  std::vector<std::uint64_t> ids;
  std::vector<bool> batched;
};

bb_wire::EnvelopeHandler refusing_thirds(std::shared_ptr<Seen> seen) {
  return [seen](const PeerId&, std::shared_ptr<const core::WireEnvelope> env, std::size_t,
                bool batched) -> asio::awaitable<bb_wire::Refusals> {
    ++seen->envelopes;
    seen->batched.push_back(batched);
    bb_wire::Refusals refused;
    for (int i = 0; i < env->fills_size(); ++i) {
      const auto& fill = env->fills(i);
      const std::uint64_t id =
          fill.has_wire_req_id() ? fill.wire_req_id() : env->correlation().wire_req_id();
      seen->ids.push_back(id);
      if (id % 3 == 0) refused.push_back({static_cast<std::uint32_t>(i), "duplicate"});
    }
    co_return refused;
  };
}

// The outcome of every message the Sender wrote, in order, as its receipts report them.
struct Outcomes {
  explicit Outcomes(const asio::any_io_executor& ex) : changed(ex) {}
  std::vector<std::string> reasons;
  async::Event changed;
};

asio::awaitable<void> push_and_wait(bb_wire::Sender& sender, Outcomes& outcomes,
                                    std::uint64_t count) {
  const Bytes suffix = bytes_of("/site/7");
  const Bytes payload(64, 0x5a);
  // No suspension between pushes: what cannot go straight out joins the open batch.
  for (std::uint64_t id = 1; id <= count; ++id) {
    EXPECT_TRUE(sender.has_room(envelope_frame_size(message(suffix, payload, id))));
    sender.push(message(suffix, payload, id));
  }
  while (outcomes.reasons.size() < count) co_await outcomes.changed.wait();
}

asio::awaitable<void> send_over(Host& from, const PeerId& to, std::shared_ptr<Seen> seen,
                                std::string_view expected_protocol, std::uint64_t count) {
  auto conn = from.connection(to);
  EXPECT_TRUE(conn.has_value());
  if (!conn) co_return;
  std::vector<std::string> protocols{std::string(bb_wire::kBatchProtocolId),
                                     std::string(bb_wire::kProtocolId)};
  Stream stream = co_await conn->open_stream(std::move(protocols));
  EXPECT_EQ(stream.protocol(), expected_protocol);

  const auto ex = co_await asio::this_coro::executor;
  bb_wire::Sender sender(ex, bb_wire::SenderLimits{});
  sender.set_batched(stream.protocol() == bb_wire::kBatchProtocolId);
  Outcomes outcomes(ex);
  const bb_wire::Sender::ReceiptCallback on_receipt = [&outcomes](std::uint64_t n,
                                                                  std::string_view why) {
    for (std::uint64_t i = 0; i < n; ++i) outcomes.reasons.emplace_back(why);
    outcomes.changed.notify();
  };
  const std::function<void(std::size_t, std::size_t)> on_written;
  co_await (sender.run(stream, on_receipt, on_written) || push_and_wait(sender, outcomes, count));

  EXPECT_EQ(outcomes.reasons.size(), count);
  for (std::uint64_t id = 1; id <= count && id <= outcomes.reasons.size(); ++id) {
    EXPECT_EQ(outcomes.reasons[id - 1], id % 3 == 0 ? "duplicate" : "") << "message " << id;
  }
  EXPECT_EQ(seen->ids.size(), count);
  for (std::uint64_t id = 1; id <= count && id <= seen->ids.size(); ++id) {
    EXPECT_EQ(seen->ids[id - 1], id);
  }
  EXPECT_EQ(sender.awaiting_receipt(), 0u);
  stream.reset();
}

asio::awaitable<void> batches_over_1_1(Host& a, Host& b) {
  auto seen = std::make_shared<Seen>();
  bb_wire::register_server(a, refusing_thirds(seen));
  (void)co_await test::connect_in_memory(b, a);
  constexpr std::uint64_t kCount = 100;
  co_await send_over(b, a.peer_id(), seen, bb_wire::kBatchProtocolId, kCount);
  // The first message goes straight out (nothing awaited a receipt); the other 99 wait for the
  // writer in batches of at most 16.
  EXPECT_LE(seen->envelopes, 1u + (kCount - 1 + 15) / 16);
  EXPECT_GE(seen->envelopes, 2u);
  for (const bool batched : seen->batched) EXPECT_TRUE(batched);
}

TEST(BbWireBatch, QueuedMessagesLeaveAsBatchesAndReceiptsCountMessages) {
  test::run_async(two_hosts(&batches_over_1_1), kTestLimit);
}

// Owns what serve() refers to.
asio::awaitable<void> serve_1_0(Connection conn, Stream stream, bb_wire::EnvelopeHandler handler) {
  co_await bb_wire::serve(conn.remote_peer(), std::move(stream), EnvelopeCaps{}, handler);
}

asio::awaitable<void> single_envelopes_over_1_0(Host& a, Host& b) {
  auto seen = std::make_shared<Seen>();
  // A peer that speaks only /bb/wire/1.0.0, as bb before batches did.
  a.set_handler(std::string(bb_wire::kProtocolId),
                [handler = refusing_thirds(seen)](Connection conn, Stream stream) {
                  return serve_1_0(std::move(conn), std::move(stream), handler);
                });
  (void)co_await test::connect_in_memory(b, a);
  constexpr std::uint64_t kCount = 30;
  co_await send_over(b, a.peer_id(), seen, bb_wire::kProtocolId, kCount);
  EXPECT_EQ(seen->envelopes, kCount);
  for (const bool batched : seen->batched) EXPECT_FALSE(batched);
}

TEST(BbWireBatch, APeerThatSpeaksOnly1_0_0GetsOneEnvelopePerMessage) {
  test::run_async(two_hosts(&single_envelopes_over_1_0), kTestLimit);
}

}  // namespace
}  // namespace bb::wire

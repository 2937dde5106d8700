// DedupGateRx: each delivered fill passes once, keyed by (origin, message id, fill index), or by
// (origin, payload) with key="payload" or for messages without an id.
#include "tests/syscalls/gate_fixture.hpp"

#include <boost/asio/awaitable.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>

namespace bb::syscalls {
namespace {

namespace asio = boost::asio;
using bb::test::run_async;
using gate_test::build_error;
using gate_test::GateTest;
using gate_test::kRunLimit;
using gate_test::node;
using gate_test::peer;
using runtime::DenyKind;
using ::testing::HasSubstr;
namespace reason = runtime::reason;

constexpr std::string_view kStage = "DedupGateRx";

using DedupGateRxTest = GateTest;

TEST_F(DedupGateRxTest, SecondDeliveryOfAFillIsDuplicate) {
  auto pipeline = build(kDedupGateRx);
  auto first = rx(1, 1, 7, 2);
  const auto original = first.payload;
  expect_allowed(run(pipeline, first));
  expect_payload_is(first, original, "hello");

  auto again = rx(1, 1, 7, 2);
  auto verdict = run(pipeline, again);
  expect_denied(verdict, DenyKind::duplicate, reason::duplicate, kStage);
  EXPECT_THAT(verdict->detail, HasSubstr("message 7 fill 2"));
  EXPECT_THAT(verdict->detail, HasSubstr(peer(1).to_base58()));
}

TEST_F(DedupGateRxTest, SameMessageRelayedByAnotherPeerIsDuplicate) {
  auto pipeline = build(kDedupGateRx);
  auto direct = rx(1, 1, 7);
  expect_allowed(run(pipeline, direct));
  auto relayed = rx(2, 1, 7);  // delivered by peer 2, authored by peer 1
  expect_denied(run(pipeline, relayed), DenyKind::duplicate, reason::duplicate, kStage);
}

TEST_F(DedupGateRxTest, SamePayloadFromTwoOriginsPassesTwice) {
  auto pipeline = build(kDedupGateRx);
  auto from1 = rx(1, 1, 7, 0, "same bytes");
  auto from2 = rx(2, 2, 7, 0, "same bytes");
  expect_allowed(run(pipeline, from1));
  expect_allowed(run(pipeline, from2));
}

TEST_F(DedupGateRxTest, TwoMessageIdsWithEqualBytesPass) {
  auto pipeline = build(kDedupGateRx);
  auto a = rx(1, 1, 7, 0, "same bytes");
  auto b = rx(1, 1, 8, 0, "same bytes");
  expect_allowed(run(pipeline, a));
  expect_allowed(run(pipeline, b));
}

TEST_F(DedupGateRxTest, TriggerOnlyFillsWithDifferentIdsPass) {
  auto pipeline = build(kDedupGateRx);
  for (std::uint64_t id = 1; id <= 3; ++id) {
    auto trigger = rx(1, 1, id, 0, "");
    trigger.trigger_only = true;
    expect_allowed(run(pipeline, trigger));
    EXPECT_TRUE(trigger.payload.empty());
  }
  auto repeat = rx(1, 1, 2, 0, "");
  repeat.trigger_only = true;
  expect_denied(run(pipeline, repeat), DenyKind::duplicate, reason::duplicate, kStage);
}

TEST_F(DedupGateRxTest, FillIndicesAreDistinct) {
  auto pipeline = build(kDedupGateRx);
  for (std::uint32_t fill = 0; fill < 3; ++fill) {
    auto msg = rx(1, 1, 7, fill, "same bytes");
    expect_allowed(run(pipeline, msg));
  }
  auto repeat = rx(1, 1, 7, 1, "same bytes");
  expect_denied(run(pipeline, repeat), DenyKind::duplicate, reason::duplicate, kStage);
}

TEST_F(DedupGateRxTest, MessageIdZeroFallsBackToThePayloadKey) {
  auto pipeline = build(kDedupGateRx);
  auto a = rx(1, 1, 0, 0, "unnumbered");
  expect_allowed(run(pipeline, a));
  // Same origin and bytes: a duplicate, whatever the fill index.
  auto b = rx(1, 1, 0, 5, "unnumbered");
  expect_denied(run(pipeline, b), DenyKind::duplicate, reason::duplicate, kStage);
  // Other bytes, or another origin, are new.
  auto c = rx(1, 1, 0, 0, "other bytes");
  expect_allowed(run(pipeline, c));
  auto d = rx(2, 2, 0, 0, "unnumbered");
  expect_allowed(run(pipeline, d));
  // A numbered message with the same bytes uses the message key: not a duplicate.
  auto e = rx(1, 1, 9, 0, "unnumbered");
  expect_allowed(run(pipeline, e));
}

TEST_F(DedupGateRxTest, PayloadKeyDedupsEqualPayloadsOfOneOrigin) {
  auto n = node(kDedupGateRx, "rx-dedup");
  runtime::set_attribute(n, "key", "payload");
  auto pipeline = build(n);
  auto a = rx(1, 1, 7, 0, "same bytes");
  expect_allowed(run(pipeline, a));
  auto b = rx(1, 1, 8, 1, "same bytes");
  expect_denied(run(pipeline, b), DenyKind::duplicate, reason::duplicate, "rx-dedup");
  auto other_origin = rx(2, 2, 7, 0, "same bytes");
  expect_allowed(run(pipeline, other_origin));
  auto other_bytes = rx(1, 1, 7, 0, "new bytes");
  expect_allowed(run(pipeline, other_bytes));
}

TEST_F(DedupGateRxTest, ExplicitMessageKeyIsTheDefault) {
  auto n = node(kDedupGateRx);
  runtime::set_attribute(n, "key", "message");
  auto pipeline = build(n);
  auto a = rx(1, 1, 7, 0, "same bytes");
  auto b = rx(1, 1, 8, 0, "same bytes");
  expect_allowed(run(pipeline, a));
  expect_allowed(run(pipeline, b));
  expect_denied(run(pipeline, a), DenyKind::duplicate, reason::duplicate, kStage);
}

TEST_F(DedupGateRxTest, InvalidKeyFailsTheBuild) {
  auto n = node(kDedupGateRx);
  runtime::set_attribute(n, "key", "nonce");
  auto error = build_error({n}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
  EXPECT_THAT(error->what(), HasSubstr("'key'"));
  EXPECT_THAT(error->what(), HasSubstr("\"nonce\""));
}

// Delivers messages first_id .. first_id + count - 1 of `origin`; returns how many were denied.
asio::awaitable<std::size_t> deliver_many(const runtime::Pipeline& pipeline, std::uint64_t origin,
                                          std::uint64_t first_id, std::size_t count) {
  std::size_t denied = 0;
  for (std::size_t i = 0; i < count; ++i) {
    runtime::Message msg;
    msg.direction = runtime::Direction::rx;
    msg.peer = peer(origin);
    msg.origin = peer(origin);
    msg.message_id = first_id + i;
    if (co_await pipeline.run(msg)) ++denied;
  }
  co_return denied;
}

TEST_F(DedupGateRxTest, OldKeyPassesAgainAfterTheWindowMovesOn) {
  const std::size_t window = tables_.dedup().window();
  ASSERT_EQ(window, runtime::kDefaultDedupWindow);
  auto pipeline = build(kDedupGateRx);
  auto old = rx(1, 1, 1);
  expect_allowed(run(pipeline, old));

  // window - 1 other keys: the window is full and still holds the old key.
  EXPECT_EQ(run_async(deliver_many(pipeline, 2, 1, window - 1), kRunLimit), 0u);
  EXPECT_EQ(tables_.dedup().size(), window);
  expect_denied(run(pipeline, old), DenyKind::duplicate, reason::duplicate, kStage);

  // One more other key evicts the oldest, which is now new again.
  EXPECT_EQ(run_async(deliver_many(pipeline, 2, window, 1), kRunLimit), 0u);
  expect_allowed(run(pipeline, old));
  // The 8192 keys seen since are still remembered, apart from the one the re-entry evicted.
  EXPECT_EQ(run_async(deliver_many(pipeline, 2, 2, window - 1), kRunLimit), window - 1);
}

}  // namespace
}  // namespace bb::syscalls

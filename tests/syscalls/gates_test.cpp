// PeerHealthGateTx, PeerHealthGateRx and BackoffGateRx through real pipelines; how a pipeline
// reports and stops on a denial; the default chains; the events the peer-table feeds emit.
#include "tests/syscalls/gate_fixture.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace bb::syscalls {
namespace {

using gate_test::build_error;
using gate_test::dropping;
using gate_test::fail_sends;
using gate_test::GateTest;
using gate_test::kMs;
using gate_test::kSec;
using gate_test::node;
using gate_test::peer;
using runtime::DenyKind;
using ::testing::HasSubstr;
using ::testing::Not;
namespace reason = runtime::reason;

constexpr std::string_view kHealthTx = "PeerHealthGateTx";
constexpr std::string_view kHealthRx = "PeerHealthGateRx";
constexpr std::string_view kBackoffRx = "BackoffGateRx";
constexpr std::string_view kDedupRx = "DedupGateRx";

// ---- PeerHealthGateTx ----

using PeerHealthGateTxTest = GateTest;

TEST_F(PeerHealthGateTxTest, HealthyPeerPassesWithPayloadUntouched) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  auto msg = tx(1);
  expect_allowed(run(pipeline, msg));
  expect_payload_is(msg, payload_, kPayloadText);
  EXPECT_EQ(msg.peer, peer(1));
}

TEST_F(PeerHealthGateTxTest, BlocklistComesBeforeEverythingElse) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  fail_sends(tables_, peer(1), 5);  // down and backing off
  tables_.governor().allow(peer(1));
  tables_.block(peer(1));
  ASSERT_TRUE(tables_.governor().is_down(peer(1)));
  ASSERT_FALSE(tables_.backoff().should_retry(peer(1), clock_.now_ns()));
  auto msg = tx(1);
  expect_denied(run(pipeline, msg), DenyKind::blocked, reason::blocklisted, kHealthTx);
}

TEST_F(PeerHealthGateTxTest, BlocklistedAndInCooldownIsBlocklisted) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  tables_.on_send_failed(peer(1), "peer_unreachable", "one failure");
  tables_.block(peer(1));
  auto msg = tx(1);
  auto verdict = run(pipeline, msg);
  expect_denied(verdict, DenyKind::blocked, reason::blocklisted, kHealthTx);
  EXPECT_THAT(verdict->detail, HasSubstr(peer(1).to_base58()));
}

TEST_F(PeerHealthGateTxTest, AllowlistWithoutThePeerDeniesBeforeHealth) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  ASSERT_TRUE(tables_.governor().allow(peer(2)));
  fail_sends(tables_, peer(1), 5);
  auto outsider = tx(1);
  expect_denied(run(pipeline, outsider), DenyKind::blocked, reason::not_allowlisted, kHealthTx);
  auto member = tx(2);
  expect_allowed(run(pipeline, member));

  tables_.governor().clear_allowlist();
  expect_denied(run(pipeline, outsider), DenyKind::unhealthy, reason::peer_down, kHealthTx);
}

TEST_F(PeerHealthGateTxTest, MarkedDownIsPeerDownUntilItsBackoffWindowPasses) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  fail_sends(tables_, peer(1), 4);
  ASSERT_FALSE(tables_.governor().is_down(peer(1)));
  // Four failures only back off: the health check passes, the cooldown check denies.
  auto msg = tx(1);
  expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, kHealthTx);

  fail_sends(tables_, peer(1), 1);
  ASSERT_TRUE(tables_.governor().is_down(peer(1)));
  // Down and backing off: health is checked before the cooldown.
  expect_denied(run(pipeline, msg), DenyKind::unhealthy, reason::peer_down, kHealthTx);
  // Once the backoff window (160 ms after the fifth failure) has passed, a probe goes through,
  // although the peer is still marked down.
  clock_.advance(kSec);
  ASSERT_TRUE(tables_.backoff().should_retry(peer(1), clock_.now_ns()));
  expect_allowed(run(pipeline, msg));
  ASSERT_TRUE(tables_.governor().is_down(peer(1)));
  // The probe failed: a longer window, denied again until it passes.
  fail_sends(tables_, peer(1), 1);
  expect_denied(run(pipeline, msg), DenyKind::unhealthy, reason::peer_down, kHealthTx);

  tables_.on_send_succeeded(peer(1));
  expect_allowed(run(pipeline, msg));
  expect_payload_is(msg, payload_, kPayloadText);
}

TEST_F(PeerHealthGateTxTest, PhiSuspectIsPeerDown) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  const auto p = peer(3);
  for (int i = 0; i < 10; ++i) {
    tables_.on_heartbeat(p);
    clock_.advance(kSec);
  }
  tables_.on_heartbeat(p);
  const std::uint64_t last = clock_.now_ns();

  // The first 10 ms step at which the detector stops calling the peer live (a pure query).
  std::uint64_t suspect_at = last;
  while (tables_.phi().state(p, suspect_at) == runtime::PhiState::live) {
    suspect_at += 10 * kMs;
    ASSERT_LT(suspect_at, last + 60 * kSec) << "phi never left live";
  }
  // Heartbeats 1 s apart with a 3 s acceptable pause: suspect a few seconds into the silence.
  EXPECT_GT(suspect_at, last + 3 * kSec);
  EXPECT_LT(suspect_at, last + 10 * kSec);

  clock_.advance_to(suspect_at - 10 * kMs);
  auto msg = tx(3);
  expect_allowed(run(pipeline, msg));

  clock_.advance_to(suspect_at);
  auto verdict = run(pipeline, msg);
  expect_denied(verdict, DenyKind::unhealthy, reason::peer_down, kHealthTx);
  EXPECT_THAT(verdict->detail, HasSubstr("failure detector"));
  EXPECT_FALSE(tables_.governor().is_down(p));  // the detector alone denied it

  // Hearing from the peer again makes it live at once.
  tables_.on_heartbeat(p);
  expect_allowed(run(pipeline, msg));
}

TEST_F(PeerHealthGateTxTest, OneFailureIsCooldownForTenMilliseconds) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  clock_.advance_to(7 * kSec);
  tables_.on_send_failed(peer(1), "peer_unreachable", "dial failed");
  auto msg = tx(1);
  auto verdict = run(pipeline, msg);
  expect_denied(verdict, DenyKind::cooldown, reason::cooldown, kHealthTx);
  EXPECT_THAT(verdict->detail, HasSubstr("10.0 ms"));

  clock_.advance(10 * kMs - 1);
  expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, kHealthTx);
  clock_.advance(1);
  expect_allowed(run(pipeline, msg));
  expect_payload_is(msg, payload_, kPayloadText);
}

TEST_F(PeerHealthGateTxTest, PeerAttributeOverridesTheMessagePeer) {
  auto gate7 = dropping(kPeerHealthGateTx);
  runtime::set_peer_attribute(gate7, peer(7));
  auto gate8 = dropping(kPeerHealthGateTx);
  runtime::set_peer_attribute(gate8, peer(8));
  auto pipeline7 = build(gate7);
  auto pipeline8 = build(gate8);
  tables_.block(peer(7));

  // The fixed peer 7 is gated, whatever the message says.
  auto to8 = tx(8);
  auto verdict = run(pipeline7, to8);
  expect_denied(verdict, DenyKind::blocked, reason::blocklisted, kHealthTx);
  EXPECT_THAT(verdict->detail, HasSubstr(peer(7).to_base58()));
  EXPECT_THAT(verdict->detail, Not(HasSubstr(peer(8).to_base58())));
  EXPECT_EQ(to8.peer, peer(8));  // the message is not rewritten

  // And a message to the blocked peer passes a gate fixed to an unblocked one.
  auto to7 = tx(7);
  expect_allowed(run(pipeline8, to7));
}

TEST_F(PeerHealthGateTxTest, WithoutPeerAttributeOnePipelineServesEveryPeer) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  tables_.block(peer(7));
  tables_.on_send_failed(peer(9), "peer_unreachable", "dial failed");

  auto to7 = tx(7);
  auto to8 = tx(8);
  auto to9 = tx(9);
  expect_denied(run(pipeline, to7), DenyKind::blocked, reason::blocklisted, kHealthTx);
  expect_allowed(run(pipeline, to8));
  expect_denied(run(pipeline, to9), DenyKind::cooldown, reason::cooldown, kHealthTx);
}

TEST_F(PeerHealthGateTxTest, PeerAttributeWithBadBytesFailsTheBuild) {
  auto bad = node(kPeerHealthGateTx);
  runtime::set_attribute(bad, "peer", "not a multihash");
  auto error = build_error({bad}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
  EXPECT_THAT(error->what(), HasSubstr("'peer'"));
  EXPECT_THAT(error->what(), HasSubstr("PeerHealthGateTx"));

  auto wrong_type = node(kPeerHealthGateTx);
  runtime::set_attribute(wrong_type, "peer", std::int64_t{7});
  error = build_error({wrong_type}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
}

// ---- PeerHealthGateRx ----

using PeerHealthGateRxTest = GateTest;

TEST_F(PeerHealthGateRxTest, BlocklistedSourceIsDeniedOthersPass) {
  auto pipeline = build(kPeerHealthGateRx);
  tables_.block(peer(4));
  auto from4 = rx(4, 4, 1);
  auto verdict = run(pipeline, from4);
  expect_denied(verdict, DenyKind::blocked, reason::blocklisted, kHealthRx);
  EXPECT_THAT(verdict->detail, HasSubstr(peer(4).to_base58()));

  auto from5 = rx(5, 5, 1);
  const auto original = from5.payload;
  expect_allowed(run(pipeline, from5));
  expect_payload_is(from5, original, "hello");
}

TEST_F(PeerHealthGateRxTest, SourceOutsideTheAllowlistIsDenied) {
  auto pipeline = build(kPeerHealthGateRx);
  ASSERT_TRUE(tables_.governor().allow(peer(5)));
  auto from4 = rx(4, 4, 1);
  expect_denied(run(pipeline, from4), DenyKind::blocked, reason::not_allowlisted, kHealthRx);
  auto from5 = rx(5, 5, 1);
  expect_allowed(run(pipeline, from5));
}

TEST_F(PeerHealthGateRxTest, GatesTheDeliveringPeerNotTheOrigin) {
  auto pipeline = build(kPeerHealthGateRx);
  tables_.block(peer(4));
  auto relayed_from_blocked_author = rx(5, 4, 1);
  expect_allowed(run(pipeline, relayed_from_blocked_author));
  auto relayed_by_blocked_peer = rx(4, 5, 1);
  expect_denied(run(pipeline, relayed_by_blocked_peer), DenyKind::blocked, reason::blocklisted,
                kHealthRx);
}

TEST_F(PeerHealthGateRxTest, NoCooldownOrHealthOnTheWayIn) {
  auto pipeline = build(kPeerHealthGateRx);
  tables_.on_send_failed(peer(4), "peer_unreachable", "dial failed");
  ASSERT_FALSE(tables_.backoff().should_retry(peer(4), clock_.now_ns()));
  auto from4 = rx(4, 4, 1);
  expect_allowed(run(pipeline, from4));

  fail_sends(tables_, peer(6), 5);
  ASSERT_TRUE(tables_.governor().is_down(peer(6)));
  auto from6 = rx(6, 6, 1);
  expect_allowed(run(pipeline, from6));
}

// ---- BackoffGateRx ----

using BackoffGateRxTest = GateTest;

TEST_F(BackoffGateRxTest, SourceInBackoffIsDeniedUntilTheWindowPasses) {
  auto pipeline = build(kBackoffGateRx);
  clock_.advance_to(3 * kSec);
  tables_.on_send_failed(peer(4), "peer_unreachable", "dial failed");  // retry at 3.010 s
  auto from4 = rx(4, 4, 1);
  auto verdict = run(pipeline, from4);
  expect_denied(verdict, DenyKind::cooldown, reason::cooldown, kBackoffRx);
  EXPECT_THAT(verdict->detail, HasSubstr("10.0 ms left"));

  auto from5 = rx(5, 5, 1);
  expect_allowed(run(pipeline, from5));

  clock_.advance(10 * kMs - 1);
  expect_denied(run(pipeline, from4), DenyKind::cooldown, reason::cooldown, kBackoffRx);
  clock_.advance(1);
  const auto original = from4.payload;
  expect_allowed(run(pipeline, from4));
  expect_payload_is(from4, original, "hello");
}

TEST_F(BackoffGateRxTest, RemoteAdvisoryHoldsTheSourceBack) {
  auto pipeline = build(kBackoffGateRx);
  tables_.on_backoff_notice(peer(4), 250 * kMs);
  auto from4 = rx(4, 4, 1);
  clock_.advance(250 * kMs - 1);
  expect_denied(run(pipeline, from4), DenyKind::cooldown, reason::cooldown, kBackoffRx);
  clock_.advance(1);
  expect_allowed(run(pipeline, from4));
}

// ---- Pipelines: stage names, first denial stops ----

using PipelineDenialTest = GateTest;

TEST_F(PipelineDenialTest, DenialNamesTheNodeOrItsOpType) {
  auto named = build(node(kPeerHealthGateTx, "tx-health"));
  auto unnamed = build(dropping(kPeerHealthGateTx));
  tables_.block(peer(1));
  auto msg = tx(1);
  expect_denied(run(named, msg), DenyKind::blocked, reason::blocklisted, "tx-health");
  expect_denied(run(unnamed, msg), DenyKind::blocked, reason::blocklisted, kHealthTx);
  EXPECT_EQ(named.stage_names(), std::vector<std::string_view>{"tx-health"});
}

TEST_F(PipelineDenialTest, FirstDenialStopsThePipeline) {
  auto pipeline = build({node(kPeerHealthGateRx, "first"), node(kBackoffGateRx, "second")});
  tables_.on_send_failed(peer(1), "peer_unreachable", "dial failed");
  tables_.block(peer(1));
  auto msg = rx(1, 1, 1);
  // Both stages would deny; only the first speaks.
  expect_denied(run(pipeline, msg), DenyKind::blocked, reason::blocklisted, "first");

  tables_.unblock(peer(1));
  expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, "second");

  clock_.advance(10 * kMs);
  expect_allowed(run(pipeline, msg));
}

TEST_F(PipelineDenialTest, StagesAfterADenialHaveNoSideEffects) {
  auto pipeline = build({node(kPeerHealthGateRx), node(kDedupGateRx)});
  tables_.block(peer(1));
  auto msg = rx(1, 1, 42, 3);
  expect_denied(run(pipeline, msg), DenyKind::blocked, reason::blocklisted, kHealthRx);
  // Had DedupGateRx run, it would have recorded the fill.
  EXPECT_FALSE(tables_.dedup().contains(runtime::InboundDedup::make_key(peer(1), 42, 3)));
  EXPECT_EQ(tables_.dedup().size(), 0u);

  tables_.unblock(peer(1));
  expect_allowed(run(pipeline, msg));
  EXPECT_TRUE(tables_.dedup().contains(runtime::InboundDedup::make_key(peer(1), 42, 3)));
}

// ---- Default chains ----

using DefaultChainTest = GateTest;

TEST_F(DefaultChainTest, StageOrder) {
  EXPECT_EQ(build(default_tx_gates()).stage_names(),
            (std::vector<std::string_view>{kHealthTx, "BackoffGateTx"}));
  EXPECT_EQ(build(default_rx_gates()).stage_names(),
            (std::vector<std::string_view>{"DeadlineCheck", kDedupRx, kHealthRx, kBackoffRx}));
}

TEST_F(DefaultChainTest, RxFillRefusedDownstreamIsNotRememberedByDedup) {
  auto pipeline = build(default_rx_gates());
  tables_.block(peer(1));
  auto first = rx(1, 1, 10);
  expect_denied(run(pipeline, first), DenyKind::blocked, reason::blocklisted, kHealthRx);
  // DedupGateRx recorded the fill, then undid it when PeerHealthGateRx refused it: the same
  // fill again meets the blocklist, not the dedup window.
  EXPECT_FALSE(tables_.dedup().contains(runtime::InboundDedup::make_key(peer(1), 10, 0)));
  auto again = rx(1, 1, 10);
  expect_denied(run(pipeline, again), DenyKind::blocked, reason::blocklisted, kHealthRx);
  // Once unblocked, the retried message is delivered exactly once.
  tables_.unblock(peer(1));
  auto retry = rx(1, 1, 10);
  expect_allowed(run(pipeline, retry));
  auto duplicate = rx(1, 1, 10);
  expect_denied(run(pipeline, duplicate), DenyKind::duplicate, reason::duplicate, kDedupRx);
}

TEST_F(DefaultChainTest, RxRetryAfterCooldownIsDelivered) {
  auto pipeline = build(default_rx_gates());
  tables_.on_send_failed(peer(2), "peer_unreachable", "dial failed");
  auto msg = rx(2, 2, 7);
  expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, kBackoffRx);
  clock_.advance(10 * kMs);
  auto retry = rx(2, 2, 7);
  expect_allowed(run(pipeline, retry));
}

TEST_F(DefaultChainTest, RxBackoffIsTheLastCheck) {
  auto pipeline = build(default_rx_gates());
  tables_.on_send_failed(peer(2), "peer_unreachable", "dial failed");
  auto msg = rx(2, 2, 1);
  expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, kBackoffRx);
  auto other = rx(3, 3, 1);
  const auto original = other.payload;
  expect_allowed(run(pipeline, other));
  expect_payload_is(other, original, "hello");
}

TEST_F(DefaultChainTest, TxHealthGateSpeaksFirst) {
  auto pipeline = build(default_tx_gates());
  tables_.on_send_failed(peer(2), "peer_unreachable", "dial failed");
  auto msg = tx(2);
  msg.budget_ns = 5 * kMs;  // ends before the 10 ms cooldown: no wait, a denial at once
  // BackoffGateTx would also deny; PeerHealthGateTx already checks the cooldown.
  expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, kHealthTx);
  clock_.advance(10 * kMs);
  expect_allowed(run(pipeline, msg));
  expect_payload_is(msg, payload_, kPayloadText);
}

// ---- Events from the outcome feeds ----

using PeerEventsTest = GateTest;

std::vector<std::string_view> names(const std::vector<runtime::Event>& events) {
  std::vector<std::string_view> out;
  for (const auto& e : events) out.push_back(runtime::event_name(e));
  return out;
}

TEST_F(PeerEventsTest, FiveFailuresEmitFiveSendFailedAndOnePeerDown) {
  for (std::uint64_t i = 0; i < 5; ++i) {
    tables_.on_send_failed(peer(1), "peer_unreachable", "attempt " + std::to_string(i), 100 + i);
  }
  auto events = drain_events();
  ASSERT_EQ(names(events),
            (std::vector<std::string_view>{"send_failed", "send_failed", "send_failed",
                                           "send_failed", "send_failed", "peer_down"}));
  for (std::uint64_t i = 0; i < 5; ++i) {
    const auto& failed = std::get<runtime::SendFailed>(events[i]);
    EXPECT_EQ(failed.peer, peer(1));
    EXPECT_EQ(failed.reason, "peer_unreachable");
    EXPECT_EQ(failed.detail, "attempt " + std::to_string(i));
    EXPECT_EQ(failed.message_id, 100 + i);
  }
  const auto& down = std::get<runtime::PeerDown>(events[5]);
  EXPECT_EQ(down.peer, peer(1));
  EXPECT_EQ(down.cause, "failures");

  // A sixth failure is one more SendFailed, not another PeerDown.
  tables_.on_send_failed(peer(1), "peer_unreachable", "again");
  EXPECT_EQ(names(drain_events()), std::vector<std::string_view>{"send_failed"});
}

TEST_F(PeerEventsTest, SuccessAfterDownEmitsOnePeerUp) {
  fail_sends(tables_, peer(1), 5);
  (void)drain_events();
  tables_.on_send_succeeded(peer(1));
  auto events = drain_events();
  ASSERT_EQ(names(events), std::vector<std::string_view>{"peer_up"});
  EXPECT_EQ(std::get<runtime::PeerUp>(events[0]).peer, peer(1));

  tables_.on_send_succeeded(peer(1));
  EXPECT_TRUE(drain_events().empty());
}

TEST_F(PeerEventsTest, BlockEmitsPeerBlockedOnce) {
  tables_.block(peer(1));
  tables_.block(peer(1));
  auto events = drain_events();
  ASSERT_EQ(names(events), std::vector<std::string_view>{"peer_blocked"});
  EXPECT_EQ(std::get<runtime::PeerBlocked>(events[0]).peer, peer(1));
  EXPECT_TRUE(tables_.governor().is_blocked(peer(1)));
}

TEST_F(PeerEventsTest, GateDenialsEmitNothingByThemselves) {
  auto pipeline = build(dropping(kPeerHealthGateTx));
  tables_.block(peer(1));
  (void)drain_events();
  auto msg = tx(1);
  expect_denied(run(pipeline, msg), DenyKind::blocked, reason::blocklisted, kHealthTx);
  EXPECT_TRUE(drain_events().empty());
}

}  // namespace
}  // namespace bb::syscalls

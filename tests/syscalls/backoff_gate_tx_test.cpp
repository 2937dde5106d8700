// BackoffGateTx: the drop policy (deny `cooldown` inside the backoff window) and the wait policy
// (sleep on the node clock until the retry time, bounded by the message deadline and max_wait_ns).
#include "tests/syscalls/gate_fixture.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace bb::syscalls {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using bb::test::run_async;
using bb::test::yield_now;
using gate_test::build_error;
using gate_test::dropping;
using gate_test::fail_sends;
using gate_test::GateTest;
using gate_test::kMs;
using gate_test::kRunLimit;
using gate_test::kSec;
using gate_test::node;
using gate_test::peer;
using runtime::DenyKind;
using ::testing::HasSubstr;
namespace reason = runtime::reason;

constexpr std::string_view kStage = "BackoffGateTx";

bb::onnx::NodeProto waiting_gate() {
  auto n = node(kBackoffGateTx);
  runtime::set_attribute(n, "policy", "wait");
  return n;
}

// ---- drop policy ----

using BackoffGateTxDropTest = GateTest;

TEST_F(BackoffGateTxDropTest, UnknownPeerPasses) {
  auto pipeline = build(dropping(kBackoffGateTx));
  auto msg = tx(1);
  expect_allowed(run(pipeline, msg));
  expect_payload_is(msg, payload_, kPayloadText);
}

TEST_F(BackoffGateTxDropTest, DeniesExactlyInsideEachBackoffWindow) {
  auto pipeline = build(dropping(kBackoffGateTx));
  auto msg = tx(1);
  clock_.advance_to(kSec);
  const std::pair<std::uint64_t, std::string_view> schedule[] = {
      {10 * kMs, "10.0 ms"}, {20 * kMs, "20.0 ms"}, {40 * kMs, "40.0 ms"}};
  for (const auto& [delay, text] : schedule) {
    SCOPED_TRACE(text);
    const auto failed_at = clock_.now_ns();
    tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
    auto verdict = run(pipeline, msg);
    expect_denied(verdict, DenyKind::cooldown, reason::cooldown, kStage);
    EXPECT_THAT(verdict->detail, HasSubstr(std::string(text)));

    clock_.advance_to(failed_at + delay - 1);
    expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, kStage);
    clock_.advance_to(failed_at + delay);
    expect_allowed(run(pipeline, msg));
    expect_payload_is(msg, payload_, kPayloadText);
  }
  EXPECT_EQ(tables_.backoff().attempts(peer(1)), 3u);
}

TEST_F(BackoffGateTxDropTest, SuccessClearsTheWindow) {
  auto pipeline = build(dropping(kBackoffGateTx));
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  auto msg = tx(1);
  expect_denied(run(pipeline, msg), DenyKind::cooldown, reason::cooldown, kStage);
  tables_.on_send_succeeded(peer(1));
  expect_allowed(run(pipeline, msg));
}

TEST_F(BackoffGateTxDropTest, OtherPeersAreNotHeldBack) {
  auto pipeline = build(dropping(kBackoffGateTx));
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  auto to1 = tx(1);
  auto to2 = tx(2);
  expect_denied(run(pipeline, to1), DenyKind::cooldown, reason::cooldown, kStage);
  expect_allowed(run(pipeline, to2));
}

TEST_F(BackoffGateTxDropTest, PeerAttributeOverridesTheMessagePeer) {
  auto n = dropping(kBackoffGateTx);
  runtime::set_peer_attribute(n, peer(7));
  auto pipeline = build(n);
  tables_.on_send_failed(peer(7), "peer_unreachable", "write failed");
  auto to8 = tx(8);
  auto verdict = run(pipeline, to8);
  expect_denied(verdict, DenyKind::cooldown, reason::cooldown, kStage);
  EXPECT_THAT(verdict->detail, HasSubstr(peer(7).to_base58()));
}

TEST_F(BackoffGateTxDropTest, InvalidPolicyFailsTheBuild) {
  auto n = node(kBackoffGateTx, "tx-backoff");
  runtime::set_attribute(n, "policy", "sometimes");
  auto error = build_error({n}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
  EXPECT_THAT(error->what(), HasSubstr("\"sometimes\""));
  EXPECT_THAT(error->what(), HasSubstr("'policy'"));
  EXPECT_THAT(error->what(), HasSubstr("tx-backoff"));

  auto wrong_type = node(kBackoffGateTx);
  runtime::set_attribute(wrong_type, "policy", std::int64_t{1});
  error = build_error({wrong_type}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
}

TEST_F(BackoffGateTxDropTest, NegativeMaxWaitFailsTheBuild) {
  auto n = waiting_gate();
  runtime::set_attribute(n, "max_wait_ns", std::int64_t{-1});
  auto error = build_error({n}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
  EXPECT_THAT(error->what(), HasSubstr("'max_wait_ns'"));
}

// ---- wait policy ----

// How a pipeline run ended, recorded by the run itself (the `||` operator drops a loser's value).
struct Outcome {
  bool done = false;
  std::uint64_t at_ns = 0;  // clock time when the run completed
  runtime::Verdict verdict;
};

// What the driver saw after one step had settled.
struct Snapshot {
  std::uint64_t now_ns;
  std::size_t sleepers;
  bool done;
  bool operator==(const Snapshot&) const = default;
};

[[maybe_unused]] std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  return os << "{now " << s.now_ns << ", sleepers " << s.sleepers << ", done " << s.done << "}";
}

// Move the clock to `to_ns`, then record a send failure for `fail` if set.
struct Step {
  std::uint64_t to_ns;
  std::optional<wire::PeerId> fail = std::nullopt;
};

asio::awaitable<void> run_recorded(const runtime::Pipeline& pipeline, runtime::Message& msg,
                                   const async::Clock& clock, Outcome& out) {
  out.verdict = co_await pipeline.run(msg);
  out.at_ns = clock.now_ns();
  out.done = true;
}

asio::awaitable<void> drive(async::ManualClock& clock, runtime::PeerTables& tables,
                            std::vector<Step> steps, const Outcome& out,
                            std::vector<Snapshot>& seen) {
  co_await yield_now();
  seen.push_back({clock.now_ns(), clock.sleepers(), out.done});
  for (const auto& step : steps) {
    clock.advance_to(step.to_ns);
    if (step.fail) tables.on_send_failed(*step.fail, "peer_unreachable", "while waiting");
    co_await yield_now();
    seen.push_back({clock.now_ns(), clock.sleepers(), out.done});
  }
}

asio::awaitable<void> run_and_drive(const runtime::Pipeline& pipeline, runtime::Message& msg,
                                    async::ManualClock& clock, runtime::PeerTables& tables,
                                    std::vector<Step> steps, Outcome& out,
                                    std::vector<Snapshot>& seen) {
  co_await (run_recorded(pipeline, msg, clock, out) &&
            drive(clock, tables, std::move(steps), out, seen));
}

// The run against a sleep that ends first; `winner` is the index of the side that finished.
asio::awaitable<void> race_with_sleep(const runtime::Pipeline& pipeline, runtime::Message& msg,
                                      async::ManualClock& clock, std::uint64_t sleep_until_ns,
                                      Outcome& out, std::size_t& winner) {
  auto result =
      co_await (run_recorded(pipeline, msg, clock, out) || clock.sleep_until(sleep_until_ns));
  winner = result.index();
}

asio::awaitable<void> race_and_drive(const runtime::Pipeline& pipeline, runtime::Message& msg,
                                     async::ManualClock& clock, runtime::PeerTables& tables,
                                     std::uint64_t sleep_until_ns, Outcome& out,
                                     std::size_t& winner, std::vector<Snapshot>& seen) {
  std::vector<Step> steps(1, Step{sleep_until_ns});
  co_await (race_with_sleep(pipeline, msg, clock, sleep_until_ns, out, winner) &&
            drive(clock, tables, std::move(steps), out, seen));
}

class BackoffGateTxWaitTest : public GateTest {
 protected:
  std::vector<Snapshot> run_driven(const runtime::Pipeline& pipeline, runtime::Message& msg,
                                   std::vector<Step> steps, Outcome& out) {
    std::vector<Snapshot> seen;
    run_async(run_and_drive(pipeline, msg, clock_, tables_, std::move(steps), out, seen),
              kRunLimit);
    return seen;
  }
};

TEST_F(BackoffGateTxWaitTest, NoBackoffPassesWithoutSleeping) {
  auto pipeline = build(waiting_gate());
  auto msg = tx(1);
  expect_allowed(run(pipeline, msg));
  EXPECT_EQ(clock_.sleepers(), 0u);
  EXPECT_EQ(clock_.now_ns(), 0u);
}

TEST_F(BackoffGateTxWaitTest, WaitsUntilExactlyTheRetryTime) {
  auto pipeline = build(waiting_gate());
  clock_.advance_to(2 * kSec);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  const std::uint64_t retry = 2 * kSec + 10 * kMs;
  ASSERT_EQ(tables_.backoff().retry_at(peer(1)), retry);

  auto msg = tx(1);
  Outcome out;
  auto seen = run_driven(pipeline, msg, {{retry - 1}, {retry}}, out);
  EXPECT_EQ(seen, (std::vector<Snapshot>{
                      {2 * kSec, 1, false},  // suspended on the clock
                      {retry - 1, 1, false},
                      {retry, 0, true},
                  }));
  ASSERT_TRUE(out.done);
  EXPECT_EQ(out.at_ns, retry);
  expect_allowed(out.verdict);
  expect_payload_is(msg, payload_, kPayloadText);
}

TEST_F(BackoffGateTxWaitTest, FailureWhileWaitingExtendsTheWait) {
  auto pipeline = build(waiting_gate());
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");  // retry at 10 ms
  auto msg = tx(1);
  Outcome out;
  // At 5 ms a second failure moves the retry to 5 + 20 = 25 ms; the 10 ms wake-up waits again.
  auto seen =
      run_driven(pipeline, msg, {{5 * kMs, peer(1)}, {10 * kMs}, {25 * kMs - 1}, {25 * kMs}}, out);
  EXPECT_EQ(seen, (std::vector<Snapshot>{
                      {0, 1, false},
                      {5 * kMs, 1, false},
                      {10 * kMs, 1, false},
                      {25 * kMs - 1, 1, false},
                      {25 * kMs, 0, true},
                  }));
  EXPECT_EQ(out.at_ns, 25 * kMs);
  expect_allowed(out.verdict);
}

TEST_F(BackoffGateTxWaitTest, RetryAfterTheMessageDeadlineIsDeniedAtOnce) {
  auto pipeline = build(waiting_gate());
  clock_.advance_to(kSec);
  auto msg = tx(1);
  msg.start_ns = kSec;
  msg.budget_ns = 15 * kMs;
  clock_.advance(8 * kMs);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");  // retry at +18 ms
  // The deadline counts from start_ns (+15 ms), not from now (+8 ms).
  auto verdict = run(pipeline, msg);  // completes without the clock moving
  expect_denied(verdict, DenyKind::timeout, reason::deadline_exceeded, kStage);
  EXPECT_THAT(verdict->detail, HasSubstr("10.0 ms"));
  EXPECT_EQ(clock_.sleepers(), 0u);
  EXPECT_EQ(clock_.now_ns(), kSec + 8 * kMs);
}

TEST_F(BackoffGateTxWaitTest, RetryExactlyAtTheDeadlineWaits) {
  auto pipeline = build(waiting_gate());
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  auto msg = tx(1);
  msg.start_ns = 0;
  msg.budget_ns = 10 * kMs;
  Outcome out;
  auto seen = run_driven(pipeline, msg, {{10 * kMs}}, out);
  EXPECT_EQ(seen, (std::vector<Snapshot>{{0, 1, false}, {10 * kMs, 0, true}}));
  expect_allowed(out.verdict);
}

TEST_F(BackoffGateTxWaitTest, MaxWaitShorterThanTheWindowIsCooldown) {
  auto n = waiting_gate();
  runtime::set_attribute(n, "max_wait_ns", static_cast<std::int64_t>(5 * kMs));
  auto pipeline = build(n);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  auto msg = tx(1);
  auto verdict = run(pipeline, msg);
  expect_denied(verdict, DenyKind::cooldown, reason::cooldown, kStage);
  EXPECT_THAT(verdict->detail, HasSubstr("10.0 ms"));
  EXPECT_EQ(clock_.sleepers(), 0u);
}

TEST_F(BackoffGateTxWaitTest, MaxWaitEqualToTheWindowWaits) {
  auto n = waiting_gate();
  runtime::set_attribute(n, "max_wait_ns", static_cast<std::int64_t>(10 * kMs));
  auto pipeline = build(n);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  auto msg = tx(1);
  Outcome out;
  auto seen = run_driven(pipeline, msg, {{10 * kMs}}, out);
  EXPECT_EQ(seen, (std::vector<Snapshot>{{0, 1, false}, {10 * kMs, 0, true}}));
  expect_allowed(out.verdict);
}

TEST_F(BackoffGateTxWaitTest, MaxWaitCountsFromTheStartOfTheWait) {
  auto n = waiting_gate();
  runtime::set_attribute(n, "max_wait_ns", static_cast<std::int64_t>(20 * kMs));
  auto pipeline = build(n);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");  // retry at 10 ms
  auto msg = tx(1);
  Outcome out;
  // A failure at 5 ms moves the retry to 25 ms, past the 20 ms the gate may wait in total.
  auto seen = run_driven(pipeline, msg, {{5 * kMs, peer(1)}, {10 * kMs}}, out);
  EXPECT_EQ(seen, (std::vector<Snapshot>{{0, 1, false}, {5 * kMs, 1, false}, {10 * kMs, 0, true}}));
  EXPECT_EQ(out.at_ns, 10 * kMs);
  expect_denied(out.verdict, DenyKind::cooldown, reason::cooldown, kStage);
}

TEST_F(BackoffGateTxWaitTest, CancellingTheWaitEndsTheRunCleanly) {
  auto pipeline = build(waiting_gate());
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");  // retry at 10 ms
  auto msg = tx(1);
  Outcome out;
  std::size_t winner = 99;
  std::vector<Snapshot> seen;
  run_async(race_and_drive(pipeline, msg, clock_, tables_, 5 * kMs, out, winner, seen), kRunLimit);

  // Before the step both sides sleep; the 5 ms sleep wins and the run is cancelled.
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), (Snapshot{0, 2, false}));
  EXPECT_EQ(winner, 1u);
  ASSERT_TRUE(out.done);
  EXPECT_EQ(out.at_ns, 5 * kMs);
  ASSERT_TRUE(out.verdict.has_value());
  EXPECT_EQ(out.verdict->reason, "cancelled");
  EXPECT_EQ(out.verdict->kind, DenyKind::other);
  EXPECT_EQ(out.verdict->stage, kStage);
  EXPECT_EQ(clock_.sleepers(), 0u);

  // The table is untouched and the gate serves the next message normally.
  EXPECT_EQ(tables_.backoff().retry_at(peer(1)), 10 * kMs);
  clock_.advance_to(10 * kMs);
  auto next = tx(1);
  expect_allowed(run(pipeline, next));
}

TEST_F(BackoffGateTxWaitTest, WaitIsTheDefaultPolicy) {
  auto pipeline = build(kBackoffGateTx);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");  // retry at 10 ms
  auto msg = tx(1);
  Outcome out;
  auto seen = run_driven(pipeline, msg, {{10 * kMs}}, out);
  EXPECT_EQ(seen, (std::vector<Snapshot>{{0, 1, false}, {10 * kMs, 0, true}}));
  expect_allowed(out.verdict);
}

// ---- PeerHealthGateTx's wait policy (the default): the same driver ----

using PeerHealthGateTxWaitTest = BackoffGateTxWaitTest;
constexpr std::string_view kHealthStage = "PeerHealthGateTx";

TEST_F(PeerHealthGateTxWaitTest, ACooldownEndingWithinTheBudgetIsWaitedOut) {
  auto pipeline = build(kPeerHealthGateTx);
  clock_.advance_to(2 * kSec);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  const std::uint64_t retry = 2 * kSec + 10 * kMs;
  auto msg = tx(1);
  msg.start_ns = 2 * kSec;
  msg.budget_ns = kSec;
  Outcome out;
  auto seen = run_driven(pipeline, msg, {{retry - 1}, {retry}}, out);
  EXPECT_EQ(seen, (std::vector<Snapshot>{
                      {2 * kSec, 1, false},
                      {retry - 1, 1, false},
                      {retry, 0, true},
                  }));
  EXPECT_EQ(out.at_ns, retry);
  expect_allowed(out.verdict);
  expect_payload_is(msg, payload_, kPayloadText);
}

TEST_F(PeerHealthGateTxWaitTest, ACooldownPastTheBudgetIsDeniedAtOnce) {
  auto pipeline = build(kPeerHealthGateTx);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");  // retry at 10 ms
  auto msg = tx(1);
  msg.start_ns = 0;
  msg.budget_ns = 5 * kMs;
  auto verdict = run(pipeline, msg);  // completes without the clock moving
  expect_denied(verdict, DenyKind::cooldown, reason::cooldown, kHealthStage);
  EXPECT_THAT(verdict->detail, HasSubstr("past the message's budget"));
  EXPECT_EQ(clock_.sleepers(), 0u);
  EXPECT_EQ(clock_.now_ns(), 0u);
}

TEST_F(PeerHealthGateTxWaitTest, ADownPeerIsProbedAtItsWindowsEndWhenTheBudgetReachesIt) {
  auto pipeline = build(kPeerHealthGateTx);
  fail_sends(tables_, peer(1), 5);  // marked down; retry 160 ms after the fifth failure
  ASSERT_TRUE(tables_.governor().is_down(peer(1)));
  const std::uint64_t retry = tables_.backoff().retry_at(peer(1)).value();
  auto in_budget = tx(1);
  in_budget.start_ns = clock_.now_ns();
  in_budget.budget_ns = kSec;
  Outcome out;
  auto seen = run_driven(pipeline, in_budget, {{retry}}, out);
  EXPECT_EQ(seen.back(), (Snapshot{retry, 0, true}));
  expect_allowed(out.verdict);  // the probe
  EXPECT_TRUE(tables_.governor().is_down(peer(1))) << "only the probe's outcome decides";

  // The probe failed: a longer window, which a short budget does not reach.
  fail_sends(tables_, peer(1), 1);
  auto short_budget = tx(1);
  short_budget.start_ns = clock_.now_ns();
  short_budget.budget_ns = 10 * kMs;
  expect_denied(run(pipeline, short_budget), DenyKind::unhealthy, reason::peer_down, kHealthStage);
}

TEST_F(PeerHealthGateTxWaitTest, BlockedPeersAreDeniedWithoutWaiting) {
  auto pipeline = build(kPeerHealthGateTx);
  tables_.on_send_failed(peer(1), "peer_unreachable", "write failed");
  tables_.block(peer(1));
  auto msg = tx(1);
  expect_denied(run(pipeline, msg), DenyKind::blocked, reason::blocklisted, kHealthStage);
  EXPECT_EQ(clock_.sleepers(), 0u);
}

}  // namespace
}  // namespace bb::syscalls

// DeadlineCheck: budgets are relative to the message's start (dispatch or arrival). The original
// compared the relative `deadline_ns` with the absolute clock, so once the clock passed 100 ms
// every message failed; these tests run the clock far past that.
#include "tests/syscalls/gate_fixture.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bb::syscalls {
namespace {

using gate_test::build_error;
using gate_test::GateTest;
using gate_test::kMs;
using gate_test::kSec;
using gate_test::node;
using runtime::DenyKind;
using ::testing::HasSubstr;
namespace reason = runtime::reason;

constexpr std::string_view kStage = "DeadlineCheck";
constexpr std::uint64_t kHour = 3600 * kSec;

bb::onnx::NodeProto deadline_node(std::uint64_t deadline_ns) {
  auto n = node(kDeadlineCheck);
  runtime::set_attribute(n, "deadline_ns", static_cast<std::int64_t>(deadline_ns));
  return n;
}

class DeadlineCheckTest : public GateTest {
 protected:
  // A message dispatched at `start_ns` with its own budget (0: none).
  runtime::Message started(std::uint64_t start_ns, std::uint64_t budget_ns = 0) {
    auto msg = tx(1);
    msg.start_ns = start_ns;
    msg.budget_ns = budget_ns;
    return msg;
  }
};

TEST_F(DeadlineCheckTest, AttributeBudgetCountsFromTheMessageStart) {
  auto pipeline = build(deadline_node(100 * kMs));
  clock_.advance_to(5 * kSec);
  auto msg = started(5 * kSec);
  // Fresh at an absolute time far past 100 ms: the original would have denied this.
  expect_allowed(run(pipeline, msg));
  expect_payload_is(msg, payload_, kPayloadText);

  clock_.advance_to(5 * kSec + 99 * kMs);
  expect_allowed(run(pipeline, msg));
  clock_.advance_to(5 * kSec + 100 * kMs - 1);
  expect_allowed(run(pipeline, msg));

  clock_.advance_to(5 * kSec + 100 * kMs);
  auto verdict = run(pipeline, msg);
  expect_denied(verdict, DenyKind::timeout, reason::deadline_exceeded, kStage);
  EXPECT_THAT(verdict->detail, HasSubstr("100.0 ms elapsed of a 100.0 ms budget"));
}

TEST_F(DeadlineCheckTest, MessageBudgetWinsWhenSmaller) {
  auto pipeline = build(deadline_node(100 * kMs));
  clock_.advance_to(5 * kSec);
  auto msg = started(5 * kSec, 40 * kMs);
  clock_.advance(40 * kMs - 1);
  expect_allowed(run(pipeline, msg));
  clock_.advance(1);
  auto verdict = run(pipeline, msg);
  expect_denied(verdict, DenyKind::timeout, reason::deadline_exceeded, kStage);
  EXPECT_THAT(verdict->detail, HasSubstr("of a 40.0 ms budget"));
}

TEST_F(DeadlineCheckTest, AttributeWinsWhenSmaller) {
  auto pipeline = build(deadline_node(100 * kMs));
  clock_.advance_to(5 * kSec);
  auto msg = started(5 * kSec, 300 * kMs);
  clock_.advance(100 * kMs - 1);
  expect_allowed(run(pipeline, msg));
  clock_.advance(1);
  expect_denied(run(pipeline, msg), DenyKind::timeout, reason::deadline_exceeded, kStage);
}

TEST_F(DeadlineCheckTest, MessageBudgetAloneApplies) {
  auto pipeline = build(kDeadlineCheck);
  clock_.advance_to(kHour);
  auto msg = started(kHour - 10 * kMs, 30 * kMs);  // arrived 10 ms ago with 30 ms left
  clock_.advance(20 * kMs - 1);
  expect_allowed(run(pipeline, msg));
  clock_.advance(1);
  expect_denied(run(pipeline, msg), DenyKind::timeout, reason::deadline_exceeded, kStage);
}

TEST_F(DeadlineCheckTest, NoBudgetAtAllAlwaysPasses) {
  auto pipeline = build(kDeadlineCheck);
  auto msg = started(0);
  expect_allowed(run(pipeline, msg));
  clock_.advance_to(kHour);
  expect_allowed(run(pipeline, msg));

  auto zero = build(deadline_node(0));  // 0 means none, too
  expect_allowed(run(zero, msg));
}

TEST_F(DeadlineCheckTest, StartInTheFutureCountsAsNoTimeElapsed) {
  auto pipeline = build(deadline_node(100 * kMs));
  clock_.advance_to(5 * kSec);
  auto msg = started(6 * kSec);
  expect_allowed(run(pipeline, msg));
}

TEST_F(DeadlineCheckTest, NegativeDeadlineFailsTheBuild) {
  auto n = node(kDeadlineCheck, "deadline");
  runtime::set_attribute(n, "deadline_ns", std::int64_t{-1});
  auto error = build_error({n}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
  EXPECT_THAT(error->what(), HasSubstr("'deadline_ns'"));
  EXPECT_THAT(error->what(), HasSubstr("negative"));

  auto wrong_type = node(kDeadlineCheck);
  runtime::set_attribute(wrong_type, "deadline_ns", "100ms");
  error = build_error({wrong_type}, ctx_);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), runtime::errc::bad_attribute);
}

TEST_F(DeadlineCheckTest, NamedStageIsReported) {
  auto n = deadline_node(100 * kMs);
  n.set_name("send-deadline");
  auto pipeline = build(n);
  clock_.advance_to(kSec);
  auto msg = started(0);
  expect_denied(run(pipeline, msg), DenyKind::timeout, reason::deadline_exceeded, "send-deadline");
}

}  // namespace
}  // namespace bb::syscalls

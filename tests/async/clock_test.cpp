#include "bb/async/clock.hpp"
#include "tests/support/async_test.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bb::async {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using bb::test::run_async;
using bb::test::run_io;
using bb::test::run_ready;
using bb::test::yield_now;
using testing::HasSubstr;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kHour = 3'600'000 * kMs;

// Spawned test tasks propagate their exceptions out of io_context::run.
void spawn(asio::io_context& io, asio::awaitable<void> task) {
  asio::co_spawn(io, std::move(task), [](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  });
}

struct Wake {
  int id;
  std::uint64_t at_ns;  // clock time when the sleeper resumed
  bool ok;
  bool operator==(const Wake&) const = default;
};

[[maybe_unused]] std::ostream& operator<<(std::ostream& os, const Wake& w) {
  return os << "{id " << w.id << ", at " << w.at_ns << ", ok " << w.ok << "}";
}

asio::awaitable<void> sleep_and_log(async::ManualClock& clock, std::uint64_t deadline_ns, int id,
                                    std::vector<Wake>& log) {
  bool ok = co_await clock.sleep_until(deadline_ns);
  log.push_back({id, clock.now_ns(), ok});
}

// Records a sleep's own result, which `a || b` discards for the loser.
asio::awaitable<bool> record(asio::awaitable<bool> sleep, std::optional<bool>& out) {
  out = co_await std::move(sleep);
  co_return *out;
}

// ---- async::ManualClock ----

TEST(ManualClock, FiresSleepersInDeadlineOrder) {
  asio::io_context io;
  async::ManualClock clock;
  std::vector<Wake> log;
  spawn(io, sleep_and_log(clock, 30, 3, log));
  spawn(io, sleep_and_log(clock, 10, 1, log));
  spawn(io, sleep_and_log(clock, 20, 2, log));
  run_ready(io);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(clock.sleepers(), 3u);
  EXPECT_EQ(clock.next_deadline(), 10u);

  clock.advance(25);
  run_ready(io);
  EXPECT_EQ(log, (std::vector<Wake>{{1, 25, true}, {2, 25, true}}));
  EXPECT_EQ(clock.sleepers(), 1u);
  EXPECT_EQ(clock.next_deadline(), 30u);

  clock.advance(10);
  run_io(io);
  EXPECT_EQ(log, (std::vector<Wake>{{1, 25, true}, {2, 25, true}, {3, 35, true}}));
  EXPECT_EQ(clock.sleepers(), 0u);
  EXPECT_EQ(clock.next_deadline(), std::nullopt);
}

TEST(ManualClock, TiesFireInRegistrationOrder) {
  asio::io_context io;
  async::ManualClock clock;
  std::vector<Wake> log;
  for (int id : {2, 0, 3, 1}) spawn(io, sleep_and_log(clock, 5, id, log));
  run_ready(io);
  clock.advance_to(5);
  run_io(io);
  EXPECT_EQ(log, (std::vector<Wake>{{2, 5, true}, {0, 5, true}, {3, 5, true}, {1, 5, true}}));
}

TEST(ManualClock, AdvanceBelowTheDeadlineFiresNothing) {
  asio::io_context io;
  async::ManualClock clock(1000);
  std::vector<Wake> log;
  spawn(io, sleep_and_log(clock, 1100, 1, log));
  run_ready(io);
  clock.advance(99);
  run_ready(io);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(clock.now_ns(), 1099u);
  EXPECT_EQ(clock.sleepers(), 1u);

  clock.advance(1);
  run_io(io);
  EXPECT_EQ(log, (std::vector<Wake>{{1, 1100, true}}));
}

TEST(ManualClock, AdvanceToNextJumpsToEachDeadline) {
  asio::io_context io;
  async::ManualClock clock;
  std::vector<Wake> log;
  spawn(io, sleep_and_log(clock, 80, 3, log));
  spawn(io, sleep_and_log(clock, 50, 1, log));
  spawn(io, sleep_and_log(clock, 50, 2, log));
  run_ready(io);

  EXPECT_TRUE(clock.advance_to_next());
  EXPECT_EQ(clock.now_ns(), 50u);
  run_ready(io);
  EXPECT_EQ(log, (std::vector<Wake>{{1, 50, true}, {2, 50, true}}));

  EXPECT_TRUE(clock.advance_to_next());
  EXPECT_EQ(clock.now_ns(), 80u);
  run_io(io);
  EXPECT_EQ(log.size(), 3u);

  EXPECT_FALSE(clock.advance_to_next());
  EXPECT_EQ(clock.now_ns(), 80u);
}

TEST(ManualClock, ReachedDeadlineCompletesWithoutAdvance) {
  async::ManualClock clock(1000);
  auto task = [](async::ManualClock& c) -> asio::awaitable<int> {
    int completed = 0;
    completed += co_await c.sleep_until(0);
    completed += co_await c.sleep_until(999);
    completed += co_await c.sleep_until(1000);
    completed += co_await c.sleep_for(0);
    co_return completed;
  };
  EXPECT_EQ(run_async(task(clock)), 4);
  EXPECT_EQ(clock.now_ns(), 1000u);
  EXPECT_EQ(clock.sleepers(), 0u);
}

asio::awaitable<void> advance_and_observe(async::ManualClock& clock, const std::vector<Wake>& log,
                                          std::vector<std::size_t>& seen) {
  co_await yield_now();  // let the sleeper register
  seen.push_back(log.size());
  clock.advance(10);
  seen.push_back(log.size());  // advance only posted the completion
  co_await yield_now();
  seen.push_back(log.size());
}

TEST(ManualClock, CompletionsArePostedNotRunInsideAdvance) {
  asio::io_context io;
  async::ManualClock clock;
  std::vector<Wake> log;
  std::vector<std::size_t> seen;
  spawn(io, sleep_and_log(clock, 10, 1, log));
  spawn(io, advance_and_observe(clock, log, seen));
  run_io(io);
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 0, 1}));
  EXPECT_EQ(log, (std::vector<Wake>{{1, 10, true}}));
}

asio::awaitable<void> race(async::ManualClock& a, async::ManualClock& b, std::optional<bool>& ra,
                           std::optional<bool>& rb, std::optional<std::size_t>& winner) {
  auto r = co_await (record(a.sleep_until(10), ra) || record(b.sleep_until(20), rb));
  winner = r.index();
}

TEST(ManualClock, LoserOfOrIsCancelledAndRemoved) {
  asio::io_context io;
  async::ManualClock a;
  async::ManualClock b;
  std::optional<bool> ra;
  std::optional<bool> rb;
  std::optional<std::size_t> winner;
  spawn(io, race(a, b, ra, rb, winner));
  run_ready(io);
  EXPECT_EQ(a.sleepers(), 1u);
  EXPECT_EQ(b.sleepers(), 1u);

  a.advance(10);
  run_io(io);
  EXPECT_EQ(winner, 0u);
  EXPECT_EQ(ra, true);
  EXPECT_EQ(rb, false);  // returned false, did not throw
  EXPECT_EQ(b.sleepers(), 0u);
  EXPECT_EQ(b.next_deadline(), std::nullopt);

  b.advance(100);  // the cancelled sleeper must not complete a second time
  run_io(io);
  EXPECT_EQ(rb, false);
  EXPECT_EQ(b.now_ns(), 100u);
}

asio::awaitable<void> race_same_deadline(async::ManualClock& clock, std::optional<bool>& first,
                                         std::optional<bool>& second,
                                         std::optional<std::size_t>& winner) {
  auto r = co_await (record(clock.sleep_until(10), first) || record(clock.sleep_until(10), second));
  winner = r.index();
}

TEST(ManualClock, SleeperThatFiredIgnoresLaterCancellation) {
  asio::io_context io;
  async::ManualClock clock;
  std::optional<bool> first;
  std::optional<bool> second;
  std::optional<std::size_t> winner;
  spawn(io, race_same_deadline(clock, first, second, winner));
  run_ready(io);
  EXPECT_EQ(clock.sleepers(), 2u);
  // Both fire in one advance; the `||` cancels the second only after its completion is posted.
  clock.advance(10);
  run_io(io);
  EXPECT_EQ(winner, 0u);
  EXPECT_EQ(first, true);
  EXPECT_EQ(second, true);
}

TEST(ManualClock, BoundCancellationSlotCancelsOnce) {
  asio::io_context io;
  async::ManualClock clock;
  asio::cancellation_signal signal;
  int completions = 0;
  std::optional<bool> result;
  asio::co_spawn(
      io, clock.sleep_until(100),
      asio::bind_cancellation_slot(signal.slot(), [&](const std::exception_ptr& e, bool ok) {
        ++completions;
        EXPECT_FALSE(e);
        result = ok;
      }));
  run_ready(io);
  EXPECT_EQ(clock.sleepers(), 1u);

  // The second emit reaches the sleep's handler after it already cancelled (co_spawn relays
  // both through the executor, or both run inline): it must be a no-op.
  signal.emit(asio::cancellation_type::terminal);
  signal.emit(asio::cancellation_type::terminal);
  run_io(io);
  EXPECT_EQ(clock.sleepers(), 0u);
  clock.advance(200);
  run_io(io);
  EXPECT_EQ(completions, 1);
  EXPECT_EQ(result, false);
}

TEST(ManualClock, TimeNeverGoesBackwards) {
  async::ManualClock clock(100);
  clock.advance_to(50);
  EXPECT_EQ(clock.now_ns(), 100u);
  clock.advance(0);
  EXPECT_EQ(clock.now_ns(), 100u);
  clock.advance_to(200);
  EXPECT_EQ(clock.now_ns(), 200u);
  clock.advance(UINT64_MAX);
  EXPECT_EQ(clock.now_ns(), UINT64_MAX);
  clock.advance_to(0);
  EXPECT_EQ(clock.now_ns(), UINT64_MAX);
}

asio::awaitable<void> sleep_for_and_log(async::Clock& clock, std::uint64_t duration_ns,
                                        std::optional<bool>& out) {
  out = co_await clock.sleep_for(duration_ns);
}

TEST(ManualClock, SleepForSaturatesAtTheEndOfTime) {
  EXPECT_EQ(async::saturating_add(UINT64_MAX - 5, 10), UINT64_MAX);
  EXPECT_EQ(async::saturating_add(UINT64_MAX - 10, 10), UINT64_MAX);
  EXPECT_EQ(async::saturating_add(7, 10), 17u);

  asio::io_context io;
  async::ManualClock clock(UINT64_MAX - 5);
  std::optional<bool> result;
  spawn(io, sleep_for_and_log(clock, 10, result));
  run_ready(io);
  EXPECT_EQ(clock.next_deadline(), UINT64_MAX);
  EXPECT_EQ(result, std::nullopt);
  EXPECT_TRUE(clock.advance_to_next());
  run_io(io);
  EXPECT_EQ(result, true);
  EXPECT_EQ(clock.now_ns(), UINT64_MAX);
}

TEST(ManualClock, DestroyingItDropsPendingSleepers) {
  asio::io_context io;  // outlives the clock, as the header requires
  std::vector<Wake> log;
  int completions = 0;
  asio::cancellation_signal signal;
  {
    async::ManualClock clock;
    asio::co_spawn(io, sleep_and_log(clock, 10, 1, log),
                   asio::bind_cancellation_slot(signal.slot(),
                                                [&](const std::exception_ptr&) { ++completions; }));
    run_ready(io);
    EXPECT_EQ(clock.sleepers(), 1u);
  }
  signal.emit(asio::cancellation_type::terminal);  // must not reach the destroyed clock
  run_io(io);  // runs the frame unwinding Asio posted when the handler was destroyed
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(completions, 0);
}

// ---- async::SteadyClock ----

TEST(SteadyClock, NowIsMonotonic) {
  async::SteadyClock clock;
  std::uint64_t previous = clock.now_ns();
  EXPECT_GT(previous, 0u);
  for (int i = 0; i < 1000; ++i) {
    std::uint64_t now = clock.now_ns();
    ASSERT_GE(now, previous);
    previous = now;
  }
}

TEST(SteadyClock, SleepForWaitsAtLeastItsDuration) {
  async::SteadyClock clock;
  auto task = [](async::Clock& c) -> asio::awaitable<std::uint64_t> {
    std::uint64_t start = c.now_ns();
    EXPECT_TRUE(co_await c.sleep_for(kMs));
    co_return c.now_ns() - start;
  };
  EXPECT_GE(run_async(task(clock), 5s), kMs);
}

asio::awaitable<void> race_steady(async::Clock& slow, std::uint64_t slow_deadline,
                                  async::Clock& fast, std::uint64_t fast_deadline,
                                  std::optional<bool>& slow_result,
                                  std::optional<std::size_t>& winner) {
  std::optional<bool> fast_result;
  auto r = co_await (record(slow.sleep_until(slow_deadline), slow_result) ||
                     record(fast.sleep_until(fast_deadline), fast_result));
  winner = r.index();
}

TEST(SteadyClock, CancelledSleepReturnsFalse) {
  async::SteadyClock steady;
  async::ManualClock manual;
  std::optional<bool> result;
  std::optional<std::size_t> winner;
  run_async(race_steady(steady, steady.now_ns() + kHour, manual, 0, result, winner), 5s);
  EXPECT_EQ(winner, 1u);
  EXPECT_EQ(result, false);
}

TEST(SteadyClock, DeadlineBeyondTheTimerRangeMeansNever) {
  async::SteadyClock steady;
  std::optional<bool> result;
  std::optional<std::size_t> winner;
  // Were UINT64_MAX to wrap into the past, the first sleep would win instead.
  run_async(race_steady(steady, UINT64_MAX, steady, steady.now_ns() + kMs, result, winner), 5s);
  EXPECT_EQ(winner, 1u);
  EXPECT_EQ(result, false);
}

// ---- the harness ----

TEST(AsyncTest, RunAsyncReturnsTheResultAndRethrows) {
  auto answer = []() -> asio::awaitable<int> { co_return 42; };
  EXPECT_EQ(run_async(answer()), 42);
  auto fail = []() -> asio::awaitable<void> {
    co_await yield_now();
    throw std::logic_error("boom");
  };
  EXPECT_THROW(run_async(fail()), std::logic_error);
}

asio::awaitable<void> sleep_long(async::Clock& clock) {
  co_await clock.sleep_for(kHour);
}

struct CapturedFailure {
  std::string what;
  std::vector<testing::TestPartResult> failures;
  std::chrono::milliseconds elapsed{};
};

template <class Run>
CapturedFailure capture_failure(Run run) {
  CapturedFailure out;
  testing::TestPartResultArray failures;
  auto start = std::chrono::steady_clock::now();
  {
    testing::ScopedFakeTestPartResultReporter reporter(
        testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    try {
      run();
    } catch (const std::runtime_error& e) {
      out.what = e.what();
    }
  }
  for (int i = 0; i < failures.size(); ++i) out.failures.push_back(failures.GetTestPartResult(i));
  out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return out;
}

TEST(AsyncTest, RunAsyncFailsAtItsRealTimeLimit) {
  async::SteadyClock clock;
  auto r = capture_failure([&] { run_async(sleep_long(clock), 50ms); });
  EXPECT_EQ(r.what, "async test timed out");
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(r.failures[0].nonfatally_failed());
  EXPECT_THAT(r.failures[0].message(), HasSubstr("limit of 50 ms"));
  EXPECT_GE(r.elapsed.count(), 50);
  EXPECT_LT(r.elapsed.count(), 5000);
}

TEST(AsyncTest, RunAsyncFailsAtItsLimitWhileWaitingOnVirtualTime) {
  async::ManualClock clock;  // nobody advances it; destroyed after run_async parked its io_context
  auto r = capture_failure([&] { run_async(sleep_long(clock), 50ms); });
  EXPECT_EQ(r.what, "async test timed out");
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_THAT(r.failures[0].message(), HasSubstr("limit of 50 ms"));
  EXPECT_GE(r.elapsed.count(), 50);
  EXPECT_LT(r.elapsed.count(), 5000);
  EXPECT_EQ(clock.sleepers(), 1u);
}

TEST(AsyncTest, RunIoFailsAtItsRealTimeLimit) {
  asio::io_context io;
  async::SteadyClock clock;
  spawn(io, sleep_long(clock));
  auto r = capture_failure([&] { run_io(io, 50ms); });
  EXPECT_EQ(r.what, "async test timed out");
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_THAT(r.failures[0].message(), HasSubstr("limit of 50 ms"));
  EXPECT_GE(r.elapsed.count(), 50);
  EXPECT_LT(r.elapsed.count(), 5000);
  EXPECT_TRUE(io.stopped());
}

TEST(AsyncTest, RunReadyRunsReadyHandlersWithoutWaiting) {
  asio::io_context io;
  async::SteadyClock clock;
  std::vector<int> order;
  asio::post(io, [&] {
    order.push_back(1);
    asio::post(io, [&] { order.push_back(2); });
  });
  spawn(io, sleep_long(clock));  // a real timer that must not be waited for
  auto start = std::chrono::steady_clock::now();
  EXPECT_GE(run_ready(io), 3u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_FALSE(io.stopped());  // the sleeping task still holds work
}

asio::awaitable<void> post_then_yield(std::vector<int>& order) {
  auto ex = co_await asio::this_coro::executor;
  asio::post(ex, [&order] { order.push_back(1); });
  asio::post(ex, [&order] { order.push_back(2); });
  order.push_back(0);
  co_await yield_now();
  order.push_back(3);
}

TEST(AsyncTest, YieldNowLetsReadyHandlersRun) {
  std::vector<int> order;
  run_async(post_then_yield(order));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace bb::async

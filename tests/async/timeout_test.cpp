// with_timeout on a Clock: the timeout runs on virtual time, the first to finish wins, and the
// loser is cancelled.
#include "bb/async/timeout.hpp"

#include "bb/async/clock.hpp"
#include "bb/async/event.hpp"
#include "tests/support/async_test.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

namespace bb::async {
namespace {

namespace asio = boost::asio;
using bb::test::run_io;
using bb::test::run_ready;

constexpr std::uint64_t kMs = 1'000'000;

// What one bounded wait ended with: a value, or the error code it threw.
struct Outcome {
  std::optional<int> value;
  boost::system::error_code error;
  bool done = false;
};

asio::awaitable<int> wait_then(Event& event, int value) {
  co_await event.wait();
  co_return value;
}

asio::awaitable<void> bounded(Clock& clock, Event& event, Outcome& out) {
  try {
    out.value = co_await with_timeout(clock, wait_then(event, 7), 100 * kMs, asio::error::timed_out,
                                      "test wait");
  } catch (const boost::system::system_error& e) {
    out.error = e.code();
  }
  out.done = true;
}

void spawn(asio::io_context& io, asio::awaitable<void> task) {
  asio::co_spawn(io, std::move(task), [](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  });
}

TEST(WithTimeoutOnClock, TimesOutExactlyAtTheDeadlineOfVirtualTime) {
  asio::io_context io;
  ManualClock clock;
  Event never(io.get_executor());
  Outcome out;
  spawn(io, bounded(clock, never, out));
  run_ready(io);
  clock.advance(99 * kMs);
  run_ready(io);
  EXPECT_FALSE(out.done);
  clock.advance(1 * kMs);
  run_io(io);
  EXPECT_TRUE(out.done);
  EXPECT_EQ(out.error, asio::error::timed_out);
  EXPECT_FALSE(out.value.has_value());
}

TEST(WithTimeoutOnClock, AnOperationThatFinishesFirstWinsAndEndsTheSleep) {
  asio::io_context io;
  ManualClock clock;
  Event ready(io.get_executor());
  Outcome out;
  spawn(io, bounded(clock, ready, out));
  run_ready(io);
  EXPECT_EQ(clock.sleepers(), 1u);
  clock.advance(50 * kMs);
  ready.notify();
  run_io(io);
  EXPECT_TRUE(out.done);
  EXPECT_FALSE(out.error);
  EXPECT_EQ(out.value, std::optional<int>(7));
  EXPECT_EQ(clock.sleepers(), 0u) << "the losing sleep was cancelled";
}

}  // namespace
}  // namespace bb::async

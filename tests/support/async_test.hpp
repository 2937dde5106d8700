// Coroutine test harness with a hard real-time limit. The limit is a safety net against hangs,
// not a sleep: a test finishes as soon as its task does.
//
// ASSERT_* cannot be used inside a coroutine (it expands to `return`): use EXPECT_* there, or
// co_return values and assert on them after run_async.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

namespace bb::test {

inline constexpr std::chrono::milliseconds kDefaultAsyncLimit = std::chrono::seconds(10);

namespace detail {

// The fresh single-threaded io_context of one run_async call. After a failure the io_context is
// kept alive until the program exits: objects that outlive the run_async call (a async::ManualClock
// declared in the test body) may still hold the stuck task's handler, and destroying that
// handler posts to the io_context.
class AsyncTestLoop {
 public:
  AsyncTestLoop();
  ~AsyncTestLoop();
  AsyncTestLoop(const AsyncTestLoop&) = delete;
  AsyncTestLoop& operator=(const AsyncTestLoop&) = delete;

  boost::asio::io_context& io() noexcept { return *io_; }

  // Called by the task's completion handler: stops the loop even if other work remains.
  void finish() noexcept;

  // Runs until finish(). If the limit passes first, adds a non-fatal gtest failure naming it,
  // stops the context and throws std::runtime_error("async test timed out"). (If something
  // stops the io_context before the task is done, that is reported and thrown likewise.)
  void run(std::chrono::milliseconds limit);

 private:
  std::unique_ptr<boost::asio::io_context> io_;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace detail

// Runs `task` on a fresh single-threaded io_context until it completes and returns its result;
// rethrows its exception. If it has not completed within `limit` of real time, fails the
// current test (ADD_FAILURE naming the limit), stops the context and throws
// std::runtime_error("async test timed out"). Work the task spawned and left behind is destroyed
// with the io_context, so join children before returning (and destroy objects they wait on
// first).
template <class T>
T run_async(boost::asio::awaitable<T> task, std::chrono::milliseconds limit = kDefaultAsyncLimit) {
  detail::AsyncTestLoop loop;
  std::exception_ptr error;
  std::optional<T> value;
  boost::asio::co_spawn(loop.io(), std::move(task), [&](std::exception_ptr e, T v) {
    if (e) {
      error = std::move(e);
    } else {
      value.emplace(std::move(v));
    }
    loop.finish();
  });
  loop.run(limit);
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

void run_async(boost::asio::awaitable<void> task,
               std::chrono::milliseconds limit = kDefaultAsyncLimit);

// For tests that spawn several tasks on an io_context they own: runs it until it is out of work
// (restarting it first if a previous run stopped it). If `limit` of real time passes first,
// adds a non-fatal gtest failure naming the limit, stops `io` and throws
// std::runtime_error("async test timed out"). Note that every co_spawned coroutine counts as
// work until it finishes, including one waiting on a async::ManualClock.
void run_io(boost::asio::io_context& io, std::chrono::milliseconds limit = kDefaultAsyncLimit);

// Step for virtual-time tests: runs every ready handler of `io`, including those they make
// ready in turn, without waiting for timers or I/O, until none is left; returns how many ran.
// Typical loop: spawn, run_ready, clock.advance(...), run_ready, check. Same failure as run_io
// if handlers keep re-posting for longer than `limit`.
std::size_t run_ready(boost::asio::io_context& io,
                      std::chrono::milliseconds limit = kDefaultAsyncLimit);

// One post to the current executor: every handler that was ready when it was called runs before
// the caller resumes (handlers those post in turn may run after it).
boost::asio::awaitable<void> yield_now();

}  // namespace bb::test

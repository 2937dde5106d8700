#include "tests/support/async_test.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <mutex>
#include <stdexcept>
#include <vector>

namespace bb::test {

namespace {

[[noreturn]] void fail_timed_out(boost::asio::io_context& io, std::chrono::milliseconds limit) {
  ADD_FAILURE() << "async test did not finish within its real-time limit of " << limit.count()
                << " ms";
  io.stop();
  throw std::runtime_error("async test timed out");
}

// io_contexts of failed run_async calls, destroyed at program exit (see AsyncTestLoop).
void park(std::unique_ptr<boost::asio::io_context> io) {
  static std::mutex mutex;
  static std::vector<std::unique_ptr<boost::asio::io_context>> parked;
  std::lock_guard lock(mutex);
  parked.push_back(std::move(io));
}

}  // namespace

namespace detail {

AsyncTestLoop::AsyncTestLoop() : io_(std::make_unique<boost::asio::io_context>(1)) {}

AsyncTestLoop::~AsyncTestLoop() {
  if (failed_) park(std::move(io_));
}

void AsyncTestLoop::finish() noexcept {
  done_ = true;
  io_->stop();
}

void AsyncTestLoop::run(std::chrono::milliseconds limit) {
  io_->run_for(limit);
  if (done_) return;
  failed_ = true;
  // The task holds work until it finishes, so run_for returns early only if someone stopped it.
  if (!io_->stopped()) fail_timed_out(*io_, limit);
  ADD_FAILURE() << "async test's io_context was stopped before its task finished";
  throw std::runtime_error("async test stopped");
}

}  // namespace detail

void run_async(boost::asio::awaitable<void> task, std::chrono::milliseconds limit) {
  detail::AsyncTestLoop loop;
  std::exception_ptr error;
  boost::asio::co_spawn(loop.io(), std::move(task), [&](std::exception_ptr e) {
    error = std::move(e);
    loop.finish();
  });
  loop.run(limit);
  if (error) std::rethrow_exception(error);
}

void run_io(boost::asio::io_context& io, std::chrono::milliseconds limit) {
  if (io.stopped()) io.restart();
  io.run_for(limit);
  if (!io.stopped()) fail_timed_out(io, limit);
}

std::size_t run_ready(boost::asio::io_context& io, std::chrono::milliseconds limit) {
  if (io.stopped()) io.restart();
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::size_t ran = 0;
  while (io.poll_one() != 0) {
    ++ran;
    if (std::chrono::steady_clock::now() > deadline) fail_timed_out(io, limit);
  }
  return ran;
}

boost::asio::awaitable<void> yield_now() {
  co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
}

}  // namespace bb::test

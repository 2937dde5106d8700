// A condition for coroutines on one executor: wait() suspends until the next notify_all(); the
// caller re-checks its predicate in a loop. Any number of waiters. A wait() ended by Asio
// cancellation rather than by notify_all() throws operation_aborted. Thread rule: one executor.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <cstdint>

namespace bb::wire::detail {

class Condition {
 public:
  explicit Condition(const boost::asio::any_io_executor& executor)
      : timer_(executor, boost::asio::steady_timer::time_point::max()) {}

  void notify_all() {
    ++generation_;
    timer_.cancel();
  }

  boost::asio::awaitable<void> wait() {
    const std::uint64_t seen = generation_;
    (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (generation_ == seen) {
      throw boost::system::system_error(boost::asio::error::operation_aborted, "wait cancelled");
    }
  }

 private:
  boost::asio::steady_timer timer_;
  std::uint64_t generation_ = 0;
};

}  // namespace bb::wire::detail

// A one-waiter wake-up for coroutines on one executor: notify() wakes the coroutine blocked in
// wait(), or makes its next wait() return at once. Built on a steady_timer that never expires by
// itself; notify() cancels it. A wait() ended by Asio cancellation (the loser of `||`, a
// cancellation slot) rather than by notify() throws operation_aborted, so loops around it end.
// Thread rule: one executor.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace bb::wire::detail {

class Signal {
 public:
  explicit Signal(const boost::asio::any_io_executor& executor)
      : timer_(executor, boost::asio::steady_timer::time_point::max()) {}

  void notify() {
    pending_ = true;
    timer_.cancel();
  }

  boost::asio::awaitable<void> wait() {
    if (!pending_) {
      timer_.expires_at(boost::asio::steady_timer::time_point::max());
      (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (!pending_) {
        throw boost::system::system_error(boost::asio::error::operation_aborted, "wait cancelled");
      }
    }
    pending_ = false;
  }

 private:
  boost::asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace bb::wire::detail

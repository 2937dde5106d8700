// A one-shot event many coroutines can wait for: set() wakes every waiter and every later
// wait() returns at once. Thread rule: one executor.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bb::wire::detail {

class Broadcast {
 public:
  explicit Broadcast(const boost::asio::any_io_executor& executor)
      : timer_(executor, boost::asio::steady_timer::time_point::max()) {}

  void set() {
    set_ = true;
    timer_.cancel();
  }
  bool is_set() const noexcept { return set_; }

  boost::asio::awaitable<void> wait() {
    while (!set_) {
      auto [ec] = co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (!set_ && ec == boost::asio::error::operation_aborted) {
        throw boost::system::system_error(ec, "wait cancelled");
      }
    }
  }

 private:
  boost::asio::steady_timer timer_;
  bool set_ = false;
};

}  // namespace bb::wire::detail

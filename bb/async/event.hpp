// The one wake-up primitive of bb's coroutines: an Event on one executor.
//
//   - notify(): wakes every coroutine waiting now. When none is waiting, the wake-up is kept
//     and the next wait() returns at once (and consumes it), so a notify() between a waiter's
//     check of its predicate and its wait() is never lost. Waiters re-check what they wait for
//     in a loop: a wake-up says "look again", not "it happened".
//   - set(): latches. Every waiter wakes and every later wait() returns at once, until reset().
//     What a one-shot outcome (a dial finished, a stop completed) is announced with.
//
// A wait() ended by Asio cancellation (the loser of `a || b`, a cancellation slot) rather than by
// notify() or set() throws boost::system::system_error(operation_aborted), so loops around it
// end. Thread rule: one executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <cstddef>
#include <cstdint>

namespace bb::async {

class Event {
 public:
  explicit Event(const boost::asio::any_io_executor& executor)
      : timer_(executor, boost::asio::steady_timer::time_point::max()) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void notify() {
    if (waiters_ == 0) {
      pending_ = true;
      return;
    }
    ++generation_;
    timer_.cancel();
  }

  void set() {
    set_ = true;
    ++generation_;
    timer_.cancel();
  }
  void reset() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }

  boost::asio::awaitable<void> wait() {
    if (set_) co_return;
    if (pending_) {
      pending_ = false;
      co_return;
    }
    const std::uint64_t seen = generation_;
    ++waiters_;
    struct Leave {
      std::size_t& n;
      ~Leave() { --n; }
    } leave{waiters_};
    (void)co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (generation_ == seen && !set_) {
      throw boost::system::system_error(boost::asio::error::operation_aborted, "wait cancelled");
    }
  }

 private:
  boost::asio::steady_timer timer_;
  std::uint64_t generation_ = 0;
  std::size_t waiters_ = 0;
  bool pending_ = false;
  bool set_ = false;
};

}  // namespace bb::async

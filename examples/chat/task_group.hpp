// TaskGroup: coroutines started in the background (dials, greetings) that still have an owner.
// wait() returns once every task spawned so far has ended, so a program can stop only after its
// children did. A task that throws has its error printed to stderr with the task's name; it
// does not stop the others.
//
// Thread rule: spawn() and wait() on the group's executor. Lifetime: the group must outlive its
// tasks (co_await wait() before destroying it).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <string>

namespace bb::chat {

class TaskGroup {
 public:
  explicit TaskGroup(const boost::asio::any_io_executor& executor);

  void spawn(boost::asio::awaitable<void> task, std::string name);
  boost::asio::awaitable<void> wait();
  std::size_t running() const noexcept { return running_; }

 private:
  boost::asio::any_io_executor executor_;
  std::size_t running_ = 0;
  boost::asio::steady_timer idle_;  // cancelled when running_ drops to zero
};

}  // namespace bb::chat

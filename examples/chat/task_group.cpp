#include "examples/chat/task_group.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <iostream>

namespace bb::chat {

namespace asio = boost::asio;

TaskGroup::TaskGroup(const asio::any_io_executor& executor)
    : executor_(executor), idle_(executor) {}

void TaskGroup::spawn(asio::awaitable<void> task, std::string name) {
  ++running_;
  asio::co_spawn(executor_, std::move(task),
                 [this, name = std::move(name)](const std::exception_ptr& error) {
                   if (error) {
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       std::cerr << "bb-chat: " << name << " failed: " << e.what() << std::endl;
                     } catch (...) {
                       std::cerr << "bb-chat: " << name << " failed" << std::endl;
                     }
                   }
                   if (--running_ == 0) idle_.cancel();
                 });
}

asio::awaitable<void> TaskGroup::wait() {
  while (running_ > 0) {
    idle_.expires_at(asio::steady_timer::time_point::max());
    (void)co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace bb::chat

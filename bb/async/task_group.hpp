// Owns coroutines spawned by an object that must wait for them before it goes away (Seastar's
// gate): spawn() starts one, cancel_all() asks every running one to stop at its next
// suspension point, join() returns once none is running. A task's exception is logged, never
// lost and never propagated into unrelated tasks. Thread rule: one executor.
#pragma once

#include "bb/async/event.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>

#include <cstddef>
#include <exception>
#include <list>
#include <string>

namespace bb::async {

void log_task_failure(const std::string& name, std::exception_ptr error) noexcept;

class TaskGroup {
 public:
  explicit TaskGroup(const boost::asio::any_io_executor& executor)
      : executor_(executor), idle_(executor) {}
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  void spawn(boost::asio::awaitable<void> task, std::string name) {
    auto signal = signals_.emplace(signals_.end());
    ++running_;
    boost::asio::co_spawn(
        executor_, std::move(task),
        boost::asio::bind_cancellation_slot(
            signal->slot(), [this, signal, name = std::move(name)](std::exception_ptr error) {
              if (error) log_task_failure(name, error);
              signals_.erase(signal);
              if (--running_ == 0) idle_.notify();
            }));
  }

  void cancel_all() {
    for (auto& s : signals_) s.emit(boost::asio::cancellation_type::terminal);
  }

  boost::asio::awaitable<void> join() {
    while (running_ > 0) co_await idle_.wait();
  }

  std::size_t running() const noexcept { return running_; }

 private:
  boost::asio::any_io_executor executor_;
  Event idle_;
  std::list<boost::asio::cancellation_signal> signals_;
  std::size_t running_ = 0;
};

}  // namespace bb::async

// `op` bounded in time. Asio 1.26's `a || b` completes on the first *success* and, when one
// side throws, keeps waiting for the other; so `op || timer` would turn every failure of `op`
// into a wait for the full timeout. Here the operation's exception is captured as a value, so
// the first to finish wins either way, and the loser is cancelled.
#pragma once

#include "bb/async/clock.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>

namespace bb::async {

template <class T>
struct Captured {
  std::exception_ptr error;
  std::optional<T> value;
};
template <>
struct Captured<void> {
  std::exception_ptr error;
};

template <class T>
boost::asio::awaitable<Captured<T>> capture(boost::asio::awaitable<T> op) {
  Captured<T> out;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(op);
    } else {
      out.value.emplace(co_await std::move(op));
    }
  } catch (...) {
    out.error = std::current_exception();
  }
  co_return out;
}

// Throws boost::system::system_error(`on_timeout`, `what`) if `op` has not finished in time;
// rethrows `op`'s own exception otherwise.
template <class T>
boost::asio::awaitable<T> with_timeout(boost::asio::awaitable<T> op,
                                       std::chrono::steady_clock::duration timeout,
                                       boost::system::error_code on_timeout, std::string what) {
  using namespace boost::asio::experimental::awaitable_operators;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, timeout);
  auto outcome = co_await (capture(std::move(op)) || timer.async_wait(boost::asio::use_awaitable));
  if (outcome.index() == 1) throw boost::system::system_error(on_timeout, what);
  auto& captured = std::get<0>(outcome);
  if (captured.error) std::rethrow_exception(captured.error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*captured.value);
}

// The same on `clock`'s time, so a test can run the timeout on a ManualClock. If the awaiting
// coroutine is cancelled while `op` runs, this throws operation_aborted (or `op`'s own error).
template <class T>
boost::asio::awaitable<T> with_timeout(Clock& clock, boost::asio::awaitable<T> op,
                                       std::uint64_t timeout_ns,
                                       boost::system::error_code on_timeout, std::string what) {
  using namespace boost::asio::experimental::awaitable_operators;
  auto outcome = co_await (capture(std::move(op)) || clock.sleep_for(timeout_ns));
  if (outcome.index() == 1) {
    // A sleep that returns false was cancelled, not timed out.
    if (!std::get<1>(outcome)) {
      throw boost::system::system_error(boost::asio::error::operation_aborted, what);
    }
    throw boost::system::system_error(on_timeout, what);
  }
  auto& captured = std::get<0>(outcome);
  if (captured.error) std::rethrow_exception(captured.error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*captured.value);
}

}  // namespace bb::async

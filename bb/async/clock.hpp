// Time source of bb. Every time read and timer goes through a Clock: steady time in production,
// a manual virtual clock in tests, so backoff, deadlines and the failure detector are tested
// deterministically and without sleeping.
//
// Times are nanoseconds as std::uint64_t. For SteadyClock they count from the steady clock's
// epoch (meaningful only as differences); for ManualClock they are whatever the test says.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace bb::async {

// Adds without wrapping: a deadline past the end of time means "never".
constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

// A duration as the Clock's nanoseconds; negative durations count as 0.
constexpr std::uint64_t to_ns(std::chrono::nanoseconds d) noexcept {
  return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
}

// Cancellation: sleep_until takes part in Asio per-operation cancellation (the loser of
// `a || b`, a bound cancellation slot, a parent coroutine's cancellation); every cancellation
// type is honoured, since dropping a sleep has no side effects. A cancelled sleep returns false
// and never throws. (Asio's own `co_await` check still throws operation_aborted if the awaiting
// coroutine was already cancelled before it awaited and this_coro::throw_if_cancelled is on.)
class Clock {
 public:
  virtual ~Clock() = default;

  virtual std::uint64_t now_ns() const noexcept = 0;

  // Completes once now_ns() >= deadline_ns and returns true; returns false if cancelled.
  // Resumes on the awaiting coroutine's executor.
  virtual boost::asio::awaitable<bool> sleep_until(std::uint64_t deadline_ns) = 0;

  // sleep_until(now + duration), saturating at UINT64_MAX; "now" is read when the sleep starts.
  boost::asio::awaitable<bool> sleep_for(std::uint64_t duration_ns);
};

// std::chrono::steady_clock and one asio::steady_timer per sleep. Stateless and thread-safe: one
// instance can serve coroutines on any number of executors. A deadline beyond the timer's range
// sleeps until cancelled.
class SteadyClock final : public Clock {
 public:
  std::uint64_t now_ns() const noexcept override;
  boost::asio::awaitable<bool> sleep_until(std::uint64_t deadline_ns) override;
};

// The process's SteadyClock, for owners that were not given a Clock. It lives until exit.
Clock& steady_clock() noexcept;

// Virtual time that moves only when the test calls advance*(). Thread rule: use one ManualClock
// from one thread, the one running the io_context(s) of its sleepers.
//
// Sleepers are completed by posting to their own executor, never inline inside advance*() or
// sleep_until, so advance*() can be called from inside a coroutine; the sleepers resume when
// their executor next runs ready handlers (e.g. io_context::poll). A sleep whose deadline has
// already been reached completes at once (posted).
//
// Lifetime: destroying the clock with pending sleepers destroys their completion handlers
// without invoking them; those coroutines never resume, and Asio unwinds their frames through
// their executor. So the io_context of every pending sleeper must outlive the clock (declare the
// clock after the io_context), unless it has no pending sleepers left.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::uint64_t start_ns = 0);
  ~ManualClock() override;
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  std::uint64_t now_ns() const noexcept override;
  boost::asio::awaitable<bool> sleep_until(std::uint64_t deadline_ns) override;

  // Moves time forward and completes every sleeper whose deadline is <= the new time, in
  // deadline order (ties: registration order). Time never moves backwards: a target at or
  // before now_ns() changes nothing. advance saturates at UINT64_MAX.
  void advance(std::uint64_t delta_ns);
  void advance_to(std::uint64_t t_ns);

  // Advances exactly to the earliest pending deadline and completes the sleepers due then;
  // returns false (and leaves time alone) if nobody sleeps.
  bool advance_to_next();

  std::size_t sleepers() const noexcept;
  std::optional<std::uint64_t> next_deadline() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace bb::async

#include "bb/async/clock.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <limits>
#include <map>
#include <utility>

namespace bb::async {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto kAwaitTuple = asio::as_tuple(asio::use_awaitable);

// A wait ends either by reaching its deadline or by cancellation; anything else is a real error.
bool completed(const error_code& ec) {
  if (!ec) return true;
  if (ec == asio::error::operation_aborted) return false;
  throw boost::system::system_error(ec, "clock sleep");
}

}  // namespace

asio::awaitable<bool> Clock::sleep_for(std::uint64_t duration_ns) {
  co_return co_await sleep_until(saturating_add(now_ns(), duration_ns));
}

// ---- SteadyClock ----

std::uint64_t SteadyClock::now_ns() const noexcept {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now().time_since_epoch())
                .count();
  return ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
}

asio::awaitable<bool> SteadyClock::sleep_until(std::uint64_t deadline_ns) {
  using time_point = asio::steady_timer::time_point;
  using duration = asio::steady_timer::duration;
  // Deadlines past what the timer can represent mean "until cancelled".
  constexpr auto kMaxTicks = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  time_point expiry = time_point::max();
  if (deadline_ns <= kMaxTicks) {
    // Nanoseconds are the finest standard tick, so the cast to the timer's duration cannot
    // overflow.
    expiry = time_point(std::chrono::duration_cast<duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(deadline_ns))));
  }
  asio::steady_timer timer(co_await asio::this_coro::executor, expiry);
  auto [ec] = co_await timer.async_wait(kAwaitTuple);
  co_return completed(ec);
}

Clock& steady_clock() noexcept {
  static SteadyClock clock;
  return clock;
}

// ---- ManualClock ----

namespace {

using SleepHandler = asio::any_completion_handler<void(error_code)>;

struct Sleeper {
  SleepHandler handler;
  // Taken from the concrete handler before type erasure: any_completion_executor cannot be told
  // blocking.never, and completions must never run inline inside advance().
  asio::any_io_executor executor;
  // Where our cancellation handler is installed (unconnected if the caller cannot cancel).
  asio::cancellation_slot slot;
};

// Key order is completion order; std::multimap inserts equal keys after the existing ones, which
// gives registration order for ties. Node iterators stay valid until their own erase.
using SleeperMap = std::multimap<std::uint64_t, Sleeper>;

void complete(Sleeper sleeper, error_code ec) {
  asio::post(sleeper.executor,
             [handler = std::move(sleeper.handler), ec]() mutable { std::move(handler)(ec); });
}

}  // namespace

struct ManualClock::State {
  std::uint64_t now_ns;
  SleeperMap sleepers;

  void fire(SleeperMap::iterator it) {
    // Removing our cancellation handler first means it can never see an erased iterator.
    if (it->second.slot.is_connected()) it->second.slot.clear();
    complete(std::move(sleepers.extract(it).mapped()), {});
  }

  void fire_due() {
    while (!sleepers.empty() && sleepers.begin()->first <= now_ns) fire(sleepers.begin());
  }
};

namespace {

// Lives in the sleeper's cancellation slot. It stays there after it ran (a handler must not
// clear its own slot) until the resumed coroutine clears it, so it disarms itself: a repeated
// emit is a no-op and never touches the clock.
class CancelSleep {
 public:
  CancelSleep(SleeperMap* sleepers, SleeperMap::iterator it) : sleepers_(sleepers), it_(it) {}

  void operator()(asio::cancellation_type type) {
    if (sleepers_ == nullptr || type == asio::cancellation_type::none) return;
    SleeperMap* sleepers = std::exchange(sleepers_, nullptr);
    complete(std::move(sleepers->extract(it_).mapped()), asio::error::operation_aborted);
  }

 private:
  SleeperMap* sleepers_;
  SleeperMap::iterator it_;
};

}  // namespace

ManualClock::ManualClock(std::uint64_t start_ns)
    : state_(std::make_unique<State>(State{start_ns, {}})) {}

ManualClock::~ManualClock() {
  // Disconnect every cancellation handler before the handlers (and the map they point into) go.
  for (auto& [deadline, sleeper] : state_->sleepers) {
    if (sleeper.slot.is_connected()) sleeper.slot.clear();
  }
}

std::uint64_t ManualClock::now_ns() const noexcept {
  return state_->now_ns;
}

asio::awaitable<bool> ManualClock::sleep_until(std::uint64_t deadline_ns) {
  State* state = state_.get();
  auto initiation = [state, deadline_ns](auto handler) {
    asio::any_io_executor executor = asio::get_associated_executor(handler);
    // Sleepers are only ever move-constructed: any_completion_handler's move assignment is
    // broken in Asio 1.26 (it wraps the source handler instead of taking it over and crashes).
    Sleeper sleeper{SleepHandler(std::move(handler)), std::move(executor), {}};
    if (deadline_ns <= state->now_ns) {
      complete(std::move(sleeper), {});
      return;
    }
    asio::cancellation_slot slot = sleeper.handler.get_cancellation_slot();
    auto it = state->sleepers.emplace(deadline_ns, std::move(sleeper));
    if (slot.is_connected()) {
      it->second.slot = slot;
      slot.emplace<CancelSleep>(&state->sleepers, it);
    }
  };
  auto [ec] = co_await asio::async_initiate<decltype(kAwaitTuple), void(error_code)>(
      std::move(initiation), kAwaitTuple);
  co_return completed(ec);
}

void ManualClock::advance(std::uint64_t delta_ns) {
  advance_to(saturating_add(state_->now_ns, delta_ns));
}

void ManualClock::advance_to(std::uint64_t t_ns) {
  if (t_ns <= state_->now_ns) return;
  state_->now_ns = t_ns;
  state_->fire_due();
}

bool ManualClock::advance_to_next() {
  if (state_->sleepers.empty()) return false;
  // Sleepers due at registration never enter the map, so this deadline is in the future.
  state_->now_ns = state_->sleepers.begin()->first;
  state_->fire_due();
  return true;
}

std::size_t ManualClock::sleepers() const noexcept {
  return state_->sleepers.size();
}

std::optional<std::uint64_t> ManualClock::next_deadline() const noexcept {
  if (state_->sleepers.empty()) return std::nullopt;
  return state_->sleepers.begin()->first;
}

}  // namespace bb::async

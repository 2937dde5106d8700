// The events of one source (a wire::Host or a node::Node: anything with next_event() and
// try_next_event()), in arrival order, for tests. wait() takes the first matching event, whether
// it arrived before the call or arrives within the limit; events it passes over stay in the log.
// Predicates capture by reference: g++ 12 destroys the by-value captures of a lambda temporary
// passed to a coroutine twice.
#pragma once

#include "bb/async/timeout.hpp"

#include <gtest/gtest.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bb::test {

template <class Source, class Event, std::string (*Describe)(const Event&)>
class EventLog {
 public:
  EventLog(Source& source, std::chrono::milliseconds default_limit)
      : source_(source), default_limit_(default_limit) {}

  template <class E, class Pred>
  boost::asio::awaitable<std::optional<E>> wait(Pred pred, std::chrono::milliseconds limit) {
    drain();
    for (auto it = seen_.begin(); it != seen_.end(); ++it) {
      if (auto* e = std::get_if<E>(&*it); e != nullptr && pred(*e)) {
        E found = std::move(*e);
        seen_.erase(it);
        co_return found;
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= left.zero()) break;
      auto next = co_await async::capture(async::with_timeout(
          source_.next_event(), left, make_error_code(boost::asio::error::timed_out),
          "waiting for an event"));
      if (next.error || !next.value || !*next.value) break;  // timed out, or the source stopped
      Event event = std::move(**next.value);
      if (auto* e = std::get_if<E>(&event); e != nullptr && pred(*e)) co_return std::move(*e);
      seen_.push_back(std::move(event));
    }
    ADD_FAILURE() << "no expected event within " << limit.count() << " ms; seen: " << dump();
    co_return std::nullopt;
  }
  template <class E, class Pred>
  boost::asio::awaitable<std::optional<E>> wait(Pred pred) {
    return wait<E>(std::move(pred), default_limit_);
  }
  template <class E>
  boost::asio::awaitable<std::optional<E>> wait() {
    return wait<E>([](const E&) { return true; }, default_limit_);
  }

  // Events of type E matching `pred` received so far (without waiting).
  template <class E, class Pred>
  std::size_t count(Pred pred) {
    drain();
    std::size_t n = 0;
    for (const auto& event : seen_) {
      if (auto* e = std::get_if<E>(&event); e != nullptr && pred(*e)) ++n;
    }
    return n;
  }
  template <class E>
  std::size_t count() {
    return count<E>([](const E&) { return true; });
  }

  // The events seen so far, the first 20 of them spelled out.
  std::string dump() {
    drain();
    constexpr std::size_t kShown = 20;
    std::string out;
    for (std::size_t i = 0; i < std::min(seen_.size(), kShown); ++i) {
      out += "\n  " + Describe(seen_[i]);
    }
    if (seen_.size() > kShown)
      out += "\n  … and " + std::to_string(seen_.size() - kShown) + " more";
    return out.empty() ? " none" : out;
  }

 private:
  void drain() {
    while (auto event = source_.try_next_event()) seen_.push_back(std::move(*event));
  }

  Source& source_;
  std::chrono::milliseconds default_limit_;
  std::vector<Event> seen_;
};

}  // namespace bb::test

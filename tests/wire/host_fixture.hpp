// Shared by the Host tests (host_test.cpp, bad_input_test.cpp): hosts on 127.0.0.1 port 0, an
// event log that waits with a time bound, and a runner that stops every host however the
// scenario ends (a Host must be stopped before it is destroyed).
//
// Thread rule: everything runs on the test's single io_context (test::run_async).
#pragma once

#include "tests/support/async_test.hpp"
#include "wire/detail/timeout.hpp"
#include "wire/host.hpp"
#include "wire/protocols/ping.hpp"

#include <gtest/gtest.h>
#include <boost/asio/error.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bb::wire::host_test {

namespace asio = boost::asio;

// How long a test waits for one expected event or exchange; generous next to loopback times.
inline constexpr std::chrono::milliseconds kEventWait{2000};
// Safety net for a whole test; each finishes far sooner.
inline constexpr std::chrono::milliseconds kTestLimit{5000};

inline Multiaddr loopback() {
  return Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value();
}

// Where to dial `host`: its first listen address with its /p2p/ part.
inline Multiaddr dial_addr(const Host& host) {
  return host.listen_addrs().at(0).with_peer_id(host.peer_id());
}

inline std::string describe(const HostEvent& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, PeerConnected>) {
          return "PeerConnected " + e.peer.to_base58();
        } else if constexpr (std::is_same_v<E, PeerDisconnected>) {
          return "PeerDisconnected " + e.peer.to_base58() + " (" + e.reason.message() + ")";
        } else if constexpr (std::is_same_v<E, DialFailed>) {
          return "DialFailed " + e.addr.to_string() + ": " + e.detail;
        } else if constexpr (std::is_same_v<E, InboundFailed>) {
          return "InboundFailed " + e.from.to_string() + ": " + e.detail;
        } else if constexpr (std::is_same_v<E, StreamFailed>) {
          return "StreamFailed " + e.protocol + ": " + e.detail;
        } else if constexpr (std::is_same_v<E, PeerIdentified>) {
          return "PeerIdentified " + e.peer.to_base58();
        } else {
          return "EnvelopeReceived " + e.peer.to_base58();
        }
      },
      event);
}

// The events of one Host, in arrival order. wait() takes the first matching event, whether it
// arrived before the call or arrives within the limit; events it passes over stay in the log.
// Predicates capture by reference: g++ 12 destroys the by-value captures of a lambda temporary
// passed to a coroutine twice.
class EventLog {
 public:
  explicit EventLog(Host& host) : host_(host) {}

  template <class E, class Pred>
  asio::awaitable<std::optional<E>> wait(Pred pred, std::chrono::milliseconds limit = kEventWait) {
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
      auto next = co_await detail::capture(
          detail::with_timeout(host_.next_event(), left, make_error_code(asio::error::timed_out),
                               "waiting for a host event"));
      if (next.error || !next.value || !*next.value) break;  // timed out, or the host stopped
      HostEvent event = std::move(**next.value);
      if (auto* e = std::get_if<E>(&event); e != nullptr && pred(*e)) co_return std::move(*e);
      seen_.push_back(std::move(event));
    }
    ADD_FAILURE() << "no expected event within " << limit.count() << " ms; seen: " << dump();
    co_return std::nullopt;
  }

  template <class E>
  asio::awaitable<std::optional<E>> wait() {
    return wait<E>([](const E&) { return true; });
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

  std::string dump() const {
    std::string out;
    for (const auto& event : seen_) out += "\n  " + describe(event);
    return out.empty() ? " none" : out;
  }

 private:
  void drain() {
    while (auto event = host_.try_next_event()) seen_.push_back(std::move(*event));
  }

  Host& host_;
  std::vector<HostEvent> seen_;
};

// Runs `scenario`, then stops every host whether it succeeded or threw, then rethrows.
template <class... Hosts>
asio::awaitable<void> run_then_stop(asio::awaitable<void> scenario, Hosts&... hosts) {
  auto outcome = co_await detail::capture(std::move(scenario));
  std::vector<Host*> all;
  (all.push_back(&hosts), ...);
  for (Host* host : all) co_await host->stop();
  if (outcome.error) std::rethrow_exception(outcome.error);
}

inline std::string text_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return error_text(e);
  } catch (...) {
    return "non-standard exception";
  }
}

// One ping from `from` to `to` over their connection.
inline asio::awaitable<testing::AssertionResult> pings(const Host& from, const PeerId& to) {
  auto conn = from.connection(to);
  if (!conn) co_return testing::AssertionFailure() << "not connected to " << to.to_base58();
  auto rtt = co_await detail::capture(ping::ping(*conn, kEventWait));
  if (rtt.error) co_return testing::AssertionFailure() << "ping failed: " << text_of(rtt.error);
  if (rtt.value->count() <= 0) co_return testing::AssertionFailure() << "RTT is not positive";
  co_return testing::AssertionSuccess();
}

// The code of the exception in `error`, or a default code when it is not a system_error.
inline boost::system::error_code code_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    return e.code();
  } catch (...) {
    return make_error_code(asio::error::fault);
  }
}

}  // namespace bb::wire::host_test

// Shared by the Host tests (host_test.cpp, bad_input_test.cpp): hosts on 127.0.0.1 port 0, an
// event log that waits with a time bound, and a runner that stops every host however the
// scenario ends (a Host must be stopped before it is destroyed).
//
// Thread rule: everything runs on the test's single io_context (test::run_async).
#pragma once

#include "tests/support/async_test.hpp"
#include "tests/support/event_log.hpp"
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

// The events of one Host, in arrival order (tests/support/event_log.hpp).
using EventLogBase = test::EventLog<Host, HostEvent, &describe>;
class EventLog : public EventLogBase {
 public:
  explicit EventLog(Host& source) : EventLogBase(source, kEventWait) {}
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

// Shared by the Host tests (host_test.cpp, bad_input_test.cpp): hosts on 127.0.0.1 port 0, an
// event log that waits with a time bound, and a runner that stops every host however the
// scenario ends (a Host must be stopped before it is destroyed).
//
// Thread rule: everything runs on the test's single io_context (test::run_async).
#pragma once

#include "bb/async/timeout.hpp"
#include "bb/proto/bb_core.pb.h"
#include "bb/wire/host.hpp"
#include "bb/wire/mss/message.hpp"
#include "bb/wire/protocols/bb_wire.hpp"
#include "bb/wire/protocols/ping.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"
#include "tests/support/event_log.hpp"
#include "tests/support/host_pair.hpp"

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bb::wire::host_test {

namespace asio = boost::asio;

// kEventWait, loopback() and code_of() are shared with the other wire tests.
using test::code_of;
using test::kEventWait;
using test::loopback;
// Safety net for a whole test; each finishes far sooner.
inline constexpr std::chrono::milliseconds kTestLimit{5000};

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
        } else {
          return "PeerIdentified " + e.peer.to_base58();
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

// Serves /bb/wire/1.1.0 and 1.0.0 on `host` and keeps every envelope that arrives (accepting it, or
// refusing it with what `judge` says), for a test to wait for.
struct ReceivedEnvelope {
  PeerId peer;
  std::shared_ptr<const core::WireEnvelope> envelope;
};
class EnvelopeLog {
 public:
  using Judge = std::function<std::string_view(const core::WireEnvelope&)>;
  explicit EnvelopeLog(Host& host, Judge judge = {})
      : state_(std::make_shared<State>(host.peer_id(), std::move(judge))) {
    auto state = state_;
    bb_wire::register_server(
        host,
        [state](const PeerId& peer, std::shared_ptr<const core::WireEnvelope> env, std::size_t,
                bool) -> asio::awaitable<bb_wire::Refusals> {
          const std::string_view reason = state->take(peer, std::move(env));
          bb_wire::Refusals refused;
          if (!reason.empty()) refused.push_back({0, reason});
          co_return refused;
        });
  }

  // The next envelope (from `peer` when given), waiting at most kEventWait; nullopt then.
  asio::awaitable<std::optional<ReceivedEnvelope>> next(std::optional<PeerId> peer = {}) {
    auto state = state_;
    using namespace asio::experimental::awaitable_operators;
    while (true) {
      for (auto it = state->got.begin(); it != state->got.end(); ++it) {
        if (!peer || it->peer == *peer) {
          ReceivedEnvelope r = std::move(*it);
          state->got.erase(it);
          co_return r;
        }
      }
      if (!state->arrived) state->arrived.emplace(co_await asio::this_coro::executor);
      asio::steady_timer timer(co_await asio::this_coro::executor, kEventWait);
      auto woke = co_await (state->arrived->wait() ||
                            timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (woke.index() == 1) co_return std::nullopt;
    }
  }

 private:
  struct State {
    State(PeerId self, Judge j) : self(std::move(self)), judge(std::move(j)) {}
    std::string_view take(const PeerId& peer, std::shared_ptr<const core::WireEnvelope> env) {
      const std::string_view verdict = judge ? judge(*env) : std::string_view{};
      got.push_back(ReceivedEnvelope{peer, std::move(env)});
      if (arrived) arrived->notify();
      return verdict;
    }
    PeerId self;
    Judge judge;
    std::deque<ReceivedEnvelope> got;
    std::optional<async::Event> arrived;
  };
  std::shared_ptr<State> state_;
};

// Runs `scenario`, then stops every host whether it succeeded or threw, then rethrows.
template <class... Hosts>
asio::awaitable<void> run_then_stop(asio::awaitable<void> scenario, Hosts&... hosts) {
  auto outcome = co_await async::capture(std::move(scenario));
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
  auto rtt = co_await async::capture(ping::ping(*conn, kEventWait));
  if (rtt.error) co_return testing::AssertionFailure() << "ping failed: " << text_of(rtt.error);
  if (rtt.value->count() <= 0) co_return testing::AssertionFailure() << "RTT is not positive";
  co_return testing::AssertionSuccess();
}

// ---- clients from a chosen source address (per-IP limits) ---------------------------------------

// Linux accepts any 127.0.0.0/8 source on lo: "127.0.0.2" plays another machine.
inline asio::awaitable<tcp::socket> connect_from(const char* source_ip, const Multiaddr& to) {
  auto ex = co_await asio::this_coro::executor;
  const tcp::endpoint target = tcp_endpoint(to.decapsulate_code(protocol::p2p)).value();
  tcp::socket socket(ex);
  socket.open(target.protocol());
  socket.bind(tcp::endpoint(asio::ip::make_address(source_ip), 0));
  co_await async::with_timeout(socket.async_connect(target, asio::use_awaitable), kEventWait,
                               make_error_code(asio::error::timed_out), "connecting");
  socket.set_option(tcp::no_delay(true));
  co_return socket;
}

// A peer with a fresh identity on a connection from `source_ip` to `host` (the upgrade done by
// hand, as a Host would; nothing runs the connection unless the caller does).
inline asio::awaitable<Connection> dial_from(const char* source_ip, const Host& host,
                                             const Ed25519KeyPair& identity) {
  tcp::socket socket = co_await connect_from(source_ip, host.listen_addrs().at(0));
  co_return co_await Connection::upgrade(std::move(socket), Direction::outbound, identity,
                                         host.peer_id(), ConnectionOptions());
}

// What a raw socket received until the peer closed it, or `bound` passed.
struct RawEnding {
  Bytes bytes;
  boost::system::error_code end;  // eof or connection_reset; timed_out if still open at `bound`
  // The multistream-select lines in `bytes` (complete ones).
  std::vector<std::string> mss_lines() const {
    std::vector<std::string> out;
    ByteView rest(bytes);
    while (true) {
      auto message = mss::decode_message(rest);
      if (!message || !*message) break;
      out.emplace_back((*message)->first);
      rest = rest.subspan((*message)->second);
    }
    return out;
  }
  bool closed() const { return end == asio::error::eof || end == asio::error::connection_reset; }
};

inline asio::awaitable<RawEnding> read_until_closed(tcp::socket& socket,
                                                    std::chrono::milliseconds bound = kEventWait) {
  using namespace asio::experimental::awaitable_operators;
  RawEnding out;
  asio::steady_timer timer(socket.get_executor(), bound);
  std::array<std::uint8_t, 1024> buf{};
  while (true) {
    auto outcome =
        co_await (socket.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable)) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (outcome.index() == 1) {
      out.end = make_error_code(asio::error::timed_out);
      co_return out;
    }
    auto [ec, n] = std::get<0>(outcome);
    out.bytes.insert(out.bytes.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    if (ec) {
      out.end = ec;
      co_return out;
    }
  }
}

// The first multistream-select message every dialer sends.
inline Bytes mss_header() {
  Bytes out;
  mss::append_message(out, mss::kHeader);
  return out;
}

}  // namespace bb::wire::host_test

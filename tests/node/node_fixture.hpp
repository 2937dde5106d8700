// Shared by the Node tests (node_test.cpp, node_faults_test.cpp): Nodes on 127.0.0.1 port 0 in
// one io_context, an event log that waits with a time bound, numbered payloads, and the send
// tally behind the accounting invariant (sent = delivered + reported-failed).
//
// Thread rule: everything runs on the test's single io_context (test::run_async). Lifetime: a
// Cluster owns its nodes and the manual clock they may use (declared first, so it outlives them)
// and stops every node when the scenario ends, however it ends.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/async/timeout.hpp"
#include "bb/node/node.hpp"
#include "bb/runtime/events.hpp"
#include "bb/wire/multiaddr.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"
#include "tests/support/event_log.hpp"

#include <gtest/gtest.h>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bb::node::node_test {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports

namespace asio = boost::asio;

using test::kEventWait;  // tests/support: one wait for every suite
using test::loopback;
// Safety net for a whole test; each finishes far sooner.
inline constexpr std::chrono::milliseconds kTestLimit{20000};

inline NodeConfig loopback_config() {
  NodeConfig config;
  config.listen = {loopback()};
  return config;
}

// Where to dial `node`: its first listen address (which ends in /p2p/<its id>).
inline wire::Multiaddr dial_addr(const Node& node) {
  return node.listen_addrs().at(0);
}

inline bool contains(const std::vector<wire::Multiaddr>& addrs, const wire::Multiaddr& addr) {
  return std::find(addrs.begin(), addrs.end(), addr) != addrs.end();
}

inline std::string short_id(const wire::PeerId& peer) {
  const std::string text = peer.to_base58();
  return text.size() > 8 ? "…" + text.substr(text.size() - 6) : text;
}

inline std::string describe(const Event& event) {
  std::string out(event_name(event));
  std::visit(
      [&out](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        out += " " + short_id(e.peer);
        if constexpr (std::is_same_v<E, PeerDown>) {
          out += " cause=" + std::string(e.cause);
        } else if constexpr (std::is_same_v<E, SendFailed>) {
          out += " reason=" + std::string(e.reason) + " id=" + std::to_string(e.message_id) + " (" +
                 e.detail + ")";
        } else if constexpr (std::is_same_v<E, OutboundDropped>) {
          out += " count=" + std::to_string(e.count) + " reason=" + std::string(e.reason);
        } else if constexpr (std::is_same_v<E, PeerSuspect>) {
          out += " phi=" + std::to_string(e.phi);
        }
      },
      event);
  return out;
}

inline std::string describe(const NodeMetrics& m) {
  std::string out =
      "sends=" + std::to_string(m.sends) + " accepted=" + std::to_string(m.receipts_accepted) +
      " out=" + std::to_string(m.messages_out) + "/" + std::to_string(m.bytes_out) +
      "B in=" + std::to_string(m.messages_in) + "/" + std::to_string(m.bytes_in) +
      "B conns=" + std::to_string(m.connections) + " (+" + std::to_string(m.connections_opened) +
      " -" + std::to_string(m.connections_closed) +
      ") notices sent/received=" + std::to_string(m.backoff_notices_sent) + "/" +
      std::to_string(m.backoff_notices_received) + " drops={";
  for (const auto& [reason, n] : m.drops) out += " " + reason + ":" + std::to_string(n);
  return out + " }";
}

// The invariant from a sender's own counters, at a moment when nothing it sent is in flight:
// every send() ended in an accepted receipt or in a drop with a reason.
inline testing::AssertionResult all_sends_accounted(const Node& node) {
  const NodeMetrics m = node.metrics();
  if (m.sends == m.receipts_accepted + m.failed_sends()) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "sends " << m.sends << " != accepted " << m.receipts_accepted << " + failed "
         << m.failed_sends() << " [" << describe(m) << "]";
}

// What the test saw of its own send()/forward() calls.
struct SendTally {
  std::uint64_t sent = 0;
  std::uint64_t ok = 0;  // nullopt: queued (with await_receipt: accepted by the peer)
  std::map<std::string, std::uint64_t, std::less<>> denied;

  void record(const Verdict& verdict) {
    ++sent;
    if (verdict) {
      ++denied[std::string(verdict->reason)];
    } else {
      ++ok;
    }
  }
  std::uint64_t denied_total() const {
    std::uint64_t n = 0;
    for (const auto& [reason, count] : denied) n += count;
    return n;
  }
  std::uint64_t denied_for(std::string_view reason) const {
    const auto it = denied.find(reason);
    return it == denied.end() ? 0 : it->second;
  }
  std::string dump() const {
    std::string out = "sent=" + std::to_string(sent) + " ok=" + std::to_string(ok) + " denied={";
    for (const auto& [reason, n] : denied) out += " " + reason + ":" + std::to_string(n);
    return out + " }";
  }
};

inline std::string reason_of(const Verdict& verdict) {
  return verdict ? std::string(verdict->reason) : std::string("ok");
}

// A payload that says who sent it and its sequence number, padded to `size` with a pattern
// derived from both, so a receiver can check order and integrity.
inline wire::Bytes numbered(std::uint64_t tag, std::uint64_t seq, std::size_t size = 16) {
  wire::Bytes bytes(std::max<std::size_t>(size, 16), 0);
  for (std::size_t i = 0; i < 8; ++i) {
    bytes[i] = static_cast<std::uint8_t>(tag >> (8 * i));
    bytes[8 + i] = static_cast<std::uint8_t>(seq >> (8 * i));
  }
  for (std::size_t i = 16; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(tag * 31 + seq + i);
  }
  return bytes;
}

struct Numbered {
  std::uint64_t tag = 0;
  std::uint64_t seq = 0;
};

// nullopt when the payload is not one numbered() made (too short or the padding differs).
inline std::optional<Numbered> read_numbered(wire::ByteView bytes) {
  if (bytes.size() < 16) return std::nullopt;
  Numbered n;
  for (std::size_t i = 0; i < 8; ++i) {
    n.tag |= std::uint64_t{bytes[i]} << (8 * i);
    n.seq |= std::uint64_t{bytes[8 + i]} << (8 * i);
  }
  for (std::size_t i = 16; i < bytes.size(); ++i) {
    if (bytes[i] != static_cast<std::uint8_t>(n.tag * 31 + n.seq + i)) return std::nullopt;
  }
  return n;
}

// The events of one Node, in arrival order (tests/support/event_log.hpp).
using NodeEventsBase = test::EventLog<Node, Event, &describe>;
class NodeEvents : public NodeEventsBase {
 public:
  explicit NodeEvents(Node& source) : NodeEventsBase(source, kEventWait) {}
};

// Waits (bounded) for `peer`'s PeerDown and checks its cause; true if it came.
inline asio::awaitable<bool> expect_down(NodeEvents& events, const wire::PeerId& peer,
                                         std::string_view cause) {
  const auto down =
      co_await events.wait<PeerDown>([&peer](const PeerDown& e) { return e.peer == peer; });
  if (down) {
    EXPECT_EQ(down->cause, cause);
  }
  co_return down.has_value();
}

// send() from a node on virtual time (NodeConfig::clock = a async::ManualClock) to a peer whose
// queue may be full (`max_messages` / `max_bytes`: the sender's NodeConfig bounds). A send that
// waits for room waits until its deadline on the node's clock, which only the test moves: this
// moves it by the message's budget once the queue is seen full while the send still waits, so the
// send ends queued or `queue_full`, never `deadline_exceeded`, however slow the machine (real
// time only paces how often the queue is looked at). options.budget_ns must be set.
inline asio::awaitable<Verdict> send_on_virtual_time(
    Node& node, async::ManualClock& clock, const wire::PeerId& peer, std::string_view channel,
    wire::ByteView payload, SendOptions options, std::size_t max_messages, std::size_t max_bytes) {
  using namespace asio::experimental::awaitable_operators;
  Verdict verdict;
  bool done = false;
  auto sending = [&]() -> asio::awaitable<void> {
    verdict = co_await node.send(peer, channel, payload, options);
    done = true;
  };
  auto moving_time = [&]() -> asio::awaitable<void> {
    asio::steady_timer poll(co_await asio::this_coro::executor);
    while (!done) {
      poll.expires_after(std::chrono::milliseconds(1));
      co_await poll.async_wait(asio::use_awaitable);
      const PeerStatus s = node.peer_status(peer);
      // An over-estimate of the frame (envelope fields, a signature) errs towards "full",
      // which is harmless: a send that has room never waits.
      const bool full = s.queued_messages >= max_messages ||
                        (s.queued_bytes > 0 && s.queued_bytes + payload.size() + 256 > max_bytes);
      if (!done && full) clock.advance(options.budget_ns);
    }
  };
  co_await (sending() || moving_time());
  co_return verdict;
}

// The nodes of one scenario, on its executor.
class Cluster {
 public:
  explicit Cluster(asio::any_io_executor executor) : executor_(std::move(executor)) {}
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // A started node (by default fresh identity, listening on 127.0.0.1 port 0).
  asio::awaitable<Node*> start(NodeConfig config = loopback_config()) {
    nodes_.push_back(std::make_unique<Node>(executor_, std::move(config)));
    Node* node = nodes_.back().get();
    co_await node->start();
    co_return node;
  }

  // Virtual time for nodes that set NodeConfig::clock to it; starts at 1 s.
  async::ManualClock& manual_clock() noexcept { return clock_; }

  asio::awaitable<void> stop_all() {
    for (auto& node : nodes_) co_await node->stop();
  }

 private:
  asio::any_io_executor executor_;
  async::ManualClock clock_{1'000'000'000};
  std::vector<std::unique_ptr<Node>> nodes_;
};

using Scenario = asio::awaitable<void> (*)(Cluster& cluster);

// Runs `scenario` with a fresh Cluster, then stops every node whether it succeeded or threw, then
// rethrows.
// A peer that lived and is gone: its config (identity included, to bring it back), its PeerId
// and an address where nothing listens any more.
struct GonePeer {
  NodeConfig config;
  wire::PeerId id = unset_peer();
  wire::Multiaddr addr;
};
inline asio::awaitable<GonePeer> gone_peer(Cluster& cluster) {
  NodeConfig config = loopback_config();
  config.identity = wire::Ed25519KeyPair::generate();
  Node& node = *co_await cluster.start(config);
  GonePeer gone;
  gone.id = node.peer_id();
  gone.addr = dial_addr(node);
  gone.config = std::move(config);
  co_await node.stop();
  co_return gone;
}

inline asio::awaitable<void> with_cluster(Scenario scenario) {
  Cluster cluster(co_await asio::this_coro::executor);
  auto outcome = co_await async::capture(scenario(cluster));
  co_await cluster.stop_all();
  if (outcome.error) std::rethrow_exception(outcome.error);
}

inline void run_scenario(Scenario scenario, std::chrono::milliseconds limit = kTestLimit) {
  test::run_async(with_cluster(scenario), limit);
}

}  // namespace bb::node::node_test

// Lifecycle and outcome events of a Node. All of them are really emitted (see peer_tables.hpp
// for where each comes from); consumers co_await them.
#pragma once

#include "bb/wire/peer_id.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace bb::runtime {

struct PeerUp {
  wire::PeerId peer;
};
struct PeerDown {
  wire::PeerId peer;
  std::string_view cause;  // "failures" (threshold reached), "phi" (failure detector), ...
  // For "phi": how long the peer had been silent (no heartbeat) when the detector called it
  // down, so a reader can tell when the silence began. 0 for other causes.
  std::uint64_t silent_ns = 0;
};
struct PeerSuspect {
  wire::PeerId peer;
  double phi;
  std::uint64_t silent_ns = 0;  // since the peer's last heartbeat
};
struct PeerBlocked {
  wire::PeerId peer;
};
struct SendFailed {
  wire::PeerId peer;
  std::string_view reason;  // a stable label: cooldown, blocklisted, peer_unreachable, ...
  std::string detail;
  std::uint64_t message_id = 0;
};
struct OutboundDropped {
  wire::PeerId peer;
  std::size_t count;
  std::string_view reason;
};
struct Timeout {
  wire::PeerId peer;
  std::uint64_t token;
  std::uint64_t started_ns;
};

using Event =
    std::variant<PeerUp, PeerDown, PeerSuspect, PeerBlocked, SendFailed, OutboundDropped, Timeout>;

// "peer_up", "peer_down", "peer_suspect", "peer_blocked", "send_failed", "outbound_dropped",
// "timeout".
std::string_view event_name(const Event& event) noexcept;

// A bounded queue of events with one awaiting consumer. emit() never blocks: when the queue is
// full the oldest event is dropped and counted (dropped()), so a slow consumer cannot stall the
// node. Thread rule: used from the owning Node's executor only. Cancelling next() (e.g. as the
// loser of `||`) leaves the queue intact.
class EventQueue {
 public:
  static constexpr std::size_t kDefaultCapacity = 4096;

  explicit EventQueue(std::size_t capacity = kDefaultCapacity);
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  void emit(Event event);
  std::optional<Event> try_next();
  // Waits for the next event; nullopt once close() was called and the queue is drained, or
  // when cancelled.
  boost::asio::awaitable<std::optional<Event>> next();
  // Wakes a waiting consumer; later emits are ignored.
  void close();

  std::size_t size() const noexcept { return events_.size(); }
  std::uint64_t dropped() const noexcept { return dropped_; }
  std::uint64_t emitted() const noexcept { return emitted_; }

 private:
  struct Waiter;
  void wake();

  std::size_t capacity_;
  std::deque<Event> events_;
  std::uint64_t dropped_ = 0;
  std::uint64_t emitted_ = 0;
  bool closed_ = false;
  std::unique_ptr<Waiter> waiter_;
};

}  // namespace bb::runtime

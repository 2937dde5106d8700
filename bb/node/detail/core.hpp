// What the rooms of a Node share: its executor, configuration, clocks, events, tables, Host,
// metrics and task group, and whether it is stopping. One Core per Node, owned by Node::Impl;
// the rooms (outbound links, inbox, peer store, arrivals, requests) hold a reference.
// Thread rule: the Node's executor.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/async/event.hpp"
#include "bb/async/task_group.hpp"
#include "bb/node/node.hpp"
#include "bb/node/peer_store.hpp"
#include "bb/runtime/events.hpp"
#include "bb/runtime/message.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/wire/host.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <exception>
#include <string>
#include <string_view>

namespace bb::node::detail {

// Payloads from this size on stay in the envelope they arrived in (Received::storage shares it);
// smaller ones are copied: a 64 B copy is cheaper than an envelope per message (callgrind,
// docs/performance.md).
inline constexpr std::size_t kSharedPayloadBytes = 4096;

// Points r.suffix and r.payload at `storage`'s bytes (shared, not copied) for a payload of
// kSharedPayloadBytes or more, or when the storage is compact (runtime::Message); otherwise, or
// with no storage (bytes the caller owns only for now), copies both into one buffer of r's own.
void share_bytes(Received& r, wire::ByteView suffix, wire::ByteView payload,
                 std::shared_ptr<const void> storage, bool compact = false);

// The Received a delivered fill becomes (the inbox's, a served request's), under `channel`.
Received received_from(const runtime::Message& msg, std::string channel);

// The Clock the Node's pipeline stages sleep on: the Node's own, except that every sleep ends
// (returning false, as a cancelled sleep does) once the Node stops, so that a gate waiting out a
// cooldown does not hold a send, or its caller, past stop().
class StopAwareClock final : public async::Clock {
 public:
  StopAwareClock(async::Clock& inner, const boost::asio::any_io_executor& ex);
  std::uint64_t now_ns() const noexcept override { return inner_.now_ns(); }
  boost::asio::awaitable<bool> sleep_until(std::uint64_t deadline_ns) override;
  void stop();

 private:
  async::Clock& inner_;
  async::Event stop_;
  bool stopped_ = false;
};

struct Core {
  Core(const boost::asio::any_io_executor& executor, NodeConfig cfg);

  boost::asio::any_io_executor ex;
  NodeConfig config;
  async::SteadyClock steady;
  async::Clock& clock;
  StopAwareClock stage_clock;  // what the pipeline stages sleep on
  runtime::EventQueue events;
  runtime::PeerTables tables;
  wire::Host host;
  wire::PeerId self = host.peer_id();
  PeerStore peers;    // where to dial whom (NodeConfig::peer_store)
  PeerRouter router;  // asked for a peer the store has no address of (Node::set_peer_router)
  NodeMetrics metrics;
  // Protocols built on the Node (pubsub) that follow the Host's events (Node::observe_host).
  std::vector<std::function<void(const wire::HostEvent&)>> host_observers;
  bool stopping = false;
  // stop() is draining: new sends and new requests are refused `stopped`; answers to requests
  // already taken still go out.
  bool draining = false;
  bool touched = false;    // connect() or a send ran: the Host may have tasks even unstarted
  async::TaskGroup tasks;  // last: destroyed first
};

// A denial of the Node's own making (not a gate's), with the kind its reason implies.
runtime::Denial deny(std::string_view why, std::string detail, std::string stage = "wire.Send");

// The stable label a remote receipt's reason text stands for: one of runtime::reason's when it
// is one, else interned (at most 64 distinct; later ones read "refused").
std::string_view intern_reason(std::string_view text);

std::string describe(const std::exception_ptr& error);

inline wire::ByteView as_view(const std::string& s) {
  return wire::ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

}  // namespace bb::node::detail

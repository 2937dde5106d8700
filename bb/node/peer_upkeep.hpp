// The Node's care of its peer store: what the Host's events teach it (identify, connections),
// keeping connected peers' addresses fresh, sweeping expired ones, saving and loading the file
// (NodeConfig::peer_store_file), the low-water mark (NodeConfig::min_connections), and the
// liveness loops (pings, the tables' tick).
//
// Thread rule: the Node's executor. Its loops and dials are tasks of the Node (Core::tasks) and
// end with them; the object lives in Node::Impl, which outlives those tasks.
#pragma once

#include "bb/node/detail/core.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <unordered_map>
#include <unordered_set>

namespace bb::node::detail {

class PeerUpkeep {
 public:
  explicit PeerUpkeep(Core& core) : core_(core) {}
  PeerUpkeep(const PeerUpkeep&) = delete;
  PeerUpkeep& operator=(const PeerUpkeep&) = delete;

  void on_host_event(const wire::HostEvent& event);

  // The file, when configured; failures are logged, never thrown.
  void load();
  void save() const;

  // Spawns the upkeep loop (a check at once, then every connection_check_interval) and, with
  // a file, the save loop.
  void start();

  // One check: sweep, refresh connected peers' addresses, dial towards min_connections.
  void check();

  std::size_t dials_in_flight() const noexcept { return dialing_.size(); }

  // Liveness, as tasks of the Node: a ping per NodeConfig::ping_interval to `peer` (the RTT
  // estimate, the failure detector) while it is connected, on whichever connection the Host
  // keeps for it (simultaneous dials replace the first one registered without an event); one
  // loop per peer (false: one runs already). The tables' tick per tick_interval.
  bool wants_ping_loop(const wire::PeerId& peer) { return pinging_.insert(peer).second; }
  boost::asio::awaitable<void> ping_loop(wire::PeerId peer);
  boost::asio::awaitable<void> tick_loop();

 private:
  struct Backoff {
    std::uint64_t delay_ns = 0;
    std::uint64_t retry_at_ns = 0;
  };

  boost::asio::awaitable<void> check_loop();
  boost::asio::awaitable<void> save_loop();
  boost::asio::awaitable<void> dial(wire::PeerId peer);

  Core& core_;
  std::unordered_set<wire::PeerId> dialing_;
  std::unordered_set<wire::PeerId> pinging_;           // peers with a ping loop running
  std::unordered_map<wire::PeerId, Backoff> backoff_;  // peers whose last low-water dial failed
};

}  // namespace bb::node::detail

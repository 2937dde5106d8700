// bb-sim's world: the hosts of a scenario, each a real bb::node::Node with gossipsub and the
// Kademlia DHT, on one io_context, one ManualClock and one network (network.hpp). run() plays
// the scenario's timeline on virtual time, and measures what the report prints: every delivery
// of every published message (latency, hops), every lookup, the meshes, the traffic.
#pragma once

#include "examples/sim/scenario.hpp"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace bb::sim {

// One message published, as the world saw it travel.
struct MessageRecord {
  std::size_t phase = 0;  // index into Results::phases
  std::size_t publisher = 0;
  std::uint64_t published_ns = 0;
  std::size_t expected = 0;   // live, joined hosts of the publisher's group, the publisher aside
  std::size_t delivered = 0;  // of those, hosts that delivered it
  std::size_t delivered_elsewhere = 0;  // hosts outside the publisher's group that did
  bool published = false;               // publish() took it (it had recipients)
};

struct LookupRecord {
  std::size_t phase = 0;
  bool found = false;
  bool failed = false;  // the lookup returned an error
  std::size_t hops = 0;
  std::size_t queried = 0;
};

struct PhaseRecord {
  std::string label;
  Event::Kind kind = Event::Kind::publish;
  double at_ms = 0;
};

struct HostRecord {
  bool bootstrap = false;
  bool joined = false;
  bool alive = false;
  std::size_t restarts = 0;
  double join_ms = 0;  // from its start to the end of its DHT bootstrap, when it joined
  std::uint64_t bytes_out = 0, bytes_in = 0;
  std::uint64_t pubsub_messages_in = 0, pubsub_duplicates = 0;
  std::size_t connections = 0;
  std::size_t connected_but_down = 0;  // connected peers its failure detector calls down
  std::size_t mesh = 0;
  std::size_t routing_table = 0;
};

struct Results {
  Scenario scenario;
  std::vector<PhaseRecord> phases;
  std::vector<MessageRecord> messages;
  std::vector<std::uint64_t> latencies_ns;  // one per delivery
  std::vector<std::uint32_t> hops;          // one per delivery whose path was traced
  std::size_t untraced_hops = 0;
  // Hops between hosts in the final mesh graph (breadth-first from up to 32 live hosts): what the
  // gossipsub spec's degree argument speaks of, next to `hops` (the fastest path, by latency).
  std::vector<std::uint32_t> mesh_distances;
  std::size_t mesh_unreachable = 0;  // live hosts a sampled source's mesh does not reach
  std::vector<LookupRecord> lookups;
  std::vector<HostRecord> hosts;  // at the end
  std::size_t joined = 0;
  std::uint64_t links_made = 0;
  std::uint64_t sim_end_ns = 0;
  std::uint64_t io_handlers = 0;     // handlers the io_context ran: the work, not the time
  std::uint64_t app_duplicates = 0;  // a message delivered twice to one host's application
  std::uint64_t task_failures = 0;   // hosts' start, stop or lookup tasks that threw
};

// Runs the whole scenario; progress lines go to `progress` (stderr) when it is set.
Results run_world(const Scenario& scenario, std::FILE* progress);

}  // namespace bb::sim

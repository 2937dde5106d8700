// A bb-sim scenario: the network (hosts, links, classes of slower hosts), the protocols'
// settings, and a timeline of events. Read from JSON (docs/sim.md has the format); every field
// has a default, and the default scenario (no file) is a gossip run.
#pragma once

#include "examples/sim/link.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bb::sim {

struct LinkSpec {
  double latency_ms_min = 10;  // one way, drawn per pair of hosts in [min, max]
  double latency_ms_max = 100;
  double bandwidth_mbps = 100;  // 0: unlimited
  double loss = 0;              // per packet
  double loss_delay_ms = 200;
  std::size_t window_kib = 256;
};

// A share of the hosts on worse links: a link takes the worse of its two ends' values.
struct HostClass {
  std::string name;
  double fraction = 0;
  LinkSpec link;
};

struct Event {
  enum class Kind { publish, partition, heal, kill, restart, lookups };
  Kind kind = Kind::publish;
  double at_ms = 0;
  // publish: `count` messages of `bytes`, one every `every_ms`, each from a random live host.
  // lookups: `count` lookups, one every `every_ms`, from a random live host for another.
  std::size_t count = 0;
  double every_ms = 100;
  std::size_t bytes = 256;
  // partition: the first `fraction` of the hosts (by index) form group 1, the rest group 0.
  // kill: `fraction` of the live hosts, drawn at random (never a bootstrap host).
  double fraction = 0.5;
  std::string label;  // names the event's rows in the report
};

struct Scenario {
  std::string name = "gossip";
  std::size_t nodes = 100;
  std::uint64_t seed = 1;
  std::size_t bootstrap_nodes = 3;
  // How many of the bootstrap hosts each other host is given, drawn at random (0: all of them).
  // A bootstrap host takes at most the Host's max_connections (1,024): with every host dialling
  // every bootstrap host, joins beyond that many are refused.
  std::size_t bootstrap_per_host = 0;
  double join_spread_ms = 10'000;  // hosts start at random times in [0, spread]
  double end_ms = 60'000;
  std::string topic = "bb-sim";
  LinkSpec link;
  std::vector<HostClass> classes;
  // The Node's and the protocols' settings that matter at scale (bb's defaults otherwise).
  double ping_interval_ms = 1'000;
  double connect_timeout_ms = 5'000;
  std::size_t mesh_d = 6, mesh_d_low = 4, mesh_d_high = 12, mesh_d_lazy = 6;
  std::vector<Event> events;
};

// Reads a scenario; throws std::runtime_error naming the field that is wrong.
Scenario parse_scenario(const std::string& json_text);
Scenario default_scenario();
LinkParams to_params(const LinkSpec& spec);
std::string to_string(Event::Kind kind);

}  // namespace bb::sim

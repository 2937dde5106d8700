// bb-sim: a whole network of bb Nodes in one process, on virtual time, repeatable from a seed.
//
//   bb-sim [--scenario FILE] [--nodes N] [--seed S] [--data DIR]
//
// Prints the scenario's tables, then, as its last line, one JSON object (nodes, seed,
// delivery_ratio, p50_ms, p99_ms, ...; docs/sim.md). Progress and wall-clock time go to stderr,
// so stdout is the same, byte for byte, for the same scenario and seed.
#include "bb/version.hpp"
#include "bb/wire/log.hpp"
#include "examples/sim/random.hpp"
#include "examples/sim/report.hpp"
#include "examples/sim/scenario.hpp"
#include "examples/sim/world.hpp"

#include <sodium.h>
#include <CLI/CLI.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

int main(int argc, char** argv) {
  CLI::App app{
      "bb-sim: a network of bb Nodes (gossipsub, Kademlia) in one process, on virtual "
      "time, repeatable from a seed"};
  std::string scenario_file, data_dir, log_level = "off";
  std::optional<std::size_t> nodes;
  std::optional<std::uint64_t> seed;
  bool quiet = false;
  app.add_option("--scenario", scenario_file, "Scenario file (JSON, docs/sim.md); default: gossip")
      ->check(CLI::ExistingFile);
  app.add_option("--nodes", nodes, "Number of nodes (overrides the scenario's)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  app.add_option("--seed", seed, "Seed of every random choice (overrides the scenario's)");
  app.add_option("--data", data_dir, "Write the data files for scripts/sim-charts here");
  app.add_option("--log", log_level, "bb's log level on stderr (off, error, warn, info, debug)")
      ->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "No progress lines on stderr");
  app.set_version_flag("--version", std::string("bb-sim ") + BB_VERSION_STRING);
  CLI11_PARSE(app, argc, argv);

  const auto level = bb::wire::parse_log_level(log_level);
  if (!level) {
    std::fprintf(stderr, "bb-sim: --log %s: not a level (off, error, warn, info, debug, trace)\n",
                 log_level.c_str());
    return 2;
  }
  bb::sim::Scenario scenario;
  try {
    if (scenario_file.empty()) {
      scenario = bb::sim::default_scenario();
    } else {
      std::ifstream f(scenario_file);
      std::stringstream text;
      text << f.rdbuf();
      if (!f) throw std::runtime_error("cannot read " + scenario_file);
      scenario = bb::sim::parse_scenario(text.str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bb-sim: %s\n", e.what());
    return 2;
  }
  if (nodes) scenario.nodes = *nodes;
  if (seed) scenario.seed = *seed;
  if (scenario.bootstrap_nodes > scenario.nodes) scenario.bootstrap_nodes = scenario.nodes;

  bb::sim::seed_randomness(scenario.seed);
  if (sodium_init() < 0) {
    std::fprintf(stderr, "bb-sim: libsodium failed to initialise\n");
    return 1;
  }
  bb::wire::log_to_stderr("bb-sim", *level);

  const auto wall_start = std::chrono::steady_clock::now();
  bb::sim::Results results;
  try {
    results = bb::sim::run_world(scenario, quiet ? nullptr : stderr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bb-sim: the simulation failed: %s\n", e.what());
    bb::wire::stop_logging();
    return 1;
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  bb::sim::print_tables(results, stdout);
  if (!data_dir.empty()) {
    try {
      bb::sim::write_data(results, data_dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bb-sim: %s\n", e.what());
      bb::wire::stop_logging();
      return 1;
    }
  }
  std::fprintf(stderr, "bb-sim: %zu nodes, %.1f s simulated in %.1f s of wall-clock time\n",
               scenario.nodes, static_cast<double>(results.sim_end_ns) / 1e9, wall);
  std::printf("%s\n", bb::sim::summary_json(results).c_str());
  std::fflush(stdout);
  bb::wire::stop_logging();
  return 0;
}

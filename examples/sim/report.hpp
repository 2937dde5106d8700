// bb-sim's reports: tables for people, one JSON object as the last line for tools, and data
// files for the charts (scripts/sim-charts draws them). Only simulated quantities: the same seed
// gives the same bytes.
#pragma once

#include "examples/sim/world.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

namespace bb::sim {

void print_tables(const Results& r, std::FILE* out);
// One line of JSON: nodes, seed, delivery_ratio, p50_ms, p99_ms and the rest of the summary.
std::string summary_json(const Results& r);
// latency_cdf.dat, hops.dat, hosts.dat, phases.dat in `dir` (created).
void write_data(const Results& r, const std::filesystem::path& dir);

}  // namespace bb::sim

// The subcommands of bb-node. Each `add_*` registers its subcommand on the app; the callback
// runs the command and returns the process exit status through `exit_code`.
#pragma once

#include <CLI/App.hpp>

namespace bb::cli {

// Exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the command ran and failed (I/O, peer unreachable, …)
inline constexpr int kExitBadInput = 2;  // the user's input is invalid (usage, parse errors)

void add_identity_commands(CLI::App& app, int& exit_code);  // keygen, id, multiaddr
void add_network_commands(CLI::App& app, int& exit_code);   // run, ping, perf

}  // namespace bb::cli

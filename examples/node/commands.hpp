// The subcommands of bb-node. Each `add_*` registers its subcommand on the app; the callback
// runs the command and returns the process exit status through `exit_code`.
#pragma once

#include "bb/wire/multiaddr.hpp"

#include <CLI/App.hpp>

#include <optional>
#include <string>

namespace bb::cli {

// Exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // the command ran and failed (I/O, peer unreachable, …)
inline constexpr int kExitBadInput = 2;  // the user's input is invalid (usage, parse errors)

void add_identity_commands(CLI::App& app, int& exit_code);  // keygen, id, multiaddr
void add_run_command(CLI::App& app, int& exit_code);        // run
void add_send_command(CLI::App& app, int& exit_code);       // send
void add_request_command(CLI::App& app, int& exit_code);    // request
void add_probe_commands(CLI::App& app, int& exit_code);     // ping, perf
void add_publish_command(CLI::App& app, int& exit_code);    // publish (gossipsub)
void add_dht_commands(CLI::App& app, int& exit_code);       // dht find-peer, find-providers, …

// run, send, request, ping, perf, publish, dht: the commands that go on the network.
inline void add_network_commands(CLI::App& app, int& exit_code) {
  add_run_command(app, exit_code);
  add_send_command(app, exit_code);
  add_request_command(app, exit_code);
  add_probe_commands(app, exit_code);
  add_publish_command(app, exit_code);
  add_dht_commands(app, exit_code);
}

class Output;

// Parses a multiaddr or prints why not (naming `command`); the result is empty on failure.
std::optional<wire::Multiaddr> parse_addr(const std::string& text, const char* command);
// The same, the failure reported through `out` (error "bad_multiaddr").
std::optional<wire::Multiaddr> parse_addr(const std::string& text, const Output& out);

}  // namespace bb::cli

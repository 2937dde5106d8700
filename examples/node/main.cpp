// bb-node: a bb peer-to-peer node and its tools. Run `bb-node --help` for the subcommands.
#include "bb/version.hpp"
#include "bb/wire/log.hpp"
#include "examples/node/commands.hpp"
#include "examples/node/output.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

namespace {

// Log level flags, accepted before any subcommand (`bb-node -v run`) and after those that talk
// to the network (`bb-node run -v`).
struct LogFlags {
  int verbose = 0;
  bool quiet = false;
};

void add_log_flags(CLI::App& app, LogFlags& flags) {
  app.add_flag("-v,--verbose", flags.verbose, "Log debug messages on stderr (-vv: trace)");
  app.add_flag("-q,--quiet", flags.quiet, "Log only warnings and errors on stderr");
}

// Writes what the logger still holds when main returns.
struct LoggingScope {
  LoggingScope() {
    bb::wire::log_to_stderr("bb-node", bb::wire::LogLevel::info);
    bb::wire::route_protobuf_logs();
  }
  ~LoggingScope() { bb::wire::stop_logging(); }
  LoggingScope(const LoggingScope&) = delete;
  LoggingScope& operator=(const LoggingScope&) = delete;
};

// bb-node --version [--json]: "bb-node 0.1.0", or its JSON event.
int print_version(bool json) {
  const bb::cli::Output out("--version", json);
  out.print({{"event", "version"}, {"program", "bb-node"}, {"version", BB_VERSION_STRING}},
            "bb-node " BB_VERSION_STRING);
  return bb::cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const LoggingScope logging;
  CLI::App app{"bb-node: a bb peer-to-peer node and its tools"};
  app.footer(
      "Logs go to stderr, at level info; -v or -q, or else the environment variable BB_LOG "
      "(trace, debug, info, warn, error or off), changes that.");
  app.require_subcommand(1);
  // Ends parsing at once (CallForVersion), before the subcommand requirement is checked.
  app.add_flag_callback(
      "--version", [] { throw CLI::CallForVersion(); }, "Print bb-node's version and exit");
  // Only for --version: each subcommand takes its own --json (after its name).
  bool version_json = false;
  auto* json_flag =
      app.add_flag("--json", version_json, "With --version: print it as one JSON object");
  int exit_code = bb::cli::kExitOk;
  bb::cli::add_identity_commands(app, exit_code);
  bb::cli::add_network_commands(app, exit_code);
  LogFlags log_flags;
  add_log_flags(app, log_flags);
  for (const char* name : {"run", "send", "request", "ping", "perf", "publish"}) {
    add_log_flags(*app.get_subcommand(name), log_flags);
  }
  for (auto* query : app.get_subcommand("dht")->get_subcommands({})) {
    add_log_flags(*query, log_flags);
  }
  // Runs after parsing and before the subcommand's callback.
  app.parse_complete_callback([&log_flags, json_flag] {
    // `bb-node --json run` would otherwise print text: say where --json goes.
    if (json_flag->count() > 0) {
      throw CLI::ValidationError("--json", "goes after the subcommand (bb-node run --json)");
    }
    const auto choice = bb::wire::choose_log_level(log_flags.verbose, log_flags.quiet,
                                                   std::getenv(bb::wire::kLogLevelEnv));
    bb::wire::set_log_level(choice.level);
    if (!choice.warning.empty()) spdlog::warn("{}", choice.warning);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion&) {
    return print_version(json_flag->count() > 0);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and a pointer to --help
    return bb::cli::kExitBadInput;
  }
  return exit_code;
}

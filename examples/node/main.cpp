// bb-node: a bb peer-to-peer node and its tools. Run `bb-node --help` for the subcommands.
#include "examples/node/commands.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"bb-node: a bb peer-to-peer node and its tools"};
  app.require_subcommand(1);
  int exit_code = bb::node::kExitOk;
  bb::node::add_identity_commands(app, exit_code);
  bb::node::add_network_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and a pointer to --help
    return bb::node::kExitBadInput;
  }
  return exit_code;
}

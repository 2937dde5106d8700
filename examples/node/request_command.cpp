// bb-node request: one request to a peer's named service, its response on stdout.
#include "examples/node/commands.hpp"

#include "bb/node/node.hpp"
#include "bb/wire/error.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <iostream>
#include <memory>

namespace bb::cli {
namespace {

namespace asio = boost::asio;
using boost::system::system_error;

struct RequestOptions {
  std::string addr;
  std::string service;
  std::string data;
  std::uint64_t timeout_ms = 5'000;
};

// Prints the response payload and a newline, exit 0; else one line on stderr, exit 1.
asio::awaitable<int> request_once(node::Node& node, const wire::Multiaddr& addr,
                                  const RequestOptions& opts) {
  co_await node.start();
  int exit_code = kExitOk;
  try {
    const auto peer = co_await node.connect(addr);
    node::RequestOptions options;
    options.timeout = std::chrono::milliseconds(opts.timeout_ms);
    const auto result =
        co_await node.request(peer, opts.service, wire::as_bytes(opts.data), options);
    if (result.ok()) {
      std::cout << wire::as_chars(result.response->payload) << std::endl;
    } else {
      std::cerr << "bb-node: request failed: " << result.failure->reason << ": "
                << result.failure->detail << "\n";
      exit_code = kExitFailure;
    }
  } catch (const system_error& e) {
    std::cerr << "bb-node: request failed: cannot reach " << addr.to_string() << ": "
              << wire::error_text(e) << "\n";
    exit_code = kExitFailure;
  }
  co_await node.stop();
  co_return exit_code;
}

int request(const RequestOptions& opts) {
  auto addr = parse_addr(opts.addr, "request");
  if (!addr) return kExitBadInput;
  if (!addr->peer_id()) {
    std::cerr << "bb-node request: '" << opts.addr << "' has no /p2p/<peer id> part\n";
    return kExitBadInput;
  }
  if (!node::service_suffix(opts.service)) {
    std::cerr << "bb-node request: '" << opts.service << "' is not a service name\n";
    return kExitBadInput;
  }
  asio::io_context io(1);
  node::Node node(io.get_executor());
  int exit_code = kExitFailure;
  asio::co_spawn(io, request_once(node, *addr, opts), [&](std::exception_ptr e, int code) {
    if (!e) {
      exit_code = code;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cerr << "bb-node: request failed: " << wire::error_text(ex) << "\n";
    }
  });
  io.run();
  return exit_code;
}

}  // namespace

void add_request_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RequestOptions>();
  auto* cmd = app.add_subcommand(
      "request",
      "Send one request to a peer's named service (e.g. `echo` of bb-node run --serve-echo); "
      "print the response's payload and exit 0, or exit 1 with the reason on stderr");
  cmd->add_option("MULTIADDR", opts->addr, "e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")
      ->required();
  cmd->add_option("--service", opts->service, "Service name")->required();
  cmd->add_option("--data", opts->data, "Request payload (text)")->required();
  cmd->add_option("--timeout-ms", opts->timeout_ms, "Give up after this long without a response")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  cmd->callback([opts, &exit_code] { exit_code = request(*opts); });
}

}  // namespace bb::cli

// bb-node request: one request to a peer's named service, its response on stdout.
#include "examples/node/commands.hpp"

#include "bb/node/node.hpp"
#include "bb/wire/error.hpp"
#include "examples/node/output.hpp"
#include "examples/node/output_format.hpp"

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
  bool json = false;
};

// Prints the response payload and a newline, exit 0; else one line on stderr, exit 1.
asio::awaitable<int> request_once(node::Node& node, const wire::Multiaddr& addr,
                                  const RequestOptions& opts, const Output& out) {
  co_await node.start();
  int exit_code = kExitOk;
  try {
    const auto peer = co_await node.connect(addr);
    node::RequestOptions options;
    options.timeout = std::chrono::milliseconds(opts.timeout_ms);
    const auto result =
        co_await node.request(peer, opts.service, wire::as_bytes(opts.data), options);
    if (result.ok()) {
      const auto payload = wire::as_chars(result.response->payload);
      nlohmann::json event = {
          {"event", "response"}, {"peer", peer.to_base58()}, {"service", opts.service}};
      put_payload(event, payload);
      // Text mode prints the payload as it came: what a script piping it wants.
      if (out.json()) {
        out.print(event);
      } else {
        std::cout << payload << std::endl;
      }
    } else {
      const std::string reason(result.failure->reason);
      const std::string message = reason + ": " + result.failure->detail;
      exit_code =
          out.fail_line("request_failed", message, "bb-node: request failed: " + message,
                        kExitFailure, {{"reason", reason}, {"detail", result.failure->detail}});
    }
  } catch (const system_error& e) {
    const std::string message = "cannot reach " + addr.to_string() + ": " + wire::error_text(e);
    exit_code =
        out.fail_line("unreachable", message, "bb-node: request failed: " + message, kExitFailure);
  }
  co_await node.stop();
  co_return exit_code;
}

int request(const RequestOptions& opts) {
  const Output out("request", opts.json);
  auto addr = parse_addr(opts.addr, out);
  if (!addr) return kExitBadInput;
  if (!addr->peer_id()) {
    return out.fail("no_peer_id", "'" + opts.addr + "' has no /p2p/<peer id> part", kExitBadInput);
  }
  if (!node::service_suffix(opts.service)) {
    return out.fail("bad_service", "'" + opts.service + "' is not a service name", kExitBadInput);
  }
  asio::io_context io(1);
  node::Node node(io.get_executor());
  int exit_code = kExitFailure;
  asio::co_spawn(io, request_once(node, *addr, opts, out), [&](std::exception_ptr e, int code) {
    if (!e) {
      exit_code = code;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      const auto message = wire::error_text(ex);
      out.fail_line("internal", message, "bb-node: request failed: " + message, kExitFailure);
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
  cmd->add_flag("--json", opts->json,
                "Print the response as one JSON object (payload as bb-node run prints one)");
  cmd->callback([opts, &exit_code] { exit_code = request(*opts); });
}

}  // namespace bb::cli

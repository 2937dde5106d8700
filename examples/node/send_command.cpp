// bb-node send: one message through a Node's send pipeline.
#include "examples/node/commands.hpp"

#include "bb/node/node.hpp"
#include "bb/wire/error.hpp"
#include "examples/node/output.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <iostream>
#include <memory>

namespace bb::cli {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;

struct SendOptions {
  std::string addr;
  std::string channel = "default";
  std::string data;
  std::uint64_t timeout_ms = 10'000;
  bool json = false;
};

// bb-node send: one message through a Node's send pipeline; exits 0 once the peer's receipt
// says it accepted the message.
int send(const SendOptions& opts) {
  const Output out("send", opts.json);
  auto addr = parse_addr(opts.addr, out);
  if (!addr) return kExitBadInput;
  if (!addr->peer_id()) {
    return out.fail("no_peer_id", "'" + opts.addr + "' has no /p2p/<peer id> part", kExitBadInput);
  }
  asio::io_context io(1);
  node::Node node(io.get_executor());
  int exit_code = kExitOk;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await node.start();
        std::string problem;
        try {
          const auto peer = co_await node.connect(*addr);
          node::SendOptions send_opts;
          send_opts.await_receipt = true;
          send_opts.budget_ns = opts.timeout_ms * 1'000'000;
          asio::steady_timer timer(io, std::chrono::milliseconds(opts.timeout_ms));
          auto outcome =
              co_await (node.send(peer, opts.channel, wire::as_bytes(opts.data), send_opts) ||
                        timer.async_wait(asio::use_awaitable));
          if (outcome.index() == 1) {
            exit_code = out.fail("no_receipt",
                                 "no receipt from " + peer.to_base58() + " within " +
                                     std::to_string(opts.timeout_ms) + " ms",
                                 kExitFailure);
          } else if (const auto& verdict = std::get<0>(outcome)) {
            exit_code =
                out.fail("not_delivered",
                         "not delivered to " + peer.to_base58() + ": " +
                             std::string(verdict->reason) + ": " + verdict->detail,
                         kExitFailure,
                         {{"reason", std::string(verdict->reason)}, {"detail", verdict->detail}});
          } else {
            out.print({{"event", "delivered"},
                       {"peer", peer.to_base58()},
                       {"channel", opts.channel},
                       {"bytes", opts.data.size()}},
                      "delivered to " + peer.to_base58() + " channel=" + opts.channel +
                          " bytes=" + std::to_string(opts.data.size()));
          }
        } catch (const system_error& e) {
          exit_code = out.fail("unreachable",
                               "cannot reach " + addr->to_string() + ": " + wire::error_text(e),
                               kExitFailure);
        }
        co_await node.stop();
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          out.fail("internal", wire::error_text(ex), kExitFailure);
        }
        exit_code = kExitFailure;
      });
  io.run();
  return exit_code;
}

}  // namespace

void add_send_command(CLI::App& app, int& exit_code) {
  auto send_opts = std::make_shared<SendOptions>();
  auto* send_cmd = app.add_subcommand(
      "send", "Send one message to a peer's channel; exit 0 once the peer has accepted it");
  send_cmd->add_option("MULTIADDR", send_opts->addr, "e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")
      ->required();
  send_cmd->add_option("--channel", send_opts->channel, "Channel name")->capture_default_str();
  send_cmd->add_option("--data", send_opts->data, "Message text")->required();
  send_cmd->add_option("--timeout-ms", send_opts->timeout_ms, "Give up after this long")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  send_cmd->add_flag("--json", send_opts->json, "Print the outcome as one JSON object");
  send_cmd->callback([send_opts, &exit_code] { exit_code = send(*send_opts); });
}

}  // namespace bb::cli

// bb-node publish: one gossipsub message on a topic, from a node that connects, waits for a
// subscriber, publishes and leaves.
#include "examples/node/commands.hpp"

#include "bb/node/node.hpp"
#include "bb/pubsub/gossipsub.hpp"
#include "bb/wire/error.hpp"
#include "examples/node/output.hpp"
#include "examples/node/output_format.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <memory>

namespace bb::cli {
namespace {

namespace asio = boost::asio;
using boost::system::system_error;

struct PublishOptions {
  std::string topic;
  std::string data;
  std::vector<std::string> connect;
  std::string key_file;
  std::uint64_t timeout_ms = 10'000;
  bool json = false;
};

asio::awaitable<int> publish_once(node::Node& node, pubsub::Gossipsub& ps,
                                  const std::vector<wire::Multiaddr>& addrs,
                                  const PublishOptions& opts, const Output& out) {
  const auto timeout = std::chrono::milliseconds(opts.timeout_ms);
  std::size_t connected = 0;
  for (const auto& addr : addrs) {
    try {
      (void)co_await node.connect(addr);
      ++connected;
    } catch (const system_error& e) {
      // Not the command's failure while another address works: no "error" event.
      const std::string message = "cannot reach " + addr.to_string() + ": " + wire::error_text(e);
      std::cerr << "bb-node publish: " << message << "\n";
      if (out.json()) {
        out.print({{"event", "dial_failed"}, {"addr", addr.to_string()}, {"message", message}});
      }
    }
  }
  if (connected == 0) co_return out.fail("no_peer_reached", "no peer reached", kExitFailure);
  const bool heard = co_await ps.wait_for_peers(opts.topic, 1, timeout);
  if (!heard) {
    co_return out.fail("no_subscriber",
                       "no connected peer subscribed to '" + opts.topic + "' within " +
                           std::to_string(opts.timeout_ms) + " ms",
                       kExitFailure);
  }
  auto sent = ps.publish(opts.topic, wire::as_bytes(opts.data));
  if (!sent) co_return out.fail("publish_refused", sent.error().message(), kExitFailure);
  if (sent->recipients == 0) {
    co_return out.fail("no_recipient",
                       "every subscriber of '" + opts.topic +
                           "' is below the publish threshold or refused by the gates",
                       kExitFailure);
  }
  const bool flushed = co_await ps.flush(timeout);
  if (!flushed) {
    co_return out.fail(
        "write_timeout",
        "the message was not written within " + std::to_string(opts.timeout_ms) + " ms",
        kExitFailure);
  }
  out.print({{"event", "published"},
             {"topic", opts.topic},
             {"from", node.peer_id().to_base58()},
             {"seqno", sent->seqno},
             {"recipients", sent->recipients}});
  co_return kExitOk;
}

int publish(const PublishOptions& opts) {
  const Output out("publish", opts.json);
  std::vector<wire::Multiaddr> addrs;
  for (const auto& text : opts.connect) {
    auto addr = parse_addr(text, out);
    if (!addr) return kExitBadInput;
    addrs.push_back(*addr);
  }
  node::NodeConfig config;
  if (!opts.key_file.empty()) {
    auto key = wire::read_key_file(opts.key_file);
    if (!key) {
      return out.fail("key_file_unreadable",
                      "cannot load key file " + opts.key_file + ": " + key.error().message(),
                      kExitFailure);
    }
    config.identity = std::move(*key);
  }
  asio::io_context io(1);
  node::Node node(io.get_executor(), std::move(config));
  pubsub::Gossipsub ps(node);
  int exit_code = kExitOk;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await node.start();
        ps.start();  // before the dials: identify tells the peers we speak gossipsub
        try {
          exit_code = co_await publish_once(node, ps, addrs, opts, out);
        } catch (const std::exception& e) {
          exit_code = out.fail("internal", wire::error_text(e), kExitFailure);
        }
        co_await ps.stop();
        co_await node.stop();  // flushes what was written before closing
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

void add_publish_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<PublishOptions>();
  auto* cmd = app.add_subcommand(
      "publish",
      "Publish one gossipsub message: connect, wait until a connected peer is subscribed to the "
      "topic, publish, exit 0 once it is written; exit 1 if no subscriber showed up in time");
  cmd->add_option("--topic", opts->topic, "Topic name")->required();
  cmd->add_option("--data", opts->data, "Message text")->required();
  cmd->add_option("--connect", opts->connect, "Peer multiaddr(s) to dial")->required();
  cmd->add_option("--key", opts->key_file, "Key file (default: an ephemeral identity)");
  cmd->add_option("--timeout-ms", opts->timeout_ms,
                  "Bound on the wait for a subscriber, and on the write")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  cmd->add_flag("--json", opts->json, "Print the outcome as one JSON object");
  cmd->callback([opts, &exit_code] { exit_code = publish(*opts); });
}

}  // namespace bb::cli

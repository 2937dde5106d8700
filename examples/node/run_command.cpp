// bb-node run: a node on the libp2p stack (TCP, Noise, Yamux) that prints its events and
// messages until SIGINT or SIGTERM.
#include "examples/node/commands.hpp"

#include "bb/dht/cid.hpp"
#include "bb/dht/kademlia.hpp"
#include "bb/node/metrics_server.hpp"
#include "bb/node/node.hpp"
#include "bb/proto/bb_core.pb.h"
#include "bb/wire/host.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/log.hpp"
#include "bb/wire/tcp.hpp"
#include "examples/node/dht_options.hpp"
#include "examples/node/line_writer.hpp"
#include "examples/node/output.hpp"
#include "examples/node/output_format.hpp"
#include "examples/node/pubsub_format.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cstdlib>
#include <iostream>
#include <memory>

namespace bb::cli {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;

struct RunOptions {
  std::string key_file;
  std::vector<std::string> listen{"/ip4/127.0.0.1/tcp/0"};
  std::vector<std::string> connect;
  std::vector<std::string> channels{"default"};
  std::vector<std::string> topics;  // gossipsub topics to join
  // The DHT: on when any of these is given.
  std::vector<std::string> bootstrap;
  std::string dht_mode;  // server, client, auto (default auto)
  std::vector<std::string> provide;
  std::string peerstore;            // the peer store's file: loaded at start, saved while running
  std::size_t min_connections = 0;  // low-water mark: dial known peers while below it
  std::string metrics;              // --metrics: where to serve Prometheus metrics
  bool json = false;
  bool serve_perf = false;
  bool serve_echo = false;
  // Limits, defaulting to the Node's (shown by --help).
  std::size_t max_connections = node::default_host_options().max_connections;
  std::size_t max_pending = node::default_host_options().max_pending_inbound;
  std::size_t max_connections_per_ip =
      node::default_host_options().connection_manager.max_connections_per_ip;
  std::size_t max_memory = node::default_host_options().resources.system.memory;
};

// --serve-echo: the `echo` service answers each request with its payload.
asio::awaitable<std::optional<wire::Bytes>> echo(const node::Received& request) {
  co_return wire::copy_of(request.payload);
}

std::optional<wire::Ed25519KeyPair> load_identity(const std::string& key_file, const Output& out) {
  if (key_file.empty()) return wire::Ed25519KeyPair::generate();  // ephemeral
  auto key = wire::read_key_file(key_file);
  if (!key) {
    const std::string message = "cannot load key file " + key_file + ": " + key.error().message();
    out.fail_line("key_file_unreadable", message, "bb-node: " + message, kExitFailure);
    return std::nullopt;
  }
  return *key;
}

// One line per event, as text or JSON, handed to the output writer (which never blocks).
class Printer {
 public:
  explicit Printer(bool json)
      : out_(STDOUT_FILENO,
             [json](std::uint64_t count) {
               const nlohmann::json e = {{"event", "output_dropped"}, {"count", count}};
               return json ? json_line(e) : text_line(e);
             }),
        output_("run", json, [this](std::string line) { out_.write(std::move(line)); }) {}

  void print(const nlohmann::json& event) { output_.print(event); }

  void listening(const wire::Multiaddr& addr) {
    output_.print({{"event", "listening"}, {"addr", addr.to_string()}},
                  "listening " + addr.to_string());
  }

  // A failure of the node: "bb-node run: MESSAGE" on stderr, and with --json an error line.
  void fail(std::string_view code, const std::string& message) {
    output_.fail(code, message, kExitFailure);
  }

  void metrics(const std::string& url) {
    output_.print({{"event", "metrics"}, {"url", url}}, "metrics " + url);
  }

  // Writes what is queued (waiting a bounded time for a slow reader).
  void close() { out_.close(); }

 private:
  LineWriter out_;
  Output output_;
};

nlohmann::json to_json(const wire::HostEvent& event) {
  return std::visit(
      [](const auto& e) -> nlohmann::json {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, wire::PeerConnected>) {
          return {{"event", "peer_up"},
                  {"peer", e.peer.to_base58()},
                  {"addr", e.addr.to_string()},
                  {"direction", e.direction == wire::Direction::outbound ? "outbound" : "inbound"}};
        } else if constexpr (std::is_same_v<E, wire::PeerDisconnected>) {
          return {{"event", "peer_down"},
                  {"peer", e.peer.to_base58()},
                  {"reason", e.reason ? e.reason.message() : "closed"}};
        } else if constexpr (std::is_same_v<E, wire::DialFailed>) {
          return {{"event", "error"},
                  {"kind", "dial"},
                  {"addr", e.addr.to_string()},
                  {"error", e.error.message()},
                  {"detail", e.detail}};
        } else if constexpr (std::is_same_v<E, wire::InboundFailed>) {
          return {{"event", "error"},
                  {"kind", "inbound"},
                  {"addr", e.from.to_string()},
                  {"error", e.error.message()},
                  {"detail", e.detail}};
        } else if constexpr (std::is_same_v<E, wire::StreamFailed>) {
          return {{"event", "error"},           {"kind", "stream"},
                  {"peer", e.peer.to_base58()}, {"protocol", e.protocol},
                  {"error", e.error.message()}, {"detail", e.detail}};
        } else if constexpr (std::is_same_v<E, wire::PeerIdentified>) {
          return {{"event", "identified"},
                  {"peer", e.peer.to_base58()},
                  {"agent", e.info.agent_version},
                  {"protocols", e.info.protocols}};
        } else {
          nlohmann::json fills = nlohmann::json::array();
          for (const auto& fill : e.envelope->fills()) {
            nlohmann::json f = {
                {"dest_suffix", "0x" + wire::to_hex(wire::as_bytes(fill.dest_suffix()))}};
            put_payload(f, fill.payload());
            fills.push_back(std::move(f));
          }
          return {{"event", "message"},
                  {"peer", e.peer.to_base58()},
                  {"wire_req_id", e.envelope->correlation().wire_req_id()},
                  {"fills", fills}};
        }
      },
      event);
}

std::string_view text_of(wire::ByteView payload) {
  return {reinterpret_cast<const char*>(payload.data()), payload.size()};
}

nlohmann::json to_json(const node::Received& m) {
  nlohmann::json j = {{"event", "message"},
                      {"peer", m.from.to_base58()},
                      {"origin", m.origin.to_base58()},
                      {"channel", m.channel},
                      {"message_id", m.message_id}};
  put_payload(j, text_of(m.payload));
  return j;
}

// The Node's health and outcome events. peer_up / peer_down come from the Host's connection
// events (with direction and reason); the Node's own verdicts are "health" lines.
nlohmann::json to_json(const runtime::Event& event) {
  return std::visit(
      [](const auto& e) -> nlohmann::json {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, runtime::PeerUp>) {
          return {{"event", "health"}, {"peer", e.peer.to_base58()}, {"state", "up"}};
        } else if constexpr (std::is_same_v<E, runtime::PeerDown>) {
          nlohmann::json j = {{"event", "health"},
                              {"peer", e.peer.to_base58()},
                              {"state", "down"},
                              {"cause", std::string(e.cause)}};
          if (e.cause == "phi") j["silent_ms"] = static_cast<double>(e.silent_ns) / 1e6;
          return j;
        } else if constexpr (std::is_same_v<E, runtime::PeerSuspect>) {
          return {{"event", "health"},
                  {"peer", e.peer.to_base58()},
                  {"state", "suspect"},
                  {"phi", e.phi},
                  {"silent_ms", static_cast<double>(e.silent_ns) / 1e6}};
        } else if constexpr (std::is_same_v<E, runtime::PeerBlocked>) {
          return {{"event", "health"}, {"peer", e.peer.to_base58()}, {"state", "blocked"}};
        } else if constexpr (std::is_same_v<E, runtime::SendFailed>) {
          return {{"event", "send_failed"},
                  {"peer", e.peer.to_base58()},
                  {"reason", std::string(e.reason)},
                  {"message_id", e.message_id},
                  {"detail", e.detail}};
        } else if constexpr (std::is_same_v<E, runtime::OutboundDropped>) {
          return {{"event", "outbound_dropped"},
                  {"peer", e.peer.to_base58()},
                  {"count", e.count},
                  {"reason", std::string(e.reason)}};
        } else {
          return {{"event", "timeout"}, {"peer", e.peer.to_base58()}, {"token", e.token}};
        }
      },
      event);
}

// Connection-level failures (refused and failed inbound connections, failed dials, streams
// closed for bad input): a peer can cause any number of them, so they are counted by cause and
// logged on stderr once per interval rather than printed one by one. With -v each is also
// logged (at debug level) as it happens.
class FailureLog {
 public:
  // True when `event` is one of them (and is now counted).
  bool count(const wire::HostEvent& event) {
    const bool each = spdlog::should_log(spdlog::level::debug);
    if (const auto* e = std::get_if<wire::InboundFailed>(&event)) {
      if (each) {
        spdlog::debug("inbound connection from {} failed: {}", e->from.to_string(),
                      wire::escape_for_log(e->detail));
      }
      inbound_.add(e->error.message());
    } else if (const auto* d = std::get_if<wire::DialFailed>(&event)) {
      if (each) {
        spdlog::debug("dial to {} failed: {}", wire::escape_for_log(d->addr.to_string()),
                      wire::escape_for_log(d->detail));
      }
      dials_.add(d->error.message());
    } else if (const auto* s = std::get_if<wire::StreamFailed>(&event)) {
      if (each) {
        spdlog::debug("stream {} of {} failed: {}", wire::escape_for_log(s->protocol),
                      s->peer.to_base58(), wire::escape_for_log(s->detail));
      }
      streams_.add((s->protocol.empty() ? std::string("negotiation") : s->protocol) + ": " +
                   s->error.message());
    } else {
      return false;
    }
    return true;
  }
  void tick() {
    inbound_.tick();
    dials_.tick();
    streams_.tick();
  }
  void flush() {
    inbound_.flush();
    dials_.flush();
    streams_.flush();
  }

 private:
  wire::LogAggregator inbound_{"{} inbound connection refused or failed",
                               "{} inbound connections refused or failed"};
  wire::LogAggregator dials_{"{} dial failed", "{} dials failed"};
  wire::LogAggregator streams_{"{} stream failed", "{} streams failed"};
};

// How long `run` waits for the node to stop after an internal failure before it exits anyway.
constexpr std::chrono::seconds kStopLimit{5};

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return wire::error_text(e);
  } catch (...) {
    return "a non-standard exception";
  }
}

// What the tasks of `run` share. Everything here lives on the io thread.
struct RunContext {
  RunContext(asio::io_context& context, bool json)
      : io(context),
        signals(context, SIGINT, SIGTERM),
        ticker(context),
        watchdog(context),
        printer(json) {}

  // An internal failure (an exception that escaped a task): say so on stderr, exit 1, and shut
  // down as on SIGTERM; if that does not finish in kStopLimit, the io loop is stopped.
  void fail(const std::exception_ptr& error) noexcept { fail(describe(error)); }
  void fail(const std::string& what) noexcept {
    try {
      printer.fail("internal", what);
    } catch (...) {
      std::cerr << "bb-node run: " << what << std::endl;
    }
    exit_code = kExitFailure;
    if (failed) return;
    failed = true;
    request_stop();
    watchdog.expires_after(kStopLimit);
    watchdog.async_wait([this](boost::system::error_code ec) {
      if (!ec) io.stop();
    });
  }
  void request_stop() noexcept {
    stop_requested = true;
    boost::system::error_code ignored;
    signals.cancel(ignored);
  }

  // The Host's connection events: printed, or counted when they are failures.
  void observe(const wire::HostEvent& event) noexcept {
    try {
      if (failures.count(event)) return;
      printer.print(to_json(event));
    } catch (...) {
      fail(std::current_exception());
    }
  }

  asio::io_context& io;
  node::Node* node = nullptr;
  std::unique_ptr<pubsub::Gossipsub> pubsub;     // with --topic
  std::unique_ptr<dht::Kademlia> dht;            // with --bootstrap, --dht or --provide
  std::optional<wire::Multiaddr> metrics_addr;   // --metrics
  std::unique_ptr<node::MetricsServer> metrics;  // serving there once started
  asio::signal_set signals;
  asio::steady_timer ticker;
  asio::steady_timer watchdog;
  Printer printer;
  FailureLog failures;
  int exit_code = kExitOk;
  bool failed = false;
  bool stop_requested = false;
  bool started = false;
  bool stopped = false;
};

// Each task of `run` reports its own failure (RunContext::fail) instead of throwing, so that
// none of them ends the others' wait by cancellation they may not support.
asio::awaitable<void> print_messages(RunContext& ctx) {
  try {
    while (auto m = co_await ctx.node->receive_any()) ctx.printer.print(to_json(*m));
  } catch (...) {
    ctx.fail(std::current_exception());
  }
}

asio::awaitable<void> print_node_events(RunContext& ctx) {
  try {
    while (auto e = co_await ctx.node->next_event()) ctx.printer.print(to_json(*e));
  } catch (...) {
    ctx.fail(std::current_exception());
  }
}

asio::awaitable<void> print_topic(RunContext& ctx, std::string topic) {
  try {
    while (auto m = co_await ctx.pubsub->next_message(topic)) {
      ctx.printer.print(cli::to_json(*m));
    }
  } catch (...) {
    ctx.fail(std::current_exception());
  }
}

asio::awaitable<void> print_pubsub_events(RunContext& ctx) {
  try {
    while (auto e = co_await ctx.pubsub->next_event()) ctx.printer.print(cli::to_json(*e));
  } catch (...) {
    ctx.fail(std::current_exception());
  }
}

// --topic: gossipsub on the node, joined to the topics, each message printed. Before any dial,
// so that the first peers already learn the protocols from identify.
void start_pubsub(RunContext& ctx, const std::vector<std::string>& topics) {
  if (topics.empty()) return;
  ctx.pubsub = std::make_unique<pubsub::Gossipsub>(*ctx.node);
  ctx.pubsub->start();
  for (const auto& topic : topics) {
    ctx.pubsub->subscribe(topic);
    asio::co_spawn(ctx.io, print_topic(ctx, topic), asio::detached);
  }
  asio::co_spawn(ctx.io, print_pubsub_events(ctx), asio::detached);
}

// The DHT's start: after gossipsub and before any dial, so that identify tells the first peers
// that we serve it.
void start_dht(RunContext& ctx, std::optional<dht::Mode> mode) {
  if (!mode) return;
  dht::KademliaOptions options;
  options.mode = *mode;
  ctx.dht = std::make_unique<dht::Kademlia>(*ctx.node, options);
  ctx.dht->start();
}

// What the DHT's work is given: the bootstrap addresses and the CIDs to provide.
struct DhtPlan {
  std::optional<dht::Mode> mode;  // nullopt: no DHT
  std::vector<wire::Multiaddr> bootstrap;
  std::vector<dht::Cid> provide;
};

// Joins the DHT (a `dht` line once it has), then announces each --provide CID (a `provide`
// line each; the Kademlia service republishes them while the node runs).
asio::awaitable<void> run_dht(RunContext& ctx, DhtPlan plan) {
  if (!ctx.dht) co_return;
  try {
    std::size_t table = ctx.dht->routing_table().size();
    if (!plan.bootstrap.empty()) table = co_await ctx.dht->bootstrap(plan.bootstrap);
    if (ctx.stop_requested) co_return;
    ctx.printer.print({{"event", "dht"},
                       {"mode", std::string(dht::to_string(ctx.dht->mode()))},
                       {"routing_table", table}});
    for (const auto& cid : plan.provide) {
      auto peers = co_await ctx.dht->provide(cid);
      if (ctx.stop_requested) co_return;
      if (peers) {
        ctx.printer.print({{"event", "provide"}, {"cid", cid.to_string()}, {"peers", *peers}});
      } else {
        ctx.printer.print({{"event", "error"},
                           {"kind", "provide"},
                           {"cid", cid.to_string()},
                           {"error", peers.error().message()}});
      }
    }
  } catch (...) {
    ctx.fail(std::current_exception());
  }
}

asio::awaitable<void> tick_failures(RunContext& ctx) {
  try {
    while (!ctx.stop_requested) {
      ctx.ticker.expires_after(std::chrono::seconds(1));
      auto [ec] = co_await ctx.ticker.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) break;  // cancelled: the node is stopping
      ctx.failures.tick();
    }
  } catch (...) {
    ctx.fail(std::current_exception());
  }
}

asio::awaitable<void> dial_all(RunContext& ctx, std::vector<wire::Multiaddr> addrs) {
  for (const auto& addr : addrs) {
    if (ctx.stop_requested) co_return;
    std::optional<wire::DialFailed> failure;
    try {
      (void)co_await ctx.node->connect(addr);
    } catch (const system_error& e) {
      failure = wire::DialFailed{addr, e.code(), wire::error_text(e)};
    }
    // A dial the user asked for gets its own "error" line; the node keeps running.
    if (failure) ctx.printer.print(to_json(wire::HostEvent(std::move(*failure))));
  }
}

asio::awaitable<void> run_node(RunContext& ctx, std::vector<wire::Multiaddr> connect) {
  try {
    co_await dial_all(ctx, std::move(connect));
    if (!ctx.stop_requested) {
      (void)co_await ctx.signals.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  } catch (...) {
    ctx.fail(std::current_exception());
  }
  ctx.stop_requested = true;
  ctx.ticker.cancel();
  try {
    if (ctx.metrics) co_await ctx.metrics->stop();
    if (ctx.dht) co_await ctx.dht->stop();
    if (ctx.pubsub) co_await ctx.pubsub->stop();
    co_await ctx.node->stop();
    ctx.stopped = true;
  } catch (...) {
    ctx.fail(std::current_exception());
  }
  ctx.failures.flush();
  if (ctx.stopped) ctx.watchdog.cancel();
}

asio::awaitable<void> start_and_run(RunContext& ctx, std::vector<wire::Multiaddr> connect,
                                    std::vector<std::string> topics, DhtPlan plan) {
  std::string problem;
  std::string metrics_url;
  try {
    co_await ctx.node->start();
    // Before anything else starts, so that a busy port stops only the node.
    if (ctx.metrics_addr) {
      ctx.metrics = std::make_unique<node::MetricsServer>(*ctx.node);
      metrics_url = node::metrics_url(ctx.metrics->listen(*ctx.metrics_addr));
    }
    start_pubsub(ctx, topics);
    start_dht(ctx, plan.mode);
  } catch (const system_error& e) {
    problem = wire::error_text(e);
  }
  if (!problem.empty()) {
    ctx.printer.fail("cannot_start", "cannot start: " + problem);
    ctx.exit_code = kExitFailure;
    co_await ctx.node->stop();
    ctx.stopped = true;
    co_return;
  }
  ctx.started = true;
  // First, before any task can print: where to dial us.
  for (const auto& addr : ctx.node->listen_addrs()) ctx.printer.listening(addr);
  if (!metrics_url.empty()) ctx.printer.metrics(metrics_url);
  co_await (print_messages(ctx) && print_node_events(ctx) && tick_failures(ctx) &&
            run_dht(ctx, std::move(plan)) && run_node(ctx, std::move(connect)));
}

// After a failure that escaped start_and_run itself.
asio::awaitable<void> stop_after_failure(RunContext& ctx) {
  ctx.ticker.cancel();
  if (ctx.metrics) co_await ctx.metrics->stop();
  if (ctx.dht) co_await ctx.dht->stop();
  if (ctx.pubsub) co_await ctx.pubsub->stop();
  co_await ctx.node->stop();
  ctx.stopped = true;
  ctx.watchdog.cancel();
}

int run(const RunOptions& opts) {
  const Output out("run", opts.json);  // until the node's printer takes over
  auto identity = load_identity(opts.key_file, out);
  if (!identity) return kExitFailure;
  node::NodeConfig config;
  for (const auto& text : opts.listen) {
    auto addr = parse_addr(text, out);
    if (!addr) return kExitBadInput;
    config.listen.push_back(*addr);
  }
  std::vector<wire::Multiaddr> connect;
  for (const auto& text : opts.connect) {
    auto addr = parse_addr(text, out);
    if (!addr) return kExitBadInput;
    connect.push_back(*addr);
  }
  std::optional<wire::Multiaddr> metrics_addr;
  if (!opts.metrics.empty()) {
    metrics_addr = parse_addr(opts.metrics, out);
    if (!metrics_addr) return kExitBadInput;
    if (!wire::tcp_endpoint(*metrics_addr)) {
      return out.fail(
          "bad_multiaddr",
          "--metrics " + opts.metrics + ": need /ip4/<addr>/tcp/<port> or /ip6/<addr>/tcp/<port>",
          kExitBadInput);
    }
  }
  DhtPlan plan;
  for (const auto& text : opts.bootstrap) {
    auto addr = parse_addr(text, out);
    if (!addr) return kExitBadInput;
    plan.bootstrap.push_back(*addr);
  }
  for (const auto& text : opts.provide) {
    auto cid = dht::Cid::parse(text);
    if (!cid) {
      return out.fail("bad_cid", "--provide '" + text + "' is not a CID: " + cid.error().message(),
                      kExitBadInput);
    }
    plan.provide.push_back(*cid);
  }
  if (!opts.dht_mode.empty() || !plan.bootstrap.empty() || !plan.provide.empty()) {
    plan.mode = parse_dht_mode(opts.dht_mode.empty() ? "auto" : opts.dht_mode);
    if (!plan.mode) {
      return out.fail("bad_dht_mode", "--dht must be server, client or auto", kExitBadInput);
    }
  }
  config.identity = std::move(*identity);
  if (!opts.peerstore.empty()) config.peer_store_file = opts.peerstore;
  config.min_connections = opts.min_connections;
  config.host.serve_perf = opts.serve_perf;
  config.host.max_connections = opts.max_connections;
  config.host.max_pending_inbound = opts.max_pending;
  config.host.connection_manager.max_connections_per_ip = opts.max_connections_per_ip;
  config.host.resources.system.memory = opts.max_memory;

  asio::io_context io(1);
  RunContext ctx(io, opts.json);
  ctx.metrics_addr = metrics_addr;
  config.host_observer = [&ctx](const wire::HostEvent& event) { ctx.observe(event); };
  node::Node node(io.get_executor(), std::move(config));
  ctx.node = &node;
  for (const auto& name : opts.channels) node.subscribe(name);
  if (opts.serve_echo) node.serve("echo", echo);
  asio::co_spawn(io, start_and_run(ctx, std::move(connect), opts.topics, std::move(plan)),
                 [&ctx](std::exception_ptr e) {
                   if (!e) return;
                   ctx.fail(e);
                   asio::co_spawn(ctx.io, stop_after_failure(ctx),
                                  [&ctx](std::exception_ptr again) {
                                    if (again) ctx.fail(again);
                                  });
                 });
  io.run();
  if (!ctx.stopped) {
    // The watchdog ended the loop: the node did not stop in time. Nothing more can be done
    // in order; write what is queued and leave.
    ctx.printer.fail("stop_timeout", "the node did not stop within " +
                                         std::to_string(kStopLimit.count()) + " s; exiting");
    ctx.printer.close();
    wire::stop_logging();
    std::_Exit(ctx.exit_code == kExitOk ? kExitFailure : ctx.exit_code);
  }
  ctx.printer.close();
  return ctx.exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto run_opts = std::make_shared<RunOptions>();
  auto* run_cmd = app.add_subcommand(
      "run",
      "Run a node: serve ping, identify and /bb/wire/1.0.0 (and perf with --serve-perf); print "
      "events and messages");
  run_cmd->footer(
      "Output (stdout): one line per event: listening, peer_up, identified, message, health, "
      "send_failed, outbound_dropped, peer_down, and error for a --connect address that could "
      "not be dialled; with the DHT on (--bootstrap, --dht, --provide), dht (mode, routing_table) "
      "once "
      "it has joined and provide (cid, peers) per --provide CID. A payload prints as text when it "
      "is UTF-8, as 0x<hex> when it has control "
      "characters, else in base64 with encoding=base64. Lines that a slow reader leaves no room "
      "for are dropped and counted (output_dropped count=N).\n"
      "Log (stderr): refused or failed connections, failed dials and failed streams are counted "
      "by cause and logged once per 10 s; -v logs each one.");
  run_cmd->add_option("--key", run_opts->key_file, "Key file (default: an ephemeral identity)");
  run_cmd->add_option("--listen", run_opts->listen, "Listen multiaddr(s)")->capture_default_str();
  run_cmd->add_option("--connect", run_opts->connect, "Peer multiaddr(s) to dial at start");
  run_cmd
      ->add_option("--channel", run_opts->channels,
                   "Channel name(s) to subscribe to; messages on other channels print with "
                   "their /site/<id> address")
      ->capture_default_str();
  run_cmd->add_option("--topic", run_opts->topics,
                      "Gossipsub topic(s) to join (/meshsub/1.2.0, 1.1.0, 1.0.0, /floodsub/1.0.0); "
                      "each message prints as a pubsub line");
  run_cmd->add_option("--bootstrap", run_opts->bootstrap,
                      "Multiaddr(s) of DHT nodes: dial them and join the Kademlia DHT "
                      "(/ipfs/kad/1.0.0); prints a dht line once joined");
  run_cmd->add_option("--dht", run_opts->dht_mode,
                      "Run the DHT in this mode: server (answer queries), client (only ask) or "
                      "auto (server when listening); default auto once the DHT is on");
  run_cmd->add_option("--provide", run_opts->provide,
                      "CID(s) to announce as a provider of (and republish while running); a "
                      "provide line each");
  run_cmd->add_option("--peerstore", run_opts->peerstore,
                      "The peer store's file: the peers learned (addresses with their TTLs and "
                      "sources, protocols, agent) are loaded at start and saved every minute and "
                      "at exit, so a restarted node (with --dht) finds the network again without "
                      "--bootstrap");
  run_cmd
      ->add_option("--min-connections", run_opts->min_connections,
                   "Keep at least this many peers connected by dialling known ones (0: off)")
      ->capture_default_str();
  run_cmd->add_option("--metrics", run_opts->metrics,
                      "Serve Prometheus metrics over HTTP at this multiaddr "
                      "(/ip4/127.0.0.1/tcp/9100; port 0 picks one): GET /metrics; prints a "
                      "metrics line with the URL (docs/metrics.md)");
  run_cmd->add_flag("--json", run_opts->json, "One JSON object per line (docs/cli-json.md)");
  run_cmd->add_flag("--serve-perf", run_opts->serve_perf,
                    "Serve /perf/1.0.0 (throughput tests: a peer can make the node send up to "
                    "64 GiB per stream), off by default");
  run_cmd->add_flag("--serve-echo", run_opts->serve_echo,
                    "Serve the request/response service `echo`, which answers each request "
                    "with its payload (see bb-node request)");
  run_cmd
      ->add_option("--max-connections", run_opts->max_connections,
                   "Connections at most (inbound and outbound); more are refused")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd
      ->add_option("--max-pending", run_opts->max_pending,
                   "Inbound connections at most whose handshake is not finished; more are "
                   "refused")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd
      ->add_option("--max-connections-per-ip", run_opts->max_connections_per_ip,
                   "Inbound connections at most from one IP address, established or in "
                   "handshake (the machine's own loopback addresses are not limited)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd
      ->add_option("--max-memory", run_opts->max_memory,
                   "Memory at most, in bytes or with a unit (512MiB, 2GiB), that peers can make "
                   "the node hold: connection, stream and message buffers")
      ->transform(CLI::AsSizeValue(true))
      ->capture_default_str();
  run_cmd->callback([run_opts, &exit_code] { exit_code = run(*run_opts); });
}

}  // namespace bb::cli

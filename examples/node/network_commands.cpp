// bb-node run / send / ping / perf: a node on the libp2p stack (TCP, Noise, Yamux).
#include "examples/node/commands.hpp"

#include "proto/bb_core.pb.h"
#include "runtime/node.hpp"
#include "wire/host.hpp"
#include "wire/keys.hpp"
#include "wire/protocols/perf.hpp"
#include "wire/protocols/ping.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

namespace bb::node {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;

struct RunOptions {
  std::string key_file;
  std::vector<std::string> listen{"/ip4/127.0.0.1/tcp/0"};
  std::vector<std::string> connect;
  std::vector<std::string> channels{"default"};
  bool json = false;
};

struct SendOptions {
  std::string addr;
  std::string channel = "default";
  std::string data;
  std::uint64_t timeout_ms = 10'000;
};

struct PingOptions {
  std::string addr;
  int count = 1;
};

struct PerfOptions {
  std::string addr;
  std::uint64_t upload = 0;
  std::uint64_t download = 0;
};

// Parses a multiaddr or prints why not; the result is empty on failure.
std::optional<wire::Multiaddr> parse_addr(const std::string& text, const char* command) {
  auto addr = wire::Multiaddr::parse(text);
  if (!addr) {
    std::cerr << "bb-node " << command << ": '" << text
              << "' is not a multiaddr: " << addr.error().message() << "\n";
    return std::nullopt;
  }
  return *addr;
}

std::optional<wire::Ed25519KeyPair> load_identity(const std::string& key_file) {
  if (key_file.empty()) return wire::Ed25519KeyPair::generate();  // ephemeral
  auto key = wire::read_key_file(key_file);
  if (!key) {
    std::cerr << "bb-node: cannot load key file " << key_file << ": " << key.error().message()
              << "\n";
    return std::nullopt;
  }
  return *key;
}

// One line per event, as text or JSON.
class Printer {
 public:
  explicit Printer(bool json) : json_(json) {}

  void print(const nlohmann::json& event) const {
    if (json_) {
      std::cout << event.dump() << std::endl;
      return;
    }
    std::string line = event.at("event").get<std::string>();
    for (const auto& [key, value] : event.items()) {
      if (key == "event") continue;
      line += " " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
    }
    std::cout << line << std::endl;
  }

  void listening(const wire::Multiaddr& addr) const {
    if (json_) {
      print({{"event", "listening"}, {"addr", addr.to_string()}});
    } else {
      std::cout << "listening " << addr.to_string() << std::endl;
    }
  }

 private:
  bool json_;
};

std::string payload_text(const std::string& bytes) {
  // Printable UTF-8 is shown as is, anything else as hex.
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 && c != '\t') return "0x" + wire::to_hex(wire::as_bytes(bytes));
  }
  return bytes;
}

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
            fills.push_back(
                {{"dest_suffix", "0x" + wire::to_hex(wire::as_bytes(fill.dest_suffix()))},
                 {"payload", payload_text(fill.payload())}});
          }
          return {{"event", "message"},
                  {"peer", e.peer.to_base58()},
                  {"wire_req_id", e.envelope->correlation().wire_req_id()},
                  {"fills", fills}};
        }
      },
      event);
}

std::string_view text_of(const wire::Bytes& payload) {
  return {reinterpret_cast<const char*>(payload.data()), payload.size()};
}

nlohmann::json to_json(const runtime::Received& m) {
  return {{"event", "message"},
          {"peer", m.from.to_base58()},
          {"origin", m.origin.to_base58()},
          {"channel", m.channel},
          {"message_id", m.message_id},
          {"payload", payload_text(std::string(text_of(m.payload)))}};
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
          return {{"event", "health"},
                  {"peer", e.peer.to_base58()},
                  {"state", "down"},
                  {"cause", std::string(e.cause)}};
        } else if constexpr (std::is_same_v<E, runtime::PeerSuspect>) {
          return {{"event", "health"},
                  {"peer", e.peer.to_base58()},
                  {"state", "suspect"},
                  {"phi", e.phi}};
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

asio::awaitable<void> print_messages(runtime::Node& node, const Printer& printer) {
  while (auto m = co_await node.receive_any()) printer.print(to_json(*m));
}

asio::awaitable<void> print_node_events(runtime::Node& node, const Printer& printer) {
  while (auto e = co_await node.next_event()) printer.print(to_json(*e));
}

asio::awaitable<void> dial_all(runtime::Node& node, std::vector<wire::Multiaddr> addrs) {
  for (const auto& addr : addrs) {
    try {
      (void)co_await node.connect(addr);
    } catch (const system_error&) {
      // Reported as a DialFailed "error" line; the node keeps running.
    }
  }
}

asio::awaitable<void> wait_for_signal(asio::signal_set& signals) {
  (void)co_await signals.async_wait(asio::use_awaitable);
}

asio::awaitable<void> run_node(runtime::Node& node, asio::signal_set& signals,
                               const Printer& printer, std::vector<wire::Multiaddr> connect) {
  for (const auto& addr : node.listen_addrs()) printer.listening(addr);
  co_await dial_all(node, std::move(connect));
  co_await wait_for_signal(signals);
  co_await node.stop();
}

int run(const RunOptions& opts) {
  auto identity = load_identity(opts.key_file);
  if (!identity) return kExitFailure;
  runtime::NodeConfig config;
  for (const auto& text : opts.listen) {
    auto addr = parse_addr(text, "run");
    if (!addr) return kExitBadInput;
    config.listen.push_back(*addr);
  }
  std::vector<wire::Multiaddr> connect;
  for (const auto& text : opts.connect) {
    auto addr = parse_addr(text, "run");
    if (!addr) return kExitBadInput;
    connect.push_back(*addr);
  }
  const Printer printer(opts.json);
  config.identity = std::move(*identity);
  const auto channels = opts.channels;
  config.host_observer = [&printer](const wire::HostEvent& event) {
    if (!std::holds_alternative<wire::EnvelopeReceived>(event)) printer.print(to_json(event));
  };
  asio::io_context io(1);
  runtime::Node node(io.get_executor(), std::move(config));
  for (const auto& name : channels) node.subscribe(name);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int exit_code = kExitOk;
  bool started = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::string problem;
        try {
          co_await node.start();
        } catch (const system_error& e) {
          problem = wire::error_text(e);
        }
        if (!problem.empty()) {
          std::cerr << "bb-node run: cannot start: " << problem << "\n";
          exit_code = kExitFailure;
          co_await node.stop();
          co_return;
        }
        started = true;
        co_await (print_messages(node, printer) && print_node_events(node, printer) &&
                  run_node(node, signals, printer, connect));
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::cerr << "bb-node run: " << wire::error_text(ex) << "\n";
        }
        exit_code = kExitFailure;
      });
  io.run();
  if (started && exit_code != kExitOk) {
    asio::co_spawn(io, node.stop(), [](std::exception_ptr) {});
    io.restart();
    io.run();
  }
  return exit_code;
}

// bb-node send: one message through a Node's send pipeline; exits 0 once the peer's receipt
// says it accepted the message.
int send(const SendOptions& opts) {
  auto addr = parse_addr(opts.addr, "send");
  if (!addr) return kExitBadInput;
  if (!addr->peer_id()) {
    std::cerr << "bb-node send: '" << opts.addr << "' has no /p2p/<peer id> part\n";
    return kExitBadInput;
  }
  asio::io_context io(1);
  runtime::Node node(io.get_executor());
  int exit_code = kExitOk;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await node.start();
        std::string problem;
        try {
          const auto peer = co_await node.connect(*addr);
          runtime::SendOptions send_opts;
          send_opts.await_receipt = true;
          send_opts.budget_ns = opts.timeout_ms * 1'000'000;
          asio::steady_timer timer(io, std::chrono::milliseconds(opts.timeout_ms));
          auto outcome =
              co_await (node.send(peer, opts.channel, wire::as_bytes(opts.data), send_opts) ||
                        timer.async_wait(asio::use_awaitable));
          if (outcome.index() == 1) {
            std::cerr << "bb-node send: no receipt from " << peer.to_base58() << " within "
                      << opts.timeout_ms << " ms\n";
            exit_code = kExitFailure;
          } else if (const auto& verdict = std::get<0>(outcome)) {
            std::cerr << "bb-node send: not delivered to " << peer.to_base58() << ": "
                      << verdict->reason << ": " << verdict->detail << "\n";
            exit_code = kExitFailure;
          } else {
            std::cout << "delivered to " << peer.to_base58() << " channel=" << opts.channel
                      << " bytes=" << opts.data.size() << std::endl;
          }
        } catch (const system_error& e) {
          std::cerr << "bb-node send: cannot reach " << addr->to_string() << ": "
                    << wire::error_text(e) << "\n";
          exit_code = kExitFailure;
        }
        co_await node.stop();
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::cerr << "bb-node send: " << wire::error_text(ex) << "\n";
        }
        exit_code = kExitFailure;
      });
  io.run();
  return exit_code;
}

// Runs `task` against a fresh host with an ephemeral identity; prints failures.
template <class Task>
int with_client(const char* command, Task task) {
  asio::io_context io(1);
  wire::Host host(io.get_executor(), wire::Ed25519KeyPair::generate());
  int exit_code = kExitOk;
  asio::co_spawn(io, task(host), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::cerr << "bb-node " << command << ": " << wire::error_text(ex) << "\n";
      }
      exit_code = kExitFailure;
    }
  });
  io.run();
  // Shut the host down whatever happened, so its tasks end before it goes away.
  asio::co_spawn(io, host.stop(), [](std::exception_ptr) {});
  io.restart();
  io.run();
  return exit_code;
}

// Connects or explains, in one line, why not.
asio::awaitable<wire::Connection> reach(wire::Host& host, const wire::Multiaddr& addr) {
  std::string problem;
  try {
    co_return co_await host.connect(addr);
  } catch (const system_error& e) {
    problem = wire::error_text(e);
  }
  throw std::runtime_error("cannot reach " + addr.to_string() + ": " + problem);
}

asio::awaitable<void> ping_task(wire::Host& host, wire::Multiaddr addr, int count) {
  auto conn = co_await reach(host, addr);
  for (int i = 0; i < count; ++i) {
    const auto rtt = co_await wire::ping::ping(conn, std::chrono::seconds(10));
    std::cout << "ping " << conn.remote_peer().to_base58()
              << " rtt_ms=" << static_cast<double>(rtt.count()) / 1e6 << std::endl;
  }
  co_await host.stop();
}

asio::awaitable<void> perf_task(wire::Host& host, wire::Multiaddr addr, std::uint64_t up,
                                std::uint64_t down) {
  auto conn = co_await reach(host, addr);
  const auto r = co_await wire::perf::run(conn, up, down);
  auto line = [](const char* what, std::uint64_t bytes, std::chrono::nanoseconds t) {
    const double seconds = static_cast<double>(t.count()) / 1e9;
    std::cout << what << " bytes=" << bytes << " seconds=" << seconds << " mib_per_s="
              << (seconds > 0 ? static_cast<double>(bytes) / (1 << 20) / seconds : 0.0)
              << std::endl;
  };
  line("upload", r.uploaded, r.upload_time);
  line("download", r.downloaded, r.download_time);
  co_await host.stop();
}

}  // namespace

void add_network_commands(CLI::App& app, int& exit_code) {
  auto run_opts = std::make_shared<RunOptions>();
  auto* run_cmd = app.add_subcommand(
      "run",
      "Run a node: serve ping, identify, perf and /bb/wire/1.0.0; print events and messages");
  run_cmd->add_option("--key", run_opts->key_file, "Key file (default: an ephemeral identity)");
  run_cmd->add_option("--listen", run_opts->listen, "Listen multiaddr(s)")->capture_default_str();
  run_cmd->add_option("--connect", run_opts->connect, "Peer multiaddr(s) to dial at start");
  run_cmd
      ->add_option("--channel", run_opts->channels,
                   "Channel name(s) to subscribe to; messages on other channels print with "
                   "their /site/<id> address")
      ->capture_default_str();
  run_cmd->add_flag("--json", run_opts->json, "One JSON object per line");
  run_cmd->callback([run_opts, &exit_code] { exit_code = run(*run_opts); });

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
  send_cmd->callback([send_opts, &exit_code] { exit_code = send(*send_opts); });

  auto ping_opts = std::make_shared<PingOptions>();
  auto* ping_cmd = app.add_subcommand("ping", "Dial a peer and ping it; print each RTT");
  ping_cmd->add_option("MULTIADDR", ping_opts->addr, "e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")
      ->required();
  ping_cmd->add_option("--count", ping_opts->count, "Number of pings")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  ping_cmd->callback([ping_opts, &exit_code] {
    auto addr = parse_addr(ping_opts->addr, "ping");
    if (!addr) {
      exit_code = kExitBadInput;
      return;
    }
    const int count = ping_opts->count;
    exit_code = with_client(
        "ping", [addr = *addr, count](wire::Host& host) { return ping_task(host, addr, count); });
  });

  auto perf_opts = std::make_shared<PerfOptions>();
  auto* perf_cmd = app.add_subcommand("perf", "Run the libp2p perf protocol against a peer");
  perf_cmd->add_option("MULTIADDR", perf_opts->addr, "Peer to measure")->required();
  perf_cmd->add_option("--upload", perf_opts->upload, "Bytes to send")->required();
  perf_cmd->add_option("--download", perf_opts->download, "Bytes to receive")->required();
  perf_cmd->callback([perf_opts, &exit_code] {
    auto addr = parse_addr(perf_opts->addr, "perf");
    if (!addr) {
      exit_code = kExitBadInput;
      return;
    }
    const auto up = perf_opts->upload;
    const auto down = perf_opts->download;
    exit_code = with_client("perf", [addr = *addr, up, down](wire::Host& host) {
      return perf_task(host, addr, up, down);
    });
  });
}

}  // namespace bb::node

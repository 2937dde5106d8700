// bb-node run / ping / perf: a node on the libp2p stack (TCP, Noise, Yamux).
#include "examples/node/commands.hpp"

#include "proto/bb_core.pb.h"
#include "wire/host.hpp"
#include "wire/keys.hpp"
#include "wire/protocols/perf.hpp"
#include "wire/protocols/ping.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
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
  bool json = false;
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

asio::awaitable<void> print_events(wire::Host& host, const Printer& printer) {
  while (auto event = co_await host.next_event()) printer.print(to_json(*event));
}

asio::awaitable<void> dial_all(wire::Host& host, std::vector<wire::Multiaddr> addrs) {
  for (const auto& addr : addrs) {
    try {
      (void)co_await host.connect(addr);
    } catch (const system_error&) {
      // Reported as a DialFailed event; the node keeps running.
    }
  }
}

asio::awaitable<void> wait_for_signal(asio::signal_set& signals) {
  (void)co_await signals.async_wait(asio::use_awaitable);
}

asio::awaitable<void> run_node(wire::Host& host, asio::signal_set& signals,
                               std::vector<wire::Multiaddr> connect) {
  co_await dial_all(host, std::move(connect));
  co_await wait_for_signal(signals);
  co_await host.stop();
}

int run(const RunOptions& opts) {
  auto identity = load_identity(opts.key_file);
  if (!identity) return kExitFailure;
  std::vector<wire::Multiaddr> listen, connect;
  for (const auto& text : opts.listen) {
    auto addr = parse_addr(text, "run");
    if (!addr) return kExitBadInput;
    listen.push_back(*addr);
  }
  for (const auto& text : opts.connect) {
    auto addr = parse_addr(text, "run");
    if (!addr) return kExitBadInput;
    connect.push_back(*addr);
  }
  asio::io_context io(1);
  wire::Host host(io.get_executor(), *identity);
  const Printer printer(opts.json);
  for (const auto& addr : listen) {
    try {
      printer.listening(host.listen(addr).with_peer_id(host.peer_id()));
    } catch (const system_error& e) {
      std::cerr << "bb-node run: cannot listen on " << addr.to_string() << ": "
                << wire::error_text(e) << "\n";
      return kExitFailure;
    }
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int exit_code = kExitOk;
  asio::co_spawn(io, print_events(host, printer) && run_node(host, signals, connect),
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
      "run", "Run a node: serve ping, identify, perf and /bb/wire/1.0.0; print events");
  run_cmd->add_option("--key", run_opts->key_file, "Key file (default: an ephemeral identity)");
  run_cmd->add_option("--listen", run_opts->listen, "Listen multiaddr(s)")->capture_default_str();
  run_cmd->add_option("--connect", run_opts->connect, "Peer multiaddr(s) to dial at start");
  run_cmd->add_flag("--json", run_opts->json, "One JSON object per line");
  run_cmd->callback([run_opts, &exit_code] { exit_code = run(*run_opts); });

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

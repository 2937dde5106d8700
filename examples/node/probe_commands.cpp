// bb-node ping / perf: a throwaway host with an ephemeral identity dials a peer and runs one
// libp2p protocol against it.
#include "examples/node/commands.hpp"

#include "bb/wire/host.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/protocols/perf.hpp"
#include "bb/wire/protocols/ping.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

namespace bb::cli {
namespace {

namespace asio = boost::asio;
using boost::system::system_error;

struct PingOptions {
  std::string addr;
  int count = 1;
};

struct PerfOptions {
  std::string addr;
  std::uint64_t upload = 0;
  std::uint64_t download = 0;
};

// `work`, then the host's stop() however `work` ended: a failed task would otherwise leave its
// connection open, and the io loop running, until the peer closed it.
asio::awaitable<void> then_stop(asio::awaitable<void> work, wire::Host& host) {
  std::exception_ptr failure;
  try {
    co_await std::move(work);
  } catch (...) {
    failure = std::current_exception();
  }
  co_await host.stop();
  if (failure) std::rethrow_exception(failure);
}

// Runs `task` against a fresh host with an ephemeral identity; prints failures.
template <class Task>
int with_client(const char* command, Task task) {
  asio::io_context io(1);
  wire::Host host(io.get_executor(), wire::Ed25519KeyPair::generate());
  int exit_code = kExitOk;
  asio::co_spawn(io, then_stop(task(host), host), [&](std::exception_ptr e) {
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

void add_probe_commands(CLI::App& app, int& exit_code) {
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

}  // namespace bb::cli

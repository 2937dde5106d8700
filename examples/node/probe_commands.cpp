// bb-node ping / perf: a throwaway host with an ephemeral identity dials a peer and runs one
// libp2p protocol against it.
#include "examples/node/commands.hpp"

#include "bb/async/clock.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/protocols/perf.hpp"
#include "bb/wire/protocols/ping.hpp"
#include "examples/node/output.hpp"
#include "examples/node/perf_meter.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace bb::cli {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;

struct PingOptions {
  std::string addr;
  int count = 1;
  bool json = false;
};

struct PerfOptions {
  std::string addr;
  std::uint64_t upload = 0;
  std::uint64_t download = 0;
  std::uint64_t interval_ms = 1'000;
  bool json = false;
};

// The peer could not be dialled (error "unreachable"), as opposed to a failure of the protocol.
struct Unreachable : std::runtime_error {
  using std::runtime_error::runtime_error;
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
int with_client(const Output& out, Task task) {
  asio::io_context io(1);
  wire::Host host(io.get_executor(), wire::Ed25519KeyPair::generate());
  int exit_code = kExitOk;
  asio::co_spawn(io, then_stop(task(host), host), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const Unreachable& ex) {
        out.fail("unreachable", ex.what(), kExitFailure);
      } catch (const std::exception& ex) {
        out.fail(out.command() + "_failed", wire::error_text(ex), kExitFailure);
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
  throw Unreachable("cannot reach " + addr.to_string() + ": " + problem);
}

// How the text lines have always printed numbers (ostream's default: 6 significant digits).
std::string number(double value) {
  std::ostringstream s;
  s << value;
  return s.str();
}

asio::awaitable<void> ping_task(wire::Host& host, wire::Multiaddr addr, int count,
                                const Output& out) {
  auto conn = co_await reach(host, addr);
  for (int i = 0; i < count; ++i) {
    const auto rtt = co_await wire::ping::ping(conn, std::chrono::seconds(10));
    const double rtt_ms = static_cast<double>(rtt.count()) / 1e6;
    const auto peer = conn.remote_peer().to_base58();
    out.print({{"event", "ping"}, {"peer", peer}, {"seq", i + 1}, {"rtt_ms", rtt_ms}},
              "ping " + peer + " rtt_ms=" + number(rtt_ms));
  }
  co_await host.stop();
}

double seconds_of(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e9;
}

double mib_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / (1 << 20) / seconds : 0.0;
}

// One intermediary report: {"type":"intermediary",...} with --json (the libp2p perf tool's
// fields), else "interval seconds=S upload_bytes=N download_bytes=N mib_per_s=M".
void print_interval(const Output& out, const PerfMeter::Interval& i) {
  const double seconds = seconds_of(i.nanoseconds);
  char text[160];
  std::snprintf(text, sizeof text,
                "interval seconds=%.3f upload_bytes=%llu download_bytes=%llu mib_per_s=%.1f",
                seconds, static_cast<unsigned long long>(i.uploaded),
                static_cast<unsigned long long>(i.downloaded),
                mib_per_s(i.uploaded + i.downloaded, seconds));
  out.print({{"event", "perf"},
             {"type", "intermediary"},
             {"timeSeconds", seconds},
             {"uploadBytes", i.uploaded},
             {"downloadBytes", i.downloaded}},
            text);
}

// Reports each `interval_ns` of `clock` until cancelled (when the run ends).
asio::awaitable<void> report_intervals(async::Clock& clock, std::uint64_t interval_ns,
                                       PerfMeter& meter, const wire::perf::Progress& progress,
                                       const Output& out) {
  std::uint64_t next = async::saturating_add(clock.now_ns(), interval_ns);
  while (co_await clock.sleep_until(next)) {
    print_interval(out, meter.next(clock.now_ns(), progress));
    next = async::saturating_add(next, interval_ns);
  }
}

// perf::run with its failure as a value. `run || report` ends on the first *success* (Asio's
// wait_for_one_success): a run that threw would leave the report running for ever.
asio::awaitable<std::exception_ptr> measure(wire::Connection conn, const PerfOptions& opts,
                                            async::Clock& clock, wire::perf::Progress& progress,
                                            wire::perf::Result& result) {
  try {
    result = co_await wire::perf::run(std::move(conn), opts.upload, opts.download, clock, progress);
  } catch (...) {
    co_return std::current_exception();
  }
  co_return nullptr;
}

asio::awaitable<void> perf_task(wire::Host& host, wire::Multiaddr addr, PerfOptions opts,
                                const Output& out, async::Clock& clock) {
  auto conn = co_await reach(host, addr);
  const auto peer = conn.remote_peer().to_base58();
  wire::perf::Progress progress;
  PerfMeter meter(clock.now_ns());
  const std::uint64_t interval_ns = opts.interval_ms * 1'000'000;
  wire::perf::Result r;
  auto outcome = co_await (measure(conn, opts, clock, progress, r) ||
                           report_intervals(clock, interval_ns, meter, progress, out));
  if (outcome.index() != 0) throw std::logic_error("perf: the report ended before the run");
  if (auto failure = std::get<0>(outcome)) std::rethrow_exception(failure);
  // The last, shorter, interval: with it the intervals add up to the totals.
  print_interval(out, meter.next(clock.now_ns(), progress));

  const double up_s = static_cast<double>(r.upload_time.count()) / 1e9;
  const double down_s = static_cast<double>(r.download_time.count()) / 1e9;
  auto line = [](const char* what, std::uint64_t bytes, double seconds) {
    return std::string(what) + " bytes=" + std::to_string(bytes) + " seconds=" + number(seconds) +
           " mib_per_s=" + number(mib_per_s(bytes, seconds));
  };
  out.print({{"event", "perf"},
             {"type", "final"},
             {"peer", peer},
             {"timeSeconds", seconds_of(meter.elapsed_ns())},
             {"uploadBytes", meter.reported().uploaded},
             {"downloadBytes", meter.reported().downloaded},
             {"upload_bytes", r.uploaded},
             {"upload_seconds", up_s},
             {"upload_mib_per_s", mib_per_s(r.uploaded, up_s)},
             {"download_bytes", r.downloaded},
             {"download_seconds", down_s},
             {"download_mib_per_s", mib_per_s(r.downloaded, down_s)}},
            line("upload", r.uploaded, up_s) + "\n" + line("download", r.downloaded, down_s));
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
  ping_cmd->add_flag("--json", ping_opts->json, "One JSON object per ping");
  ping_cmd->callback([ping_opts, &exit_code] {
    const Output out("ping", ping_opts->json);
    auto addr = parse_addr(ping_opts->addr, out);
    if (!addr) {
      exit_code = kExitBadInput;
      return;
    }
    const int count = ping_opts->count;
    exit_code = with_client(out, [addr = *addr, count, &out](wire::Host& host) {
      return ping_task(host, addr, count, out);
    });
  });

  auto perf_opts = std::make_shared<PerfOptions>();
  auto* perf_cmd = app.add_subcommand(
      "perf",
      "Run the libp2p perf protocol against a peer: a line per interval (--interval-ms) with "
      "the bytes moved in it, then the totals");
  perf_cmd->add_option("MULTIADDR", perf_opts->addr, "Peer to measure")->required();
  perf_cmd->add_option("--upload", perf_opts->upload, "Bytes to send")->required();
  perf_cmd->add_option("--download", perf_opts->download, "Bytes to receive")->required();
  perf_cmd
      ->add_option("--interval-ms", perf_opts->interval_ms,
                   "How often to report the bytes moved since the last report")
      ->check(CLI::Range(10, 3'600'000))
      ->capture_default_str();
  perf_cmd->add_flag("--json", perf_opts->json,
                     "One JSON object per line: type intermediary per interval, then final");
  perf_cmd->callback([perf_opts, &exit_code] {
    const Output out("perf", perf_opts->json);
    auto addr = parse_addr(perf_opts->addr, out);
    if (!addr) {
      exit_code = kExitBadInput;
      return;
    }
    exit_code = with_client(out, [addr = *addr, opts = *perf_opts, &out](wire::Host& host) {
      return perf_task(host, addr, opts, out, async::steady_clock());
    });
  });
}

}  // namespace bb::cli

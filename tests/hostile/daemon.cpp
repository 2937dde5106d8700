#include "tests/hostile/daemon.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/sanitizer.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#ifndef BB_NODE_PATH
#error "BB_NODE_PATH must name the bb-node executable"
#endif

namespace bb::hostile {
namespace {

// Runs the command after it with stderr sent to the file $0 and, when $1 is not empty, with
// RLIMIT_NOFILE set to $1 (soft and hard: the daemon may raise its soft limit toward the hard
// one, so both are lowered). exec keeps the pid, so /proc/<pid> is the daemon's.
constexpr const char* kLauncher =
    "exec 2>\"$0\"; if [ -n \"$1\" ]; then ulimit -n \"$1\" || exit 125; fi; shift; exec \"$@\"";

std::optional<nlohmann::json> parse_json(const std::string& line) {
  auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

std::string listening_addr(const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    auto event = parse_json(line);
    if (event && event->value("event", "") == "listening") return event->value("addr", "");
  }
  return {};
}

std::string tail(const std::vector<std::string>& lines, std::size_t n) {
  std::string out;
  const std::size_t from = lines.size() > n ? lines.size() - n : 0;
  if (from > 0) out += "  | ... (" + std::to_string(from) + " lines before)\n";
  for (std::size_t i = from; i < lines.size(); ++i) out += "  | " + lines[i].substr(0, 300) + "\n";
  return out;
}

}  // namespace

const std::string& bb_node_path() {
  // BB_HOSTILE_NODE runs the suite against another build (an older bb-node, to see it fail).
  static const std::string path = [] {
    const char* other = std::getenv("BB_HOSTILE_NODE");
    return std::string(other && *other ? other : BB_NODE_PATH);
  }();
  return path;
}

bool run_supports(const std::string& flag) {
  static std::mutex mutex;
  static std::optional<std::string> help;
  std::lock_guard lock(mutex);
  if (!help) {
    const auto outcome = run_client({"run", "--help"});
    help = outcome.text();
  }
  return help->find(flag) != std::string::npos;
}

Daemon::Daemon(DaemonOptions options) {
  char path[] = "/tmp/bb-hostile-stderr-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  stderr_path_ = path;
  std::vector<std::string> args{
      "-c",
      kLauncher,
      stderr_path_,
      options.max_open_files ? std::to_string(*options.max_open_files) : std::string(),
      bb_node_path(),
      "run",
      "--listen",
      "/ip4/127.0.0.1/tcp/0",
      "--json"};
  args.insert(args.end(), options.args.begin(), options.args.end());
  process_ = std::make_unique<test::ChildProcess>("/bin/sh", args);
  (void)process_->wait_until(
      [](const std::vector<std::string>& lines) { return !listening_addr(lines).empty(); },
      kStartWait);
  addr_ = listening_addr(process_->lines());
  const auto p2p = addr_.find("/p2p/");
  const auto tcp = addr_.find("/tcp/");
  if (addr_.empty() || p2p == std::string::npos || tcp == std::string::npos) {
    throw std::runtime_error("bb-node run did not report a listen address:\n" + describe());
  }
  peer_id_ = addr_.substr(p2p + 5);
  port_ = static_cast<std::uint16_t>(std::stoi(addr_.substr(tcp + 5, p2p - tcp - 5)));
}

Daemon::~Daemon() {
  process_.reset();  // SIGKILLs and reaps a daemon still running
  if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
}

std::optional<ProcessStats> Daemon::stats() const {
  ProcessStats out;
  const std::string proc = "/proc/" + std::to_string(pid());
  std::ifstream status(proc + "/status");
  if (!status) return std::nullopt;
  bool found = false;
  for (std::string line; std::getline(status, line);) {
    std::uint64_t kib = 0;
    if (std::sscanf(line.c_str(), "VmHWM: %lu kB", &kib) == 1) {
      out.peak_rss = kib * 1024;
      found = true;
    } else if (std::sscanf(line.c_str(), "VmRSS: %lu kB", &kib) == 1) {
      out.rss = kib * 1024;
    }
  }
  if (!found) return std::nullopt;  // a zombie has no memory lines
  std::ifstream stat_file(proc + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start at field 3, the state; utime
  // and stime are fields 14 and 15.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> field;
  for (std::string f; fields >> f;) field.push_back(f);
  if (field.size() < 13) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  out.cpu_seconds = (std::stod(field[11]) + std::stod(field[12])) / ticks;
  return out;
}

std::vector<std::string> Daemon::stderr_lines() const {
  std::ifstream in(stderr_path_);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::uint64_t Daemon::stderr_bytes() const {
  std::ifstream in(stderr_path_, std::ios::ate | std::ios::binary);
  return in ? static_cast<std::uint64_t>(in.tellg()) : 0;
}

std::optional<int> Daemon::terminate(milliseconds timeout) {
  process_->send_signal(SIGTERM);
  return process_->wait_exit(timeout);
}

std::string Daemon::describe() const {
  return "bb-node run (pid " + std::to_string(pid()) + ") stdout:\n" + tail(process_->lines(), 15) +
         "stderr:\n" + tail(stderr_lines(), 15);
}

std::string ClientOutcome::text() const {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  if (!exit_status) out += "(still running after its time bound; killed)\n";
  return out;
}

ClientOutcome run_client(const std::vector<std::string>& args, milliseconds timeout) {
  std::vector<std::string> sh{"-c", "exec \"$0\" \"$@\" 2>&1", bb_node_path()};
  sh.insert(sh.end(), args.begin(), args.end());
  test::ChildProcess client("/bin/sh", sh);
  client.close_stdin();
  ClientOutcome outcome;
  outcome.exit_status = client.wait_exit(timeout);
  outcome.lines = client.lines();
  return outcome;  // the destructor kills a client that overran its bound
}

ClientOutcome legitimate_ping(const Daemon& daemon, int count, milliseconds timeout) {
  return run_client({"ping", daemon.addr(), "--count", std::to_string(count)}, timeout);
}

int ping_replies(const ClientOutcome& outcome) {
  int n = 0;
  for (const auto& line : outcome.lines) n += line.starts_with("ping ") ? 1 : 0;
  return n;
}

PingRuns pings_in_a_row(const Daemon& daemon, int runs, milliseconds each) {
  PingRuns out;
  for (int i = 0; i < runs; ++i) {
    const auto outcome = legitimate_ping(daemon, 2, each);
    ++out.runs;
    if (outcome.ok() && ping_replies(outcome) == 2) {
      ++out.succeeded;
    } else {
      // The rest would fail alike; each failure may cost the whole bound.
      out.failures += "ping " + std::to_string(i + 1) + ":\n" + outcome.text();
      break;
    }
  }
  return out;
}

std::vector<std::string> non_json_lines(const std::vector<std::string>& lines) {
  std::vector<std::string> bad;
  for (const auto& line : lines)
    if (!parse_json(line)) bad.push_back(line);
  return bad;
}

std::string mib(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

void report_row(const std::string& attack, const std::string& bound, std::uint64_t peak_rss,
                bool legitimate_peer_got_in, const std::string& note) {
  const std::string got_in = legitimate_peer_got_in ? "yes" : "no";
  testing::Test::RecordProperty("attack", attack);
  testing::Test::RecordProperty("peak_rss", mib(peak_rss));
  testing::Test::RecordProperty("legitimate_peer_got_in", got_in);
  std::fprintf(stderr, "hostile: %s: peak RSS %s, legitimate peer got in: %s%s%s\n", attack.c_str(),
               mib(peak_rss).c_str(), got_in.c_str(), note.empty() ? "" : "; ", note.c_str());
  if (const char* file = std::getenv("BB_HOSTILE_TABLE"); file && *file) {
    std::ofstream out(file, std::ios::app);
    out << "| " << attack << " | " << bound << " | " << mib(peak_rss) << " | " << got_in
        << (note.empty() ? "" : " (" + note + ")") << " |\n";
  }
}

bool sanitized_build() {
  return test::kSanitizedBuild;
}

}  // namespace bb::hostile

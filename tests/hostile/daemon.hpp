// The hostile-peer suite's view of a running `bb-node run`: a real daemon process on loopback
// port 0 (tests/integration/process.hpp), its listen address read from its --json `listening`
// line, its memory and CPU read from /proc, its stderr kept in a file so a test can count the
// lines an attack made it write. And the legitimate peer: `bb-node ping` / `bb-node send` as
// child processes, each bounded in time.
//
// Thread rule: one test thread drives a Daemon (attacks run on their own threads and only touch
// the daemon through sockets). Destroying a Daemon SIGKILLs it if it still runs.
#pragma once

#include "tests/integration/process.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bb::hostile {

using std::chrono::milliseconds;

// Generous bounds: the suite also runs under ASan+UBSan on a loaded 2-core machine.
inline constexpr milliseconds kStartWait{20'000};
inline constexpr milliseconds kPeerWait{20'000};
// One legitimate `bb-node ping` run, from start to exit.
inline constexpr milliseconds kPingWait{10'000};

// The bb-node executable under test: $BB_HOSTILE_NODE if set, else the one CMake built.
const std::string& bb_node_path();
// True when `bb-node run --help` mentions `flag` (the limit flags land in parallel with this
// suite; a test passes a flag only when the daemon knows it, and says so when it does not).
bool run_supports(const std::string& flag);

struct DaemonOptions {
  std::vector<std::string> args;      // after `run --listen /ip4/127.0.0.1/tcp/0 --json`
  std::optional<int> max_open_files;  // RLIMIT_NOFILE, soft and hard, for the daemon only
};

struct ProcessStats {
  std::uint64_t peak_rss = 0;  // VmHWM, bytes
  std::uint64_t rss = 0;       // VmRSS, bytes
  double cpu_seconds = 0;      // utime + stime
};

class Daemon {
 public:
  // Starts the daemon and waits (kStartWait) for its listening line; throws
  // std::runtime_error with its output when it does not come.
  explicit Daemon(DaemonOptions options = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return process_->pid(); }
  // /ip4/127.0.0.1/tcp/PORT/p2p/12D3KooW...
  const std::string& addr() const { return addr_; }
  std::uint16_t port() const { return port_; }
  const std::string& peer_id() const { return peer_id_; }

  // Now; nullopt once the process is gone.
  std::optional<ProcessStats> stats() const;
  // The stdout lines so far (the --json stream) and the stderr lines so far.
  std::vector<std::string> stdout_lines() const { return process_->lines(); }
  std::vector<std::string> stderr_lines() const;
  std::uint64_t stderr_bytes() const;
  test::ChildProcess& process() { return *process_; }

  // SIGTERM, then the exit status within `timeout` (nullopt: still running).
  std::optional<int> terminate(milliseconds timeout = kStartWait);

  // What the test log shows on failure: the last lines of stdout and stderr.
  std::string describe() const;

 private:
  std::string stderr_path_;
  std::unique_ptr<test::ChildProcess> process_;
  std::string addr_;
  std::string peer_id_;
  std::uint16_t port_ = 0;
};

// One run of a bb-node client command (ping, send) with stdout and stderr merged.
struct ClientOutcome {
  std::optional<int> exit_status;  // nullopt: killed after the time bound
  std::vector<std::string> lines;
  bool ok() const { return exit_status == 0; }
  std::string text() const;
};
ClientOutcome run_client(const std::vector<std::string>& args, milliseconds timeout = kPeerWait);

// `bb-node ping ADDR --count N` from 127.0.0.1: ok() and N "ping ..." lines when it got in.
ClientOutcome legitimate_ping(const Daemon& daemon, int count = 2,
                              milliseconds timeout = kPingWait);
int ping_replies(const ClientOutcome& outcome);

// Up to `runs` legitimate pings one after the other (each `bb-node ping --count 2`), stopping
// at the first that fails.
struct PingRuns {
  int runs = 0;  // tried
  int succeeded = 0;
  std::string failures;  // the output of each failed run
  bool all() const { return runs > 0 && succeeded == runs; }
};
PingRuns pings_in_a_row(const Daemon& daemon, int runs, milliseconds each = kPingWait);

// The lines of `lines` that are not one JSON object each (the --json stream's contract).
std::vector<std::string> non_json_lines(const std::vector<std::string>& lines);

// "12.3 MiB".
std::string mib(std::uint64_t bytes);

// A row of the README's "Hostile peers" table. When the environment names a file in
// BB_HOSTILE_TABLE, the row is appended to it (scripts/hostile-table prints them); always
// recorded as test properties. Call it before asserting, so a failing attack still has a row.
void report_row(const std::string& attack, const std::string& bound, std::uint64_t peak_rss,
                bool legitimate_peer_got_in, const std::string& note = "");

// True when this build is instrumented (ASan/TSan): memory bounds then allow for the
// sanitizer's shadow memory and quarantine.
bool sanitized_build();

}  // namespace bb::hostile

// Logging for programs that face an open network: what remote input can make a node log must
// neither flood its log nor stall it, nor forge lines in it.
//
//   - log_to_stderr(): spdlog's default logger on stderr (never stdout, which is the programs'
//     output), through a bounded queue and a thread of its own, so a slow stderr reader never
//     stalls the caller; when the queue is full the oldest messages are dropped.
//   - route_protobuf_logs(): libprotobuf's own messages ("[libprotobuf ERROR ...]", which a
//     peer's bad input can trigger) go to spdlog at the matching level, at most a few per
//     interval.
//   - LogAggregator: counts events by cause and logs one line per interval instead of one per
//     event: "refused 4,936 inbound connections in the last 10 s: connection limit (4,900), ip
//     limit (36)".
//   - escape_for_log(): text from a peer (an agent version, an error detail) made safe to log.
//
// spdlog stays out of this header: levels are bb's own LogLevel.
#pragma once

#include "bb/async/clock.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace bb::wire {

enum class LogLevel : std::uint8_t { trace, debug, info, warn, error, off };

// "trace", "debug", "info", "warn" (or "warning"), "error", "off"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;
std::string_view to_string(LogLevel level) noexcept;

// The environment variable that sets a program's log level when no flag does.
inline constexpr const char* kLogLevelEnv = "BB_LOG";

struct LogLevelChoice {
  LogLevel level = LogLevel::info;
  std::string warning;  // non-empty when `env` held something that is not a level
};

// The level a program runs at: -v (`verbose` ≥ 1: debug; ≥ 2: trace) or -q (`quiet`: warnings
// and errors only) when given (a flag wins), else the value of BB_LOG (`env`, may be null),
// else info.
LogLevelChoice choose_log_level(int verbose, bool quiet, const char* env);

// Makes spdlog's default logger write to stderr at `level`, named `program` (shown in each
// line). Lines go through a bounded queue to a writer thread; when it is full the oldest are
// dropped. Call once at start, before other threads log; call stop_logging() before exit to
// write what is still queued.
void log_to_stderr(std::string_view program, LogLevel level);
// Writes what is queued and stops the writer thread; spdlog logs nothing afterwards.
void stop_logging() noexcept;
// Sets the level of spdlog's default logger.
void set_log_level(LogLevel level) noexcept;

// bb logs through spdlog's default logger, whose own default writes to stdout: a program's
// output (bb-node's JSON lines, a user's data). While a program has not set a default logger of
// its own (spdlog's is the unnamed one on stdout), this replaces it with a stderr one (same name,
// same level); a logger the program sets, before or after, is left alone. Every Host calls it when
// it is made, so a program built on bb never finds bb's log lines on its stdout. Idempotent;
// thread-safe.
void keep_logs_off_stdout() noexcept;

// Routes libprotobuf's log messages to spdlog's default logger (INFO → info, WARNING → warn,
// ERROR → error, FATAL → critical) instead of its own lines on stderr. At most 10 messages per
// 10 s are logged; the rest are counted, and the count is logged with the next one that is.
// Idempotent; thread-safe.
void route_protobuf_logs();

// `text` with what could forge or garble a log line escaped: C0 controls and DEL as \n, \r, \t
// or \xNN, C1 controls, line separators and bidi overrides as \uNNNN, backslashes doubled, bytes
// that are not UTF-8 as \xNN. Printable UTF-8 is kept as is. Past `max_bytes` of input the rest
// is cut and "…" is appended.
std::string escape_for_log(std::string_view text, std::size_t max_bytes = 512);

// Counts events by cause and logs them as one line per interval:
//
//   LogAggregator refused("refused {} inbound connection", "refused {} inbound connections");
//   refused.add("connection limit");   // for each event
//   refused.tick();                    // from a timer, about once a second
//   refused.flush();                   // at shutdown
//
// logs "refused 4,936 inbound connections in the last 10 s: connection limit (4,900), ip limit
// (36)", causes by count, most first. A line is due once `interval` has passed since the first
// event it counts; add() and tick() log it when due, so a burst costs one line per interval and
// a quiet aggregator none. At most `max_causes` causes are named per line; later new ones are
// summed as "other", so memory stays bounded whatever the causes are.
//
// Thread rule: not thread-safe; use one aggregator from one executor (or under a lock).
class LogAggregator {
 public:
  struct Options {
    std::chrono::nanoseconds interval = std::chrono::seconds(10);
    LogLevel level = LogLevel::warn;
    std::size_t max_causes = 8;
    // The time source; async::steady_clock() when null. Tests pass a ManualClock. Must outlive
    // the aggregator.
    async::Clock* clock = nullptr;
    // Where lines go; spdlog's default logger when empty.
    std::function<void(LogLevel, std::string_view line)> sink;
  };

  // `one` and `many` say what is counted, with "{}" where the count goes.
  LogAggregator(std::string one, std::string many);
  LogAggregator(std::string one, std::string many, Options options);

  // Counts `count` events of `cause`; logs the pending line first when it is due.
  void add(std::string_view cause, std::uint64_t count = 1);
  // Logs the pending line if it is due; true if it did.
  bool tick();
  // Logs the pending line now, if anything is counted.
  void flush();

  std::uint64_t pending() const noexcept { return total_; }  // counted, not yet logged
  std::uint64_t lines() const noexcept { return lines_; }    // lines logged so far

 private:
  std::uint64_t now() const;
  void emit(std::uint64_t now);

  std::string one_;
  std::string many_;
  Options options_;
  std::map<std::string, std::uint64_t, std::less<>> causes_;
  std::uint64_t total_ = 0;
  std::uint64_t lines_ = 0;
  std::uint64_t first_ = 0;  // clock time of the first event counted in the pending line
};

// "4,936": digits grouped by thousands, for log lines.
std::string group_thousands(std::uint64_t n);

}  // namespace bb::wire

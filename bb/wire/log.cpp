#include "bb/wire/log.hpp"

#include "bb/wire/utf8.hpp"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace bb::wire {

namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

// Messages waiting for the stderr writer thread; beyond this the oldest are dropped.
constexpr std::size_t kLogQueueMessages = 8192;

std::mutex& logging_mutex() {
  static std::mutex m;
  return m;
}
bool async_logging = false;  // guarded by logging_mutex()

// Code points that can end, reorder or hide part of a line on a terminal or in a log viewer.
bool is_hazard(std::uint32_t cp) noexcept {
  return (cp >= 0x80 && cp <= 0x9F)          // C1 controls (CSI, NEL, ...)
         || cp == 0x2028 || cp == 0x2029     // line and paragraph separators
         || (cp >= 0x202A && cp <= 0x202E)   // bidi embeddings and overrides
         || (cp >= 0x2066 && cp <= 0x2069);  // bidi isolates
}

void append_hex_byte(std::string& out, std::uint8_t b) {
  constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[b >> 4];
  out += kHex[b & 0x0F];
}

void append_code_point(std::string& out, std::uint32_t cp) {
  constexpr char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0x0F];
}

// libprotobuf's messages, at most kProtobufBurst per kProtobufWindow.
constexpr std::size_t kProtobufBurst = 10;
constexpr std::chrono::seconds kProtobufWindow{10};

struct ProtobufLogState {
  std::mutex mutex;
  std::uint64_t window_start = 0;  // async::steady_clock() time
  std::size_t logged = 0;
  std::uint64_t suppressed = 0;
};

ProtobufLogState& protobuf_log_state() {
  static ProtobufLogState state;
  return state;
}

void log_protobuf_message(google::protobuf::LogLevel level, const char* filename, int line,
                          const std::string& message) {
  spdlog::level::level_enum to = spdlog::level::err;
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO: to = spdlog::level::info; break;
    case google::protobuf::LOGLEVEL_WARNING: to = spdlog::level::warn; break;
    case google::protobuf::LOGLEVEL_ERROR: to = spdlog::level::err; break;
    case google::protobuf::LOGLEVEL_FATAL: to = spdlog::level::critical; break;
  }
  auto* logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(to)) return;
  std::uint64_t suppressed = 0;
  if (level != google::protobuf::LOGLEVEL_FATAL) {
    auto& state = protobuf_log_state();
    const std::lock_guard lock(state.mutex);
    // A process-wide sink with no Clock of its own to be given: the process's steady Clock.
    const std::uint64_t now = async::steady_clock().now_ns();
    if (state.logged == 0 || now - state.window_start >= async::to_ns(kProtobufWindow)) {
      state.window_start = now;
      state.logged = 0;
    }
    if (state.logged >= kProtobufBurst) {
      ++state.suppressed;
      return;
    }
    ++state.logged;
    suppressed = std::exchange(state.suppressed, 0);
  }
  const std::string text = escape_for_log(message);
  const std::string where = escape_for_log(filename != nullptr ? filename : "?", 128);
  if (suppressed > 0) {
    logger->log(to, "protobuf: {} ({}:{}); {} earlier protobuf messages were not logged", text,
                where, line, group_thousands(suppressed));
  } else {
    logger->log(to, "protobuf: {} ({}:{})", text, where, line);
  }
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept {
  if (name == "trace") return LogLevel::trace;
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn" || name == "warning") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "off") return LogLevel::off;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: return "off";
  }
  return "info";
}

LogLevelChoice choose_log_level(int verbose, bool quiet, const char* env) {
  LogLevelChoice choice;
  if (verbose >= 2) {
    choice.level = LogLevel::trace;
  } else if (verbose == 1) {
    choice.level = LogLevel::debug;
  } else if (quiet) {
    choice.level = LogLevel::warn;
  } else if (env != nullptr && *env != '\0') {
    if (auto level = parse_log_level(env)) {
      choice.level = *level;
    } else {
      choice.warning = std::string(kLogLevelEnv) + "='" + escape_for_log(env, 64) +
                       "' is not a log level (trace, debug, info, warn, error, off); using info";
    }
  }
  return choice;
}

void log_to_stderr(std::string_view program, LogLevel level) {
  const std::lock_guard lock(logging_mutex());
  if (!async_logging) {
    spdlog::init_thread_pool(kLogQueueMessages, 1);
    async_logging = true;
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      std::string(program), std::move(sink), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest);
  logger->set_level(to_spdlog(level));
  spdlog::set_default_logger(std::move(logger));
}

void stop_logging() noexcept {
  try {
    const std::lock_guard lock(logging_mutex());
    if (!async_logging) return;
    auto old = spdlog::default_logger();
    // A plain stderr logger takes over, so whatever logs later (static destructors, libprotobuf
    // at exit) still has somewhere to go.
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto plain = std::make_shared<spdlog::logger>(old->name(), std::move(sink));
    plain->set_level(old->level());
    spdlog::set_default_logger(std::move(plain));
    old->flush();
    old.reset();
    // The pool's destructor writes what is still queued, then joins its thread.
    spdlog::details::registry::instance().set_tp(nullptr);
    async_logging = false;
  } catch (...) {
    // Logging is best effort at exit.
  }
}

void keep_logs_off_stdout() noexcept {
  try {
    const std::lock_guard lock(logging_mutex());
    const auto current = spdlog::default_logger();
    const auto& sinks = current->sinks();
    // spdlog's own: unnamed, one colour sink on stdout.
    const bool spdlogs_own =
        current->name().empty() && sinks.size() == 1 &&
        dynamic_cast<spdlog::sinks::stdout_color_sink_mt*>(sinks[0].get()) != nullptr;
    if (!spdlogs_own) return;
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>(current->name(), std::move(sink));
    logger->set_level(current->level());
    spdlog::set_default_logger(std::move(logger));
  } catch (...) {
    // Best effort: a logger that cannot be made leaves spdlog's as it was.
  }
}

void set_log_level(LogLevel level) noexcept {
  spdlog::default_logger_raw()->set_level(to_spdlog(level));
}

void route_protobuf_logs() {
  static std::once_flag once;
  std::call_once(once, [] { google::protobuf::SetLogHandler(&log_protobuf_message); });
}

std::string escape_for_log(std::string_view text, std::size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  if (cut) text = text.substr(0, max_bytes);
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8(text, i, cp);
    if (len == 0) {
      // Not UTF-8, or a sequence that the cut split: shown as its bytes.
      append_hex_byte(out, static_cast<std::uint8_t>(text[i]));
      ++i;
      continue;
    }
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp < 0x20 || cp == 0x7F) {
      append_hex_byte(out, static_cast<std::uint8_t>(cp));
    } else if (is_hazard(cp)) {
      append_code_point(out, cp);
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  if (cut) out += "…";
  return out;
}

std::string group_thousands(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// ---- LogAggregator ----------------------------------------------------------------------------

namespace {

constexpr std::string_view kOtherCause = "other";

std::string with_count(const std::string& pattern, std::uint64_t count) {
  std::string out = pattern;
  if (const auto at = out.find("{}"); at != std::string::npos) {
    out.replace(at, 2, group_thousands(count));
  }
  return out;
}

// "10 s", "2 min", "350 ms": the span a line covers, rounded to what a person reads.
std::string span_text(std::chrono::nanoseconds span) {
  using namespace std::chrono;
  if (span < seconds(1)) {
    const auto ms = std::max<std::int64_t>(1, duration_cast<milliseconds>(span).count());
    return std::to_string(ms) + " ms";
  }
  const auto s = duration_cast<milliseconds>(span).count();
  const std::int64_t rounded_s = (s + 500) / 1000;
  if (rounded_s < 120) return std::to_string(rounded_s) + " s";
  return std::to_string((rounded_s + 30) / 60) + " min";
}

}  // namespace

LogAggregator::LogAggregator(std::string one, std::string many)
    : LogAggregator(std::move(one), std::move(many), Options()) {}

LogAggregator::LogAggregator(std::string one, std::string many, Options options)
    : one_(std::move(one)), many_(std::move(many)), options_(std::move(options)) {
  options_.max_causes = std::max<std::size_t>(options_.max_causes, 1);
}

std::uint64_t LogAggregator::now() const {
  return (options_.clock != nullptr ? *options_.clock : async::steady_clock()).now_ns();
}

void LogAggregator::add(std::string_view cause, std::uint64_t count) {
  if (count == 0) return;
  const std::uint64_t t = now();
  if (total_ > 0 && t - first_ >= async::to_ns(options_.interval)) emit(t);
  if (total_ == 0) first_ = t;
  total_ += count;
  if (auto it = causes_.find(cause); it != causes_.end()) {
    it->second += count;
    return;
  }
  const std::size_t named = causes_.size() - (causes_.contains(kOtherCause) ? 1 : 0);
  if (named < options_.max_causes) {
    causes_.emplace(std::string(cause), count);
  } else {
    causes_[std::string(kOtherCause)] += count;
  }
}

bool LogAggregator::tick() {
  if (total_ == 0) return false;
  const std::uint64_t t = now();
  if (t - first_ < async::to_ns(options_.interval)) return false;
  emit(t);
  return true;
}

void LogAggregator::flush() {
  if (total_ > 0) emit(now());
}

void LogAggregator::emit(std::uint64_t t) {
  std::vector<std::pair<std::string_view, std::uint64_t>> sorted(causes_.begin(), causes_.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if ((a.first == kOtherCause) != (b.first == kOtherCause)) return b.first == kOtherCause;
    return a.second > b.second;
  });
  std::string line = with_count(total_ == 1 ? one_ : many_, total_);
  line += " in the last ";
  line += span_text(std::chrono::nanoseconds(static_cast<std::int64_t>(t - first_)));
  line += ':';
  bool first = true;
  for (const auto& [cause, count] : sorted) {
    line += first ? " " : ", ";
    first = false;
    line += escape_for_log(cause, 128);
    line += " (";
    line += group_thousands(count);
    line += ')';
  }
  causes_.clear();
  total_ = 0;
  ++lines_;
  if (options_.sink) {
    options_.sink(options_.level, line);
  } else if (auto* logger = spdlog::default_logger_raw()) {
    logger->log(to_spdlog(options_.level), "{}", line);
  }
}

}  // namespace bb::wire

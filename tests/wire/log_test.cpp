// wire/log.hpp: levels from flags and BB_LOG, escaping peers' text, the aggregating logger on a
// manual clock, and libprotobuf's messages routed to stderr through spdlog.
#include "bb/wire/log.hpp"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace bb::wire {
namespace {

using namespace std::chrono_literals;

TEST(LogLevel, ParsesEveryNameAndNothingElse) {
  EXPECT_EQ(parse_log_level("trace"), LogLevel::trace);
  EXPECT_EQ(parse_log_level("debug"), LogLevel::debug);
  EXPECT_EQ(parse_log_level("info"), LogLevel::info);
  EXPECT_EQ(parse_log_level("warn"), LogLevel::warn);
  EXPECT_EQ(parse_log_level("warning"), LogLevel::warn);
  EXPECT_EQ(parse_log_level("error"), LogLevel::error);
  EXPECT_EQ(parse_log_level("off"), LogLevel::off);
  EXPECT_EQ(parse_log_level("INFO"), std::nullopt);
  EXPECT_EQ(parse_log_level(""), std::nullopt);
  for (auto level : {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn,
                     LogLevel::error, LogLevel::off}) {
    EXPECT_EQ(parse_log_level(to_string(level)), level);
  }
}

TEST(LogLevel, AFlagWinsOverTheEnvironment) {
  EXPECT_EQ(choose_log_level(0, false, nullptr).level, LogLevel::info);
  EXPECT_EQ(choose_log_level(0, false, "").level, LogLevel::info);
  EXPECT_EQ(choose_log_level(0, false, "error").level, LogLevel::error);
  EXPECT_EQ(choose_log_level(0, false, "off").level, LogLevel::off);
  EXPECT_EQ(choose_log_level(1, false, "error").level, LogLevel::debug);
  EXPECT_EQ(choose_log_level(2, false, "error").level, LogLevel::trace);
  EXPECT_EQ(choose_log_level(0, true, "trace").level, LogLevel::warn);
  EXPECT_TRUE(choose_log_level(0, false, "debug").warning.empty());
}

TEST(LogLevel, AnUnknownEnvironmentValueIsReportedAndIgnored) {
  const auto choice = choose_log_level(0, false, "loud\n");
  EXPECT_EQ(choice.level, LogLevel::info);
  EXPECT_EQ(
      choice.warning,
      "BB_LOG='loud\\n' is not a log level (trace, debug, info, warn, error, off); using info");
}

TEST(EscapeForLog, KeepsPrintableUtf8) {
  EXPECT_EQ(escape_for_log("js-libp2p/1.2.3 node/20"), "js-libp2p/1.2.3 node/20");
  EXPECT_EQ(escape_for_log("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(EscapeForLog, EscapesWhatCouldForgeOrHideALine) {
  EXPECT_EQ(escape_for_log("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(escape_for_log("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(escape_for_log(std::string_view("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(escape_for_log("del\x7f"), "del\\x7f");
  EXPECT_EQ(escape_for_log("back\\slash"), "back\\\\slash");
  EXPECT_EQ(escape_for_log("nel\xc2\x85"
                           "csi\xc2\x9b"),
            "nel\\u0085csi\\u009b");
  EXPECT_EQ(escape_for_log("ls\xe2\x80\xa8"
                           "rlo\xe2\x80\xae"),
            "ls\\u2028rlo\\u202e");
}

TEST(EscapeForLog, ShowsBytesThatAreNotUtf8AsHex) {
  EXPECT_EQ(escape_for_log("caf\xe9"), "caf\\xe9");
  EXPECT_EQ(escape_for_log("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escape_for_log("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a UTF-16 surrogate
}

TEST(EscapeForLog, CutsLongText) {
  EXPECT_EQ(escape_for_log(std::string(600, 'a')), std::string(512, 'a') + "…");
  EXPECT_EQ(escape_for_log("abcdef", 3), "abc…");
  // A character split by the cut shows as its bytes, never as half a character.
  EXPECT_EQ(escape_for_log("ab\xc3\xa9", 3), "ab\\xc3…");
}

TEST(GroupThousands, GroupsDigits) {
  EXPECT_EQ(group_thousands(0), "0");
  EXPECT_EQ(group_thousands(999), "999");
  EXPECT_EQ(group_thousands(1000), "1,000");
  EXPECT_EQ(group_thousands(4936), "4,936");
  EXPECT_EQ(group_thousands(1234567), "1,234,567");
  EXPECT_EQ(group_thousands(18446744073709551615u), "18,446,744,073,709,551,615");
}

// ---- LogAggregator on a manual clock ------------------------------------------------------------

struct Captured {
  LogLevel level;
  std::string line;
};

class AggregatorTest : public testing::Test {
 protected:
  LogAggregator make(std::size_t max_causes = 8) {
    LogAggregator::Options options;
    options.interval = 10s;
    options.level = LogLevel::warn;
    options.max_causes = max_causes;
    options.clock = &clock_;
    options.sink = [this](LogLevel level, std::string_view line) {
      lines_.push_back({level, std::string(line)});
    };
    return LogAggregator("refused {} inbound connection", "refused {} inbound connections",
                         std::move(options));
  }
  void advance(std::chrono::nanoseconds by) { clock_.advance(async::to_ns(by)); }

  async::ManualClock clock_{async::to_ns(std::chrono::hours(1))};
  std::vector<Captured> lines_;
};

TEST_F(AggregatorTest, ABurstCostsOneLinePerInterval) {
  auto log = make();
  for (int i = 0; i < 4900; ++i) log.add("connection limit");
  for (int i = 0; i < 36; ++i) log.add("ip limit");
  advance(9s);
  EXPECT_FALSE(log.tick());
  EXPECT_TRUE(lines_.empty());
  EXPECT_EQ(log.pending(), 4936u);
  advance(1s);
  EXPECT_TRUE(log.tick());
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].level, LogLevel::warn);
  EXPECT_EQ(lines_[0].line,
            "refused 4,936 inbound connections in the last 10 s: connection limit (4,900), "
            "ip limit (36)");
  EXPECT_EQ(log.pending(), 0u);
  EXPECT_FALSE(log.tick());
  EXPECT_EQ(log.lines(), 1u);
}

TEST_F(AggregatorTest, AnEventPastTheIntervalLogsTheLineBeforeIt) {
  auto log = make();
  log.add("handshake timeout");
  advance(4s);
  log.add("handshake timeout");
  advance(7s);
  log.add("connection limit");  // the first line is due: it goes out, this one waits
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].line,
            "refused 2 inbound connections in the last 11 s: handshake timeout (2)");
  EXPECT_EQ(log.pending(), 1u);
  advance(3s);
  log.flush();  // at shutdown, whatever is counted goes out at once
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[1].line, "refused 1 inbound connection in the last 3 s: connection limit (1)");
  log.flush();
  EXPECT_EQ(lines_.size(), 2u);
}

TEST_F(AggregatorTest, AQuietAggregatorLogsNothing) {
  auto log = make();
  for (int i = 0; i < 100; ++i) {
    advance(1s);
    EXPECT_FALSE(log.tick());
  }
  log.flush();
  EXPECT_TRUE(lines_.empty());
}

TEST_F(AggregatorTest, EachIntervalHasItsOwnLine) {
  auto log = make();
  for (int second = 0; second < 35; ++second) {
    log.add("connection limit", 10);
    advance(1s);
    log.tick();
  }
  log.flush();
  ASSERT_EQ(lines_.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lines_[i].line,
              "refused 100 inbound connections in the last 10 s: connection limit (100)");
  }
  EXPECT_EQ(lines_[3].line,
            "refused 50 inbound connections in the last 5 s: connection limit (50)");
}

TEST_F(AggregatorTest, CausesBeyondTheLimitAreSummedAsOther) {
  auto log = make(2);
  log.add("a", 1);
  log.add("b", 5);
  log.add("c", 7);  // no room for a third name
  log.add("d", 1);
  log.add("a", 2);  // a known cause keeps counting under its name
  log.flush();
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].line,
            "refused 16 inbound connections in the last 1 ms: b (5), a (3), other (8)");
}

TEST_F(AggregatorTest, CausesAreEscaped) {
  auto log = make();
  log.add("bad\nline");
  log.flush();
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].line, "refused 1 inbound connection in the last 1 ms: bad\\nline (1)");
}

// ---- libprotobuf through spdlog on stderr ------------------------------------------------------

// Runs `body` with stderr going to a file; returns what was written to it.
template <class Body>
std::string capture_stderr(Body body) {
  std::fflush(stderr);
  char path[] = "/tmp/bb_log_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  const int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  body();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path);
  return text.str();
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ProtobufLogs, GoToSpdlogEscapedAndLimited) {
  const std::string err = capture_stderr([] {
    log_to_stderr("log_test", LogLevel::info);
    route_protobuf_logs();
    route_protobuf_logs();  // idempotent
    GOOGLE_LOG(WARNING) << "from a peer:\nforged line";
    for (int i = 0; i < 20; ++i) GOOGLE_LOG(ERROR) << "bad field " << i;
    set_log_level(LogLevel::error);
    GOOGLE_LOG(WARNING) << "below the level";
    stop_logging();  // writes what is queued
  });
  EXPECT_EQ(err.find("[libprotobuf"), std::string::npos) << err;
  EXPECT_NE(err.find("[log_test] [warning] protobuf: from a peer:\\nforged line"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("\nforged line"), std::string::npos) << err;
  EXPECT_NE(err.find("[log_test] [error] protobuf: bad field 0 "), std::string::npos) << err;
  // 10 per window: the warning and the first 9 errors.
  EXPECT_EQ(count_of(err, "protobuf: "), 10u) << err;
  EXPECT_EQ(err.find("bad field 9 "), std::string::npos) << err;
  EXPECT_EQ(err.find("below the level"), std::string::npos) << err;
}

}  // namespace
}  // namespace bb::wire

// bb logs through spdlog's default logger; spdlog's own writes to stdout, a program's output.
TEST(KeepLogsOffStdout, SpdlogsOwnStdoutLoggerMovesToStderrAndAProgramsOwnStays) {
  const auto before = spdlog::default_logger();
  auto spdlogs_own =
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  spdlogs_own->set_level(spdlog::level::warn);
  spdlog::set_default_logger(spdlogs_own);
  bb::wire::keep_logs_off_stdout();
  auto now = spdlog::default_logger();
  ASSERT_EQ(now->sinks().size(), 1u);
  EXPECT_NE(dynamic_cast<spdlog::sinks::stderr_color_sink_mt*>(now->sinks()[0].get()), nullptr);
  EXPECT_EQ(now->level(), spdlog::level::warn);
  bb::wire::keep_logs_off_stdout();  // idempotent
  EXPECT_EQ(spdlog::default_logger(), now);

  // A program's own logger, even one on stdout, is its choice.
  auto programs_own = std::make_shared<spdlog::logger>(
      "mine", std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  spdlog::set_default_logger(programs_own);
  bb::wire::keep_logs_off_stdout();
  EXPECT_EQ(spdlog::default_logger(), programs_own);
  spdlog::set_default_logger(before);
}

#include "examples/node/output_format.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <regex>

namespace bb::cli {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

TEST(CliJson, TimestampsAreRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(rfc3339_utc(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  // 2026-12-06T01:02:03.456Z
  EXPECT_EQ(rfc3339_utc(system_clock::time_point(milliseconds(1'796'518'923'456))),
            "2026-12-06T01:02:03.456Z");
  // Before 1970 the milliseconds still count forward within their second.
  EXPECT_EQ(rfc3339_utc(system_clock::time_point(milliseconds(-1))), "1969-12-31T23:59:59.999Z");
}

TEST(CliJson, EveryLineCarriesTsAndSchema) {
  const auto line = json_line({{"event", "ping"}, {"rtt_ms", 0.25}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["event"], "ping");
  EXPECT_EQ(parsed["rtt_ms"], 0.25);
  EXPECT_EQ(parsed["schema"], kJsonSchema);
  EXPECT_EQ(kJsonSchema, 1);
  EXPECT_TRUE(std::regex_match(parsed["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << parsed["ts"];
}

// A field of the event named like a common one does not survive: the stamp is authoritative.
TEST(CliJson, TheStampWinsOverTheEventsOwnFields) {
  const auto parsed = nlohmann::json::parse(json_line({{"event", "x"}, {"schema", 99}}));
  EXPECT_EQ(parsed["schema"], 1);
}

}  // namespace
}  // namespace bb::cli

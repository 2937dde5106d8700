// Finding 7 of issue 10: a payload that is not UTF-8 ("caf\xe9") made the JSON library throw
// inside `bb-node run --json`, which then printed nothing more and ignored SIGTERM. The daemon
// must print it (base64, with an "encoding" field), go on printing, and exit 0 on SIGTERM.
#include "tests/hostile/daemon.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>

namespace bb::hostile {
namespace {

using namespace std::chrono_literals;

std::optional<std::string> base64_decode(const std::string& text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=') break;
    const auto at = kAlphabet.find(c);
    if (at == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(at);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// The payload bytes of a --json "message" line, decoded as its "encoding" field says.
std::optional<std::string> payload_of(const nlohmann::json& event) {
  if (!event.contains("payload") || !event["payload"].is_string()) return std::nullopt;
  const auto payload = event["payload"].get<std::string>();
  const auto encoding = event.value("encoding", "utf-8");
  if (encoding == "base64") return base64_decode(payload);
  return payload;
}

// The payloads of the message lines printed so far.
std::vector<std::string> printed_payloads(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines) {
    auto event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_discarded() || event.value("event", "") != "message") continue;
    if (auto payload = payload_of(event)) out.push_back(*payload);
  }
  return out;
}

bool printed(const Daemon& daemon, const std::string& payload) {
  const auto all = printed_payloads(daemon.stdout_lines());
  return std::find(all.begin(), all.end(), payload) != all.end();
}

TEST(JsonOutput, Finding7_ANonUtf8PayloadIsPrintedAndTheDaemonGoesOn) {
  Daemon daemon;
  const std::string latin1 = "caf\xe9";  // "café" in Latin-1: not UTF-8
  const auto sent = run_client({"send", daemon.addr(), "--data", latin1});
  EXPECT_TRUE(sent.ok()) << sent.text();
  const bool shown = daemon.process().wait_until(
      [&](const std::vector<std::string>& lines) {
        const auto all = printed_payloads(lines);
        return std::find(all.begin(), all.end(), latin1) != all.end();
      },
      kPeerWait);
  EXPECT_TRUE(shown) << "no message line carries the bytes caf\\xe9\n" << daemon.describe();

  // It goes on printing what comes after (a daemon that went deaf is not waited for again).
  const auto later =
      shown ? run_client({"send", daemon.addr(), "--data", "still listening"}) : ClientOutcome{};
  EXPECT_TRUE(later.ok()) << later.text();
  EXPECT_TRUE(shown && daemon.process().wait_until(
                           [&](const std::vector<std::string>& lines) {
                             const auto all = printed_payloads(lines);
                             return std::find(all.begin(), all.end(), "still listening") !=
                                    all.end();
                           },
                           kPeerWait))
      << daemon.describe();
  const auto bad = non_json_lines(daemon.stdout_lines());
  EXPECT_TRUE(bad.empty()) << "not JSON: '" << (bad.empty() ? "" : bad.front()) << "'";

  const auto stats = daemon.stats().value_or(ProcessStats{});
  const auto status = daemon.terminate(10s);
  report_row("a message whose payload is not UTF-8 (caf\\xe9) to bb-node run --json",
             "payload printed as base64 with \"encoding\"; internal failure exits 1",
             stats.peak_rss, later.ok() && printed(daemon, "still listening"));
  EXPECT_EQ(status, std::optional<int>(0)) << "SIGTERM did not end the daemon cleanly\n"
                                           << daemon.describe();
}

}  // namespace
}  // namespace bb::hostile

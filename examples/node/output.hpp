// How a bb-node command prints: its results on stdout (text lines, or with --json one JSON object
// per line, each stamped with "ts" and "schema" by json_line()), and its failures as a line on
// stderr plus, with --json, an {"event":"error","error":CODE,"message":TEXT} line on stdout. The
// contract of the JSON lines is docs/cli-json.md.
//
// Thread rule: the sink decides; the default one (stdout, flushed per line) is for one thread.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace bb::cli {

class Output {
 public:
  using Sink = std::function<void(std::string line)>;  // one line, without its newline

  // `command` names the command in stderr lines ("send", "dht find-peer").
  Output(std::string command, bool json);
  // Lines go to `sink` instead of stdout (bb-node run: its LineWriter).
  Output(std::string command, bool json, Sink sink);

  bool json() const noexcept { return json_; }
  const std::string& command() const noexcept { return command_; }

  // `event` as a JSON line with --json; else `text` (which may hold several lines, and is
  // skipped when empty).
  void print(const nlohmann::json& event, std::string_view text) const;
  // `event` as a JSON line with --json; else as text_line(event).
  void print(const nlohmann::json& event) const;
  // A line only in text mode (with --json the event says it).
  void text(std::string_view text) const;

  // A failure of the command: "bb-node COMMAND: MESSAGE" on stderr and, with --json, the error
  // event (plus `extra`'s members) on stdout. Returns `exit_code`.
  int fail(std::string_view code, std::string_view message, int exit_code,
           const nlohmann::json& extra = nlohmann::json::object()) const;
  // The same with the stderr line given whole, for the commands whose stderr wording differs.
  int fail_line(std::string_view code, std::string_view message, std::string_view stderr_line,
                int exit_code, const nlohmann::json& extra = nlohmann::json::object()) const;

 private:
  std::string command_;
  bool json_;
  Sink sink_;
};

}  // namespace bb::cli

#include "examples/node/output.hpp"

#include "examples/node/output_format.hpp"

#include <iostream>
#include <utility>

namespace bb::cli {

Output::Output(std::string command, bool json)
    : Output(std::move(command), json, [](std::string line) {
        // A reader of a pipe sees each line at once, and stdout holds whole lines only.
        std::cout << line << std::endl;
      }) {}

Output::Output(std::string command, bool json, Sink sink)
    : command_(std::move(command)), json_(json), sink_(std::move(sink)) {}

void Output::print(const nlohmann::json& event, std::string_view text) const {
  if (json_) {
    sink_(json_line(event));
  } else if (!text.empty()) {
    sink_(std::string(text));
  }
}

void Output::print(const nlohmann::json& event) const {
  sink_(json_ ? json_line(event) : text_line(event));
}

void Output::text(std::string_view text) const {
  if (!json_) sink_(std::string(text));
}

int Output::fail(std::string_view code, std::string_view message, int exit_code,
                 const nlohmann::json& extra) const {
  return fail_line(code, message, "bb-node " + command_ + ": " + std::string(message), exit_code,
                   extra);
}

int Output::fail_line(std::string_view code, std::string_view message, std::string_view stderr_line,
                      int exit_code, const nlohmann::json& extra) const {
  std::cerr << stderr_line << std::endl;
  if (json_) {
    nlohmann::json event = extra.is_object() ? extra : nlohmann::json::object();
    event["event"] = "error";
    event["error"] = std::string(code);
    event["message"] = std::string(message);
    sink_(json_line(event));
  }
  return exit_code;
}

}  // namespace bb::cli

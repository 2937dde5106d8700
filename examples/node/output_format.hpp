// How bb-node prints what it is told by peers: as JSON that is always valid, or as text in which
// a peer cannot forge a line. Peers choose payloads, agent versions, protocol names and the
// details of their errors; none of it may break a line or the printer.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace bb::cli {

// `value` as one line of JSON; never throws: bytes of a string that are not UTF-8 become U+FFFD.
// `ascii`: every character past U+007E as \uXXXX (the text form uses this for quoted values).
std::string safe_dump(const nlohmann::json& value, bool ascii = false);

// Sets obj[key] to `bytes`: as is when it is UTF-8 without control characters (tab allowed);
// "0x" + hex when it has control characters; else (not UTF-8) base64, with
// obj["encoding"] = "base64". /bb/wire payloads print as "payload", pubsub data as "data".
void put_payload(nlohmann::json& obj, std::string_view bytes, const char* key = "payload");

// A string value for a text line: as is when it is UTF-8 without control characters, line
// separators or bidi overrides; else quoted and escaped as a JSON string of ASCII.
std::string text_value(std::string_view value);

// `event` as a text line: its "event" value, then " key=value" for each other member; string
// values through text_value(), others as ASCII JSON.
std::string text_line(const nlohmann::json& event);

// The version of bb-node's JSON lines (docs/cli-json.md). It goes up by one when a change can
// break a reader: a field removed or renamed, or its type or meaning changed. New events and new
// fields do not change it; readers ignore what they do not know.
inline constexpr int kJsonSchema = 1;

// `t` as RFC 3339 in UTC with milliseconds: "2026-12-06T01:02:03.456Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

// `event` as one JSON line, with "ts" (the wall clock now, rfc3339_utc) and "schema"
// (kJsonSchema) added: every JSON line bb-node prints goes through here.
std::string json_line(nlohmann::json event);

}  // namespace bb::cli

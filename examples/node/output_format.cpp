#include "examples/node/output_format.hpp"

#include "bb/wire/bytes.hpp"
#include "bb/wire/utf8.hpp"

#include <sodium.h>

#include <cstdio>
#include <ctime>

namespace bb::cli {

namespace {

bool has_control(std::string_view bytes) {
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 && c != '\t') return true;
  }
  return false;
}

// Valid UTF-8 assumed. C0 controls, DEL, C1 controls, line separators and bidi controls: what
// can end, reorder or hide part of a line on a terminal.
bool has_hazard(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = p[i];
    if (c < 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < text.size() && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) return true;
    if (c == 0xE2 && i + 2 < text.size()) {
      const unsigned cp = 0x2000u | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
      if (p[i + 1] >= 0x80 && p[i + 1] <= 0x81 &&
          (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069))) {
        return true;
      }
    }
  }
  return false;
}

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

}  // namespace

std::string safe_dump(const nlohmann::json& value, bool ascii) {
  return value.dump(-1, ' ', ascii, nlohmann::json::error_handler_t::replace);
}

void put_payload(nlohmann::json& obj, std::string_view bytes, const char* key) {
  if (has_control(bytes)) {
    obj[key] = "0x" + wire::to_hex(wire::as_bytes(bytes));
  } else if (wire::is_valid_utf8(bytes)) {
    obj[key] = std::string(bytes);
  } else {
    obj[key] = base64(bytes);
    obj["encoding"] = "base64";
  }
}

std::string text_value(std::string_view value) {
  if (wire::is_valid_utf8(value) && !has_hazard(value)) return std::string(value);
  return safe_dump(nlohmann::json(std::string(value)), true);
}

std::string text_line(const nlohmann::json& event) {
  std::string line;
  if (const auto it = event.find("event"); it != event.end() && it->is_string()) {
    line = text_value(it->get_ref<const std::string&>());
  }
  for (const auto& [key, value] : event.items()) {
    if (key == "event") continue;
    line += " " + text_value(key) + "=" +
            (value.is_string() ? text_value(value.get_ref<const std::string&>())
                               : safe_dump(value, true));
  }
  return line;
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  // Floor division, so that times before 1970 still get milliseconds in 0..999.
  const auto seconds = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const auto millis = static_cast<int>(ms - static_cast<long long>(seconds) * 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string json_line(nlohmann::json event) {
  event["ts"] = rfc3339_utc(std::chrono::system_clock::now());
  event["schema"] = kJsonSchema;
  return safe_dump(event);
}

}  // namespace bb::cli

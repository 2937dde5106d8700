#include "examples/chat/chat_line.hpp"

namespace bb::chat {
namespace {

constexpr std::string_view kSeparator = ": ";
constexpr std::string_view kPresencePrefix = "* ";
constexpr std::string_view kJoinedSuffix = " joined";
constexpr std::string_view kLeftSuffix = " left";

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.chat"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::unrecognized: return "neither \"NAME: TEXT\" nor \"* NAME joined|left\"";
      case errc::name_too_long:
        return "name longer than " + std::to_string(kMaxNameBytes) + " bytes";
      case errc::empty_name: return "empty name";
      case errc::name_not_printable: return "name contains a control character";
      case errc::name_has_colon: return "name contains ':'";
      case errc::text_too_long:
        return "text longer than " + std::to_string(kMaxTextBytes) + " bytes";
    }
    return "unknown bb.chat error " + std::to_string(value);
  }
};

bool is_control(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return c < 0x20 || c == 0x7f;
}

wire::Bytes to_bytes(std::string_view text) {
  const auto b = wire::as_bytes(text);
  return wire::Bytes(b.begin(), b.end());
}

}  // namespace

const boost::system::error_category& chat_category() noexcept {
  static const Category category;
  return category;
}

result<void> check_name(std::string_view name) {
  if (name.empty()) return errc::empty_name;
  if (name.size() > kMaxNameBytes) return errc::name_too_long;
  for (const char ch : name) {
    if (is_control(ch)) return errc::name_not_printable;
    if (ch == ':') return errc::name_has_colon;
  }
  return {};
}

wire::Bytes encode_line(std::string_view name, std::string_view text) {
  std::string out;
  out.reserve(name.size() + kSeparator.size() + text.size());
  out.append(name).append(kSeparator).append(text);
  return to_bytes(out);
}

wire::Bytes encode_presence(std::string_view name, Kind kind) {
  std::string out(kPresencePrefix);
  out.append(name).append(kind == Kind::left ? kLeftSuffix : kJoinedSuffix);
  return to_bytes(out);
}

result<ChatPayload> decode(wire::ByteView payload) {
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  ChatPayload out;
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    // "* NAME joined" or "* NAME left".
    if (!text.starts_with(kPresencePrefix)) return errc::unrecognized;
    std::string_view name = text.substr(kPresencePrefix.size());
    if (name.ends_with(kJoinedSuffix)) {
      out.kind = Kind::joined;
      name.remove_suffix(kJoinedSuffix.size());
    } else if (name.ends_with(kLeftSuffix)) {
      out.kind = Kind::left;
      name.remove_suffix(kLeftSuffix.size());
    } else {
      return errc::unrecognized;
    }
    if (auto ok = check_name(name); !ok) return ok.error();
    out.name = std::string(name);
    return out;
  }
  if (text.substr(colon, kSeparator.size()) != kSeparator) return errc::unrecognized;
  const std::string_view name = text.substr(0, colon);
  if (auto ok = check_name(name); !ok) return ok.error();
  const std::string_view body = text.substr(colon + kSeparator.size());
  if (body.size() > kMaxTextBytes) return errc::text_too_long;
  out.kind = Kind::line;
  out.name = std::string(name);
  out.text = std::string(body);
  return out;
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (is_control(ch) && ch != '\t') ch = '?';
  }
  return out;
}

}  // namespace bb::chat

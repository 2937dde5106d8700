#include "examples/chat/chat_line.hpp"

#include "wire/varint.hpp"

namespace bb::chat {
namespace {

constexpr std::uint8_t kWantReply = 0x01;

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.chat"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::truncated: return "payload ends inside a field";
      case errc::bad_name_length: return "name length is not a valid varint";
      case errc::name_too_long:
        return "name longer than " + std::to_string(kMaxNameBytes) + " bytes";
      case errc::empty_name: return "empty name";
      case errc::name_not_printable: return "name contains a control character";
      case errc::text_too_long:
        return "text longer than " + std::to_string(kMaxTextBytes) + " bytes";
      case errc::unknown_flags: return "hello carries unknown flags";
    }
    return "unknown bb.chat error " + std::to_string(value);
  }
};

bool is_control(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return c < 0x20 || c == 0x7f;
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
  }
  return {};
}

wire::Bytes encode_line(std::string_view name, std::string_view text) {
  wire::Bytes out;
  out.reserve(wire::kMaxVarintBytes + name.size() + text.size());
  wire::append_varint(out, name.size());
  const auto n = wire::as_bytes(name);
  const auto t = wire::as_bytes(text);
  out.insert(out.end(), n.begin(), n.end());
  out.insert(out.end(), t.begin(), t.end());
  return out;
}

result<ChatLine> decode_line(wire::ByteView payload) {
  auto len = wire::decode_varint(payload);
  if (!len) {
    return len.error() == wire::errc::varint_truncated ? errc::truncated : errc::bad_name_length;
  }
  if (len->value > kMaxNameBytes) return errc::name_too_long;
  const auto rest = payload.subspan(len->size);
  if (rest.size() < len->value) return errc::truncated;
  const auto name_size = static_cast<std::size_t>(len->value);
  ChatLine line;
  line.name = wire::to_string(rest.first(name_size));
  if (auto ok = check_name(line.name); !ok) return ok.error();
  const auto text = rest.subspan(name_size);
  if (text.size() > kMaxTextBytes) return errc::text_too_long;
  line.text = wire::to_string(text);
  return line;
}

wire::Bytes encode_hello(std::string_view name, bool want_reply) {
  wire::Bytes out;
  out.reserve(1 + name.size());
  out.push_back(want_reply ? kWantReply : std::uint8_t{0});
  const auto n = wire::as_bytes(name);
  out.insert(out.end(), n.begin(), n.end());
  return out;
}

result<Hello> decode_hello(wire::ByteView payload) {
  if (payload.empty()) return errc::truncated;
  if ((payload[0] & ~kWantReply) != 0) return errc::unknown_flags;
  Hello hello;
  hello.want_reply = (payload[0] & kWantReply) != 0;
  hello.name = wire::to_string(payload.subspan(1));
  if (auto ok = check_name(hello.name); !ok) return ok.error();
  return hello;
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (is_control(ch) && ch != '\t') ch = '?';
  }
  return out;
}

}  // namespace bb::chat

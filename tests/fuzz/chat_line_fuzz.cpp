// bb-chat's payloads from the room: any bytes either decode to a line, a join or a leave with
// fields within their limits (which re-encode to the same bytes) or are a specific bb::chat
// error; printable() never lets a control character through.
#include "examples/chat/chat_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb;
  const wire::ByteView in(data, size);
  if (auto payload = chat::decode(in)) {
    if (!chat::check_name(payload->name) || payload->text.size() > chat::kMaxTextBytes) {
      __builtin_trap();
    }
    const wire::Bytes again = payload->kind == chat::Kind::line
                                  ? chat::encode_line(payload->name, payload->text)
                                  : chat::encode_presence(payload->name, payload->kind);
    if (again != wire::Bytes(in.begin(), in.end())) __builtin_trap();
    if (payload->kind != chat::Kind::line && !payload->text.empty()) __builtin_trap();
    for (const char c : chat::printable(payload->text)) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) __builtin_trap();
    }
  } else if (payload.error().category() != chat::chat_category()) {
    __builtin_trap();
  }
  return 0;
}

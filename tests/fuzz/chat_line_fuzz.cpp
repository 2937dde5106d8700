// bb-chat's payloads from peers: a line or a hello either decodes to fields within their limits
// (which re-encode to the same bytes) or is a specific bb::chat error; printable() never lets a
// control character through.
#include "examples/chat/chat_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb;
  const wire::ByteView in(data, size);
  if (auto line = chat::decode_line(in)) {
    if (!chat::check_name(line->name) || line->text.size() > chat::kMaxTextBytes) __builtin_trap();
    if (chat::encode_line(line->name, line->text) != wire::Bytes(in.begin(), in.end())) {
      __builtin_trap();
    }
    for (const char c : chat::printable(line->text)) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) __builtin_trap();
    }
  } else if (line.error().category() != chat::chat_category()) {
    __builtin_trap();
  }
  if (auto hello = chat::decode_hello(in)) {
    if (!chat::check_name(hello->name)) __builtin_trap();
    if (chat::encode_hello(hello->name, hello->want_reply) != wire::Bytes(in.begin(), in.end())) {
      __builtin_trap();
    }
  } else if (hello.error().category() != chat::chat_category()) {
    __builtin_trap();
  }
  return 0;
}

#include "bb/wire/base32.hpp"

namespace bb::wire {
namespace {

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";

int index_of(char c) noexcept {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

}  // namespace

std::string base32_encode(ByteView bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 0x1f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1f]);
  return out;
}

result<Bytes> base32_decode(std::string_view text) {
  if (text.size() > kMaxBase32Chars) return errc::text_too_long;
  const std::size_t rem = text.size() % 8;
  if (rem == 1 || rem == 3 || rem == 6) return errc::base32_invalid_length;
  Bytes out;
  out.reserve(text.size() * 5 / 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = index_of(c);
    if (v < 0) return errc::base32_invalid_character;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(buffer >> bits));
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) return errc::base32_invalid_character;
  return out;
}

}  // namespace bb::wire

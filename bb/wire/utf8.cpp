#include "bb/wire/utf8.hpp"

#include <cstdint>

namespace bb::wire {

std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& cp) noexcept {
  const auto lead = static_cast<std::uint8_t>(text[i]);
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  std::size_t more = 0;
  std::uint32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    more = 1;
    cp = lead & 0x1Fu;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    more = 2;
    cp = lead & 0x0Fu;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    more = 3;
    cp = lead & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  if (text.size() - i - 1 < more) return 0;
  for (std::size_t k = 1; k <= more; ++k) {
    const auto c = static_cast<std::uint8_t>(text[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3Fu);
  }
  // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return more + 1;
}

bool is_valid_utf8(ByteView s) noexcept {
  const std::string_view text(reinterpret_cast<const char*>(s.data()), s.size());
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = decode_utf8(text, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace bb::wire

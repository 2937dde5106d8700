// UTF-8 validation for text that arrives from peers (multistream-select lines, multiaddr names).
#pragma once

#include "bb/wire/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bb::wire {

// One UTF-8 sequence at text[i] (i < text.size()): its length, with its code point in `cp`, or 0
// when the bytes there are not UTF-8 (overlong forms, surrogates, values past U+10FFFF).
std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& cp) noexcept;

// True when `text` is well-formed UTF-8: no overlong forms, no UTF-16 surrogates, nothing past
// U+10FFFF.
bool is_valid_utf8(ByteView text) noexcept;
inline bool is_valid_utf8(std::string_view text) noexcept {
  return is_valid_utf8(as_bytes(text));
}

}  // namespace bb::wire

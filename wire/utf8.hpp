// UTF-8 validation for text that arrives from peers (multistream-select lines, multiaddr names).
#pragma once

#include "wire/bytes.hpp"

namespace bb::wire {

// True when `text` is well-formed UTF-8: no overlong forms, no UTF-16 surrogates, nothing past
// U+10FFFF.
bool is_valid_utf8(ByteView text) noexcept;
inline bool is_valid_utf8(std::string_view text) noexcept {
  return is_valid_utf8(as_bytes(text));
}

}  // namespace bb::wire

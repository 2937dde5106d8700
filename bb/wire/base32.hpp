// RFC 4648 base32, lowercase alphabet, no padding: the multibase 'b' encoding used for CIDs.
#pragma once

#include "bb/wire/bytes.hpp"

#include <string>
#include <string_view>

namespace bb::wire {

inline constexpr std::size_t kMaxBase32Chars = 256;

std::string base32_encode(ByteView bytes);
// Rejects uppercase, padding and lengths no byte string encodes to (1, 3 or 6 mod 8), and
// non-zero trailing bits, so every accepted text has exactly one decoding.
result<Bytes> base32_decode(std::string_view text);

}  // namespace bb::wire

// Byte containers and hex helpers shared by every codec in wire/.
#pragma once

#include "wire/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bb::wire {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Views of protobuf `bytes` fields (std::string) and string literals as bytes.
inline ByteView as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline std::string to_string(ByteView b) {
  return std::string(as_chars(b));
}

// Lowercase hex. `from_hex` accepts either case and an optional "0x" prefix.
std::string to_hex(ByteView bytes);
result<Bytes> from_hex(std::string_view text);

}  // namespace bb::wire

// Unsigned varint (multiformats/unsigned-varint): LEB128, 7 bits a byte, minimal encodings only,
// at most 9 bytes (63 bits). Header-only: it sits on every framing hot path.
#pragma once

#include "bb/wire/bytes.hpp"

#include <cstddef>
#include <cstdint>

namespace bb::wire {

inline constexpr std::size_t kMaxVarintBytes = 9;
inline constexpr std::uint64_t kMaxVarintValue = (std::uint64_t{1} << 63) - 1;

struct VarintDecoded {
  std::uint64_t value;
  std::size_t size;  // bytes consumed
};

// Bytes needed to encode `v`. Values above kMaxVarintValue are not encodable (precondition).
constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes `v` at `out` (room for varint_size(v) bytes); returns the bytes written.
inline std::size_t encode_varint(std::uint64_t v, std::uint8_t* out) noexcept {
  std::size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<std::uint8_t>(v | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<std::uint8_t>(v);
  return n;
}

inline void append_varint(Bytes& out, std::uint64_t v) {
  std::uint8_t buf[10];
  const std::size_t n = encode_varint(v, buf);
  out.insert(out.end(), buf, buf + n);
}

// Decodes one varint at the start of `in`. `varint_truncated` means "need more bytes" when `in`
// is a prefix of a stream; the other errors are final.
inline result<VarintDecoded> decode_varint(ByteView in) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (i == kMaxVarintBytes) return errc::varint_too_long;
    const std::uint8_t b = in[i];
    value |= std::uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) {
      // A last byte of zero after at least one byte means a shorter encoding existed.
      if (b == 0 && i > 0) return errc::varint_non_minimal;
      return VarintDecoded{value, i + 1};
    }
  }
  return in.size() >= kMaxVarintBytes ? errc::varint_too_long : errc::varint_truncated;
}

}  // namespace bb::wire

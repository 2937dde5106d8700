// Multihash (multiformats/multihash): varint(code) ‖ varint(length) ‖ digest, digest ≤ 64 bytes.
// A small value type with inline storage, cheap to copy and compare; any code is accepted.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/varint.hpp"

#include <array>
#include <compare>
#include <cstdint>

namespace bb::wire {

namespace multicodec {
inline constexpr std::uint64_t identity = 0x00;
inline constexpr std::uint64_t sha2_256 = 0x12;
inline constexpr std::uint64_t libp2p_key = 0x72;  // CID content type of a PeerId
}  // namespace multicodec

class Multihash {
 public:
  static constexpr std::size_t kMaxDigestBytes = 64;
  static constexpr std::size_t kMaxEncodedBytes = kMaxVarintBytes + 1 + kMaxDigestBytes;

  // The whole of `bytes` must be one multihash (no trailing bytes).
  static result<Multihash> from_bytes(ByteView bytes);
  // Identity multihash of `data` (≤ 64 bytes, else multihash_digest_too_long).
  static result<Multihash> identity(ByteView data);
  static Multihash sha2_256(ByteView data);

  std::uint64_t code() const noexcept { return code_; }
  ByteView digest() const noexcept { return bytes().subspan(digest_offset_); }
  ByteView bytes() const noexcept { return {bytes_.data(), size_}; }

  friend bool operator==(const Multihash& a, const Multihash& b) noexcept {
    return a.bytes_ == b.bytes_ && a.size_ == b.size_;
  }
  friend std::strong_ordering operator<=>(const Multihash& a, const Multihash& b) noexcept;

 private:
  Multihash() = default;
  static Multihash make(std::uint64_t code, ByteView digest) noexcept;

  std::array<std::uint8_t, kMaxEncodedBytes> bytes_{};  // unused tail is always zero
  std::uint8_t size_ = 0;
  std::uint8_t digest_offset_ = 0;
  std::uint64_t code_ = 0;
};

}  // namespace bb::wire

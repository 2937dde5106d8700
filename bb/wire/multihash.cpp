#include "bb/wire/multihash.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace bb::wire {

Multihash Multihash::make(std::uint64_t code, ByteView digest) noexcept {
  Multihash mh;
  std::size_t n = encode_varint(code, mh.bytes_.data());
  n += encode_varint(digest.size(), mh.bytes_.data() + n);
  mh.digest_offset_ = static_cast<std::uint8_t>(n);
  std::memcpy(mh.bytes_.data() + n, digest.data(), digest.size());
  mh.size_ = static_cast<std::uint8_t>(n + digest.size());
  mh.code_ = code;
  return mh;
}

result<Multihash> Multihash::from_bytes(ByteView bytes) {
  auto code = decode_varint(bytes);
  if (!code) {
    return code.error() == errc::varint_truncated ? errc::multihash_truncated : code.error();
  }
  auto rest = bytes.subspan(code->size);
  auto length = decode_varint(rest);
  if (!length) {
    return length.error() == errc::varint_truncated ? errc::multihash_truncated : length.error();
  }
  if (length->value > kMaxDigestBytes) return errc::multihash_digest_too_long;
  rest = rest.subspan(length->size);
  if (rest.size() < length->value) return errc::multihash_truncated;
  if (rest.size() > length->value) return errc::multihash_trailing_bytes;
  return make(code->value, rest);
}

result<Multihash> Multihash::identity(ByteView data) {
  if (data.size() > kMaxDigestBytes) return errc::multihash_digest_too_long;
  return make(multicodec::identity, data);
}

Multihash Multihash::sha2_256(ByteView data) {
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), data.data(), data.size());
  return make(multicodec::sha2_256, digest);
}

std::strong_ordering operator<=>(const Multihash& a, const Multihash& b) noexcept {
  const auto x = a.bytes();
  const auto y = b.bytes();
  return std::lexicographical_compare_three_way(x.begin(), x.end(), y.begin(), y.end());
}

}  // namespace bb::wire

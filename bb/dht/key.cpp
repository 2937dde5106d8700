#include "bb/dht/key.hpp"

#include <sodium.h>

#include <bit>

namespace bb::dht {

Key Key::of(wire::ByteView bytes) {
  Digest d;
  crypto_hash_sha256(d.data(), bytes.data(), bytes.size());
  return Key(d);
}

Key Key::random() {
  Digest d;
  randombytes_buf(d.data(), d.size());
  return Key(d);
}

std::size_t Key::common_prefix(const Key& other) const noexcept {
  for (std::size_t i = 0; i < digest_.size(); ++i) {
    const auto x = static_cast<std::uint8_t>(digest_[i] ^ other.digest_[i]);
    if (x != 0) return i * 8 + static_cast<std::size_t>(std::countl_zero(x));
  }
  return kBits;
}

Key Key::random_with_prefix(std::size_t bits) const {
  Key r = random();
  if (bits >= kBits) return *this;
  // Copy the first `bits` bits of ours, flip bit `bits`, keep the random rest.
  for (std::size_t i = 0; i < bits / 8; ++i) r.digest_[i] = digest_[i];
  const std::size_t byte = bits / 8;
  const unsigned bit = 7u - static_cast<unsigned>(bits % 8);
  const auto keep_mask = static_cast<std::uint8_t>(0xFFu << (bit + 1));  // bits before `bit`
  const auto flip = static_cast<std::uint8_t>(1u << bit);
  std::uint8_t b = static_cast<std::uint8_t>((digest_[byte] & keep_mask) |
                                             (r.digest_[byte] & ~keep_mask & 0xFFu));
  b = static_cast<std::uint8_t>((b & ~flip) | (~digest_[byte] & flip));
  r.digest_[byte] = b;
  return r;
}

Key distance(const Key& a, const Key& b) noexcept {
  Key::Digest d;
  for (std::size_t i = 0; i < d.size(); ++i)
    d[i] = static_cast<std::uint8_t>(a.digest()[i] ^ b.digest()[i]);
  return Key(d);
}

bool closer(const Key& target, const Key& a, const Key& b) noexcept {
  for (std::size_t i = 0; i < 32; ++i) {
    const auto da = static_cast<std::uint8_t>(a.digest()[i] ^ target.digest()[i]);
    const auto db = static_cast<std::uint8_t>(b.digest()[i] ^ target.digest()[i]);
    if (da != db) return da < db;
  }
  return false;
}

}  // namespace bb::dht

// Kademlia keys and distance: every key (a PeerId's multihash bytes, a provider's multihash, a
// record key) lives in the 256-bit space of its SHA-256, and the distance between two keys is
// the XOR of their hashes (kad-dht spec).
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>

namespace bb::dht {

class Key {
 public:
  static constexpr std::size_t kBits = 256;
  using Digest = std::array<std::uint8_t, 32>;

  Key() = default;
  explicit Key(const Digest& d) noexcept : digest_(d) {}
  static Key of(wire::ByteView bytes);  // SHA-256(bytes)
  static Key of(const wire::PeerId& peer) { return of(peer.bytes()); }
  static Key random();

  const Digest& digest() const noexcept { return digest_; }
  // Leading bits `this` and `other` share: 256 for equal keys. Bucket index of a peer is
  // 255 - common_prefix (so the farthest half lands in bucket 255) -- see RoutingTable.
  std::size_t common_prefix(const Key& other) const noexcept;
  // A random key whose common prefix with `this` is exactly `bits` (< 256): for refreshing
  // the bucket of that prefix length.
  Key random_with_prefix(std::size_t bits) const;

  friend bool operator==(const Key&, const Key&) = default;
  friend auto operator<=>(const Key& a, const Key& b) noexcept {
    const int c = std::memcmp(a.digest_.data(), b.digest_.data(), 32);
    return c <=> 0;
  }

 private:
  Digest digest_{};
};

// XOR distance, compared as a 256-bit big-endian number.
Key distance(const Key& a, const Key& b) noexcept;
// Is a closer to target than b?
bool closer(const Key& target, const Key& a, const Key& b) noexcept;

}  // namespace bb::dht

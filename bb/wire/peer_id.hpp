// PeerId: the libp2p peer identity, a multihash of the protobuf-encoded public key (identity
// multihash when the encoding is ≤ 42 bytes, else sha2-256). A value type: copyable, ordered,
// hashable (the hash is computed once, at construction), safe to share across threads.
#pragma once

#include "bb/wire/multihash.hpp"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bb::wire {

class PeerId {
 public:
  // Encoded public keys up to this size are inlined with the identity multihash.
  static constexpr std::size_t kMaxInlineKeyBytes = 42;

  // From a libp2p protobuf `PublicKey` encoding (not validated as a key here).
  static PeerId from_public_key_bytes(ByteView encoded_public_key);
  // From multihash bytes, as carried by /p2p/ components and `src_peer_bytes`.
  static result<PeerId> from_bytes(ByteView multihash_bytes);
  static PeerId from_multihash(const Multihash& mh) noexcept;
  // base58btc (`12D3KooW…`, `Qm…`) or a CIDv1 with the libp2p-key codec in base32 (`bafz…`).
  static result<PeerId> parse(std::string_view text);
  // Test helper, as the Rust original: identity multihash of the 8 big-endian bytes of `n`.
  static PeerId from_u64(std::uint64_t n) noexcept;

  // The inverse of from_u64; nullopt for any other PeerId.
  std::optional<std::uint64_t> as_u64() const noexcept;
  // For identity PeerIds, the encoded public key they inline; empty otherwise.
  ByteView inlined_public_key() const noexcept;

  const Multihash& multihash() const noexcept { return mh_; }
  ByteView bytes() const noexcept { return mh_.bytes(); }
  std::string to_base58() const;
  std::string to_cid() const;  // CIDv1 libp2p-key, multibase base32 ('b…')
  std::string to_string() const { return to_base58(); }
  std::size_t hash() const noexcept { return hash_; }

  friend bool operator==(const PeerId& a, const PeerId& b) noexcept {
    return a.hash_ == b.hash_ && a.mh_ == b.mh_;
  }
  friend std::strong_ordering operator<=>(const PeerId& a, const PeerId& b) noexcept {
    return a.mh_ <=> b.mh_;
  }

 private:
  explicit PeerId(const Multihash& mh) noexcept;
  Multihash mh_;
  std::size_t hash_;
};

}  // namespace bb::wire

template <>
struct std::hash<bb::wire::PeerId> {
  std::size_t operator()(const bb::wire::PeerId& p) const noexcept { return p.hash(); }
};

// Content identifiers (multiformats CID), as far as the DHT needs them: what a provider
// announces is a CID, and the DHT key of its records is the CID's multihash (what go-, rust- and
// js-libp2p put in ADD_PROVIDER and GET_PROVIDERS).
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/multihash.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace bb::dht {

namespace codec {
inline constexpr std::uint64_t raw = 0x55;
inline constexpr std::uint64_t dag_pb = 0x70;
}  // namespace codec

struct Cid {
  std::uint64_t version = 1;
  std::uint64_t content_codec = codec::raw;
  wire::Multihash hash = wire::Multihash::sha2_256({});

  // CIDv0 ("Qm…", base58btc of a SHA-256 multihash) or CIDv1 in base32 ("b…") or base58btc
  // ("z…"). Errors: wire errc values (bad base, bad varint, bad multihash) or bad_key.
  static wire::result<Cid> parse(std::string_view text);
  // The CID of `data`: CIDv1, raw codec, SHA-256.
  static Cid of(wire::ByteView data);

  std::string to_string() const;  // CIDv0 as base58btc, CIDv1 as base32 ("b…")
  wire::ByteView key() const noexcept { return hash.bytes(); }  // the DHT key
  friend bool operator==(const Cid&, const Cid&) = default;
};

}  // namespace bb::dht

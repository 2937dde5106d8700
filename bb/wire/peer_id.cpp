#include "bb/wire/peer_id.hpp"

#include "bb/wire/base32.hpp"
#include "bb/wire/base58.hpp"

namespace bb::wire {
namespace {

std::size_t fnv1a(ByteView bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return static_cast<std::size_t>(h);
}

result<PeerId> from_cid_bytes(ByteView cid) {
  auto version = decode_varint(cid);
  if (!version || version->value != 1) return errc::peer_id_invalid_cid;
  cid = cid.subspan(version->size);
  auto codec = decode_varint(cid);
  if (!codec || codec->value != multicodec::libp2p_key) return errc::peer_id_invalid_cid;
  return PeerId::from_bytes(cid.subspan(codec->size));
}

}  // namespace

PeerId::PeerId(const Multihash& mh) noexcept : mh_(mh), hash_(fnv1a(mh.bytes())) {}

PeerId PeerId::from_public_key_bytes(ByteView encoded_public_key) {
  if (encoded_public_key.size() <= kMaxInlineKeyBytes) {
    return PeerId(Multihash::identity(encoded_public_key).value());
  }
  return PeerId(Multihash::sha2_256(encoded_public_key));
}

result<PeerId> PeerId::from_bytes(ByteView multihash_bytes) {
  if (multihash_bytes.empty()) return errc::peer_id_empty;
  auto mh = Multihash::from_bytes(multihash_bytes);
  if (!mh) return mh.error();
  return PeerId(*mh);
}

PeerId PeerId::from_multihash(const Multihash& mh) noexcept {
  return PeerId(mh);
}

result<PeerId> PeerId::parse(std::string_view text) {
  if (text.empty()) return errc::peer_id_empty;
  // peer-ids spec: text starting with '1' or "Qm" is a bare base58btc multihash; anything else
  // is a multibase-encoded CID.
  if (text.front() == '1' || text.starts_with("Qm")) {
    auto bytes = base58_decode(text);
    if (!bytes) return bytes.error();
    return from_bytes(*bytes);
  }
  const char base = text.front();
  const std::string_view body = text.substr(1);
  if (base == 'b') {
    if (auto bytes = base32_decode(body)) {
      if (auto id = from_cid_bytes(*bytes)) return id;
    }
  } else if (base == 'z') {
    if (auto bytes = base58_decode(body)) {
      if (auto id = from_cid_bytes(*bytes)) return id;
    }
  }
  // Not a CID: a bare base58 multihash with a code other than identity or sha2-256 (which the
  // original accepts) prints without the '1'/"Qm" prefix, so accept it here rather than fail.
  if (auto bytes = base58_decode(text)) {
    if (auto id = from_bytes(*bytes)) return id;
  }
  if (base == 'b' || base == 'z') {
    // Report why the CID reading failed: that is what the text most likely meant to be.
    auto bytes = base == 'b' ? base32_decode(body) : base58_decode(body);
    if (!bytes) return bytes.error();
    return from_cid_bytes(*bytes).error();
  }
  return errc::peer_id_invalid_multibase;
}

PeerId PeerId::from_u64(std::uint64_t n) noexcept {
  std::array<std::uint8_t, 8> be{};
  for (std::size_t i = 0; i < 8; ++i) be[i] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
  return PeerId(Multihash::identity(be).value());
}

std::optional<std::uint64_t> PeerId::as_u64() const noexcept {
  const ByteView digest = mh_.digest();
  if (mh_.code() != multicodec::identity || digest.size() != 8) return std::nullopt;
  std::uint64_t n = 0;
  for (std::uint8_t b : digest) n = (n << 8) | b;
  return n;
}

ByteView PeerId::inlined_public_key() const noexcept {
  return mh_.code() == multicodec::identity ? mh_.digest() : ByteView{};
}

std::string PeerId::to_base58() const {
  return base58_encode(bytes());
}

std::string PeerId::to_cid() const {
  Bytes cid;
  cid.reserve(2 + bytes().size());
  append_varint(cid, 1);
  append_varint(cid, multicodec::libp2p_key);
  cid.insert(cid.end(), bytes().begin(), bytes().end());
  return "b" + base32_encode(cid);
}

}  // namespace bb::wire

#include "bb/dht/cid.hpp"

#include "bb/dht/error.hpp"
#include "bb/wire/base32.hpp"
#include "bb/wire/base58.hpp"
#include "bb/wire/varint.hpp"

namespace bb::dht {

wire::result<Cid> Cid::parse(std::string_view text) {
  if (text.size() < 2 || text.size() > 256) return make_error_code(errc::bad_key);
  if (text.size() == 46 && text.starts_with("Qm")) {
    auto bytes = wire::base58_decode(text);
    if (!bytes) return bytes.error();
    auto mh = wire::Multihash::from_bytes(*bytes);
    if (!mh) return mh.error();
    return Cid{0, codec::dag_pb, *mh};
  }
  wire::result<wire::Bytes> bytes = make_error_code(errc::bad_key);
  if (text[0] == 'b') {
    bytes = wire::base32_decode(text.substr(1));
  } else if (text[0] == 'z') {
    bytes = wire::base58_decode(text.substr(1));
  }
  if (!bytes) return bytes.error();
  wire::ByteView in(*bytes);
  auto version = wire::decode_varint(in);
  if (!version) return version.error();
  if (version->value != 1) return make_error_code(errc::bad_key);
  in = in.subspan(version->size);
  auto content = wire::decode_varint(in);
  if (!content) return content.error();
  in = in.subspan(content->size);
  auto mh = wire::Multihash::from_bytes(in);
  if (!mh) return mh.error();
  return Cid{1, content->value, *mh};
}

Cid Cid::of(wire::ByteView data) {
  return Cid{1, codec::raw, wire::Multihash::sha2_256(data)};
}

std::string Cid::to_string() const {
  if (version == 0) return wire::base58_encode(hash.bytes());
  wire::Bytes out;
  wire::append_varint(out, version);
  wire::append_varint(out, content_codec);
  out.insert(out.end(), hash.bytes().begin(), hash.bytes().end());
  return "b" + wire::base32_encode(out);
}

}  // namespace bb::dht

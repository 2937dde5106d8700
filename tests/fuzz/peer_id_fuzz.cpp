// PeerId parsing from text (base58 / CID) and from bytes: no crash, and every accepted value
// round-trips through each of its forms.
#include "bb/wire/peer_id.hpp"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb::wire;
  const ByteView bytes(data, size);
  if (auto id = PeerId::from_bytes(bytes)) {
    if (!std::equal(id->bytes().begin(), id->bytes().end(), bytes.begin(), bytes.end())) {
      __builtin_trap();
    }
    if (PeerId::parse(id->to_cid()).value() != *id) __builtin_trap();
    // Bare base58 text is unambiguous for the spec's codes; other codes parse back when their
    // text is not also a valid CID.
    auto back = PeerId::parse(id->to_base58());
    const auto code = id->multihash().code();
    if ((code == multicodec::identity || code == multicodec::sha2_256) && (!back || *back != *id)) {
      __builtin_trap();
    }
  }
  if (auto id = PeerId::parse(as_chars(bytes))) {
    if (PeerId::from_bytes(id->bytes()).value() != *id) __builtin_trap();
    if (PeerId::parse(id->to_base58()).value() != *id) __builtin_trap();
  }
  return 0;
}

// base58btc (Bitcoin alphabet), as used for PeerIds and /p2p/ multiaddr values.
#pragma once

#include "bb/wire/bytes.hpp"

#include <string>
#include <string_view>

namespace bb::wire {

// Longest text `base58_decode` accepts: enough for any multihash bb handles (74 bytes encode to
// at most 102 characters) with room to spare; longer input is refused before any work.
inline constexpr std::size_t kMaxBase58Chars = 256;

std::string base58_encode(ByteView bytes);
result<Bytes> base58_decode(std::string_view text);

}  // namespace bb::wire

// /ipfs/id/1.0.0: what a peer tells about itself (identify spec). The server writes one
// length-prefixed Identify message and closes its side; the client reads until end of stream.
#pragma once

#include "async/clock.hpp"
#include "wire/connection.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bb::wire::identify {

inline constexpr std::string_view kProtocolId = "/ipfs/id/1.0.0";
inline constexpr std::string_view kProtocolVersion = "ipfs/0.1.0";
inline constexpr std::size_t kMaxMessageBytes = 8 * 1024;  // go-libp2p's signed-record bound
inline constexpr std::size_t kMaxMessages = 10;

struct Info {
  std::string protocol_version;
  std::string agent_version;
  Bytes public_key;  // libp2p protobuf PublicKey
  std::vector<Multiaddr> listen_addrs;
  std::optional<Multiaddr> observed_addr;
  std::vector<std::string> protocols;
};

// Sends `ours`, with observed_addr set to the address this stream's connection came from.
boost::asio::awaitable<void> serve(Stream stream, Info ours);

// Asks the peer. Throws boost::system::system_error: identify_invalid (malformed, oversize),
// identify_key_mismatch (public key is not the connection's PeerId), timeouts, stream errors.
// Listen and observed addresses that do not parse are skipped, not fatal.
// `timeout` runs on `clock`, which must outlive the call.
boost::asio::awaitable<Info> request(Connection connection, std::chrono::milliseconds timeout,
                                     async::Clock& clock = async::steady_clock());

// Decoding, exposed for tests and fuzzing: one or more length-prefixed messages, merged.
result<Info> decode(ByteView bytes);
Bytes encode(const Info& info);

}  // namespace bb::wire::identify

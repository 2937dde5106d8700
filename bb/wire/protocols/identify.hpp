// /ipfs/id/1.0.0: what a peer tells about itself (identify spec). The server writes one
// length-prefixed Identify message and closes its side; the client reads until end of stream.
// /ipfs/id/push/1.0.0: the same message the other way round, sent unasked when what a peer
// would say changed (its addresses, its protocols); the receiver reads it with the same bounds.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/connection.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bb::wire::identify {

inline constexpr std::string_view kProtocolId = "/ipfs/id/1.0.0";
inline constexpr std::string_view kPushProtocolId = "/ipfs/id/push/1.0.0";
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

// Pushes `ours` (observed_addr set from the connection) to the peer on a new push stream and
// waits for the peer to close its side. Throws what request() throws (a peer that does not
// serve push: mss_protocol_not_supported). `timeout` runs on `clock`.
boost::asio::awaitable<void> push(Connection connection, Info ours,
                                  std::chrono::milliseconds timeout,
                                  async::Clock& clock = async::steady_clock());

// Reads a push from `peer` on an inbound push stream (until its end, bounded as request() is).
// A public key, when the push carries one, must be `peer`'s (identify_key_mismatch). Unbounded
// in time: the caller bounds it.
boost::asio::awaitable<Info> read_push(Stream stream, const PeerId& peer);

// Decoding, exposed for tests and fuzzing: one or more length-prefixed messages, merged.
result<Info> decode(ByteView bytes);
Bytes encode(const Info& info);

}  // namespace bb::wire::identify

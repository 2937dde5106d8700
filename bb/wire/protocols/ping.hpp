// /ipfs/ping/1.0.0: the peer echoes 32 random bytes; the round trip is the RTT.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/connection.hpp"

#include <chrono>
#include <string_view>

namespace bb::wire::ping {

inline constexpr std::string_view kProtocolId = "/ipfs/ping/1.0.0";
inline constexpr std::size_t kPayloadBytes = 32;

// Echoes every 32-byte payload until the peer closes its side, then closes ours.
boost::asio::awaitable<void> serve(Stream stream);

// One ping on a new stream. Throws boost::system::system_error: errc::ping_mismatch for a wrong
// echo, errc::handshake_timeout past `timeout`, mss_protocol_not_supported, stream errors.
// `clock` times the round trip and the timeout; it must outlive the call.
boost::asio::awaitable<std::chrono::nanoseconds> ping(Connection connection,
                                                      std::chrono::milliseconds timeout,
                                                      async::Clock& clock = async::steady_clock());

}  // namespace bb::wire::ping

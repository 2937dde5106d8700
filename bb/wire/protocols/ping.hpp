// /ipfs/ping/1.0.0: the peer echoes 32 random bytes; the round trip is the RTT.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/connection.hpp"

#include <chrono>
#include <optional>
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

// Pings one connection again and again over one stream, as the spec allows: after the first, a
// ping is one round trip of 32 bytes each way, with no stream to open and negotiate (a Node pings
// every peer every second). A ping that fails or times out drops its stream (a reset); the next
// one opens another. Thread rule: the connection's executor; one ping at a time.
class Pinger {
 public:
  explicit Pinger(Connection connection, async::Clock& clock = async::steady_clock());
  ~Pinger();  // resets a stream still open: close() first to end it cleanly
  Pinger(const Pinger&) = delete;
  Pinger& operator=(const Pinger&) = delete;

  // As ping() above, over the kept stream.
  boost::asio::awaitable<std::chrono::nanoseconds> ping(std::chrono::milliseconds timeout);
  // Ends the stream cleanly (our side closed, the peer's end read), within `timeout`.
  boost::asio::awaitable<void> close(std::chrono::milliseconds timeout);

 private:
  boost::asio::awaitable<std::chrono::nanoseconds> once();

  Connection connection_;
  async::Clock& clock_;
  std::optional<Stream> stream_;
};

}  // namespace bb::wire::ping

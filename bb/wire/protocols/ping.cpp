#include "bb/wire/protocols/ping.hpp"

#include "bb/async/timeout.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace bb::wire::ping {

namespace asio = boost::asio;

asio::awaitable<void> serve(Stream stream) {
  std::array<std::uint8_t, kPayloadBytes> buf{};
  while (true) {
    std::size_t got = 0;
    while (got < buf.size()) {
      const std::size_t n = co_await stream.read_some(std::span(buf).subspan(got));
      if (n == 0) {
        stream.close_write();
        co_return;
      }
      got += n;
    }
    co_await stream.write(buf);
  }
}

namespace {

asio::awaitable<std::chrono::nanoseconds> ping_once(Connection connection, async::Clock& clock) {
  std::vector<std::string> protocols{std::string(kProtocolId)};
  Stream stream = co_await connection.open_stream(std::move(protocols));
  std::array<std::uint8_t, kPayloadBytes> sent{};
  randombytes_buf(sent.data(), sent.size());
  const std::uint64_t start = clock.now_ns();
  co_await stream.write(sent);
  std::array<std::uint8_t, kPayloadBytes> echo{};
  co_await stream.read_exact(echo);
  const std::uint64_t rtt = clock.now_ns() - start;
  if (echo != sent) {
    throw boost::system::system_error(make_error_code(errc::ping_mismatch),
                                      "ping to " + connection.remote_peer().to_base58());
  }
  // Finish both directions, so neither side sees a reset.
  stream.close_write();
  std::uint8_t rest[kPayloadBytes];
  while (co_await stream.read_some(rest) > 0) {
  }
  co_return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(rtt));
}

}  // namespace

asio::awaitable<std::chrono::nanoseconds> ping(Connection connection,
                                               std::chrono::milliseconds timeout,
                                               async::Clock& clock) {
  const auto timeout_ns = static_cast<std::uint64_t>(
      std::max<std::chrono::nanoseconds::rep>(0, std::chrono::nanoseconds(timeout).count()));
  co_return co_await async::with_timeout(clock, ping_once(connection, clock), timeout_ns,
                                         make_error_code(errc::handshake_timeout),
                                         "ping " + connection.remote_peer().to_base58());
}

}  // namespace bb::wire::ping

#include "bb/wire/protocols/ping.hpp"

#include "bb/async/timeout.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bb::wire::ping {

namespace asio = boost::asio;

asio::awaitable<void> serve(Stream stream) {
  std::array<std::uint8_t, kPayloadBytes> buf{};
  while (true) {
    std::size_t got = 0;
    while (got < buf.size()) {
      std::size_t n = 0;
      try {
        n = co_await stream.read_some(std::span(buf).subspan(got));
      } catch (const boost::system::system_error& e) {
        // A pinger that kept its stream resets it when it stops: the end of its pings, not an
        // error of ours to report.
        if (e.code() == make_error_code(errc::yamux_stream_reset)) co_return;
        throw;
      }
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

Pinger::Pinger(Connection connection, async::Clock& clock)
    : connection_(std::move(connection)), clock_(clock) {}

Pinger::~Pinger() = default;

asio::awaitable<std::chrono::nanoseconds> Pinger::once() {
  if (!stream_) {
    std::vector<std::string> protocols{std::string(kProtocolId)};
    stream_ = co_await connection_.open_stream(std::move(protocols));
  }
  std::array<std::uint8_t, kPayloadBytes> sent{};
  randombytes_buf(sent.data(), sent.size());
  const std::uint64_t start = clock_.now_ns();
  co_await stream_->write(sent);
  std::array<std::uint8_t, kPayloadBytes> echo{};
  co_await stream_->read_exact(echo);
  const std::uint64_t rtt = clock_.now_ns() - start;
  if (echo != sent) {
    throw boost::system::system_error(make_error_code(errc::ping_mismatch),
                                      "ping to " + connection_.remote_peer().to_base58());
  }
  co_return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(rtt));
}

asio::awaitable<std::chrono::nanoseconds> Pinger::ping(std::chrono::milliseconds timeout) {
  const auto timeout_ns = static_cast<std::uint64_t>(
      std::max<std::chrono::nanoseconds::rep>(0, std::chrono::nanoseconds(timeout).count()));
  const std::string what = "ping " + connection_.remote_peer().to_base58();
  const bool reused = stream_.has_value();
  try {
    co_return co_await async::with_timeout(clock_, once(), timeout_ns,
                                           make_error_code(errc::handshake_timeout), what);
  } catch (const boost::system::system_error& e) {
    stream_.reset();  // cut short somewhere: what is on it now is unknown
    // A kept stream may have been ended by the peer (js-libp2p ends a ping stream after its
    // timeout): that is no failed ping, so once more on a new stream. A timeout is.
    if (!reused || e.code() == make_error_code(errc::handshake_timeout) ||
        e.code() == asio::error::operation_aborted)
      throw;
  } catch (...) {
    stream_.reset();
    throw;
  }
  try {
    co_return co_await async::with_timeout(clock_, once(), timeout_ns,
                                           make_error_code(errc::handshake_timeout), what);
  } catch (...) {
    stream_.reset();
    throw;
  }
}

asio::awaitable<void> Pinger::close(std::chrono::milliseconds timeout) {
  if (!stream_) co_return;
  Stream& stream = *stream_;
  stream.close_write();
  const auto drain = [](Stream& s) -> asio::awaitable<void> {
    std::array<std::uint8_t, kPayloadBytes> rest{};
    while (co_await s.read_some(rest) > 0) {
    }
  };
  try {
    co_await async::with_timeout(
        clock_, drain(stream),
        static_cast<std::uint64_t>(std::chrono::nanoseconds(timeout).count()),
        make_error_code(errc::handshake_timeout), "ping close");
  } catch (const boost::system::system_error&) {
  }
  stream_.reset();
}

}  // namespace bb::wire::ping

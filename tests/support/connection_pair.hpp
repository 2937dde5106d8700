// Connected wire::Connection pairs for tests, over the in-memory stream pair (no sockets) or
// over loopback TCP (127.0.0.1, port 0), plus the waits and helpers the wire tests share.
//
// Thread rule: everything runs on the test's single io_context (test::run_async).
#pragma once

#include "bb/wire/connection.hpp"
#include "tests/support/memory_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bb::test {

// How long a test waits for one expected event or exchange; generous next to loopback times.
inline constexpr std::chrono::milliseconds kEventWait{3000};

// "/ip4/127.0.0.1/tcp/0": listen on loopback, any free port.
wire::Multiaddr loopback();

struct ConnectionPair {
  wire::Connection dialer;           // Direction::outbound, identity `a`
  wire::Connection listener;         // Direction::inbound, identity `b`
  std::shared_ptr<MemoryLink> link;  // null over TCP
};

// Upgrades both ends of an in-memory stream pair at once. The addresses the ends report are
// /ip4/10.0.0.1/tcp/1 (dialer) and /ip4/10.0.0.2/tcp/2 (listener). Throws what either upgrade
// threw (asio::multiple_exceptions when both failed).
boost::asio::awaitable<ConnectionPair> memory_connection_pair(
    const wire::Ed25519KeyPair& a, const wire::Ed25519KeyPair& b,
    std::optional<wire::PeerId> expected, wire::ConnectionOptions options = {},
    MemoryStreamOptions stream_options = {});

// The same over a loopback TCP connection.
boost::asio::awaitable<ConnectionPair> tcp_connection_pair(const wire::Ed25519KeyPair& a,
                                                           const wire::Ed25519KeyPair& b,
                                                           std::optional<wire::PeerId> expected,
                                                           wire::ConnectionOptions options = {});

// Runs `scenario` while both connections' loops run; closes both when it ends, however it ends.
boost::asio::awaitable<void> run_with(ConnectionPair& pair, boost::asio::awaitable<void> scenario);

// The code of the system_error in `error`; asio::error::fault for anything else.
boost::system::error_code code_of(const std::exception_ptr& error);

// The echo protocol the connection tests speak.
inline const std::vector<std::string> kEcho{"/echo/1.0.0"};

// Accepts one stream for kEcho and writes back what it reads, up to `chunk` bytes at a time,
// until the end of the stream; then closes its side. Throws boost::system::system_error (the
// connection's close reason) when no stream arrives.
boost::asio::awaitable<void> serve_echo(wire::Connection conn, std::size_t chunk = 64 * 1024);

}  // namespace bb::test

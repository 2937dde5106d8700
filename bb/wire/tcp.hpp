// TCP transport on Asio coroutines: dialing and listening on multiaddrs
// (/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>[/p2p/<id>]). Every socket gets TCP_NODELAY; every
// wait is bounded by the caller's timeout. Thread rule: use from the executor that owns the
// sockets.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/multiaddr.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>

namespace bb::wire {

using tcp = boost::asio::ip::tcp;

// The TCP endpoint of an /ip4 or /ip6 .../tcp address (no DNS); multiaddr_invalid_value when the
// address is not of that shape.
result<tcp::endpoint> tcp_endpoint(const Multiaddr& addr);
// "/ip4/A/tcp/P" or "/ip6/A/tcp/P".
Multiaddr to_multiaddr(const tcp::endpoint& endpoint);
// True for addresses tcp_connect can dial.
bool is_tcp_dialable(const Multiaddr& addr);

// Raises the soft RLIMIT_NOFILE to the hard limit, once per process (later calls only read
// it), and returns the soft limit in force (SIZE_MAX when unlimited).
std::size_t raise_fd_limit();
// accept() errors that mean the process or the system is out of descriptors or memory
// (EMFILE, ENFILE, ENOBUFS, ENOMEM): retrying at once cannot succeed, only waiting can.
bool is_resource_exhaustion(const boost::system::error_code& ec) noexcept;

// Resolves (for dns*), connects, sets TCP_NODELAY. Throws boost::system::system_error:
// errc::handshake_timeout-like timeouts are reported as boost::asio::error::timed_out, refused
// and unreachable as the OS error, a non-TCP address as errc::multiaddr_invalid_value.
// `timeout` runs on `clock`, which must outlive the call.
boost::asio::awaitable<tcp::socket> tcp_connect(const Multiaddr& addr,
                                                std::chrono::milliseconds timeout,
                                                async::Clock& clock = async::steady_clock());

// A listening socket on a multiaddr; port 0 picks a free port, reported by local_addr().
class TcpListener {
 public:
  static TcpListener listen(const boost::asio::any_io_executor& executor, const Multiaddr& addr,
                            int backlog = 1024);

  Multiaddr local_addr() const;
  // Accepts one connection (TCP_NODELAY set). Throws system_error; operation_aborted after close().
  boost::asio::awaitable<tcp::socket> accept();
  void close();

 private:
  explicit TcpListener(tcp::acceptor acceptor) : acceptor_(std::move(acceptor)) {}
  tcp::acceptor acceptor_;
};

}  // namespace bb::wire

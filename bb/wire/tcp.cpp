#include "bb/wire/tcp.hpp"

#include "bb/async/timeout.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <sys/resource.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <limits>
#include <mutex>

namespace bb::wire {

namespace asio = boost::asio;

namespace {

struct HostPort {
  std::uint64_t host_code = 0;
  std::string host;  // text form of the host component's value
  std::uint16_t port = 0;
};

result<HostPort> host_port(const Multiaddr& addr) {
  auto parts = addr.components();
  if (parts.size() < 2 || parts[1].code != protocol::tcp) return errc::multiaddr_invalid_value;
  for (std::size_t i = 2; i < parts.size(); ++i) {
    if (parts[i].code != protocol::p2p) return errc::multiaddr_invalid_value;
  }
  HostPort hp;
  hp.host_code = parts[0].code;
  const ByteView v = parts[0].value;
  switch (hp.host_code) {
    case protocol::ip4: {
      asio::ip::address_v4::bytes_type b{};
      std::copy(v.begin(), v.end(), b.begin());
      hp.host = asio::ip::address_v4(b).to_string();
      break;
    }
    case protocol::ip6: {
      asio::ip::address_v6::bytes_type b{};
      std::copy(v.begin(), v.end(), b.begin());
      hp.host = asio::ip::address_v6(b).to_string();
      break;
    }
    case protocol::dns:
    case protocol::dns4:
    case protocol::dns6: hp.host = std::string(as_chars(v)); break;
    default: return errc::multiaddr_invalid_value;
  }
  hp.port = static_cast<std::uint16_t>((parts[1].value[0] << 8) | parts[1].value[1]);
  return hp;
}

asio::awaitable<void> resolve_and_connect(tcp::socket& socket, const HostPort& hp) {
  tcp::resolver resolver(socket.get_executor());
  auto flags = tcp::resolver::numeric_service;
  if (hp.host_code == protocol::ip4 || hp.host_code == protocol::ip6) {
    flags |= tcp::resolver::numeric_host;
  }
  auto results =
      co_await resolver.async_resolve(hp.host, std::to_string(hp.port), flags, asio::use_awaitable);
  std::vector<tcp::endpoint> endpoints;
  for (const auto& r : results) {
    const auto a = r.endpoint().address();
    if (hp.host_code == protocol::dns4 && !a.is_v4()) continue;
    if (hp.host_code == protocol::dns6 && !a.is_v6()) continue;
    endpoints.push_back(r.endpoint());
  }
  if (endpoints.empty()) {
    throw boost::system::system_error(asio::error::host_not_found,
                                      "no address of the right family for " + hp.host);
  }
  co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
}

}  // namespace

result<tcp::endpoint> tcp_endpoint(const Multiaddr& addr) {
  auto hp = host_port(addr);
  if (!hp) return hp.error();
  if (hp->host_code != protocol::ip4 && hp->host_code != protocol::ip6) {
    return errc::multiaddr_invalid_value;
  }
  return tcp::endpoint(asio::ip::make_address(hp->host), hp->port);
}

Multiaddr to_multiaddr(const tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  const std::string text = (address.is_v4() ? "/ip4/" : "/ip6/") + address.to_string() + "/tcp/" +
                           std::to_string(endpoint.port());
  return Multiaddr::parse(text).value();
}

bool is_tcp_dialable(const Multiaddr& addr) {
  return host_port(addr).has_value();
}

std::size_t raise_fd_limit() {
  static std::once_flag once;
  std::call_once(once, [] {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return;
    // An unlimited hard limit still stops at the kernel's nr_open.
    std::size_t nr_open = 0;
    std::ifstream("/proc/sys/fs/nr_open") >> nr_open;
    if (nr_open > limit.rlim_cur) {
      raised.rlim_cur = static_cast<rlim_t>(nr_open);
      (void)setrlimit(RLIMIT_NOFILE, &raised);
    }
  });
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::numeric_limits<std::size_t>::max();
  }
  return static_cast<std::size_t>(limit.rlim_cur);
}

bool is_resource_exhaustion(const boost::system::error_code& ec) noexcept {
  if (ec.category() != boost::system::system_category() &&
      ec.category() != boost::system::generic_category()) {
    return false;
  }
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

asio::awaitable<tcp::socket> tcp_connect(const Multiaddr& addr, std::chrono::milliseconds timeout,
                                         async::Clock& clock) {
  auto hp = host_port(addr);
  if (!hp) throw boost::system::system_error(hp.error(), "cannot dial " + addr.to_string());
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);

  co_await async::with_timeout(clock, resolve_and_connect(socket, *hp), async::to_ns(timeout),
                               make_error_code(asio::error::timed_out),
                               "connecting to " + addr.to_string());
  socket.set_option(tcp::no_delay(true));
  co_return socket;
}

TcpListener TcpListener::listen(const asio::any_io_executor& executor, const Multiaddr& addr,
                                int backlog) {
  auto endpoint = tcp_endpoint(addr);
  if (!endpoint) {
    throw boost::system::system_error(
        endpoint.error(), "cannot listen on " + addr.to_string() +
                              ": need /ip4/<addr>/tcp/<port> or /ip6/<addr>/tcp/<port>");
  }
  tcp::acceptor acceptor(executor);
  acceptor.open(endpoint->protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(*endpoint);
  acceptor.listen(backlog);
  return TcpListener(std::move(acceptor));
}

Multiaddr TcpListener::local_addr() const {
  return to_multiaddr(acceptor_.local_endpoint());
}

asio::awaitable<tcp::socket> TcpListener::accept() {
  tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  co_return socket;
}

void TcpListener::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

}  // namespace bb::wire

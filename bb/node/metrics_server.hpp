// An HTTP server for Prometheus: GET /metrics answers the Node's metrics in the text format
// (node/metrics_text.hpp); any other path is 404, any other method on /metrics 405. Built on
// Boost.Beast, which stays in the .cpp.
//
// It listens on an open port, so everything a client can make it hold is bounded
// (MetricsServerOptions): connections at once (more are closed as soon as they are accepted),
// the request header's size, no request body, the time to read a request and to write the
// answer, and the requests one kept-alive connection may make. A client that breaks a bound
// loses its connection and nothing else.
//
// Thread rule: a MetricsServer lives on its executor (the Node's); call every member from
// there. Lifetime: co_await stop() before the Node stops and before destroying the server: it
// closes the listener and every connection and returns when they have ended. A server
// destroyed without stop() closes everything at once and frees its memory once its tasks have
// ended on the executor, which must keep running for that; it renders nothing after it is
// destroyed, so the Node may go first.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/node/metrics_text.hpp"
#include "bb/node/node.hpp"
#include "bb/wire/multiaddr.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace bb::node {

struct MetricsServerOptions {
  // HTTP connections open at once; one more is closed as soon as it is accepted.
  std::size_t max_connections = 16;
  // Bytes of a request's start line and headers (Beast's parser limit); a longer request
  // closes its connection. A request may have no body.
  std::size_t max_header_bytes = 8 * 1024;
  // Time to read one whole request: the first on a connection, or the next on a kept-alive one
  // (so it is also how long an idle connection is kept).
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // Requests on one connection; the last answer says Connection: close.
  std::size_t max_requests_per_connection = 100;
  MetricsTextOptions text;
};

// Counters of the server itself, for tests and status.
struct MetricsServerStats {
  std::size_t open_connections = 0;
  std::uint64_t accepted = 0;  // connections served
  std::uint64_t refused = 0;   // closed at accept: max_connections were open
  std::uint64_t requests = 0;  // answered, whatever the status
};

class MetricsServer {
 public:
  // The page: called on the executor for each GET /metrics.
  using Render = std::function<std::string()>;

  // Serves `node`'s metrics (snapshot() and to_prometheus_text()), on its executor and clock.
  explicit MetricsServer(Node& node, MetricsServerOptions options = {});
  // Serves what `render` returns, on `executor`; timeouts run on `clock` (steady time when
  // null), which must outlive the server.
  MetricsServer(const boost::asio::any_io_executor& executor, Render render,
                MetricsServerOptions options = {}, async::Clock* clock = nullptr);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Starts serving on `addr` (/ip4|ip6/<addr>/tcp/<port>; port 0 picks one) and returns the
  // bound address. Once per server. Throws boost::system::system_error: multiaddr_invalid_value
  // for another shape of address, the OS error (address in use, …) when it cannot bind, each
  // with a message that names the address.
  wire::Multiaddr listen(const wire::Multiaddr& addr);

  // Closes the listener and every connection; returns when all have ended. Idempotent.
  boost::asio::awaitable<void> stop();

  MetricsServerStats stats() const noexcept;

  // Servers (in this process) destroyed without stop() whose connections are still ending on
  // their executors; 0 once each one's memory is freed.
  static std::size_t detached_stops() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The URL of the metrics page at a bound address: http://127.0.0.1:9100/metrics,
// http://[::1]:9100/metrics. Empty for an address that is not /ip4|ip6/.../tcp/....
std::string metrics_url(const wire::Multiaddr& bound);

}  // namespace bb::node

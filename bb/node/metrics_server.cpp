#include "bb/node/metrics_server.hpp"

#include "bb/async/task_group.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/tcp.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <list>
#include <optional>

namespace bb::node {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;
using tcp = asio::ip::tcp;

// After an accept() error, wait this long before the next: when out of descriptors, accepting
// again at once only fails again.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

std::atomic<std::size_t> detached_count{0};  // MetricsServer::detached_stops()

std::uint64_t ns(std::chrono::milliseconds d) {
  return async::to_ns(d);
}

}  // namespace

struct MetricsServer::Impl {
  Impl(const asio::any_io_executor& executor, Render r, MetricsServerOptions o, async::Clock& c)
      : ex(executor),
        render(std::move(r)),
        options(std::move(o)),
        clock(c),
        acceptor(ex),
        tasks(ex) {}

  void close_all() {
    stopping = true;
    error_code ignored;
    acceptor.close(ignored);
    for (auto& socket : sockets) socket.close(ignored);
    tasks.cancel_all();
  }

  asio::awaitable<void> accept_loop() {
    while (!stopping) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (stopping || ec == asio::error::operation_aborted) break;
      if (ec) {
        if (!wire::is_resource_exhaustion(ec)) {
          spdlog::debug("metrics server: accept failed: {}", ec.message());
        }
        const bool slept = co_await clock.sleep_for(ns(kAcceptBackoff));
        if (!slept) break;
        continue;
      }
      if (sockets.size() >= options.max_connections) {
        ++counters.refused;  // the bound: closed before anything is read
        error_code ignored;
        socket.close(ignored);
        continue;
      }
      ++counters.accepted;
      // Counted from now on, before the session's coroutine first runs: the next accept sees it.
      sockets.push_front(std::move(socket));
      tasks.spawn(session(sockets.begin()), "metrics http connection");
    }
  }

  http::response<http::string_body> respond(const http::request<http::empty_body>& request) {
    http::response<http::string_body> response;
    response.version(request.version());
    response.set(http::field::server, "bb/" + std::string(wire::bb_version()));
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
      response.result(http::status::not_found);
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      response.body() = "not found: the metrics are at /metrics\n";
    } else if (request.method() != http::verb::get) {
      response.result(http::status::method_not_allowed);
      response.set(http::field::allow, "GET");
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      response.body() = "method not allowed: GET /metrics\n";
    } else {
      try {
        response.body() = render();
        response.result(http::status::ok);
        response.set(http::field::content_type, kPrometheusContentType);
      } catch (const std::exception& e) {
        spdlog::warn("metrics server: rendering the page failed: {}", e.what());
        response.result(http::status::internal_server_error);
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        response.body() = "the metrics could not be rendered\n";
      }
    }
    response.prepare_payload();
    return response;
  }

  // One client connection: requests read within request_timeout, answered within
  // write_timeout, at most max_requests_per_connection of them. A request the parser refuses
  // (headers too long, a body, not HTTP) ends the connection without an answer.
  asio::awaitable<void> session(std::list<tcp::socket>::iterator it) {
    struct Leave {
      Impl& impl;
      std::list<tcp::socket>::iterator it;
      ~Leave() { impl.sockets.erase(it); }  // closes it
    } leave{*this, it};
    tcp::socket& socket = *it;
    // Room for the largest header the parser accepts, and a little pipelined data after it.
    boost::beast::flat_buffer buffer(options.max_header_bytes + 1024);
    for (std::size_t n = 0; n < options.max_requests_per_connection && !stopping; ++n) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      parser.body_limit(0);
      auto read =
          co_await (http::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable)) ||
                    clock.sleep_for(ns(options.request_timeout)));
      if (read.index() == 1 || stopping) break;   // too slow, or stopping
      if (std::get<0>(std::get<0>(read))) break;  // closed by the client, or a bad request
      auto response = respond(parser.get());
      ++counters.requests;
      const bool keep = parser.get().keep_alive() && n + 1 < options.max_requests_per_connection;
      response.keep_alive(keep);
      auto wrote =
          co_await (http::async_write(socket, response, asio::as_tuple(asio::use_awaitable)) ||
                    clock.sleep_for(ns(options.write_timeout)));
      if (wrote.index() == 1 || std::get<0>(std::get<0>(wrote)) || !keep) break;
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }

  asio::any_io_executor ex;
  Render render;
  MetricsServerOptions options;
  async::Clock& clock;
  tcp::acceptor acceptor;
  std::list<tcp::socket> sockets;  // one per session, from accept to the session's end
  MetricsServerStats counters;
  bool listening = false;
  bool stopping = false;
  async::TaskGroup tasks;  // last: destroyed first, once joined
};

MetricsServer::MetricsServer(Node& node, MetricsServerOptions options)
    : MetricsServer(
          node.executor(),
          [&node, text = options.text] { return to_prometheus_text(snapshot(node), text); },
          options, &node.clock()) {}

MetricsServer::MetricsServer(const asio::any_io_executor& executor, Render render,
                             MetricsServerOptions options, async::Clock* clock)
    : impl_(std::make_unique<Impl>(executor, std::move(render), std::move(options),
                                   clock != nullptr ? *clock : async::steady_clock())) {}

MetricsServer::~MetricsServer() {
  if (!impl_) return;
  impl_->close_all();
  impl_->render = nullptr;  // whatever it refers to may go now
  if (impl_->tasks.running() == 0) return;
  // Connections still ending: their coroutines use the Impl, which goes once they are done.
  Impl* impl = impl_.release();
  ++detached_count;
  asio::co_spawn(impl->ex, impl->tasks.join(), [impl](const std::exception_ptr&) {
    delete impl;
    --detached_count;
  });
}

std::size_t MetricsServer::detached_stops() noexcept {
  return detached_count;
}

wire::Multiaddr MetricsServer::listen(const wire::Multiaddr& addr) {
  auto& impl = *impl_;
  if (impl.listening || impl.stopping) {
    throw system_error(make_error_code(asio::error::already_open),
                       "the metrics server listens once");
  }
  auto endpoint = wire::tcp_endpoint(addr);
  if (!endpoint) {
    throw system_error(endpoint.error(), "cannot serve metrics on " + addr.to_string() +
                                             ": need /ip4/<addr>/tcp/<port> or "
                                             "/ip6/<addr>/tcp/<port>");
  }
  error_code ec;
  const auto fail = [&](const char* what) {
    error_code ignored;
    impl.acceptor.close(ignored);
    throw system_error(ec, "cannot serve metrics on " + addr.to_string() + ": " + what);
  };
  impl.acceptor.open(endpoint->protocol(), ec);
  if (ec) fail("open");
  impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) fail("setsockopt");
  impl.acceptor.bind(*endpoint, ec);
  if (ec) fail("bind");
  impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen");
  const auto bound = impl.acceptor.local_endpoint(ec);
  if (ec) fail("getsockname");
  impl.listening = true;
  impl.tasks.spawn(impl.accept_loop(), "metrics http accept");
  return wire::to_multiaddr(bound);
}

asio::awaitable<void> MetricsServer::stop() {
  impl_->close_all();
  co_await impl_->tasks.join();
}

MetricsServerStats MetricsServer::stats() const noexcept {
  MetricsServerStats s = impl_->counters;
  s.open_connections = impl_->sockets.size();
  return s;
}

std::string metrics_url(const wire::Multiaddr& bound) {
  auto endpoint = wire::tcp_endpoint(bound);
  if (!endpoint) return {};
  const auto address = endpoint->address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return "http://" + host + ":" + std::to_string(endpoint->port()) + "/metrics";
}

}  // namespace bb::node

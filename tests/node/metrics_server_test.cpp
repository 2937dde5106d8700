// node/metrics_server.hpp over loopback TCP, port 0: the page, the statuses, and the bounds a
// client cannot get past (header size, connections at once, time to send a request).
#include "bb/node/metrics_server.hpp"

#include "bb/async/clock.hpp"
#include "bb/async/timeout.hpp"
#include "bb/wire/tcp.hpp"
#include "tests/node/node_fixture.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/connection_pair.hpp"

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <memory>
#include <string>
#include <vector>

namespace bb::node {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr std::string_view kPage = "# HELP test_up Always 1.\n# TYPE test_up gauge\ntest_up 1\n";

std::string get(std::string_view path, std::string_view method = "GET") {
  return std::string(method) + " " + std::string(path) +
         " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

asio::awaitable<tcp::socket> connect_to(const wire::Multiaddr& bound) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(*wire::tcp_endpoint(bound), asio::use_awaitable);
  co_return socket;
}

// Everything the server sends until it closes (EOF or reset).
asio::awaitable<std::string> read_to_end(tcp::socket& socket) {
  std::string out;
  (void)co_await asio::async_read(socket, asio::dynamic_buffer(out),
                                  asio::as_tuple(asio::use_awaitable));
  co_return out;
}

asio::awaitable<std::string> exchange_on(tcp::socket& socket, std::string request) {
  (void)co_await asio::async_write(socket, asio::buffer(request),
                                   asio::as_tuple(asio::use_awaitable));
  co_return co_await async::with_timeout(read_to_end(socket), test::kEventWait,
                                         make_error_code(asio::error::timed_out),
                                         "waiting for the answer");
}

asio::awaitable<std::string> exchange(const wire::Multiaddr& bound, std::string request) {
  tcp::socket socket = co_await connect_to(bound);
  co_return co_await exchange_on(socket, std::move(request));
}

std::unique_ptr<MetricsServer> page_server(const asio::any_io_executor& ex,
                                           MetricsServerOptions options = {},
                                           async::Clock* clock = nullptr) {
  return std::make_unique<MetricsServer>(
      ex, [] { return std::string(kPage); }, options, clock);
}

TEST(MetricsServer, GetMetricsIsThePageOtherPathsAre404OtherMethods405) {
  test::run_async([]() -> asio::awaitable<void> {
    auto server = page_server(co_await asio::this_coro::executor);
    const auto bound = server->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    EXPECT_NE(wire::tcp_endpoint(bound)->port(), 0);
    EXPECT_EQ(metrics_url(bound),
              "http://127.0.0.1:" + std::to_string(wire::tcp_endpoint(bound)->port()) + "/metrics");

    const std::string ok = co_await exchange(bound, get("/metrics"));
    EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
    EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
              std::string::npos)
        << ok;
    EXPECT_TRUE(ok.ends_with("\r\n\r\n" + std::string(kPage))) << ok;

    const std::string with_query = co_await exchange(bound, get("/metrics?x=1"));
    EXPECT_TRUE(with_query.starts_with("HTTP/1.1 200 OK\r\n")) << with_query;

    const std::string missing = co_await exchange(bound, get("/"));
    EXPECT_TRUE(missing.starts_with("HTTP/1.1 404 Not Found\r\n")) << missing;

    const std::string post = co_await exchange(bound, get("/metrics", "POST"));
    EXPECT_TRUE(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << post;
    EXPECT_NE(post.find("Allow: GET\r\n"), std::string::npos) << post;

    // A body is refused: the connection closes without an answer.
    const std::string body = co_await exchange(
        bound, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_EQ(body, "");

    EXPECT_EQ(server->stats().requests, 4u);
    co_await server->stop();
  }());
}

TEST(MetricsServer, KeptAliveConnectionAnswersSeveralRequestsInTurn) {
  test::run_async([]() -> asio::awaitable<void> {
    auto server = page_server(co_await asio::this_coro::executor);
    const auto bound = server->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    tcp::socket socket = co_await connect_to(bound);
    // Two requests pipelined, the second asking to close: two answers, then the end.
    const std::string two = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" + get("/metrics");
    const std::string answers = co_await exchange_on(socket, two);
    EXPECT_EQ(answers.find("HTTP/1.1 200 OK"), 0u);
    EXPECT_NE(answers.find("HTTP/1.1 200 OK", 10), std::string::npos) << answers;
    co_await server->stop();
  }());
}

TEST(MetricsServer, OverlongHeaderClosesThatConnectionAndTheNextClientIsServed) {
  test::run_async([]() -> asio::awaitable<void> {
    auto server = page_server(co_await asio::this_coro::executor);
    const auto bound = server->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    const std::string huge =
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(9 * 1024, 'a') + "\r\n\r\n";
    const std::string refused = co_await exchange(bound, huge);
    EXPECT_EQ(refused.find("200 OK"), std::string::npos) << refused;

    const std::string ok = co_await exchange(bound, get("/metrics"));
    EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
    co_await server->stop();
  }());
}

TEST(MetricsServer, SeventeenthConcurrentConnectionIsClosedWhileTheFirstSixteenWork) {
  test::run_async([]() -> asio::awaitable<void> {
    auto server = page_server(co_await asio::this_coro::executor);
    const auto bound = server->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    std::vector<tcp::socket> first;
    for (int i = 0; i < 16; ++i) first.push_back(co_await connect_to(bound));
    // The kernel queues accepts in order: the server takes the 16 before this one.
    tcp::socket extra = co_await connect_to(bound);
    const std::string nothing = co_await async::with_timeout(
        read_to_end(extra), test::kEventWait, make_error_code(asio::error::timed_out),
        "waiting for the 17th connection to be closed");
    EXPECT_EQ(nothing, "");
    EXPECT_EQ(server->stats().refused, 1u);
    EXPECT_EQ(server->stats().open_connections, 16u);

    for (auto& socket : first) {
      const std::string ok = co_await exchange_on(socket, get("/metrics"));
      EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
    }
    // Their slots are free again.
    const std::string again = co_await exchange(bound, get("/metrics"));
    EXPECT_TRUE(again.starts_with("HTTP/1.1 200 OK\r\n")) << again;
    co_await server->stop();
  }());
}

TEST(MetricsServer, ARequestNotSentWithinTheTimeoutLosesItsConnection) {
  async::ManualClock clock;
  test::run_async([&clock]() -> asio::awaitable<void> {
    auto server = page_server(co_await asio::this_coro::executor, {}, &clock);
    const auto bound = server->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    tcp::socket slow = co_await connect_to(bound);
    const std::string partial = "GET /metrics HTTP/1.1\r\n";  // and never the rest
    (void)co_await asio::async_write(slow, asio::buffer(partial), asio::use_awaitable);
    // The session sleeps on the clock once it runs; then 10 s pass in virtual time.
    while (clock.sleepers() == 0) co_await test::yield_now();
    clock.advance(async::to_ns(MetricsServerOptions{}.request_timeout));
    const std::string nothing = co_await async::with_timeout(
        read_to_end(slow), test::kEventWait, make_error_code(asio::error::timed_out),
        "waiting for the slow connection to be closed");
    EXPECT_EQ(nothing, "");
    co_await server->stop();
  }());
}

TEST(MetricsServer, BusyPortAndBadAddressAreClearErrors) {
  test::run_async([]() -> asio::awaitable<void> {
    const auto ex = co_await asio::this_coro::executor;
    auto first = page_server(ex);
    const auto bound = first->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    auto second = page_server(ex);
    try {
      (void)second->listen(bound);
      ADD_FAILURE() << "a second server bound " << bound.to_string();
    } catch (const boost::system::system_error& e) {
      EXPECT_EQ(e.code(), asio::error::address_in_use);
      EXPECT_NE(std::string(e.what()).find("cannot serve metrics on " + bound.to_string()),
                std::string::npos)
          << e.what();
    }
    auto third = page_server(ex);
    EXPECT_THROW((void)third->listen(wire::Multiaddr::parse("/dns4/localhost/tcp/0").value()),
                 boost::system::system_error);
    co_await first->stop();
  }());
}

TEST(MetricsServer, StopClosesOpenConnectionsAndDestroyingWithoutStopIsSafe) {
  test::run_async([]() -> asio::awaitable<void> {
    const auto ex = co_await asio::this_coro::executor;
    auto server = page_server(ex);
    const auto bound = server->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    tcp::socket idle = co_await connect_to(bound);
    while (server->stats().open_connections == 0) co_await test::yield_now();
    co_await server->stop();
    EXPECT_EQ(server->stats().open_connections, 0u);
    const std::string closed = co_await read_to_end(idle);
    EXPECT_EQ(closed, "");

    // Destroyed while a connection waits for its request: everything closes, and the memory
    // goes once the session has ended (ASan checks).
    auto dropped = page_server(ex);
    const auto bound2 = dropped->listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    tcp::socket waiting = co_await connect_to(bound2);
    while (dropped->stats().open_connections == 0) co_await test::yield_now();
    dropped.reset();
    const std::string also_closed = co_await async::with_timeout(
        read_to_end(waiting), test::kEventWait, make_error_code(asio::error::timed_out),
        "waiting for the close");
    EXPECT_EQ(also_closed, "");
    while (MetricsServer::detached_stops() > 0) co_await test::yield_now();
  }());
}

TEST(MetricsServer, ServesARunningNodesMetrics) {
  test::run_async(
      []() -> asio::awaitable<void> {
        const auto ex = co_await asio::this_coro::executor;
        Node a(ex, node_test::loopback_config());
        Node b(ex, node_test::loopback_config());
        co_await a.start();
        co_await b.start();
        (void)co_await b.connect(node_test::dial_addr(a));
        // a counts the connection once it has placed it: its PeerUp says so.
        auto peer_up = [&a]() -> asio::awaitable<void> {
          while (auto e = co_await a.next_event()) {
            if (std::holds_alternative<runtime::PeerUp>(*e)) co_return;
          }
        };
        co_await async::with_timeout(peer_up(), test::kEventWait,
                                     make_error_code(asio::error::timed_out), "waiting for PeerUp");
        MetricsServer server(a);
        const auto bound = server.listen(wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
        const std::string page = co_await exchange(bound, get("/metrics"));
        EXPECT_TRUE(page.starts_with("HTTP/1.1 200 OK\r\n")) << page;
        EXPECT_NE(
            page.find("\nbb_build_info{version=\"" + std::string(wire::bb_version()) + "\"} 1\n"),
            std::string::npos)
            << page;
        EXPECT_NE(page.find("\nbb_connections{direction=\"inbound\"} 1\n"), std::string::npos)
            << page;
        // The connection's handshake was measured.
        EXPECT_NE(page.find("\nbb_handshake_duration_seconds_count 1\n"), std::string::npos)
            << page;
        co_await server.stop();
        co_await b.stop();
        co_await a.stop();
      }(),
      node_test::kTestLimit);
}

}  // namespace
}  // namespace bb::node

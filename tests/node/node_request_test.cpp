// Request/response on the envelope's correlation (node/requests.hpp): Node::request() and
// Node::serve() between Nodes on loopback, the manual clock wherever time matters, and a peer
// built by hand that floods responses with made-up tokens.
#include "bb/node/node.hpp"

#include "bb/async/task_group.hpp"
#include "bb/wire/envelope.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/protocols/bb_wire.hpp"
#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>

#include <random>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

namespace asio = boost::asio;
using namespace node_test;
using namespace asio::experimental::awaitable_operators;
using wire::PeerId;

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::size_t kServedAtOnce = 64;  // a Node's handlers per peer

wire::Bytes bytes_of(std::string_view text) {
  return wire::Bytes(text.begin(), text.end());
}

std::string text_of(wire::ByteView bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::string reason_of(const RequestResult& r) {
  return r.ok() ? std::string("ok") : std::string(r.failure ? r.failure->reason : "?");
}

asio::awaitable<std::optional<wire::Bytes>> echo(const Received& request) {
  co_return wire::copy_of(request.payload);
}

// The request's payload reversed: an answer that cannot be mistaken for another request's.
asio::awaitable<std::optional<wire::Bytes>> reverse(const Received& request) {
  wire::Bytes out(request.payload.rbegin(), request.payload.rend());
  co_return out;
}

// A handler that says it started, then waits for `release` before answering with its payload.
struct Held {
  explicit Held(const asio::any_io_executor& ex) : started(ex), release(ex) {}
  async::Event started;
  async::Event release;
  std::size_t running = 0;
};

// The handler's task owns `held` and its request: it may outlive the scenario that made them,
// until the node stops.
asio::awaitable<std::optional<wire::Bytes>> held_echo_run(std::shared_ptr<Held> held,
                                                          Received request) {
  ++held->running;
  held->started.set();
  co_await held->release.wait();
  co_return wire::copy_of(request.payload);
}

ServiceHandler held_echo(std::shared_ptr<Held> held) {
  return [held](const Received& request) { return held_echo_run(held, request); };
}

// Polls `pred` every millisecond for up to kEventWait: for counters with no event to wait on.
template <class Pred>
asio::awaitable<bool> eventually(Pred pred) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + kEventWait;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) co_return false;
    poll.expires_after(std::chrono::milliseconds(1));
    co_await poll.async_wait(asio::use_awaitable);
  }
  co_return true;
}

NodeConfig manual_config(Cluster& cluster) {
  NodeConfig config = loopback_config();
  config.clock = &cluster.manual_clock();
  return config;
}

// ---- round trips ------------------------------------------------------------------------------

asio::awaitable<void> echo_round_trip(Cluster& cluster) {
  Node& server = *co_await cluster.start();
  Node& client = *co_await cluster.start();
  server.serve("echo", echo);
  const auto peer = co_await client.connect(dial_addr(server));
  const auto payload = bytes_of("hello, service");
  const RequestResult r = co_await client.request(peer, "echo", payload);
  EXPECT_TRUE(r.ok()) << reason_of(r) << ": " << (r.failure ? r.failure->detail : "");
  if (r.ok()) {
    EXPECT_EQ(wire::copy_of(r.response->payload), payload);
    EXPECT_EQ(r.response->from, peer);
    EXPECT_EQ(r.response->origin, peer);
  }
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(client.tables().requests().size(), 0u);  // completed: no Timeout will follow
  // Responses never reach a channel.
  EXPECT_FALSE(client.try_receive("/component/0/op/echo"));
}

TEST(NodeRequest, EchoRoundTrip) {
  run_scenario(echo_round_trip);
}

struct Tally {
  explicit Tally(const asio::any_io_executor& ex) : done(ex) {}
  std::size_t ok = 0, wrong = 0, failed = 0, finished = 0;
  async::Event done;
};

asio::awaitable<void> one_request(Node* client, PeerId peer, std::uint64_t i, Tally* tally,
                                  std::size_t total) {
  const auto payload = numbered(7, i, 16 + i % 64);
  const RequestResult r = co_await client->request(peer, "reverse", payload);
  if (!r.ok()) {
    ++tally->failed;
  } else if (wire::copy_of(r.response->payload) != wire::Bytes(payload.rbegin(), payload.rend())) {
    ++tally->wrong;
  } else {
    ++tally->ok;
  }
  if (++tally->finished == total) tally->done.set();
}

asio::awaitable<void> concurrent_requests_are_matched(Cluster& cluster) {
  Node& server = *co_await cluster.start();
  Node& client = *co_await cluster.start();
  server.serve("reverse", reverse);
  const auto peer = co_await client.connect(dial_addr(server));
  constexpr std::size_t kRequests = 200;
  const auto ex = co_await asio::this_coro::executor;
  Tally tally(ex);
  async::TaskGroup group(ex);
  for (std::uint64_t i = 0; i < kRequests; ++i) {
    group.spawn(one_request(&client, peer, i, &tally, kRequests), "request");
  }
  co_await tally.done.wait();
  co_await group.join();
  EXPECT_EQ(tally.ok, kRequests);
  EXPECT_EQ(tally.wrong, 0u);
  EXPECT_EQ(tally.failed, 0u);
  EXPECT_EQ(client.tables().requests().size(), 0u);
  EXPECT_EQ(client.metrics().dropped("rx:unknown_request"), 0u);
}

TEST(NodeRequest, ConcurrentRequestsAreMatched) {
  run_scenario(concurrent_requests_are_matched);
}

asio::awaitable<void> no_service(Cluster& cluster) {
  Node& server = *co_await cluster.start();
  Node& client = *co_await cluster.start();
  server.serve("echo", echo);
  const auto peer = co_await client.connect(dial_addr(server));
  const RequestResult r = co_await client.request(peer, "nobody", bytes_of("x"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(reason_of(r), "no_service");
  EXPECT_EQ(server.metrics().dropped("rx:no_service"), 1u);
  EXPECT_EQ(client.tables().requests().size(), 0u);
  // A name that cannot be one is refused before anything is sent.
  const RequestResult bad = co_await client.request(peer, "a/b", bytes_of("x"));
  EXPECT_EQ(reason_of(bad), "no_service");
}

TEST(NodeRequest, NoService) {
  run_scenario(no_service);
}

// ---- time -------------------------------------------------------------------------------------

// The client on virtual time, the server on real time: the client gives up when the test moves
// its clock, and the server, whose budget has not run out, still answers: late.
asio::awaitable<void> timeout_then_late_response_refused(Cluster& cluster) {
  Node& server = *co_await cluster.start();
  Node& client = *co_await cluster.start(manual_config(cluster));
  NodeEvents server_events(server);
  auto held = std::make_shared<Held>(co_await asio::this_coro::executor);
  server.serve("slow", held_echo(held));
  const auto peer = co_await client.connect(dial_addr(server));
  RequestOptions options;
  options.timeout = std::chrono::seconds(1);
  const wire::Bytes request_payload = bytes_of("late");  // outlives the lazy request
  auto request = client.request(peer, "slow", request_payload, options);
  auto moving_time = [&]() -> asio::awaitable<void> {
    co_await held->started.wait();
    cluster.manual_clock().advance(kSecond + 1);
    co_await held->release.wait();  // (not set yet: the request's end cancels this)
  };
  auto outcome = co_await (std::move(request) || moving_time());
  EXPECT_EQ(outcome.index(), 0u);
  if (outcome.index() == 0) {
    EXPECT_EQ(reason_of(std::get<0>(outcome)), "timeout");
  }
  // The awaiting call completed its token: no Timeout event will report it again.
  EXPECT_EQ(client.tables().requests().size(), 0u);
  // Now the server answers: the client refuses the answer and counts it, nobody receives it.
  held->release.set();
  const auto refused = co_await server_events.wait<SendFailed>(
      [](const SendFailed& e) { return e.reason == reason::unknown_request; });
  EXPECT_TRUE(refused.has_value());
  EXPECT_EQ(client.metrics().dropped("rx:unknown_request"), 1u);
  EXPECT_FALSE(client.try_receive("/component/0/op/slow"));
}

TEST(NodeRequest, TimeoutThenLateResponseRefused) {
  run_scenario(timeout_then_late_response_refused);
}

// A request whose caller stopped awaiting it is reported once, as a Timeout event, when its
// deadline passes.
asio::awaitable<void> abandoned_request_emits_one_timeout(Cluster& cluster) {
  Node& server = *co_await cluster.start();
  Node& client = *co_await cluster.start(manual_config(cluster));
  NodeEvents client_events(client);
  auto held = std::make_shared<Held>(co_await asio::this_coro::executor);
  server.serve("slow", held_echo(held));
  const auto peer = co_await client.connect(dial_addr(server));
  RequestOptions options;
  options.timeout = std::chrono::seconds(2);
  const wire::Bytes request_payload = bytes_of("abandon me");  // outlives the lazy request
  auto request = client.request(peer, "slow", request_payload, options);
  auto started = held->started.wait();
  auto outcome = co_await (std::move(request) || std::move(started));
  EXPECT_EQ(outcome.index(), 1u);  // the handler started, so the request was abandoned
  EXPECT_EQ(client.tables().requests().size(), 1u);
  cluster.manual_clock().advance(3 * kSecond);
  const auto timeout = co_await client_events.wait<Timeout>();
  EXPECT_TRUE(timeout.has_value());
  if (timeout) {
    EXPECT_EQ(timeout->peer, peer);
  }
  EXPECT_EQ(client.tables().requests().size(), 0u);
  cluster.manual_clock().advance(3 * kSecond);
  EXPECT_EQ(client_events.count<Timeout>(), 0u);  // (the one above was taken from the log)
  held->release.set();
}

TEST(NodeRequest, AbandonedRequestEmitsOneTimeout) {
  run_scenario(abandoned_request_emits_one_timeout);
}

// Both on virtual time: the server's handler outlives the request's budget, so the server drops
// it unanswered.
asio::awaitable<void> server_drops_expired_request(Cluster& cluster) {
  Node& server = *co_await cluster.start(manual_config(cluster));
  Node& client = *co_await cluster.start(manual_config(cluster));
  auto held = std::make_shared<Held>(co_await asio::this_coro::executor);
  server.serve("slow", held_echo(held));
  const auto peer = co_await client.connect(dial_addr(server));
  RequestOptions options;
  options.timeout = std::chrono::seconds(1);
  const wire::Bytes request_payload = bytes_of("too late");  // outlives the lazy request
  auto request = client.request(peer, "slow", request_payload, options);
  auto moving_time = [&]() -> asio::awaitable<void> {
    co_await held->started.wait();
    cluster.manual_clock().advance(2 * kSecond);
    co_await held->release.wait();
  };
  auto outcome = co_await (std::move(request) || moving_time());
  EXPECT_EQ(outcome.index(), 0u);
  if (outcome.index() == 0) {
    EXPECT_EQ(reason_of(std::get<0>(outcome)), "timeout");
  }
  held->release.set();
  EXPECT_TRUE(co_await eventually(
      [&server] { return server.metrics().dropped("rx:deadline_exceeded") == 1; }));
  EXPECT_EQ(client.metrics().dropped("rx:unknown_request"), 0u);  // nothing was sent back
}

TEST(NodeRequest, ServerDropsExpiredRequest) {
  run_scenario(server_drops_expired_request);
}

// ---- stopping ----------------------------------------------------------------------------------

// The server stops while its handler runs: the drain waits for the handler and its answer goes
// out; a request that arrives during the drain is refused `stopped`.
asio::awaitable<void> stop_answers_running_requests(Cluster& cluster) {
  Node& server = *co_await cluster.start();
  Node& client = *co_await cluster.start();
  auto held = std::make_shared<Held>(co_await asio::this_coro::executor);
  server.serve("slow", held_echo(held));
  const auto peer = co_await client.connect(dial_addr(server));
  const wire::Bytes first_payload = bytes_of("first");  // outlive the lazy requests
  const wire::Bytes second_payload = bytes_of("second");
  RequestResult first;
  RequestResult second;
  auto asking = [&]() -> asio::awaitable<void> {
    first = co_await client.request(peer, "slow", first_payload);
  };
  auto stopping = [&]() -> asio::awaitable<void> { co_await server.stop(); };
  auto asking_late_then_releasing = [&]() -> asio::awaitable<void> {
    second = co_await client.request(peer, "slow", second_payload);
    held->release.set();
  };
  auto stopping_meanwhile = [&]() -> asio::awaitable<void> {
    co_await held->started.wait();
    // stop() begins first (it runs until its drain waits), so the late request meets a drain.
    co_await (stopping() && asking_late_then_releasing());
  };
  co_await (asking() && stopping_meanwhile());
  EXPECT_TRUE(first.ok()) << reason_of(first) << ": "
                          << (first.failure ? first.failure->detail : "");
  if (first.ok()) {
    EXPECT_EQ(wire::copy_of(first.response->payload), first_payload);
  }
  EXPECT_EQ(reason_of(second), "stopped");
  EXPECT_EQ(held->running, 1u);  // the late request never reached the handler
}

TEST(NodeRequest, StopAnswersTheRequestsItsHandlersAreServing) {
  run_scenario(stop_answers_running_requests);
}

// A handler that outlives the drain (NodeConfig::drain_timeout on the server's virtual clock) is
// cancelled when the drain gives up, and stop() returns; the client's request fails
// `connection_lost` when the server's connection closes.
asio::awaitable<void> drain_timeout_cancels_handlers(Cluster& cluster) {
  Node& server = *co_await cluster.start(manual_config(cluster));
  Node& client = *co_await cluster.start();
  auto held = std::make_shared<Held>(co_await asio::this_coro::executor);
  server.serve("stuck", held_echo(held));
  const auto peer = co_await client.connect(dial_addr(server));
  const wire::Bytes payload = bytes_of("never answered");  // outlives the lazy request
  RequestResult result;
  auto asking = [&]() -> asio::awaitable<void> {
    result = co_await client.request(peer, "stuck", payload);
  };
  auto stopping = [&]() -> asio::awaitable<void> { co_await server.stop(); };
  auto moving_time = [&]() -> asio::awaitable<void> {
    // stop() is draining now (it ran until its drain waited): let the drain time run out.
    cluster.manual_clock().advance(std::chrono::nanoseconds(NodeConfig{}.drain_timeout).count() +
                                   1);
    co_return;
  };
  auto stopping_when_started = [&]() -> asio::awaitable<void> {
    co_await held->started.wait();
    co_await (stopping() && moving_time());
  };
  co_await (asking() && stopping_when_started());
  // The server closed the connection: the client is told at once, not at its request's timeout.
  EXPECT_EQ(reason_of(result), "connection_lost");
  EXPECT_EQ(held->running, 1u);
}

TEST(NodeRequest, ADrainThatTimesOutCancelsTheHandlers) {
  run_scenario(drain_timeout_cancels_handlers);
}

// ---- misbehaving peers ------------------------------------------------------------------------

// A wire::Host writing raw envelopes on one /bb/wire/1.0.0 stream, never reading its receipts.
class HandMadePeer {
 public:
  explicit HandMadePeer(const asio::any_io_executor& executor)
      : host_(executor, wire::Ed25519KeyPair::generate(), quiet()) {}

  asio::awaitable<void> open(const wire::Multiaddr& to) {
    auto conn = co_await host_.connect(to);
    std::vector<std::string> protocols{std::string(wire::bb_wire::kProtocolId)};
    stream_.emplace(co_await conn.open_stream(std::move(protocols)));
  }

  asio::awaitable<void> write(const wire::Bytes& frames) { co_await stream_->write(frames); }

  asio::awaitable<void> stop() {
    if (stream_) stream_->reset();
    stream_.reset();
    co_await host_.stop();
  }

 private:
  static wire::HostOptions quiet() {
    wire::HostOptions options;
    options.identify_peers = false;
    return options;
  }

  wire::Host host_;
  std::optional<wire::Stream> stream_;
};

void append_raw(wire::Bytes& out, std::uint32_t kind, std::uint64_t id, std::string_view service,
                std::uint64_t budget_ns) {
  const auto suffix = service_suffix(service).value();
  static const wire::Bytes payload(256, 0x5a);
  wire::SingleFillEnvelope env;
  env.dest_suffix = suffix.bytes();
  env.payload = payload;
  env.correlation_kind = kind;
  env.wire_req_id = id;
  env.remaining_deadline_ns = budget_ns;
  wire::append_envelope_frame(out, env);
}

// A peer floods a node with responses under made-up tokens and with requests to a service that
// never answers; the node refuses the responses (counted), holds at most 64 of the requests at
// once, and another peer's request still gets its answer meanwhile.
asio::awaitable<void> flood_costs_bounded_memory(Cluster& cluster) {
  Node& victim = *co_await cluster.start();
  Node& honest = *co_await cluster.start();
  auto held = std::make_shared<Held>(co_await asio::this_coro::executor);
  victim.serve("echo", echo);
  victim.serve("sink", held_echo(held));
  HandMadePeer attacker(co_await asio::this_coro::executor);
  std::exception_ptr failure;
  try {
    co_await attacker.open(dial_addr(victim));
    std::mt19937_64 random(42);
    constexpr std::size_t kResponses = 2000;
    constexpr std::size_t kRequests = 300;
    wire::Bytes frames;
    for (std::size_t i = 0; i < kResponses; ++i) {
      append_raw(frames, 2, random() | 1, "echo", 10 * kSecond);
    }
    for (std::size_t i = 0; i < kRequests; ++i) {
      append_raw(frames, 1, i + 1, "sink", 10 * kSecond);
    }
    co_await attacker.write(frames);
    EXPECT_TRUE(co_await eventually([&victim, &held] {
      return victim.metrics().dropped("rx:unknown_request") == kResponses &&
             held->running == kServedAtOnce;
    }));
    const auto peer = co_await honest.connect(dial_addr(victim));
    const RequestResult r = co_await honest.request(peer, "echo", bytes_of("still served"));
    EXPECT_TRUE(r.ok()) << reason_of(r);
    if (r.ok()) {
      EXPECT_EQ(text_of(r.response->payload), "still served");
    }
    EXPECT_EQ(held->running, kServedAtOnce);  // the rest wait on the attacker's stream
    EXPECT_EQ(victim.tables().requests().size(), 0u);
  } catch (...) {
    failure = std::current_exception();
  }
  held->release.set();
  co_await attacker.stop();
  if (failure) std::rethrow_exception(failure);
}

TEST(NodeRequest, FloodCostsBoundedMemory) {
  run_scenario(flood_costs_bounded_memory);
}

}  // namespace
}  // namespace bb::node

// Host over real loopback sockets: connecting, identify, ping, perf, envelopes, one connection
// per peer (repeated, concurrent and simultaneous dials), limits and stop().
#include "wire/host.hpp"
#include "wire/frame.hpp"
#include "wire/receipt.hpp"

#include "proto/bb_core.pb.h"
#include "tests/wire/host_fixture.hpp"
#include "wire/protocols/identify.hpp"
#include "wire/protocols/perf.hpp"
#include "wire/protocols/ping.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using host_test::code_of;
using host_test::dial_addr;
using host_test::EventLog;
using host_test::kEventWait;
using host_test::kTestLimit;
using host_test::loopback;
using host_test::pings;
using host_test::run_then_stop;

const std::vector<std::string> kAllProtocols{"/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/bb/wire/1.0.0",
                                             "/perf/1.0.0"};

using TwoHosts = asio::awaitable<void> (*)(Host& a, Host& b);

// Two hosts with fresh identities, stopped when `scenario` ends however it ends.
asio::awaitable<void> two_hosts(TwoHosts scenario, HostOptions options_a, HostOptions options_b) {
  auto ex = co_await asio::this_coro::executor;
  Host a(ex, Ed25519KeyPair::generate(), std::move(options_a));
  Host b(ex, Ed25519KeyPair::generate(), std::move(options_b));
  co_await run_then_stop(scenario(a, b), a, b);
}

asio::awaitable<void> two_hosts(TwoHosts scenario) {
  co_await two_hosts(scenario, HostOptions(), HostOptions());
}

core::WireEnvelope sample_envelope(std::uint64_t request_id) {
  core::WireEnvelope env;
  auto* fill = env.add_fills();
  fill->set_dest_suffix("/site/7");
  fill->set_payload("payload #" + std::to_string(request_id));
  fill->set_type_hash(0xabcd);
  auto* trigger = env.add_fills();
  trigger->set_dest_suffix("/component/2/op/run");
  trigger->set_trigger_only(true);
  env.mutable_correlation()->set_kind(core::CORRELATION_KIND_REQUEST);
  env.mutable_correlation()->set_wire_req_id(request_id);
  env.set_remaining_deadline_ns(250'000'000);
  env.set_schema_version(kEnvelopeSchemaVersion);  // what the receiver decodes
  return env;
}

// ---- connect, identify, ping, perf ----------------------------------------------------------

asio::awaitable<void> connect_identify_ping_perf(Host& a, Host& b) {
  EventLog a_events(a);
  EventLog b_events(b);
  const Multiaddr a_addr = a.listen(loopback());
  EXPECT_NE(a_addr.tcp_port(), std::optional<std::uint16_t>(0));

  Connection conn = co_await b.connect(dial_addr(a));
  EXPECT_EQ(conn.remote_peer(), a.peer_id());
  EXPECT_EQ(conn.direction(), Direction::outbound);
  EXPECT_EQ(conn.remote_addr(), a_addr);

  if (auto up = co_await b_events.wait<PeerConnected>()) {
    EXPECT_EQ(up->peer, a.peer_id());
    EXPECT_EQ(up->addr, a_addr);
    EXPECT_EQ(up->direction, Direction::outbound);
  }
  if (auto up = co_await a_events.wait<PeerConnected>()) {
    EXPECT_EQ(up->peer, b.peer_id());
    EXPECT_EQ(up->addr, conn.local_addr());
    EXPECT_EQ(up->direction, Direction::inbound);
  }

  // Each side asked the other who it is.
  if (auto known = co_await a_events.wait<PeerIdentified>()) {
    EXPECT_EQ(known->peer, b.peer_id());
    EXPECT_EQ(known->info.agent_version, "bb/0.1.0");
    EXPECT_EQ(known->info.protocol_version, "ipfs/0.1.0");
    EXPECT_EQ(known->info.protocols, kAllProtocols);
    EXPECT_EQ(known->info.public_key, b.identity().public_key().to_protobuf());
    EXPECT_TRUE(known->info.listen_addrs.empty());  // b does not listen
    EXPECT_EQ(known->info.observed_addr, std::optional<Multiaddr>(a_addr));
  }
  if (auto known = co_await b_events.wait<PeerIdentified>()) {
    EXPECT_EQ(known->peer, a.peer_id());
    EXPECT_EQ(known->info.agent_version, "bb/0.1.0");
    EXPECT_EQ(known->info.protocols, kAllProtocols);
    EXPECT_EQ(known->info.public_key, a.identity().public_key().to_protobuf());
    EXPECT_EQ(known->info.listen_addrs, a.listen_addrs());
    EXPECT_EQ(known->info.observed_addr, std::optional<Multiaddr>(conn.local_addr()));
  }
  EXPECT_EQ(b.protocols(), kAllProtocols);

  const auto rtt = co_await ping::ping(conn, kEventWait);
  EXPECT_GT(rtt.count(), 0);
  const auto back = co_await pings(a, b.peer_id());
  EXPECT_TRUE(back);

  const identify::Info info = co_await identify::request(conn, kEventWait);
  EXPECT_EQ(info.listen_addrs, a.listen_addrs());
  EXPECT_EQ(info.observed_addr, std::optional<Multiaddr>(conn.local_addr()));

  const perf::Result result =
      co_await perf::run(conn, std::uint64_t{1} << 20, std::uint64_t{2} << 20);
  EXPECT_EQ(result.uploaded, std::uint64_t{1} << 20);
  EXPECT_EQ(result.downloaded, std::uint64_t{2} << 20);

  EXPECT_EQ(a.connection_count(), 1u);
  EXPECT_EQ(b.connection_count(), 1u);
  EXPECT_EQ(a_events.count<PeerDisconnected>() + b_events.count<PeerDisconnected>(), 0u);
  EXPECT_EQ(a_events.count<StreamFailed>() + b_events.count<StreamFailed>(), 0u)
      << a_events.dump() << b_events.dump();
}

TEST(Host, ConnectIdentifyPingAndPerfBetweenTwoHosts) {
  test::run_async(two_hosts(&connect_identify_ping_perf), kTestLimit);
}

// ---- envelopes ------------------------------------------------------------------------------

// Writes envelopes on a /bb/wire/1.0.0 stream by hand and reads the receipts (wire/receipt.hpp).
asio::awaitable<Stream> open_wire(Host& from, const PeerId& to) {
  auto conn = from.connection(to);
  if (!conn)
    throw boost::system::system_error(make_error_code(errc::peer_unreachable), "not connected");
  std::vector<std::string> protocols{std::string(kBbWireProtocol)};
  co_return co_await conn->open_stream(std::move(protocols));
}

asio::awaitable<void> write_envelope(Stream& stream, const core::WireEnvelope& env) {
  Bytes frame;
  encode_envelope_frame(env, frame);
  co_await stream.write(frame);
}

// Reads receipts until they cover `count` envelopes; returns how many were accepted.
asio::awaitable<std::uint64_t> read_receipts(Stream& stream, std::uint64_t count) {
  FrameReader reader(kMaxReceiptBody);
  std::uint64_t covered = 0;
  std::uint64_t accepted = 0;
  while (covered < count) {
    const std::size_t n = co_await stream.read_some(reader.prepare(256));
    if (n == 0) break;
    reader.commit(n);
    while (true) {
      auto frame = reader.next();
      EXPECT_TRUE(frame);
      if (!frame || !*frame) break;
      auto receipt = decode_receipt(**frame);
      EXPECT_TRUE(receipt);
      if (!receipt) co_return accepted;
      covered += receipt->count;
      if (receipt->reason.empty()) accepted += receipt->count;
    }
  }
  EXPECT_EQ(covered, count);
  co_return accepted;
}

asio::awaitable<void> envelopes_arrive_in_order(Host& a, Host& b) {
  EventLog a_events(a);
  a.listen(loopback());
  (void)co_await b.connect(dial_addr(a));
  auto stream = co_await open_wire(b, a.peer_id());

  const core::WireEnvelope sent = sample_envelope(42);
  co_await write_envelope(stream, sent);
  if (auto got = co_await a_events.wait<EnvelopeReceived>()) {
    EXPECT_EQ(got->peer, b.peer_id());
    const core::WireEnvelope& env = *got->envelope;
    EXPECT_EQ(env.fills_size(), 2);
    if (env.fills_size() == 2) {
      EXPECT_EQ(env.fills(0).dest_suffix(), "/site/7");
      EXPECT_EQ(env.fills(0).payload(), "payload #42");
      EXPECT_EQ(env.fills(0).type_hash(), 0xabcdu);
      EXPECT_FALSE(env.fills(0).trigger_only());
      EXPECT_EQ(env.fills(1).dest_suffix(), "/component/2/op/run");
      EXPECT_TRUE(env.fills(1).trigger_only());
    }
    EXPECT_EQ(env.correlation().kind(), core::CORRELATION_KIND_REQUEST);
    EXPECT_EQ(env.correlation().wire_req_id(), 42u);
    EXPECT_EQ(env.remaining_deadline_ns(), 250'000'000u);
    EXPECT_EQ(env.SerializeAsString(), sent.SerializeAsString());  // nothing else changed
  }

  constexpr std::uint64_t kCount = 1000;
  for (std::uint64_t i = 0; i < kCount; ++i) co_await write_envelope(stream, sample_envelope(i));
  std::uint64_t in_order = 0;
  for (std::uint64_t i = 0; i < kCount; ++i) {
    auto got = co_await a_events.wait<EnvelopeReceived>();
    if (!got) break;
    if (got->envelope->correlation().wire_req_id() == i) ++in_order;
  }
  EXPECT_EQ(in_order, kCount);
  // Without a handler the Host accepts every envelope: one receipt stream covers all of them.
  EXPECT_EQ(co_await read_receipts(stream, kCount + 1), kCount + 1);

  // All of them went over one /bb/wire/1.0.0 stream (identify is off, so it is the only one).
  const auto from_b = b.connection(a.peer_id());
  const auto to_a = a.connection(b.peer_id());
  EXPECT_TRUE(from_b && to_a);
  if (from_b && to_a) {
    EXPECT_EQ(from_b->stream_count(), 1u);
    EXPECT_EQ(to_a->stream_count(), 1u);
  }
  EXPECT_EQ(a_events.count<StreamFailed>(), 0u) << a_events.dump();
}

TEST(Host, EnvelopesArriveIntactAndInOrderOnOneStream) {
  HostOptions quiet;
  quiet.identify_peers = false;
  test::run_async(two_hosts(&envelopes_arrive_in_order, quiet, quiet), kTestLimit);
}

// A handler's refusals come back as receipts with its reason labels, in order.
asio::awaitable<void> handler_refusals_come_back(Host& a, Host& b) {
  a.set_envelope_handler([](const PeerId&, std::shared_ptr<const core::WireEnvelope> env,
                            std::size_t) -> asio::awaitable<std::string_view> {
    co_return env->correlation().wire_req_id() % 3 == 0 ? std::string_view("duplicate")
                                                        : std::string_view{};
  });
  a.listen(loopback());
  (void)co_await b.connect(dial_addr(a));
  auto stream = co_await open_wire(b, a.peer_id());
  for (std::uint64_t i = 1; i <= 9; ++i) co_await write_envelope(stream, sample_envelope(i));
  EXPECT_EQ(co_await read_receipts(stream, 9), 6u);  // 3, 6 and 9 refused
}

TEST(Host, EnvelopeHandlerRefusalsComeBackAsReceipts) {
  HostOptions quiet;
  quiet.identify_peers = false;
  test::run_async(two_hosts(&handler_refusals_come_back, quiet, quiet), kTestLimit);
}

// ---- one connection per peer ----------------------------------------------------------------

asio::awaitable<void> connecting_again_reuses(Host& a, Host& b) {
  EventLog a_events(a);
  EventLog b_events(b);
  a.listen(loopback());
  Connection first = co_await b.connect(dial_addr(a));
  Connection again = co_await b.connect(dial_addr(a));
  EXPECT_TRUE(first == again);
  EXPECT_EQ(b.connection_count(), 1u);
  const auto ok = co_await pings(b, a.peer_id());  // a answers, so it has registered b
  EXPECT_TRUE(ok);
  EXPECT_EQ(a.connection_count(), 1u);

  // An address that only names the peer finds the connection it dialed us on.
  Connection reverse = co_await a.connect(Multiaddr::from_peer_id(b.peer_id()));
  EXPECT_EQ(reverse.direction(), Direction::inbound);
  EXPECT_EQ(reverse.remote_addr(), first.local_addr());
  EXPECT_EQ(a.connection_count(), 1u);
  EXPECT_EQ(a_events.count<PeerConnected>(), 1u) << a_events.dump();
  EXPECT_EQ(b_events.count<PeerConnected>(), 1u) << b_events.dump();
}

TEST(Host, ConnectingToAConnectedPeerReturnsTheSameConnection) {
  test::run_async(two_hosts(&connecting_again_reuses), kTestLimit);
}

asio::awaitable<Connection> accept_one(TcpListener& listener, const Ed25519KeyPair& identity) {
  auto socket = co_await listener.accept();
  co_return co_await Connection::upgrade(std::move(socket), Direction::inbound, identity,
                                         std::nullopt, ConnectionOptions());
}

asio::awaitable<std::pair<Connection, Connection>> connect_twice(Host& host, Multiaddr addr) {
  auto [first, second] = co_await (host.connect(addr) && host.connect(addr));
  co_return std::pair<Connection, Connection>(std::move(first), std::move(second));
}

asio::awaitable<void> concurrent_connects_share_one_dial(Host& b, Host& /*unused*/) {
  auto ex = co_await asio::this_coro::executor;
  const auto a_key = Ed25519KeyPair::generate();
  auto listener = TcpListener::listen(ex, loopback());
  const Multiaddr addr = listener.local_addr().with_peer_id(a_key.peer_id());
  // This listener completes one handshake only: a second dial would never finish, and the two
  // connect() calls would run into the time limit.
  auto [server, both] = co_await (accept_one(listener, a_key) &&
                                  detail::with_timeout(connect_twice(b, addr), kEventWait,
                                                       make_error_code(asio::error::timed_out),
                                                       "two concurrent connects"));
  EXPECT_TRUE(both.first == both.second);
  EXPECT_EQ(both.first.remote_peer(), a_key.peer_id());
  EXPECT_EQ(server.remote_peer(), b.peer_id());
  EXPECT_EQ(server.remote_addr(), both.first.local_addr());
  EXPECT_EQ(b.connection_count(), 1u);
  server.close();
  listener.close();
}

TEST(Host, ConcurrentConnectsToOnePeerShareOneDial) {
  test::run_async(two_hosts(&concurrent_connects_share_one_dial), kTestLimit);
}

asio::awaitable<void> simultaneous_dials_merge(Host& a, Host& b) {
  EventLog a_events(a);
  EventLog b_events(b);
  a.listen(loopback());
  b.listen(loopback());
  auto [from_a, from_b] = co_await (a.connect(dial_addr(b)) && b.connect(dial_addr(a)));
  EXPECT_EQ(from_a.remote_peer(), b.peer_id());
  EXPECT_EQ(from_b.remote_peer(), a.peer_id());

  // Both ends keep the connection the smaller PeerId dialed. Its dialer's connect() returned
  // it; a ping over it proves the other end has registered it too.
  const bool a_smaller = a.peer_id() < b.peer_id();
  Host& small = a_smaller ? a : b;
  Host& large = a_smaller ? b : a;
  const Connection& dialed_by_small = a_smaller ? from_a : from_b;
  const auto ok = co_await pings(small, large.peer_id());
  EXPECT_TRUE(ok);

  const auto on_small = small.connection(large.peer_id());
  const auto on_large = large.connection(small.peer_id());
  EXPECT_TRUE(on_small && on_large);
  if (on_small && on_large) {
    EXPECT_TRUE(*on_small == dialed_by_small);
    EXPECT_EQ(on_small->direction(), Direction::outbound);
    EXPECT_EQ(on_large->direction(), Direction::inbound);
    // The same TCP connection, seen from both ends.
    EXPECT_EQ(on_small->local_addr(), on_large->remote_addr());
    EXPECT_EQ(on_small->remote_addr(), on_large->local_addr());
  }
  EXPECT_EQ(a.connection_count(), 1u);
  EXPECT_EQ(b.connection_count(), 1u);
  const auto back = co_await pings(large, small.peer_id());
  EXPECT_TRUE(back);
  // The merge is silent: one PeerConnected each, and the dropped duplicate is no disconnect.
  EXPECT_EQ(a_events.count<PeerConnected>(), 1u) << a_events.dump();
  EXPECT_EQ(b_events.count<PeerConnected>(), 1u) << b_events.dump();
  EXPECT_EQ(a_events.count<PeerDisconnected>() + b_events.count<PeerDisconnected>(), 0u);
}

TEST(Host, SimultaneousDialsMergeIntoOneConnection) {
  // Which handshake finishes first on each side varies from run to run; a few rounds see more
  // of the orders.
  for (int round = 0; round < 5; ++round) {
    test::run_async(two_hosts(&simultaneous_dials_merge), kTestLimit);
  }
}

// Identify runs when a peer's first connection is registered. After a simultaneous dial one side
// usually registered the connection that loses the merge first, and its identify dies with it:
// both sides must still learn who the other is.
asio::awaitable<void> simultaneous_dials_identify(Host& a, Host& b) {
  EventLog a_events(a);
  EventLog b_events(b);
  a.listen(loopback());
  b.listen(loopback());
  (void)co_await (a.connect(dial_addr(b)) && b.connect(dial_addr(a)));
  auto any = [](const PeerIdentified&) { return true; };
  auto a_knows = co_await a_events.wait<PeerIdentified>(any, 500ms);
  EXPECT_TRUE(a_knows && a_knows->peer == b.peer_id()) << "a never identified b";
  auto b_knows = co_await b_events.wait<PeerIdentified>(any, 500ms);
  EXPECT_TRUE(b_knows && b_knows->peer == a.peer_id()) << "b never identified a";
}

TEST(Host, SimultaneousDialsStillIdentifyBothPeers) {
  for (int round = 0; round < 3; ++round) {
    test::run_async(two_hosts(&simultaneous_dials_identify), kTestLimit);
  }
}

asio::awaitable<void> dialing_itself_is_refused(Host& a, Host& /*unused*/) {
  a.listen(loopback());
  auto outcome = co_await detail::capture(a.connect(dial_addr(a)));
  EXPECT_TRUE(outcome.error);
  if (outcome.error) {
    EXPECT_EQ(code_of(outcome.error), errc::peer_unreachable);
  }
  EXPECT_EQ(a.connection_count(), 0u);
}

TEST(Host, DialingItselfIsRefused) {
  test::run_async(two_hosts(&dialing_itself_is_refused), kTestLimit);
}

// ---- limits ---------------------------------------------------------------------------------

asio::awaitable<void> connection_limit(Host& a, Host& b, Host& c) {
  EventLog a_events(a);
  EventLog c_events(c);
  a.listen(loopback());
  (void)co_await b.connect(dial_addr(a));
  if (auto up = co_await a_events.wait<PeerConnected>()) {
    EXPECT_EQ(up->peer, b.peer_id());
  }

  auto refused = co_await detail::capture(c.connect(dial_addr(a)));
  EXPECT_TRUE(refused.error) << "a second peer got past max_connections = 1";
  if (auto failed = co_await c_events.wait<DialFailed>()) {
    EXPECT_EQ(failed->addr, dial_addr(a));
    EXPECT_TRUE(failed->error);
    if (refused.error) {
      EXPECT_EQ(failed->error, code_of(refused.error));
    }
  }
  if (auto limit = co_await a_events.wait<InboundFailed>()) {
    EXPECT_EQ(limit->error, errc::connection_limit) << limit->detail;
  }
  EXPECT_EQ(c.connection_count(), 0u);
  EXPECT_EQ(a.connection_count(), 1u);
  const auto there = co_await pings(b, a.peer_id());
  EXPECT_TRUE(there);
  const auto back = co_await pings(a, b.peer_id());
  EXPECT_TRUE(back);
  EXPECT_EQ(a_events.count<PeerDisconnected>(), 0u) << a_events.dump();
}

TEST(Host, ConnectionLimitRefusesAnotherPeerAndKeepsTheFirst) {
  test::run_async(
      []() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        HostOptions one;
        one.max_connections = 1;
        Host a(ex, Ed25519KeyPair::generate(), one);
        Host b(ex, Ed25519KeyPair::generate());
        Host c(ex, Ed25519KeyPair::generate());
        co_await run_then_stop(connection_limit(a, b, c), a, b, c);
      }(),
      kTestLimit);
}

asio::awaitable<void> pending_handshake_limit(Host& a, Host& b) {
  EventLog a_events(a);
  const Multiaddr a_addr = a.listen(loopback());
  // The first client says nothing and holds the only handshake slot; the host accepts in
  // arrival order, so the second is the one refused.
  tcp::socket silent = co_await tcp_connect(a_addr, kEventWait);
  tcp::socket second = co_await tcp_connect(a_addr, kEventWait);
  const Multiaddr silent_from = to_multiaddr(silent.local_endpoint());
  const Multiaddr second_from = to_multiaddr(second.local_endpoint());
  auto refused = co_await a_events.wait<InboundFailed>(
      [&second_from](const InboundFailed& e) { return e.from == second_from; });
  if (refused) {
    EXPECT_EQ(refused->error, errc::connection_limit) << refused->detail;
  }

  // Once the silent client leaves, its slot is free again.
  silent.close();
  auto left = co_await a_events.wait<InboundFailed>(
      [&silent_from](const InboundFailed& e) { return e.from == silent_from; });
  if (left) {
    EXPECT_EQ(left->error, asio::error::eof) << left->detail;
  }
  (void)co_await b.connect(dial_addr(a));
  const auto ok = co_await pings(b, a.peer_id());
  EXPECT_TRUE(ok);
}

TEST(Host, PendingHandshakeLimitRefusesExtraClientsUntilASlotFrees) {
  HostOptions one_pending;
  one_pending.max_pending_inbound = 1;
  test::run_async(two_hosts(&pending_handshake_limit, one_pending, HostOptions()), kTestLimit);
}

// ---- stop -----------------------------------------------------------------------------------

// a does not identify its peers, so it has few events queued when it stops.
asio::awaitable<void> stop_drains_then_ends(Host& a, Host& b) {
  EventLog b_events(b);
  a.listen(loopback());
  (void)co_await b.connect(dial_addr(a));
  const auto ok = co_await pings(b, a.peer_id());  // a has queued PeerConnected by now
  EXPECT_TRUE(ok);
  // Let the exchanges finish first, so that the close is the only thing in flight.
  const auto known = co_await b_events.wait<PeerIdentified>();
  EXPECT_TRUE(known);

  co_await a.stop();
  // Events queued before stop() are still delivered, then the stream of events ends.
  std::vector<HostEvent> drained;
  while (drained.size() < 100) {
    auto next = co_await detail::with_timeout(a.next_event(), kEventWait,
                                              make_error_code(asio::error::timed_out),
                                              "next_event after stop");
    if (!next) break;
    drained.push_back(std::move(*next));
  }
  // PeerConnected, then (stop() closed it) possibly a's own clean PeerDisconnected for b.
  EXPECT_GE(drained.size(), 1u);
  EXPECT_LE(drained.size(), 2u);
  if (!drained.empty()) {
    const auto* first = std::get_if<PeerConnected>(&drained.front());
    EXPECT_TRUE(first != nullptr && first->peer == b.peer_id())
        << host_test::describe(drained.front());
  }
  if (drained.size() == 2) {
    const auto* second = std::get_if<PeerDisconnected>(&drained[1]);
    EXPECT_TRUE(second != nullptr && second->peer == b.peer_id() && !second->reason)
        << host_test::describe(drained[1]);
  }
  EXPECT_FALSE((co_await a.next_event()).has_value());
  EXPECT_FALSE(a.try_next_event().has_value());
  EXPECT_FALSE(a.connection(b.peer_id()).has_value());
  EXPECT_EQ(a.connection_count(), 0u) << "connections of a stopped host are still counted";

  if (auto gone = co_await b_events.wait<PeerDisconnected>()) {
    EXPECT_EQ(gone->peer, a.peer_id());
    EXPECT_FALSE(gone->reason) << gone->reason.message();
  }
  EXPECT_EQ(b.connection_count(), 0u);
  // The stopped host no longer listens.
  auto late = co_await detail::capture(b.connect(dial_addr(a)));
  EXPECT_TRUE(late.error);
}

TEST(Host, StopDeliversQueuedEventsThenEndsAndPeersSeeTheDisconnect) {
  HostOptions no_identify;
  no_identify.identify_peers = false;
  test::run_async(two_hosts(&stop_drains_then_ends, no_identify, HostOptions()), kTestLimit);
}

asio::awaitable<std::uint64_t> read_to_end(Stream& stream) {
  std::vector<std::uint8_t> buf(std::size_t{1} << 20);
  std::uint64_t total = 0;
  while (true) {
    const std::size_t n = co_await stream.read_some(buf);
    if (n == 0) co_return total;
    total += n;
  }
}

asio::awaitable<void> stop_during_transfer(Host& a, Host& b) {
  EventLog b_events(b);
  a.listen(loopback());
  Connection conn = co_await b.connect(dial_addr(a));
  std::vector<std::string> protocols{std::string(perf::kProtocolId)};
  Stream stream = co_await conn.open_stream(std::move(protocols));
  constexpr std::uint64_t kRequested = std::uint64_t{1} << 30;  // far more than is read
  std::array<std::uint8_t, 8> request{};
  for (std::size_t i = 0; i < request.size(); ++i) {
    request[i] = static_cast<std::uint8_t>(kRequested >> (56 - 8 * i));
  }
  co_await stream.write(request);
  stream.close_write();
  Bytes first(std::size_t{1} << 20);
  co_await stream.read_exact(first);  // the download is under way

  // a's perf task is writing while a stops; b keeps reading until the connection goes.
  const auto started = std::chrono::steady_clock::now();
  auto rest = co_await (detail::capture(read_to_end(stream)) && a.stop());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_TRUE(rest.error) << "the download ended cleanly although its server stopped";
  if (rest.error) {
    // The connection ended under the stream: closed (FIN), or reset when a's socket closed
    // with b's window updates unread.
    const auto code = code_of(rest.error);
    EXPECT_TRUE(code == errc::yamux_session_closed || code == asio::error::connection_reset)
        << code.message();
  }
  if (auto gone = co_await b_events.wait<PeerDisconnected>()) {
    EXPECT_EQ(gone->peer, a.peer_id());
  }
}

TEST(Host, StopReturnsWhileATransferIsInFlight) {
  test::run_async(two_hosts(&stop_during_transfer), kTestLimit);
}

asio::awaitable<void> peer_stop_is_noticed(Host& a, Host& b) {
  EventLog a_events(a);
  a.listen(loopback());
  (void)co_await b.connect(dial_addr(a));
  EventLog b_events(b);
  if (auto up = co_await a_events.wait<PeerConnected>()) {
    EXPECT_EQ(up->peer, b.peer_id());
  }
  // Let both identify exchanges finish, so that the close is the only thing in flight.
  const auto a_knows = co_await a_events.wait<PeerIdentified>();
  const auto b_knows = co_await b_events.wait<PeerIdentified>();
  EXPECT_TRUE(a_knows && b_knows);
  co_await b.stop();
  if (auto gone = co_await a_events.wait<PeerDisconnected>()) {
    EXPECT_EQ(gone->peer, b.peer_id());
    EXPECT_FALSE(gone->reason) << gone->reason.message();  // a clean close
  }
  EXPECT_EQ(a.connection_count(), 0u);
  EXPECT_FALSE(a.connection(b.peer_id()).has_value());
}

TEST(Host, APeerThatStopsIsReportedDisconnected) {
  test::run_async(two_hosts(&peer_stop_is_noticed), kTestLimit);
}

}  // namespace
}  // namespace bb::wire

// A Host against tests/support/hostile_peer.hpp: floods that never read their replies, perf
// streams that never upload, Yamux violations that must be answered with a GoAway before the
// close, and rule-breakers at each layer. A well-behaved peer (another Host) must be served
// throughout. Memory is checked through the process's peak RSS (the Host is in this process),
// reset before each attack.
#include "bb/wire/host.hpp"
#include "bb/wire/protocols/bb_wire.hpp"

#include "bb/wire/mss/message.hpp"
#include "bb/wire/protocols/perf.hpp"
#include "bb/wire/protocols/ping.hpp"
#include "bb/wire/resource_manager.hpp"
#include "tests/support/hostile_peer.hpp"
#include "tests/support/sanitizer.hpp"
#include "tests/wire/host_fixture.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using boost::system::error_code;
using host_test::dial_addr;
using host_test::EventLog;
using host_test::kEventWait;
using host_test::loopback;
using host_test::pings;
using host_test::run_then_stop;
using test::HostilePeer;

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Under ASan the process keeps freed memory in quarantine and shadow memory grows with every
// allocation, so resident memory says little there; the resource manager's own accounting
// (checked too) is what bounds the Host. Process RSS bounds get a sanitizer's allowance.
constexpr bool kSanitized = test::kSanitizedBuild;
constexpr std::size_t kRssAllowance = kSanitized ? 512 * kMiB : 0;
// Floods run longer than the fixture's usual 5 s limit allows under sanitizers.
constexpr auto kFloodTestLimit = 20s;

// Growth of this process's peak resident memory since construction.
class MemoryWatch {
 public:
  MemoryWatch() {
    peak_reset_ = test::reset_peak_resident();
    start_ = test::resident_bytes();
  }
  std::size_t growth() const {
    const std::size_t now = peak_reset_ ? test::peak_resident_bytes() : test::resident_bytes();
    return now > start_ ? now - start_ : 0;
  }
  bool measures_peak() const { return peak_reset_; }

 private:
  bool peak_reset_ = false;
  std::size_t start_ = 0;
};

// The Host's resource accounting, while Host::resources() is being added (uncommitted in
// wire/host.hpp as this is written): nullptr where the Host does not expose it yet.
// TODO: call target.resources() directly once it is committed.
template <class H>
const ResourceManager* resources_of(const H& host) {
  if constexpr (requires { host.resources(); }) {
    return &host.resources();
  } else {
    return nullptr;
  }
}

// A target host, a bystander connected to it (pinging before and after), and an attack.
using Attack = asio::awaitable<void> (*)(Host& target, Host& bystander);

asio::awaitable<void> connect_then_attack(Attack attack, Host& target, Host& bystander) {
  target.listen(loopback());
  (void)co_await bystander.connect(dial_addr(target));
  const auto before = co_await pings(bystander, target.peer_id());
  EXPECT_TRUE(before);
  co_await attack(target, bystander);
  const auto after = co_await pings(bystander, target.peer_id());
  EXPECT_TRUE(after) << "the host stopped serving a well-behaved peer";
  EXPECT_TRUE(target.connection(bystander.peer_id()).has_value());
}

asio::awaitable<void> with_bystander(Attack attack, HostOptions target_options) {
  auto ex = co_await asio::this_coro::executor;
  Host target(ex, Ed25519KeyPair::generate(), std::move(target_options));
  Host bystander(ex, Ed25519KeyPair::generate());
  co_await run_then_stop(connect_then_attack(attack, target, bystander), target, bystander);
}

asio::awaitable<void> with_bystander(Attack attack) {
  co_await with_bystander(attack, HostOptions());
}

// A hostile peer that completed the upgrade with a fresh identity; the host has it connected.
asio::awaitable<HostilePeer> secured_peer(Host& target, EventLog& events,
                                          const Ed25519KeyPair& mallory) {
  HostilePeer peer = co_await HostilePeer::connect(target.listen_addrs().at(0));
  const PeerId id = mallory.peer_id();
  co_await peer.secure(mallory, target.peer_id());
  auto up =
      co_await events.wait<PeerConnected>([&id](const PeerConnected& e) { return e.peer == id; });
  EXPECT_TRUE(up);
  co_return peer;
}

asio::awaitable<HostilePeer> secured_peer(Host& target, EventLog& events) {
  const auto mallory = Ed25519KeyPair::generate();
  co_return co_await secured_peer(target, events, mallory);
}

asio::awaitable<bool> connect_and_ping(Host& newcomer, Host& target) {
  (void)co_await newcomer.connect(dial_addr(target));
  for (int i = 0; i < 3; ++i) {
    const auto served = co_await pings(newcomer, target.peer_id());
    if (!served) co_return false;
  }
  co_return true;
}

// A second well-behaved peer that connects and pings while an attack is under way.
asio::awaitable<bool> newcomer_pings(Host& target) {
  auto ex = co_await asio::this_coro::executor;
  Host newcomer(ex, Ed25519KeyPair::generate());
  auto outcome = co_await async::capture(connect_and_ping(newcomer, target));
  co_await newcomer.stop();
  if (outcome.error) {
    ADD_FAILURE() << "a newcomer could not connect during the attack: "
                  << host_test::text_of(outcome.error);
    co_return false;
  }
  co_return *outcome.value;
}

// ---- finding 1: control replies that are never read ------------------------------------------

// Up to 32 MiB of frames in 60 KiB batches: far more than the socket buffers hold, so a host
// that bounds its output must stop reading (the flood stalls) or close the connection.
constexpr std::size_t kFramesPerBatch = 5000;
constexpr std::size_t kFloodBatches = (32 * kMiB) / (kFramesPerBatch * yamux::kHeaderSize);
constexpr auto kStall = 500ms;
// What the host may hold for one flooding connection, with room for the test's own buffers.
constexpr std::size_t kFloodMemoryBound = 24 * kMiB;

asio::awaitable<test::FloodOutcome> ping_flood(HostilePeer& peer) {
  const Bytes batch = test::yamux_pings(kFramesPerBatch);
  co_return co_await peer.flood(batch, kFloodBatches, kStall);
}

asio::awaitable<test::FloodOutcome> syn_flood(HostilePeer& peer) {
  co_return co_await peer.flood_syns(kFramesPerBatch, kFloodBatches, kStall);
}

using Flood = asio::awaitable<test::FloodOutcome> (*)(HostilePeer& peer);

asio::awaitable<void> flood_without_reading(Host& target, Flood flood, const char* what) {
  EventLog events(target);
  const auto mallory = Ed25519KeyPair::generate();
  HostilePeer peer = co_await secured_peer(target, events, mallory);
  const MemoryWatch memory;
  const auto started = std::chrono::steady_clock::now();
  auto [outcome, newcomer_ok] = co_await (flood(peer) && newcomer_pings(target));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(newcomer_ok) << "a legitimate peer was not served during the " << what;

  const std::size_t flooded = outcome.bytes;
  const bool closed = static_cast<bool>(outcome.error);
  const auto backlog = [](const PeerDisconnected& e) {
    return e.reason == errc::output_backlog_exceeded;
  };
  const std::size_t cut_for_backlog = events.count<PeerDisconnected>(backlog);
  EXPECT_TRUE(outcome.stalled || closed || cut_for_backlog > 0)
      << "the host read all " << flooded / kMiB << " MiB of the " << what
      << " without bounding its replies (" << outcome.batches << " batches, "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms)";
  EXPECT_LT(memory.growth(), kFloodMemoryBound + kRssAllowance)
      << "the host grew by " << memory.growth() / kMiB << " MiB for one " << what << " of "
      << flooded / kMiB << " MiB"
      << (memory.measures_peak() ? " (peak RSS)" : " (RSS; peak not resettable)");
  // The host's own accounting (wire/resource_manager.hpp): what the flooding peer holds now
  // stays within its connection's output bounds (queued output, the write in flight, a partial
  // frame), and the whole host never held more than the RSS bound.
  if (const ResourceManager* resources = resources_of(target)) {
    const ConnectionOptions& co = HostOptions().connection;
    const std::size_t output_bound = 2 * (co.max_pending_output + co.max_control_backlog) + kMiB;
    if (const auto held = resources->peer_stat(mallory.peer_id())) {
      EXPECT_LE(held->memory, output_bound)
          << "the flooding peer holds " << held->memory << " bytes after the " << what;
    }
    const auto stats = resources->stats();
    EXPECT_LT(stats.peak_memory, kFloodMemoryBound)
        << "the host accounted a peak of " << stats.peak_memory / kMiB << " MiB during the "
        << what;
    testing::Test::RecordProperty("accounted_peak", static_cast<int>(stats.peak_memory));
  }
  if (closed) {
    // Whatever ended it, the host must have said why before closing.
    const auto end = co_await peer.read_until_closed(kEventWait);
    EXPECT_TRUE(end.closed_by_peer()) << end.end.message();
  }
  testing::Test::RecordProperty("flooded_bytes", static_cast<int>(flooded));
  testing::Test::RecordProperty("rss_growth", static_cast<int>(memory.growth()));
  testing::Test::RecordProperty("pongs_or_rsts_read", static_cast<int>(peer.bytes_received()));
}

asio::awaitable<void> ping_flood_attack(Host& target, Host& /*bystander*/) {
  co_await flood_without_reading(target, &ping_flood, "ping flood");
}

asio::awaitable<void> syn_flood_attack(Host& target, Host& /*bystander*/) {
  co_await flood_without_reading(target, &syn_flood, "SYN flood past the stream limit");
}

TEST(HostileHost, PingFloodWithoutReadingTheRepliesIsBounded) {
  test::run_async(with_bystander(&ping_flood_attack), kFloodTestLimit);
}

TEST(HostileHost, SynFloodPastTheStreamLimitWithoutReadingTheResetsIsBounded) {
  test::run_async(with_bystander(&syn_flood_attack), kFloodTestLimit);
}

// ---- finding 2: perf streams that send the header and never upload ---------------------------

constexpr std::size_t kPerfStreams = 200;

asio::awaitable<void> perf_header_only(Host& target, Host& /*bystander*/) {
  EventLog events(target);
  HostilePeer peer = co_await secured_peer(target, events);
  const MemoryWatch memory;
  // The header asks for 1 GiB back, after an upload that never ends.
  std::array<std::uint8_t, 8> header{0, 0, 0, 0, 0x40, 0, 0, 0};
  // In batches under the host's bound on streams waiting to be accepted (64), each answered
  // before the next. Once a stream's negotiation is answered the host has read its header and
  // sits in perf's upload loop: whatever it holds per stream is allocated by then.
  constexpr std::size_t kBatch = 32;
  std::size_t served = 0;
  for (std::size_t sent = 0; sent < kPerfStreams; sent += kBatch) {
    Bytes batch;
    std::vector<std::uint32_t> ids;
    for (std::size_t i = 0; i < kBatch && sent + i < kPerfStreams; ++i) {
      ids.push_back(peer.append_open_stream(batch, perf::kProtocolId, header));
    }
    co_await peer.send_sealed(batch);
    for (const std::uint32_t id : ids) {
      const auto state = co_await peer.read_stream_until(
          id, [](const test::StreamState& s) { return s.selected || s.na || s.reset; });
      if (state.selected && !state.reset) ++served;
    }
  }
  EXPECT_LT(memory.growth(), 24 * kMiB + kRssAllowance)
      << served << " header-only perf streams pin " << memory.growth() / kMiB << " MiB"
      << (memory.measures_peak() ? " (peak RSS)" : " (RSS)");
  testing::Test::RecordProperty("perf_streams_served", static_cast<int>(served));
  testing::Test::RecordProperty("rss_growth", static_cast<int>(memory.growth()));
  // The connection is still usable: the host answers a ping.
  const auto answered = co_await async::capture(peer.ping(77));
  EXPECT_FALSE(answered.error) << "the connection stopped answering pings";
}

TEST(HostileHost, PerfStreamsThatNeverUploadPinNoBigBuffers) {
  test::run_async(with_bystander(&perf_header_only), kFloodTestLimit);
}

// ---- finding 10: a Yamux violation is answered with GoAway(protocol error) before the close --

struct ViolationCase {
  std::string name;
  error_code expected;
  // Builds the offending plaintext for `peer`.
  Bytes (*frames)(HostilePeer& peer);
};

Bytes data_for_unopened_stream(HostilePeer& /*peer*/) {
  Bytes out;
  const std::array<std::uint8_t, 4> payload{1, 2, 3, 4};
  test::append_yamux_data(out, 5, payload);  // stream 5 was never opened
  return out;
}

Bytes data_past_the_window(HostilePeer& peer) {
  // A SYN|Data frame announcing 300 KiB: the new stream's window is the default 256 KiB until
  // the host's ACK grants more; the frame itself is under the host's (1 MiB) frame limit. The
  // header alone is the violation: only 64 bytes of the payload follow.
  Bytes out;
  test::append_yamux(out, yamux::FrameType::data, yamux::kSyn, peer.next_stream_id(), 300 * 1024);
  out.resize(out.size() + 64, 0x61);
  return out;
}

Bytes ping_without_flags(HostilePeer& /*peer*/) {
  Bytes out;
  test::append_yamux(out, yamux::FrameType::ping, 0, 0, 9);
  return out;
}

Bytes bad_version(HostilePeer& /*peer*/) {
  Bytes out;
  test::append_yamux(out, yamux::FrameType::ping, yamux::kSyn, 0, 9);
  out[0] = 1;
  return out;
}

HostOptions large_window() {
  HostOptions options;
  options.connection.stream_window = 1024 * 1024;
  return options;
}

asio::awaitable<void> violations_get_go_away(Host& target, Host& bystander) {
  const std::vector<ViolationCase> cases{
      {"data for a stream never opened", make_error_code(errc::yamux_unknown_stream),
       &data_for_unopened_stream},
      {"data past the stream's window", make_error_code(errc::yamux_window_exceeded),
       &data_past_the_window},
      {"ping with neither SYN nor ACK", make_error_code(errc::yamux_bad_flags),
       &ping_without_flags},
      {"version 1 header", make_error_code(errc::yamux_bad_version), &bad_version},
  };
  EventLog events(target);
  for (const ViolationCase& c : cases) {
    HostilePeer peer = co_await secured_peer(target, events);
    // The host may close while the bytes are still going out: that is not a failure here.
    const Bytes frames = c.frames(peer);
    (void)co_await peer.flood(frames, 1, kEventWait);
    const auto end = co_await peer.read_until_closed(kEventWait);
    EXPECT_TRUE(end.closed_by_peer()) << c.name << ": " << end.end.message();
    EXPECT_EQ(end.go_away, std::optional<std::uint32_t>(yamux::kGoAwayProtocolError))
        << c.name << ": the host closed without a GoAway(protocol error) (" << end.bytes
        << " bytes read before the close)";
    auto down = co_await events.wait<PeerDisconnected>(
        [&c](const PeerDisconnected& e) { return e.reason == c.expected; });
    EXPECT_TRUE(down) << c.name;
    const auto served = co_await pings(bystander, target.peer_id());
    EXPECT_TRUE(served) << "after " << c.name;
  }
  EXPECT_EQ(target.connection_count(), 1u);
}

TEST(HostileHost, YamuxViolationIsAnsweredWithGoAwayBeforeTheClose) {
  test::run_async(with_bystander(&violations_get_go_away, large_window()), kFloodTestLimit);
}

// ---- rule-breakers at each layer -------------------------------------------------------------

asio::awaitable<void> expect_refused(EventLog& events, HostilePeer& peer, error_code expected,
                                     const std::string& name) {
  const Multiaddr from = peer.local_addr();
  auto failed = co_await events.wait<InboundFailed>(
      [&from](const InboundFailed& e) { return e.from == from; });
  if (failed) {
    EXPECT_EQ(failed->error, expected) << name << ": " << failed->detail;
  }
  const auto end = co_await peer.read_until_closed(kEventWait);
  EXPECT_TRUE(end.closed_by_peer()) << name << ": " << end.end.message();
}

asio::awaitable<void> multistream_rule_breakers(Host& target, Host& bystander) {
  EventLog events(target);
  const Multiaddr addr = target.listen_addrs().at(0);
  {
    // An unsupported security protocol is answered "na"; the connection waits for another.
    HostilePeer peer = co_await HostilePeer::connect(addr);
    const bool tls = co_await peer.select("/tls/1.0.0");
    EXPECT_FALSE(tls) << "/tls/1.0.0 was accepted";
    co_await peer.send(test::mss_message(noise::kProtocolId));
    const std::string answer = co_await peer.read_mss_line();
    EXPECT_EQ(answer, noise::kProtocolId);
  }
  {
    // A proposal without the header, from another loopback address.
    test::HostileOptions options;
    options.source_ip = "127.0.0.2";
    HostilePeer peer = co_await HostilePeer::connect(addr, options);
    EXPECT_EQ(peer.local_addr().to_string().rfind("/ip4/127.0.0.2/tcp/", 0), 0u)
        << peer.local_addr().to_string();
    // At least as long as the header: the host waits for that many bytes before judging.
    co_await peer.send(test::mss_message("/noise/but/without/the/header"));
    co_await expect_refused(events, peer, make_error_code(errc::mss_bad_header), "no header");
  }
  {
    HostilePeer peer = co_await HostilePeer::connect(addr);
    Bytes bytes = test::mss_message(mss::kHeader);
    const Bytes long_line = test::mss_message(std::string(5000, 'a'));
    bytes.insert(bytes.end(), long_line.begin(), long_line.end());
    co_await peer.send(bytes);
    co_await expect_refused(events, peer, make_error_code(errc::mss_message_too_long),
                            "a 5000-byte line");
  }
  {
    HostilePeer peer = co_await HostilePeer::connect(addr);
    Bytes bytes = test::mss_message(mss::kHeader);
    const Bytes garbage{0x04, 0xff, 0xfe, 0xfd, '\n'};  // not UTF-8
    bytes.insert(bytes.end(), garbage.begin(), garbage.end());
    co_await peer.send(bytes);
    co_await expect_refused(events, peer, make_error_code(errc::mss_malformed_message),
                            "garbage line");
  }
  {
    // Dripped one byte per write, a valid negotiation still works.
    HostilePeer peer = co_await HostilePeer::connect(addr);
    Bytes bytes = test::mss_message(mss::kHeader);
    const Bytes proposal = test::mss_message(noise::kProtocolId);
    bytes.insert(bytes.end(), proposal.begin(), proposal.end());
    co_await peer.drip(bytes);
    const std::string header = co_await peer.read_mss_line();
    const std::string answer = co_await peer.read_mss_line();
    EXPECT_EQ(header, mss::kHeader);
    EXPECT_EQ(answer, noise::kProtocolId);
  }
  const auto served = co_await pings(bystander, target.peer_id());
  EXPECT_TRUE(served);
  const PeerId& regular = bystander.peer_id();
  EXPECT_EQ(
      events.count<PeerConnected>([&regular](const PeerConnected& e) { return e.peer != regular; }),
      0u)
      << events.dump();
}

TEST(HostileHost, MultistreamRuleBreakersAreRefusedCleanly) {
  test::run_async(with_bystander(&multistream_rule_breakers), kFloodTestLimit);
}

asio::awaitable<void> noise_rule_breakers(Host& target, Host& bystander) {
  EventLog events(target);
  const Multiaddr addr = target.listen_addrs().at(0);
  {
    // Message 1 is a 32-byte ephemeral key; 33 bytes is a bad length.
    HostilePeer peer = co_await HostilePeer::connect(addr);
    const bool noise_selected = co_await peer.select(noise::kProtocolId);
    EXPECT_TRUE(noise_selected);
    Bytes frame{0, 33};
    frame.resize(2 + 33, 0x5a);
    co_await peer.send(frame);
    co_await expect_refused(events, peer, make_error_code(errc::noise_payload_invalid),
                            "33-byte message 1");
  }
  {
    // A length prefix announcing 65535 bytes, 10 sent, then EOF.
    HostilePeer peer = co_await HostilePeer::connect(addr);
    const bool noise_selected = co_await peer.select(noise::kProtocolId);
    EXPECT_TRUE(noise_selected);
    Bytes frame{0xff, 0xff};
    frame.resize(2 + 10, 0x5a);
    co_await peer.send(frame);
    peer.shutdown_send();
    co_await expect_refused(events, peer, make_error_code(asio::error::eof), "truncated frame");
  }
  {
    // A forged identity: the signature covers another Noise static key.
    HostilePeer peer = co_await HostilePeer::connect(addr);
    noise::Handshake::TestOptions forge;
    forge.sign_wrong_static_key = true;
    co_await peer.secure(Ed25519KeyPair::generate(), target.peer_id(), std::move(forge));
    co_await expect_refused(events, peer, make_error_code(errc::signature_invalid),
                            "forged identity");
  }
  const auto served = co_await pings(bystander, target.peer_id());
  EXPECT_TRUE(served);
  const PeerId& regular = bystander.peer_id();
  EXPECT_EQ(
      events.count<PeerConnected>([&regular](const PeerConnected& e) { return e.peer != regular; }),
      0u)
      << events.dump();
}

TEST(HostileHost, NoiseRuleBreakersAreRefusedCleanly) {
  test::run_async(with_bystander(&noise_rule_breakers), kFloodTestLimit);
}

// /bb/wire/1.0.0 with a length prefix near 2^63: only that stream is reset; identify and ping
// streams that are never read leave the connection working.
asio::awaitable<void> protocol_rule_breakers(Host& target, Host& /*bystander*/) {
  host_test::EnvelopeLog envelopes(target);  // /bb/wire/1.0.0 served, as a Node does
  EventLog events(target);
  HostilePeer peer = co_await secured_peer(target, events);
  const Bytes huge{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};  // uvarint 2^63 - 1
  const std::uint32_t wire_id = co_await peer.open_stream(bb_wire::kProtocolId, huge);
  const auto wire_state = co_await peer.read_stream_until(
      wire_id, [](const test::StreamState& s) { return s.reset || s.fin; });
  EXPECT_TRUE(wire_state.reset);
  auto failed = co_await events.wait<StreamFailed>(
      [](const StreamFailed& e) { return e.protocol == bb_wire::kProtocolId; });
  if (failed) {
    EXPECT_EQ(failed->error, errc::frame_too_large) << failed->detail;
    EXPECT_EQ(failed->protocol, bb_wire::kProtocolId);
  }

  // Identify and ping streams whose replies are never read.
  Bytes batch;
  for (int i = 0; i < 20; ++i) (void)peer.append_open_stream(batch, identify::kProtocolId);
  const Bytes ping_payload(32, 0x42);
  for (int i = 0; i < 20; ++i)
    (void)peer.append_open_stream(batch, ping::kProtocolId, ping_payload);
  co_await peer.send_sealed(batch);

  const auto answered = co_await async::capture(peer.ping(1234));
  EXPECT_FALSE(answered.error) << "the connection stopped answering pings";
  EXPECT_EQ(events.count<PeerDisconnected>(), 0u) << events.dump();
  EXPECT_EQ(target.connection_count(), 2u);
}

TEST(HostileHost, ProtocolRuleBreakersEndOnlyTheirStream) {
  test::run_async(with_bystander(&protocol_rule_breakers), kFloodTestLimit);
}

}  // namespace
}  // namespace bb::wire

// A Host under attack: clients that send what the real stack never would, at each layer
// (multistream-select, Noise, Yamux, /bb/wire/1.0.0, flow control). Each attack must end only
// the offending connection or stream, with a specific error, while a well-behaved peer connected
// to the same host keeps being served (it pings the host after every attack).
#include "bb/wire/host.hpp"
#include "bb/wire/protocols/bb_wire.hpp"

#include "bb/proto/bb_core.pb.h"
#include "bb/wire/frame.hpp"
#include "bb/wire/mss/negotiator.hpp"
#include "bb/wire/noise/session.hpp"
#include "bb/wire/protocols/perf.hpp"
#include "bb/wire/varint.hpp"
#include "bb/wire/yamux/frame.hpp"
#include "bb/wire/yamux/session.hpp"
#include "tests/wire/host_fixture.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <array>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using boost::system::error_code;
using boost::system::system_error;
using host_test::code_of;
using host_test::dial_addr;
using host_test::EnvelopeLog;
using host_test::EventLog;
using host_test::kEventWait;
using host_test::kTestLimit;
using host_test::loopback;
using host_test::pings;
using host_test::run_then_stop;

constexpr std::size_t kMiB = std::size_t{1} << 20;

// ---- raw clients ----------------------------------------------------------------------------

asio::awaitable<void> write_all(tcp::socket& socket, ByteView bytes) {
  co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()), asio::use_awaitable);
}

asio::awaitable<error_code> read_until_error(tcp::socket& socket) {
  std::array<std::uint8_t, 4096> buf;
  while (true) {
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return ec;
  }
}

// Reads and drops whatever the host still sends until it closes the socket; the error that
// ended it (eof, or a reset when the host closed with our bytes unread), or timed_out.
asio::awaitable<error_code> wait_closed(tcp::socket& socket) {
  auto outcome = co_await async::capture(
      async::with_timeout(read_until_error(socket), kEventWait,
                          make_error_code(asio::error::timed_out), "waiting for the close"));
  co_return outcome.error ? code_of(outcome.error) : *outcome.value;
}

bool closed_by_peer(error_code ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

// multistream-select /noise, by hand. Returns what the host sent past its answer.
asio::awaitable<Bytes> select_noise(tcp::socket& socket) {
  std::vector<std::string> protocols{std::string(noise::kProtocolId)};
  mss::Dialer dialer(std::move(protocols));
  co_await write_all(socket, dialer.start());
  std::array<std::uint8_t, 1024> buf{};
  while (true) {
    const std::size_t n = co_await socket.async_read_some(asio::buffer(buf), asio::use_awaitable);
    auto progress = dialer.on_bytes(ByteView(buf.data(), n));
    if (!progress) throw system_error(progress.error(), "multistream-select by hand");
    if (!progress->output.empty()) co_await write_all(socket, progress->output);
    if (progress->done()) co_return std::move(progress->leftover);
  }
}

asio::awaitable<Bytes> read_noise_message(tcp::socket& socket, Bytes& buffered) {
  std::array<std::uint8_t, 4096> chunk{};
  while (true) {
    auto frame = noise::decode_noise_frame(buffered);
    if (!frame) throw system_error(frame.error(), "reading a Noise frame");
    if (*frame) {
      Bytes message((*frame)->first.begin(), (*frame)->first.end());
      buffered.erase(buffered.begin(),
                     buffered.begin() + static_cast<std::ptrdiff_t>((*frame)->second));
      co_return message;
    }
    const std::size_t n = co_await socket.async_read_some(asio::buffer(chunk), asio::use_awaitable);
    buffered.insert(buffered.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

// A client that did the whole upgrade by hand: past the handshake, bytes sealed with
// `transport` are Yamux (bb lists its muxers in the Noise payload, so no second negotiation).
struct RawPeer {
  tcp::socket socket;
  noise::Transport transport;
  Bytes buffered;  // ciphertext read past the handshake
};

// Dials `to` and drives `handshake` (an initiator) over multistream-select /noise and Noise XX.
// Completes when our side of the handshake is done: the host judges message 3 afterwards.
asio::awaitable<RawPeer> upgrade_by_hand(Multiaddr to, noise::Handshake handshake) {
  tcp::socket socket = co_await tcp_connect(to, kEventWait);
  Bytes buffered = co_await select_noise(socket);
  while (!handshake.complete()) {
    auto next = handshake.write_next();
    if (!next) throw system_error(next.error(), "Noise by hand");
    if (*next) {
      Bytes frame;
      if (auto ec = noise::append_noise_frame(frame, **next)) throw system_error(ec);
      co_await write_all(socket, frame);
      continue;
    }
    const Bytes message = co_await read_noise_message(socket, buffered);
    if (auto ec = handshake.read(message)) throw system_error(ec, "Noise by hand");
  }
  noise::Transport transport = std::move(handshake).into_transport();
  co_return RawPeer{std::move(socket), std::move(transport), std::move(buffered)};
}

noise::Handshake honest_initiator(const Ed25519KeyPair& identity, const PeerId& target) {
  std::vector<std::string> muxers{"/yamux/1.0.0"};
  return noise::Handshake::initiator(identity, target, std::move(muxers));
}

asio::awaitable<void> send_sealed(RawPeer& peer, ByteView plaintext) {
  Bytes ciphertext;
  if (auto ec = peer.transport.seal(plaintext, ciphertext)) throw system_error(ec);
  co_await write_all(peer.socket, ciphertext);
}

// Opens a Yamux stream granting the host `window` bytes of credit, asks for /perf/1.0.0 and a
// download of `bytes`, and half-closes: all in one write, without reading anything back.
asio::awaitable<void> request_download(RawPeer& peer, std::uint32_t window, std::uint64_t bytes) {
  yamux::Config config;
  config.initial_window = window;  // the extra credit goes out with the SYN
  yamux::Session mux(yamux::Role::client, config);
  const auto id = mux.open_stream();
  if (!id) throw system_error(id.error());
  std::vector<std::string> protocols{std::string(perf::kProtocolId)};
  mss::Dialer dialer(std::move(protocols));
  Bytes request = dialer.start();
  for (int shift = 56; shift >= 0; shift -= 8) {
    request.push_back(static_cast<std::uint8_t>(bytes >> shift));
  }
  const auto written = mux.write(*id, request);
  EXPECT_TRUE(written && *written == request.size());
  EXPECT_FALSE(mux.close_write(*id));
  co_await send_sealed(peer, mux.take_output());
}

// ---- fixture: a target host and a bystander -------------------------------------------------

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

asio::awaitable<void> attack_with_bystander(Attack attack, HostOptions target_options) {
  auto ex = co_await asio::this_coro::executor;
  Host target(ex, Ed25519KeyPair::generate(), std::move(target_options));
  Host bystander(ex, Ed25519KeyPair::generate());
  co_await run_then_stop(connect_then_attack(attack, target, bystander), target, bystander);
}

asio::awaitable<void> attack_with_bystander(Attack attack) {
  co_await attack_with_bystander(attack, HostOptions());
}

// ---- multistream-select ---------------------------------------------------------------------

struct RawCase {
  std::string name;
  Bytes bytes;
  error_code expected;
  bool then_eof = false;  // half-close after the bytes
};

// Sends each case's bytes on a fresh socket (after multistream-select /noise when `noise` is
// set) and expects the host to give up on that socket with the case's error.
asio::awaitable<void> raw_cases(Host& target, Host& bystander, std::vector<RawCase> cases,
                                bool noise) {
  EventLog events(target);
  for (const RawCase& c : cases) {
    tcp::socket raw = co_await tcp_connect(target.listen_addrs().at(0), kEventWait);
    const Multiaddr from = to_multiaddr(raw.local_endpoint());
    if (noise) (void)co_await select_noise(raw);
    co_await write_all(raw, c.bytes);
    if (c.then_eof) raw.shutdown(tcp::socket::shutdown_send);
    auto failed = co_await events.wait<InboundFailed>(
        [&from](const InboundFailed& e) { return e.from == from; });
    if (failed) {
      EXPECT_EQ(failed->error, c.expected) << c.name << ": " << failed->detail;
    }
    const error_code closed = co_await wait_closed(raw);
    EXPECT_TRUE(closed_by_peer(closed)) << c.name << ": " << closed.message();
    const auto served = co_await pings(bystander, target.peer_id());
    EXPECT_TRUE(served) << "after " << c.name;
  }
  EXPECT_EQ(target.connection_count(), 1u);
  const PeerId& regular = bystander.peer_id();
  EXPECT_EQ(
      events.count<PeerConnected>([&regular](const PeerConnected& e) { return e.peer != regular; }),
      0u)
      << events.dump();
}

std::vector<RawCase> multistream_junk() {
  std::vector<RawCase> cases;
  cases.push_back({"HTTP instead of the header", bytes_of("\x0bGET / HTTP\n"),
                   make_error_code(errc::mss_bad_header)});
  cases.push_back({"line without its newline", bytes_of("\x05hello"),
                   make_error_code(errc::mss_malformed_message)});
  cases.push_back({"empty line", bytes_of(std::string_view("\x00", 1)),
                   make_error_code(errc::mss_malformed_message)});
  cases.push_back(
      {"16 KiB line announced", bytes_of("\xff\x7f"), make_error_code(errc::mss_message_too_long)});
  cases.push_back({"non-minimal length", bytes_of(std::string_view("\x80\x00", 2)),
                   make_error_code(errc::varint_non_minimal)});
  Bytes after_header = bytes_of("\x13/multistream/1.0.0\n");
  const Bytes unsupported = bytes_of("\x05/tls\n");
  after_header.insert(after_header.end(), unsupported.begin(), unsupported.end());
  cases.push_back(
      {"unsupported security, then EOF", after_header, make_error_code(asio::error::eof), true});
  return cases;
}

asio::awaitable<void> malformed_multistream(Host& target, Host& bystander) {
  co_await raw_cases(target, bystander, multistream_junk(), false);
}

TEST(BadInput, MalformedMultistreamEndsOnlyThatConnection) {
  test::run_async(attack_with_bystander(&malformed_multistream), kTestLimit);
}

// ---- Noise ----------------------------------------------------------------------------------

Bytes noise_frame(std::size_t announced, std::size_t sent) {
  Bytes out{static_cast<std::uint8_t>(announced >> 8), static_cast<std::uint8_t>(announced)};
  out.resize(2 + sent, 0x5a);
  return out;
}

std::vector<RawCase> truncated_frames() {
  std::vector<RawCase> cases;
  cases.push_back({"256-byte frame cut after 10 bytes", noise_frame(256, 10),
                   make_error_code(asio::error::eof), true});
  cases.push_back({"65535-byte frame cut after 100 bytes", noise_frame(65535, 100),
                   make_error_code(asio::error::eof), true});
  cases.push_back(
      {"length prefix cut in half", Bytes(1, 0x01), make_error_code(asio::error::eof), true});
  return cases;
}

asio::awaitable<void> truncated_noise_frames(Host& target, Host& bystander) {
  co_await raw_cases(target, bystander, truncated_frames(), true);
}

TEST(BadInput, TruncatedNoiseFrameEndsOnlyThatConnection) {
  test::run_async(attack_with_bystander(&truncated_noise_frames), kTestLimit);
}

// Noise XX message 1 is the initiator's ephemeral key (32 bytes) and nothing else.
std::vector<RawCase> wrong_size_first_messages() {
  std::vector<RawCase> cases;
  cases.push_back({"empty message 1", noise_frame(0, 0), make_error_code(errc::noise_truncated)});
  cases.push_back(
      {"31-byte message 1", noise_frame(31, 31), make_error_code(errc::noise_truncated)});
  cases.push_back(
      {"33-byte message 1", noise_frame(33, 33), make_error_code(errc::noise_payload_invalid)});
  cases.push_back({"65535-byte message 1", noise_frame(65535, 65535),
                   make_error_code(errc::noise_payload_invalid)});
  return cases;
}

asio::awaitable<void> wrong_size_message_one(Host& target, Host& bystander) {
  co_await raw_cases(target, bystander, wrong_size_first_messages(), true);
}

TEST(BadInput, NoiseMessageOneOfTheWrongSizeEndsOnlyThatConnection) {
  test::run_async(attack_with_bystander(&wrong_size_message_one), kTestLimit);
}

struct PayloadCase {
  std::string name;
  noise::Handshake::TestOptions options;
  error_code expected;
};

std::vector<PayloadCase> identity_payload_cases() {
  std::vector<PayloadCase> cases;
  {
    noise::Handshake::TestOptions options;
    options.sign_wrong_static_key = true;
    cases.push_back({"signature over another static key", std::move(options),
                     make_error_code(errc::signature_invalid)});
  }
  {
    noise::Handshake::TestOptions options;
    options.payload = bytes_of("\x0a\x05\x01");  // field 1 announces 5 bytes, 1 follows
    cases.push_back({"payload that is not protobuf", std::move(options),
                     make_error_code(errc::noise_payload_invalid)});
  }
  return cases;
}

// Clients that complete their side of the handshake with a message 3 the host must refuse.
asio::awaitable<void> bad_identity_payloads(Host& target, Host& bystander) {
  EventLog events(target);
  std::vector<PayloadCase> cases = identity_payload_cases();
  for (PayloadCase& c : cases) {
    const auto mallory = Ed25519KeyPair::generate();
    std::vector<std::string> muxers{"/yamux/1.0.0"};
    auto handshake = noise::Handshake::with_test_options(
        noise::Role::initiator, mallory, target.peer_id(), std::move(muxers), std::move(c.options));
    RawPeer peer = co_await upgrade_by_hand(target.listen_addrs().at(0), std::move(handshake));
    const Multiaddr from = to_multiaddr(peer.socket.local_endpoint());
    auto failed = co_await events.wait<InboundFailed>(
        [&from](const InboundFailed& e) { return e.from == from; });
    if (failed) {
      EXPECT_EQ(failed->error, c.expected) << c.name << ": " << failed->detail;
    }
    const error_code closed = co_await wait_closed(peer.socket);
    EXPECT_TRUE(closed_by_peer(closed)) << c.name << ": " << closed.message();
    const auto served = co_await pings(bystander, target.peer_id());
    EXPECT_TRUE(served) << "after " << c.name;
  }
  EXPECT_EQ(target.connection_count(), 1u);
  const PeerId& regular = bystander.peer_id();
  EXPECT_EQ(
      events.count<PeerConnected>([&regular](const PeerConnected& e) { return e.peer != regular; }),
      0u)
      << events.dump();
}

TEST(BadInput, BadIdentityPayloadEndsOnlyThatHandshake) {
  test::run_async(attack_with_bystander(&bad_identity_payloads), kTestLimit);
}

asio::awaitable<void> dial_with_wrong_peer_id(Host& target, Host& dialer) {
  EventLog target_events(target);
  EventLog dialer_events(dialer);
  const PeerId someone_else = Ed25519KeyPair::generate().peer_id();
  const Multiaddr wrong = target.listen_addrs().at(0).with_peer_id(someone_else);
  // Two concurrent connects share one dial, and so its failure.
  auto [first, second] =
      co_await (async::capture(dialer.connect(wrong)) && async::capture(dialer.connect(wrong)));
  EXPECT_TRUE(first.error && second.error);
  if (first.error && second.error) {
    EXPECT_EQ(code_of(first.error), errc::noise_peer_id_mismatch);
    EXPECT_EQ(code_of(second.error), errc::noise_peer_id_mismatch);
  }
  if (auto failed = co_await dialer_events.wait<DialFailed>()) {
    EXPECT_EQ(failed->addr, wrong);
    EXPECT_EQ(failed->error, errc::noise_peer_id_mismatch) << failed->detail;
  }
  EXPECT_EQ(dialer_events.count<DialFailed>(), 0u) << "one dial, one DialFailed";
  EXPECT_EQ(dialer.connection_count(), 0u);
  // The dialer walked away after message 2: the target's half of the handshake fails too.
  if (auto abandoned = co_await target_events.wait<InboundFailed>()) {
    EXPECT_TRUE(closed_by_peer(abandoned->error)) << abandoned->detail;
  }
  // Nothing holds it against the dialer: the right PeerId works.
  (void)co_await dialer.connect(dial_addr(target));
  const auto ok = co_await pings(dialer, target.peer_id());
  EXPECT_TRUE(ok);
}

asio::awaitable<void> wrong_peer_id(Host& target, Host& /*bystander*/) {
  auto ex = co_await asio::this_coro::executor;
  Host dialer(ex, Ed25519KeyPair::generate());
  co_await run_then_stop(dial_with_wrong_peer_id(target, dialer), dialer);
}

TEST(BadInput, DialingAnAddressWithAnotherPeerIdFailsWithMismatch) {
  test::run_async(attack_with_bystander(&wrong_peer_id), kTestLimit);
}

// ---- Yamux ----------------------------------------------------------------------------------

struct YamuxCase {
  std::string name;
  std::array<std::uint8_t, yamux::kHeaderSize> header;
  error_code expected;
};

std::array<std::uint8_t, yamux::kHeaderSize> yamux_header(yamux::FrameType type,
                                                          std::uint16_t flags, std::uint32_t id,
                                                          std::uint32_t length) {
  yamux::Header h;
  h.type = type;
  h.flags = flags;
  h.stream_id = id;
  h.length = length;
  return yamux::encode_header(h);
}

std::vector<YamuxCase> yamux_cases() {
  std::vector<YamuxCase> cases;
  auto version_one = yamux_header(yamux::FrameType::ping, yamux::kSyn, 0, 7);
  version_one[0] = 1;
  cases.push_back({"version 1", version_one, make_error_code(errc::yamux_bad_version)});
  cases.push_back({"data for a stream never opened", yamux_header(yamux::FrameType::data, 0, 5, 0),
                   make_error_code(errc::yamux_unknown_stream)});
  auto type_nine = yamux_header(yamux::FrameType::ping, yamux::kSyn, 0, 7);
  type_nine[1] = 9;
  cases.push_back({"frame type 9", type_nine, make_error_code(errc::yamux_bad_type)});
  return cases;
}

asio::awaitable<void> bad_yamux_frames(Host& target, Host& bystander) {
  EventLog events(target);
  const std::vector<YamuxCase> cases = yamux_cases();
  for (const YamuxCase& c : cases) {
    const auto mallory = Ed25519KeyPair::generate();
    const PeerId id = mallory.peer_id();
    RawPeer peer = co_await upgrade_by_hand(target.listen_addrs().at(0),
                                            honest_initiator(mallory, target.peer_id()));
    auto up =
        co_await events.wait<PeerConnected>([&id](const PeerConnected& e) { return e.peer == id; });
    EXPECT_TRUE(up) << c.name;
    co_await send_sealed(peer, c.header);
    auto down = co_await events.wait<PeerDisconnected>(
        [&id](const PeerDisconnected& e) { return e.peer == id; });
    if (down) {
      EXPECT_EQ(down->reason, c.expected) << c.name << ": " << down->reason.message();
    }
    const error_code closed = co_await wait_closed(peer.socket);
    EXPECT_TRUE(closed_by_peer(closed)) << c.name << ": " << closed.message();
    EXPECT_EQ(target.connection_count(), 1u) << c.name;
    const auto served = co_await pings(bystander, target.peer_id());
    EXPECT_TRUE(served) << "after " << c.name;
  }
}

TEST(BadInput, BadYamuxFrameEndsOnlyThatConnection) {
  test::run_async(attack_with_bystander(&bad_yamux_frames), kTestLimit);
}

// ---- /bb/wire/1.0.0 -------------------------------------------------------------------------

asio::awaitable<Stream> open_wire_stream(Connection conn) {
  std::vector<std::string> protocols{std::string(bb_wire::kProtocolId)};
  co_return co_await conn.open_stream(std::move(protocols));
}

Bytes garbage_frame() {
  Bytes frame;
  const Bytes body{0x0f, 0xff, 0xff, 0xff};  // field 1 with wire type 7: not protobuf
  append_frame(frame, body);
  return frame;
}

Bytes good_frame(std::uint64_t request_id) {
  core::WireEnvelope env;
  auto* fill = env.add_fills();
  fill->set_dest_suffix("/site/1");
  fill->set_payload("after the garbage");
  env.mutable_correlation()->set_wire_req_id(request_id);
  Bytes frame;
  encode_envelope_frame(env, frame);
  return frame;
}

asio::awaitable<error_code> read_error(Stream& stream) {
  std::array<std::uint8_t, 64> buf{};
  auto outcome = co_await async::capture(
      async::with_timeout(stream.read_some(buf), kEventWait,
                          make_error_code(asio::error::timed_out), "reading a reset stream"));
  co_return outcome.error ? code_of(outcome.error) : error_code();
}

// Both streams must fail alone: the connection stays, and a good envelope after them arrives.
asio::awaitable<void> send_bad_envelopes(Host& target, Connection conn, PeerId mallory) {
  EventLog events(target);
  EnvelopeLog envelopes(target);
  auto from_mallory = [&mallory](const StreamFailed& e) { return e.peer == mallory; };

  Stream garbage = co_await open_wire_stream(conn);
  co_await garbage.write(garbage_frame());
  if (auto failed = co_await events.wait<StreamFailed>(from_mallory)) {
    EXPECT_EQ(failed->error, errc::envelope_malformed) << failed->detail;
    EXPECT_EQ(failed->protocol, bb_wire::kProtocolId);
  }
  const error_code garbage_end = co_await read_error(garbage);
  EXPECT_EQ(garbage_end, errc::yamux_stream_reset);

  Stream huge = co_await open_wire_stream(conn);
  Bytes announce;
  append_varint(announce, std::uint64_t{17} << 20);  // 17 MiB, over the 16 MiB cap
  co_await huge.write(announce);
  if (auto failed = co_await events.wait<StreamFailed>(from_mallory)) {
    EXPECT_EQ(failed->error, errc::frame_too_large) << failed->detail;
    EXPECT_EQ(failed->protocol, bb_wire::kProtocolId);
  }
  const error_code huge_end = co_await read_error(huge);
  EXPECT_EQ(huge_end, errc::yamux_stream_reset);

  Stream good = co_await open_wire_stream(conn);
  co_await good.write(good_frame(77));
  auto received = co_await envelopes.next(mallory);
  if (received) {
    EXPECT_EQ(received->envelope->correlation().wire_req_id(), 77u);
    EXPECT_EQ(received->envelope->fills_size(), 1);
  }
  EXPECT_TRUE(conn.is_open());
  EXPECT_TRUE(target.connection(mallory).has_value());
  EXPECT_EQ(target.connection_count(), 2u);
  EXPECT_EQ(events.count<PeerDisconnected>(), 0u) << events.dump();
}

asio::awaitable<void> close_after(asio::awaitable<void> scenario, Connection conn) {
  auto outcome = co_await async::capture(std::move(scenario));
  conn.close();
  if (outcome.error) std::rethrow_exception(outcome.error);
}

asio::awaitable<void> bad_envelopes(Host& target, Host& /*bystander*/) {
  const auto mallory = Ed25519KeyPair::generate();
  tcp::socket socket = co_await tcp_connect(target.listen_addrs().at(0), kEventWait);
  Connection conn = co_await Connection::upgrade(std::move(socket), Direction::outbound, mallory,
                                                 target.peer_id(), ConnectionOptions());
  co_await (close_after(send_bad_envelopes(target, conn, mallory.peer_id()), conn) && conn.run());
}

TEST(BadInput, BadEnvelopeEndsOnlyItsStream) {
  test::run_async(attack_with_bystander(&bad_envelopes), kTestLimit);
}

// ---- a peer that stops reading --------------------------------------------------------------

HostOptions short_write_timeout() {
  HostOptions options;
  options.connection.write_timeout = std::chrono::milliseconds(300);
  return options;
}

asio::awaitable<void> stop_reading(Host& target, Host& /*bystander*/) {
  EventLog events(target);
  const auto mallory = Ed25519KeyPair::generate();
  const PeerId id = mallory.peer_id();
  RawPeer peer = co_await upgrade_by_hand(target.listen_addrs().at(0),
                                          honest_initiator(mallory, target.peer_id()));
  auto up =
      co_await events.wait<PeerConnected>([&id](const PeerConnected& e) { return e.peer == id; });
  EXPECT_TRUE(up);
  EXPECT_EQ(target.connection_count(), 2u);

  // 32 MiB of credit and a 32 MiB download: far more than the socket buffers hold while
  // nobody reads, so the host's write stalls once they are full.
  constexpr std::uint32_t kCredit = 32u << 20;
  const auto sent = std::chrono::steady_clock::now();
  co_await request_download(peer, kCredit, kCredit);
  auto cut = co_await events.wait<PeerDisconnected>(
      [&id](const PeerDisconnected& e) { return e.peer == id; }, 3000ms);
  if (cut) {
    EXPECT_EQ(cut->reason, asio::error::timed_out) << cut->reason.message();
  }
  EXPECT_GE(std::chrono::steady_clock::now() - sent, std::chrono::milliseconds(300));
  EXPECT_EQ(target.connection_count(), 1u);
  EXPECT_FALSE(target.connection(id).has_value());
}

TEST(BadInput, APeerThatStopsReadingIsCutOffAtTheWriteTimeout) {
  test::run_async(attack_with_bystander(&stop_reading, short_write_timeout()), kTestLimit);
}

// Heap bytes in use by this process (glibc: arena allocations plus mmapped blocks).
std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

asio::awaitable<std::size_t> read_at_least(RawPeer& peer, std::size_t wanted) {
  std::array<std::uint8_t, 16 * 1024> buf;
  std::size_t got = peer.buffered.size();
  while (got < wanted) {
    got += co_await peer.socket.async_read_some(asio::buffer(buf), asio::use_awaitable);
  }
  co_return got;
}

// What the host holds for a peer that does not read must not grow with the credit that peer
// grants: Yamux lets a peer grant up to 4 GiB per stream, perf lets it ask for 64 GiB.
asio::awaitable<void> bounded_while_stalled(Host& target, Host& /*bystander*/) {
  EventLog events(target);
  const auto mallory = Ed25519KeyPair::generate();
  const PeerId id = mallory.peer_id();
  RawPeer peer = co_await upgrade_by_hand(target.listen_addrs().at(0),
                                          honest_initiator(mallory, target.peer_id()));
  auto up =
      co_await events.wait<PeerConnected>([&id](const PeerConnected& e) { return e.peer == id; });
  EXPECT_TRUE(up);

  const std::size_t before = heap_in_use();
  constexpr std::uint32_t kCredit = 96u << 20;
  co_await request_download(peer, kCredit, kCredit);
  // Download bytes are arriving: whatever the host buffers for this peer is allocated now.
  (void)co_await async::with_timeout(read_at_least(peer, 64 * 1024), kEventWait,
                                     make_error_code(asio::error::timed_out),
                                     "the first 64 KiB of the download");
  const std::size_t during = heap_in_use();
  const std::size_t growth = during > before ? during - before : 0;
  EXPECT_LT(growth, 32 * kMiB) << "the host holds " << growth / kMiB
                               << " MiB for a peer that has read 64 KiB";

  auto cut = co_await events.wait<PeerDisconnected>(
      [&id](const PeerDisconnected& e) { return e.peer == id; }, 3000ms);
  if (cut) {
    EXPECT_EQ(cut->reason, asio::error::timed_out) << cut->reason.message();
  }
  EXPECT_EQ(target.connection_count(), 1u);
}

TEST(BadInput, MemoryForAPeerThatStopsReadingDoesNotGrowWithItsCredit) {
  test::run_async(attack_with_bystander(&bounded_while_stalled, short_write_timeout()), kTestLimit);
}

}  // namespace
}  // namespace bb::wire

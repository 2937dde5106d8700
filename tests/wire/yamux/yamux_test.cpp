#include "bb/wire/yamux/frame.hpp"
#include "bb/wire/yamux/session.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace bb::wire::yamux {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

Bytes frame(FrameType type, std::uint16_t flags, std::uint32_t id, std::uint32_t length,
            ByteView payload = {}) {
  Bytes out;
  append_header(out, Header{type, flags, id, length});
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Bytes data_frame(std::uint32_t id, ByteView payload, std::uint16_t flags = 0) {
  return frame(FrameType::data, flags, id, static_cast<std::uint32_t>(payload.size()), payload);
}

std::string describe(const Event& e) {
  struct {
    std::string operator()(const InboundStream& x) { return "inbound " + std::to_string(x.id); }
    std::string operator()(const Readable& x) { return "readable " + std::to_string(x.id); }
    std::string operator()(const WriteWindowOpened& x) { return "window " + std::to_string(x.id); }
    std::string operator()(const StreamClosedByPeer& x) { return "fin " + std::to_string(x.id); }
    std::string operator()(const StreamReset& x) { return "rst " + std::to_string(x.id); }
    std::string operator()(const Pong& x) { return "pong " + std::to_string(x.opaque); }
    std::string operator()(const GoAway& x) { return "goaway " + std::to_string(x.code); }
    std::string operator()(const StreamRefused& x) {
      return "refused " + std::to_string(x.id) + " " + x.reason.message();
    }
  } visitor;
  return std::visit(visitor, e);
}

std::vector<std::string> drain_events(Session& s) {
  std::vector<std::string> out;
  while (auto e = s.next_event()) out.push_back(describe(*e));
  return out;
}

std::string read_all(Session& s, std::uint32_t id) {
  std::string out;
  std::uint8_t buf[4096];
  while (true) {
    auto n = s.read(id, buf);
    if (!n || *n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), *n);
  }
  return out;
}

bool is_yamux_error(boost::system::error_code ec) {
  return ec.category() == wire_category() &&
         ec.value() >= static_cast<int>(errc::yamux_bad_version) &&
         ec.value() <= static_cast<int>(errc::yamux_go_away);
}

// A client and a server connected in memory.
struct Link {
  explicit Link(Config client_config = {}, Config server_config = {})
      : client(Role::client, client_config), server(Role::server, server_config) {}

  // Moves output both ways until both sides are quiet; collects the events.
  void pump() {
    for (int i = 0; i < 1000; ++i) {
      const Bytes c = client.take_output();
      const Bytes s = server.take_output();
      if (c.empty() && s.empty()) break;
      if (!c.empty()) {
        EXPECT_FALSE(server.receive(c));
      }
      if (!s.empty()) {
        EXPECT_FALSE(client.receive(s));
      }
    }
    for (auto& e : drain_events(client)) client_events.push_back(e);
    for (auto& e : drain_events(server)) server_events.push_back(e);
  }

  std::vector<std::string> take_client_events() { return std::exchange(client_events, {}); }
  std::vector<std::string> take_server_events() { return std::exchange(server_events, {}); }

  Session client;
  Session server;
  std::vector<std::string> client_events;
  std::vector<std::string> server_events;
};

using Strings = std::vector<std::string>;

// ---- header -----------------------------------------------------------------------------------

TEST(YamuxFrame, EncodesBigEndianHeader) {
  EXPECT_EQ(to_hex(encode_header({FrameType::window_update, kSyn, 1, 0})),
            "000100010000000100000000");
  EXPECT_EQ(to_hex(encode_header({FrameType::data, kFin | kAck, 0x01020304, 0x00040000})),
            "000000060102030400040000");
  EXPECT_EQ(to_hex(encode_header({FrameType::go_away, 0, 0, kGoAwayProtocolError})),
            "000300000000000000000001");
  EXPECT_EQ(to_hex(encode_header({FrameType::ping, kAck, 0, 0xdeadbeef})),
            "0002000200000000deadbeef");
}

TEST(YamuxFrame, RoundTrips) {
  for (const Header h :
       {Header{FrameType::data, 0, 7, 5}, Header{FrameType::window_update, kRst, 2, 0},
        Header{FrameType::ping, kSyn, 0, 0xffffffff}, Header{FrameType::go_away, 0, 0, 2},
        Header{FrameType::data, 0xffff, 0xffffffff, 0xffffffff}}) {
    const auto bytes = encode_header(h);
    auto d = decode_header(bytes);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, h);
  }
}

TEST(YamuxFrame, RejectsBadVersionAndType) {
  const Bytes v1 = hex("010000000000000100000000");
  EXPECT_EQ(
      decode_header(std::span<const std::uint8_t, kHeaderSize>(v1.data(), kHeaderSize)).error(),
      errc::yamux_bad_version);
  const Bytes t4 = hex("000400000000000000000000");
  EXPECT_EQ(
      decode_header(std::span<const std::uint8_t, kHeaderSize>(t4.data(), kHeaderSize)).error(),
      errc::yamux_bad_type);
  const Bytes tff = hex("00ff00000000000000000000");
  EXPECT_EQ(
      decode_header(std::span<const std::uint8_t, kHeaderSize>(tff.data(), kHeaderSize)).error(),
      errc::yamux_bad_type);
}

// ---- streams ----------------------------------------------------------------------------------

TEST(YamuxSession, OpenSendsSynWindowUpdate) {
  Session client(Role::client);
  auto id = client.open_stream();
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 1u);
  EXPECT_EQ(to_hex(client.take_output()), "000100010000000100000000");
  EXPECT_EQ(client.open_stream().value(), 3u);
  Session server(Role::server);
  EXPECT_EQ(server.open_stream().value(), 2u);
  EXPECT_EQ(server.open_stream().value(), 4u);
}

TEST(YamuxSession, ExchangesDataBothWays) {
  Link link;
  const auto id = link.client.open_stream().value();
  ASSERT_EQ(link.client.write(id, as_bytes("hello")).value(), 5u);
  link.pump();
  EXPECT_EQ(link.take_server_events(), (Strings{"inbound 1", "readable 1"}));
  EXPECT_EQ(link.server.readable_bytes(id), 5u);
  EXPECT_EQ(read_all(link.server, id), "hello");
  // The first read acknowledges the stream; the reply follows as a plain Data frame.
  ASSERT_EQ(link.server.write(id, as_bytes("world!")).value(), 6u);
  const Bytes wire = link.server.take_output();
  EXPECT_EQ(to_hex(wire),
            "000100020000000100000000"
            "000000000000000100000006" +
                to_hex(as_bytes("world!")));
  ASSERT_FALSE(link.client.receive(wire));
  ASSERT_EQ(link.server.write(id, as_bytes(" again")).value(), 6u);
  link.pump();
  EXPECT_EQ(link.take_client_events(), (Strings{"readable 1"}));  // coalesced
  EXPECT_EQ(read_all(link.client, id), "world! again");
  EXPECT_EQ(link.client.stream_count(), 1u);
  EXPECT_EQ(link.server.stream_count(), 1u);
}

TEST(YamuxSession, ServerOpenedStream) {
  Link link;
  const auto id = link.server.open_stream().value();
  ASSERT_EQ(link.server.write(id, as_bytes("push")).value(), 4u);
  link.pump();
  EXPECT_EQ(link.take_client_events(), (Strings{"inbound 2", "readable 2"}));
  EXPECT_EQ(read_all(link.client, id), "push");
}

TEST(YamuxSession, HalfCloseThenFullClose) {
  Link link;
  const auto id = link.client.open_stream().value();
  ASSERT_EQ(link.client.write(id, as_bytes("request")).value(), 7u);
  ASSERT_FALSE(link.client.close_write(id));
  EXPECT_EQ(link.client.write(id, as_bytes("x")).error(), errc::yamux_stream_closed);
  EXPECT_EQ(link.client.send_window(id), 0u);
  link.pump();
  EXPECT_EQ(link.take_server_events(), (Strings{"inbound 1", "readable 1", "fin 1"}));
  EXPECT_TRUE(link.server.remote_closed(id));
  EXPECT_EQ(read_all(link.server, id), "request");
  // The server can still answer on its half.
  ASSERT_EQ(link.server.write(id, as_bytes("response")).value(), 8u);
  ASSERT_FALSE(link.server.close_write(id));
  // Both sides closed and everything read: the server forgets the stream.
  EXPECT_EQ(link.server.stream_count(), 0u);
  link.pump();
  EXPECT_EQ(link.take_client_events(), (Strings{"readable 1", "fin 1"}));
  EXPECT_EQ(link.client.stream_count(), 1u);  // until the application reads the response
  EXPECT_EQ(read_all(link.client, id), "response");
  EXPECT_EQ(link.client.stream_count(), 0u);
  EXPECT_TRUE(link.client.remote_closed(id));
  EXPECT_EQ(link.client.read(id, std::span<std::uint8_t>{}).value(), 0u);
  EXPECT_EQ(link.client.write(id, as_bytes("x")).error(), errc::yamux_stream_closed);
  EXPECT_FALSE(link.client.close_write(id));
}

TEST(YamuxSession, ResetDropsTheStreamOnBothSides) {
  Link link;
  const auto id = link.client.open_stream().value();
  ASSERT_EQ(link.client.write(id, as_bytes("abc")).value(), 3u);
  link.pump();
  link.take_server_events();
  ASSERT_FALSE(link.server.reset(id));
  EXPECT_EQ(link.server.stream_count(), 0u);
  EXPECT_FALSE(link.server.reset(id));  // already gone: fine
  const Bytes rst = link.server.take_output();
  EXPECT_EQ(to_hex(rst), "000100080000000100000000");
  ASSERT_EQ(link.client.write(id, as_bytes("late")).value(), 4u);
  ASSERT_FALSE(link.client.receive(rst));
  EXPECT_EQ(drain_events(link.client), (Strings{"rst 1"}));
  EXPECT_EQ(link.client.stream_count(), 0u);
  EXPECT_EQ(link.client.write(id, as_bytes("x")).error(), errc::yamux_stream_closed);
  // The late data still in flight to the server is skipped, not an error.
  EXPECT_FALSE(link.server.receive(link.client.take_output()));
  EXPECT_TRUE(drain_events(link.server).empty());
  EXPECT_FALSE(link.server.error());
}

TEST(YamuxSession, PeerResetDropsBufferedData) {
  Session server(Role::server);
  ASSERT_FALSE(server.receive(data_frame(1, as_bytes("abc"), kSyn)));
  ASSERT_FALSE(server.receive(frame(FrameType::data, kRst, 1, 0)));
  EXPECT_EQ(drain_events(server), (Strings{"inbound 1", "readable 1", "rst 1"}));
  EXPECT_EQ(server.readable_bytes(1), 0u);
  EXPECT_EQ(server.read(1, std::span<std::uint8_t>{}).value(), 0u);
  EXPECT_EQ(server.stream_count(), 0u);
}

TEST(YamuxSession, UnknownIdsAtTheApi) {
  Session s(Role::client);
  std::uint8_t buf[4];
  EXPECT_EQ(s.read(1, buf).error(), errc::yamux_unknown_stream);
  EXPECT_EQ(s.write(2, as_bytes("x")).error(), errc::yamux_unknown_stream);
  EXPECT_EQ(s.close_write(3), errc::yamux_unknown_stream);
  EXPECT_EQ(s.reset(5), errc::yamux_unknown_stream);
  EXPECT_EQ(s.readable_bytes(1), 0u);
  EXPECT_EQ(s.send_window(1), 0u);
}

// ---- flow control -----------------------------------------------------------------------------

TEST(YamuxWindow, NonReadingReceiverStopsTheSender) {
  Link link;
  const auto id = link.client.open_stream().value();
  const Bytes big(300 * 1024, 0x5a);
  EXPECT_EQ(link.client.write(id, big).value(), 256u * 1024);
  EXPECT_EQ(link.client.send_window(id), 0u);
  EXPECT_EQ(link.client.write(id, big).value(), 0u);
  link.pump();
  EXPECT_EQ(link.server.readable_bytes(id), 256u * 1024);
  EXPECT_TRUE(link.take_client_events().empty());
  EXPECT_EQ(link.client.send_window(id), 0u);

  // Reading less than half the window returns no credit (only the ACK).
  std::vector<std::uint8_t> buf(128 * 1024 - 1);
  EXPECT_EQ(link.server.read(id, buf).value(), buf.size());
  const Bytes ack = link.server.take_output();
  EXPECT_EQ(to_hex(ack), "000100020000000100000000");
  ASSERT_FALSE(link.client.receive(ack));
  EXPECT_EQ(link.client.send_window(id), 0u);
  EXPECT_FALSE(link.client.next_event());

  // One more byte makes half: a window update of 128 KiB.
  std::uint8_t one[1];
  EXPECT_EQ(link.server.read(id, one).value(), 1u);
  const Bytes update = link.server.take_output();
  EXPECT_EQ(to_hex(update), "000100000000000100020000");
  ASSERT_FALSE(link.client.receive(update));
  EXPECT_EQ(drain_events(link.client), (Strings{"window 1"}));
  EXPECT_EQ(link.client.send_window(id), 128u * 1024);
  const std::size_t rest = big.size() - 256 * 1024;
  EXPECT_EQ(link.client.write(id, ByteView(big).subspan(256 * 1024)).value(), rest);
  link.pump();
  EXPECT_EQ(link.server.readable_bytes(id), 128u * 1024 + rest);
}

TEST(YamuxWindow, WritesAreSplitIntoFramesOfMaxFrameData) {
  Config config;
  config.max_frame_data = 1000;
  Session client(Role::client, config);
  const auto id = client.open_stream().value();
  (void)client.take_output();
  const Bytes payload(2500, 0x11);
  EXPECT_EQ(client.write(id, payload).value(), 2500u);
  const Bytes out = client.take_output();
  EXPECT_EQ(out.size(), 2500u + 3 * kHeaderSize);
  EXPECT_EQ(to_hex(ByteView(out).first(kHeaderSize)), "0000000000000001000003e8");
  EXPECT_EQ(to_hex(ByteView(out).subspan(2 * (kHeaderSize + 1000), kHeaderSize)),
            "0000000000000001000001f4");
}

TEST(YamuxWindow, LargerInitialWindowIsGrantedWithSynAndAck) {
  Config big;
  big.initial_window = 1024 * 1024;
  Link link(big, big);
  const auto id = link.client.open_stream().value();
  EXPECT_EQ(to_hex(link.client.take_output()), "0001000100000001000c0000");
  link.server.receive(frame(FrameType::window_update, kSyn, id, 768 * 1024));
  EXPECT_EQ(drain_events(link.server), (Strings{"inbound 1"}));
  EXPECT_EQ(link.server.send_window(id), 1024u * 1024);
  // Until the server acknowledges, the client may send only the default window.
  const Bytes payload(768 * 1024, 0x22);
  ASSERT_FALSE(link.server.receive(data_frame(id, ByteView(payload).first(kDefaultWindow))));
  std::uint8_t one[1];
  EXPECT_EQ(link.server.read(id, one).value(), 1u);
  EXPECT_EQ(to_hex(link.server.take_output()), "0001000200000001000c0000");
  // The extra 768 KiB, in one frame larger than max_frame_data, as go-yamux would send it.
  EXPECT_FALSE(link.server.receive(data_frame(id, payload)));
  EXPECT_EQ(link.server.readable_bytes(id), kDefaultWindow - 1 + 768u * 1024);
  EXPECT_EQ(link.server.receive(data_frame(id, one)), errc::yamux_window_exceeded);
}

TEST(YamuxWindow, OverrunIsASessionError) {
  Session server(Role::server);
  ASSERT_FALSE(server.receive(frame(FrameType::window_update, kSyn, 1, 0)));
  const Bytes chunk(200000, 0x33);
  ASSERT_FALSE(server.receive(data_frame(1, chunk)));
  // 200000 + 62145 = 256 KiB + 1: refused at the header, before any payload byte.
  EXPECT_EQ(server.receive(frame(FrameType::data, 0, 1, 62145)), errc::yamux_window_exceeded);
  EXPECT_EQ(to_hex(server.take_output()), "000300000000000000000001");
  // Dead: every call reports it.
  EXPECT_EQ(server.error(), errc::yamux_window_exceeded);
  EXPECT_EQ(server.receive(hex("00")), errc::yamux_window_exceeded);
  EXPECT_EQ(server.open_stream().error(), errc::yamux_window_exceeded);
  EXPECT_EQ(server.write(1, as_bytes("x")).error(), errc::yamux_window_exceeded);
  std::uint8_t buf[4];
  EXPECT_EQ(server.read(1, buf).error(), errc::yamux_window_exceeded);
  EXPECT_EQ(server.close_write(1), errc::yamux_window_exceeded);
  EXPECT_EQ(server.reset(1), errc::yamux_window_exceeded);
  EXPECT_EQ(server.ping(1), errc::yamux_window_exceeded);
  EXPECT_EQ(server.go_away(), errc::yamux_window_exceeded);
  EXPECT_EQ(server.stream_count(), 0u);
  EXPECT_FALSE(server.next_event());
  EXPECT_TRUE(server.take_output().empty());
}

TEST(YamuxWindow, ExactWindowIsFine) {
  Session server(Role::server);
  const Bytes full(kDefaultWindow, 0x44);
  EXPECT_FALSE(server.receive(data_frame(1, full, kSyn)));
  EXPECT_EQ(server.readable_bytes(1), kDefaultWindow);
  EXPECT_EQ(server.receive(data_frame(1, as_bytes("x"))), errc::yamux_window_exceeded);
}

TEST(YamuxWindow, FrameAboveMaxFrameData) {
  Session server(Role::server);
  EXPECT_EQ(server.receive(frame(FrameType::data, kSyn, 1, kDefaultWindow + 1)),
            errc::yamux_frame_too_large);
}

// ---- session-level frames ---------------------------------------------------------------------

TEST(YamuxSession, PingPong) {
  Link link;
  ASSERT_FALSE(link.client.ping(0xabcdef01));
  const Bytes ping = link.client.take_output();
  EXPECT_EQ(to_hex(ping), "0002000100000000abcdef01");
  ASSERT_FALSE(link.server.receive(ping));
  EXPECT_FALSE(link.server.next_event());
  const Bytes pong = link.server.take_output();
  EXPECT_EQ(to_hex(pong), "0002000200000000abcdef01");
  ASSERT_FALSE(link.client.receive(pong));
  EXPECT_EQ(drain_events(link.client), (Strings{"pong 2882400001"}));
  // Unsolicited or repeated answers are ignored.
  link.client.receive(frame(FrameType::ping, kAck, 0, 0xabcdef01));
  link.client.receive(frame(FrameType::ping, kAck, 0, 5));
  EXPECT_TRUE(drain_events(link.client).empty());
  // Through the link.
  ASSERT_FALSE(link.server.ping(9));
  link.pump();
  EXPECT_EQ(link.take_server_events(), (Strings{"pong 9"}));
}

TEST(YamuxSession, GoAway) {
  Link link;
  const auto before = link.client.open_stream().value();
  link.pump();
  link.take_server_events();
  ASSERT_FALSE(link.server.go_away(kGoAwayNormal));
  ASSERT_FALSE(link.server.go_away(kGoAwayNormal));  // sent once
  const Bytes bye = link.server.take_output();
  EXPECT_EQ(to_hex(bye), "000300000000000000000000");
  ASSERT_FALSE(link.client.receive(bye));
  EXPECT_EQ(drain_events(link.client), (Strings{"goaway 0"}));
  EXPECT_EQ(link.client.open_stream().error(), errc::yamux_go_away);
  EXPECT_EQ(link.server.open_stream().error(), errc::yamux_session_closed);
  // Existing streams carry on.
  ASSERT_EQ(link.client.write(before, as_bytes("still")).value(), 5u);
  link.pump();
  EXPECT_EQ(read_all(link.server, before), "still");
  link.pump();
  // A SYN that crossed our go-away is reset.
  link.server.receive(frame(FrameType::window_update, kSyn, 3, 0));
  EXPECT_EQ(to_hex(link.server.take_output()), "000100080000000300000000");
  EXPECT_EQ(link.server.stream_count(), 1u);
  EXPECT_FALSE(link.server.error());
}

TEST(YamuxSession, StreamLimitResetsTheNewStreamOnly) {
  Config small;
  small.max_streams = 2;
  Link link({}, small);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(link.client.open_stream());
  link.pump();
  EXPECT_EQ(link.take_server_events(), (Strings{"inbound 1", "inbound 3"}));
  EXPECT_EQ(link.take_client_events(), (Strings{"rst 5"}));
  EXPECT_EQ(link.server.stream_count(), 2u);
  EXPECT_EQ(link.client.stream_count(), 2u);
  EXPECT_FALSE(link.server.error());
  // Closing one makes room.
  ASSERT_FALSE(link.server.reset(1));
  link.pump();
  EXPECT_EQ(link.take_client_events(), (Strings{"rst 1"}));
  ASSERT_TRUE(link.client.open_stream());
  link.pump();
  EXPECT_EQ(link.take_server_events(), (Strings{"inbound 7"}));
}

TEST(YamuxSession, OwnStreamLimit) {
  Config small;
  small.max_streams = 2;
  Session client(Role::client, small);
  ASSERT_TRUE(client.open_stream());
  ASSERT_TRUE(client.open_stream());
  EXPECT_EQ(client.open_stream().error(), errc::yamux_too_many_streams);
}

TEST(YamuxSession, AckBacklogLimitsOpening) {
  Config small;
  small.max_ack_backlog = 2;
  Link link(small, {});
  const auto a = link.client.open_stream().value();
  ASSERT_TRUE(link.client.open_stream());
  EXPECT_EQ(link.client.open_stream().error(), errc::yamux_too_many_streams);
  link.pump();
  // The server acknowledges when the application first touches the stream.
  std::uint8_t buf[1];
  ASSERT_EQ(link.server.read(a, buf).value(), 0u);
  link.pump();
  EXPECT_EQ(link.client.open_stream().value(), 5u);
}

TEST(YamuxSession, InboundAckBacklogResetsNewStreams) {
  Config small;
  small.max_ack_backlog = 1;
  Session server(Role::server, small);
  ASSERT_FALSE(server.receive(frame(FrameType::window_update, kSyn, 1, 0)));
  ASSERT_FALSE(server.receive(frame(FrameType::window_update, kSyn, 3, 0)));
  EXPECT_EQ(to_hex(server.take_output()), "000100080000000300000000");
  EXPECT_EQ(drain_events(server), (Strings{"inbound 1"}));
}

// ---- accounting -------------------------------------------------------------------------------

// A budget of buffered bytes over all streams, and of streams, like a resource scope.
struct Budget final : BufferAccount {
  std::size_t streams_left = 100;
  std::size_t bytes_left = 0;
  std::size_t held = 0;
  boost::system::error_code admit_stream(std::uint32_t) override {
    if (streams_left == 0) return errc::resource_stream_limit;
    --streams_left;
    return {};
  }
  boost::system::error_code reserve(std::uint32_t, std::size_t bytes) override {
    if (bytes > bytes_left) return errc::resource_memory_limit;
    bytes_left -= bytes;
    held += bytes;
    return {};
  }
  void release(std::uint32_t, std::size_t bytes) noexcept override {
    bytes_left += bytes;
    held -= bytes;
  }
};

TEST(YamuxSession, AccountRefusesDataOverBudgetAndResetsOnlyThatStream) {
  Budget budget;
  budget.bytes_left = 10;
  Session server(Role::server);
  server.set_account(&budget);
  ASSERT_FALSE(server.receive(frame(FrameType::window_update, kSyn, 1, 0)));
  ASSERT_FALSE(server.receive(frame(FrameType::window_update, kSyn, 3, 0)));
  ASSERT_FALSE(server.receive(data_frame(1, as_bytes("12345678"))));
  EXPECT_EQ(budget.held, 8u);
  (void)server.take_output();
  // Stream 3 asks for more than is left: it is reset, its frame skipped; stream 1 lives on.
  ASSERT_FALSE(server.receive(data_frame(3, as_bytes("abcdef"))));
  EXPECT_EQ(to_hex(server.take_output()), "000100080000000300000000");
  EXPECT_EQ(drain_events(server),
            (Strings{"inbound 1", "inbound 3", "readable 1",
                     "refused 3 " + make_error_code(errc::resource_memory_limit).message()}));
  EXPECT_EQ(server.stream_count(), 1u);
  EXPECT_FALSE(server.error());
  // Reading gives the budget back.
  EXPECT_EQ(read_all(server, 1), "12345678");
  EXPECT_EQ(budget.held, 0u);
  ASSERT_FALSE(server.receive(data_frame(1, as_bytes("0123456789"))));
  EXPECT_EQ(budget.held, 10u);
  // A stream reset with data buffered gives it back too.
  ASSERT_FALSE(server.reset(1));
  EXPECT_EQ(budget.held, 0u);
}

TEST(YamuxSession, AccountRefusesStreamsOverBudget) {
  Budget budget;
  budget.streams_left = 1;
  budget.bytes_left = 100;
  Session server(Role::server);
  server.set_account(&budget);
  ASSERT_FALSE(server.receive(frame(FrameType::window_update, kSyn, 1, 0)));
  ASSERT_FALSE(server.receive(data_frame(3, as_bytes("skipped"), kSyn)));
  EXPECT_EQ(to_hex(server.take_output()), "000100080000000300000000");
  EXPECT_EQ(drain_events(server),
            (Strings{"inbound 1",
                     "refused 3 " + make_error_code(errc::resource_stream_limit).message()}));
  EXPECT_EQ(budget.held, 0u);
  EXPECT_FALSE(server.error());
}

TEST(YamuxSession, ASessionErrorReleasesEverythingBuffered) {
  Budget budget;
  budget.bytes_left = 100;
  Session server(Role::server);
  server.set_account(&budget);
  ASSERT_FALSE(server.receive(data_frame(1, as_bytes("held"), kSyn)));
  EXPECT_EQ(budget.held, 4u);
  EXPECT_TRUE(server.receive(frame(FrameType::data, 0, 9, 0)));  // never opened
  EXPECT_EQ(budget.held, 0u);
}

// ---- protocol violations ----------------------------------------------------------------------

boost::system::error_code feed(Session& s, std::initializer_list<Bytes> frames) {
  for (const auto& f : frames) {
    if (auto ec = s.receive(f)) return ec;
  }
  return {};
}

TEST(YamuxViolation, StreamIdParityAndDuplicates) {
  {
    Session server(Role::server);  // even ids are the server's own
    EXPECT_EQ(feed(server, {frame(FrameType::window_update, kSyn, 2, 0)}),
              errc::yamux_duplicate_stream);
  }
  {
    Session client(Role::client);
    EXPECT_EQ(feed(client, {frame(FrameType::window_update, kSyn, 1, 0)}),
              errc::yamux_duplicate_stream);
  }
  {
    Session server(Role::server);
    EXPECT_EQ(feed(server, {frame(FrameType::window_update, kSyn, 1, 0),
                            frame(FrameType::window_update, kSyn, 1, 0)}),
              errc::yamux_duplicate_stream);
  }
  {
    Session server(Role::server);  // ids are never reused, even after the stream is gone
    EXPECT_EQ(feed(server, {frame(FrameType::window_update, kSyn, 5, 0),
                            frame(FrameType::window_update, kRst, 5, 0),
                            frame(FrameType::window_update, kSyn, 5, 0)}),
              errc::yamux_duplicate_stream);
  }
  {
    Session server(Role::server);
    EXPECT_EQ(feed(server, {frame(FrameType::window_update, kSyn, 5, 0),
                            frame(FrameType::window_update, kSyn, 3, 0)}),
              errc::yamux_duplicate_stream);
  }
}

TEST(YamuxViolation, UnknownStream) {
  {
    Session server(Role::server);
    EXPECT_EQ(feed(server, {data_frame(7, as_bytes("x"))}), errc::yamux_unknown_stream);
  }
  {
    Session server(Role::server);
    EXPECT_EQ(feed(server, {frame(FrameType::window_update, 0, 0, 10)}),
              errc::yamux_unknown_stream);
  }
  {
    Session server(Role::server);  // one of our own ids that we never opened
    EXPECT_EQ(feed(server, {frame(FrameType::window_update, kAck, 2, 0)}),
              errc::yamux_unknown_stream);
  }
  {
    Session server(Role::server);  // an inbound id above the highest opened
    EXPECT_EQ(
        feed(server, {frame(FrameType::window_update, kSyn, 1, 0), data_frame(3, as_bytes("x"))}),
        errc::yamux_unknown_stream);
  }
}

TEST(YamuxViolation, BadVersionAndType) {
  Session a(Role::server);
  EXPECT_EQ(a.receive(hex("010100010000000100000000")), errc::yamux_bad_version);
  EXPECT_EQ(a.error(), errc::yamux_bad_version);
  Session b(Role::server);
  EXPECT_EQ(b.receive(hex("000400000000000000000000")), errc::yamux_bad_type);
  EXPECT_EQ(to_hex(b.take_output()), "000300000000000000000001");
}

TEST(YamuxViolation, BadFlags) {
  const std::vector<Bytes> cases = {
      frame(FrameType::window_update, 0x10, 1, 0),         // undefined bit
      frame(FrameType::window_update, kSyn | kAck, 1, 0),  // both
      frame(FrameType::ping, 0, 0, 1),                     // neither SYN nor ACK
      frame(FrameType::ping, kSyn | kAck, 0, 1),
      frame(FrameType::go_away, kFin, 0, 0),
  };
  for (const auto& f : cases) {
    Session s(Role::server);
    EXPECT_EQ(s.receive(f), errc::yamux_bad_flags) << to_hex(f);
  }
}

TEST(YamuxViolation, DataAfterFin) {
  Session server(Role::server);
  EXPECT_EQ(feed(server, {data_frame(1, as_bytes("a"), kSyn | kFin), data_frame(1, as_bytes("b"))}),
            errc::yamux_stream_closed);
}

TEST(YamuxViolation, ErrorDetectedInTheMiddleOfABatch) {
  Session server(Role::server);
  Bytes batch = frame(FrameType::window_update, kSyn, 1, 0);
  const Bytes bad = hex("000500000000000000000000");
  batch.insert(batch.end(), bad.begin(), bad.end());
  EXPECT_EQ(server.receive(batch), errc::yamux_bad_type);
  EXPECT_EQ(server.stream_count(), 0u);
  EXPECT_FALSE(server.next_event());  // events of a dead session are dropped
}

// ---- fault injection over a recorded transcript -----------------------------------------------

// What a server application observes: events other than Readable (whose coalescing depends on
// how the bytes were split), all data read per stream, and the session error.
struct Observed {
  Strings events;
  std::map<std::uint32_t, std::string> data;
  boost::system::error_code error;
  friend bool operator==(const Observed&, const Observed&) = default;
};

void observe(Session& s, Observed& o) {
  while (auto e = s.next_event()) {
    if (const auto* r = std::get_if<Readable>(&*e)) {
      o.data[r->id] += read_all(s, r->id);
    } else {
      o.events.push_back(describe(*e));
    }
  }
}

// Feeds `transcript` to a fresh server, cut at the given ascending positions.
Observed replay(const Bytes& transcript, const std::vector<std::size_t>& cuts) {
  Session server(Role::server);
  Observed o;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size() && !o.error; ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : transcript.size();
    o.error = server.receive(ByteView(transcript).subspan(from, to - from));
    from = to;
    observe(server, o);
    EXPECT_LE(server.stream_count(), 256u);
    (void)server.take_output();
  }
  return o;
}

struct Transcript {
  Bytes bytes;
  std::vector<std::size_t> header_offsets;
};

// A client's side of a short conversation: three streams, data, a ping, FIN and RST.
Transcript record() {
  Session client(Role::client);
  Transcript t;
  auto take = [&] {
    const Bytes out = client.take_output();
    t.bytes.insert(t.bytes.end(), out.begin(), out.end());
  };
  const auto a = client.open_stream().value();
  EXPECT_EQ(client.write(a, as_bytes("hello")).value(), 5u);
  take();
  const auto b = client.open_stream().value();
  Bytes pattern(1000);
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::uint8_t>(i * 7);
  EXPECT_EQ(client.write(b, pattern).value(), 1000u);
  EXPECT_FALSE(client.ping(77));
  EXPECT_FALSE(client.close_write(a));
  const auto c = client.open_stream().value();
  EXPECT_FALSE(client.reset(c));
  EXPECT_EQ(client.write(b, pattern).value(), 1000u);
  EXPECT_FALSE(client.close_write(b));
  take();
  // Header offsets: walk the frames.
  for (std::size_t at = 0; at < t.bytes.size();) {
    t.header_offsets.push_back(at);
    const auto h =
        decode_header(std::span<const std::uint8_t, kHeaderSize>(t.bytes.data() + at, kHeaderSize))
            .value();
    at += kHeaderSize + (h.type == FrameType::data ? h.length : 0);
  }
  return t;
}

TEST(YamuxFaults, BaselineTranscript) {
  const auto t = record();
  const Observed o = replay(t.bytes, {});
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.events, (Strings{"inbound 1", "inbound 3", "fin 1", "inbound 5", "rst 5", "fin 3"}));
  EXPECT_EQ(o.data.at(1), "hello");
  EXPECT_EQ(o.data.at(3).size(), 2000u);
  EXPECT_EQ(t.header_offsets.size(), 10u);
}

TEST(YamuxFaults, SplitAtEveryPosition) {
  const auto t = record();
  const Observed expected = replay(t.bytes, {});
  for (std::size_t n = 0; n <= t.bytes.size(); ++n) {
    ASSERT_EQ(replay(t.bytes, {n}), expected) << "split at " << n;
  }
}

TEST(YamuxFaults, FedInChunksOfEverySize) {
  const auto t = record();
  const Observed expected = replay(t.bytes, {});
  for (std::size_t chunk = 1; chunk <= 64; ++chunk) {
    std::vector<std::size_t> cuts;
    for (std::size_t at = chunk; at < t.bytes.size(); at += chunk) cuts.push_back(at);
    ASSERT_EQ(replay(t.bytes, cuts), expected) << "chunk " << chunk;
  }
}

TEST(YamuxFaults, FlippedHeaderBytes) {
  const auto t = record();
  const Observed expected = replay(t.bytes, {});
  int identical = 0, errors = 0, different = 0;
  for (const std::size_t header : t.header_offsets) {
    for (std::size_t k = 0; k < kHeaderSize; ++k) {
      for (const std::uint8_t mask : {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}) {
        Bytes mutated = t.bytes;
        mutated[header + k] ^= mask;
        const Observed o = replay(mutated, {header + k});  // also split at the flipped byte
        if (o.error) {
          ++errors;
          EXPECT_TRUE(is_yamux_error(o.error)) << o.error.message();
        } else if (o == expected) {
          ++identical;
        } else {
          ++different;  // e.g. a flipped FIN bit or stream id: a valid, different conversation
        }
        if (k == 0) {
          EXPECT_EQ(o.error, errc::yamux_bad_version);
        }
        if (k == 1 && (mask & 0xfc) != 0) {
          EXPECT_EQ(o.error, errc::yamux_bad_type);
        }
        if (k == 2 && header == t.header_offsets.front()) {
          EXPECT_EQ(o.error, errc::yamux_bad_flags);  // high flag byte: undefined bits
        }
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(identical, 0);
  RecordProperty("identical", identical);
  RecordProperty("errors", errors);
  RecordProperty("different", different);
}

}  // namespace
}  // namespace bb::wire::yamux

#include "bb/wire/mss/message.hpp"
#include "bb/wire/mss/negotiator.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bb::wire::mss {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

std::string message_hex(std::string_view line) {
  Bytes b;
  append_message(b, line);
  return to_hex(b);
}

Bytes message(std::string_view line) {
  Bytes b;
  append_message(b, line);
  return b;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// multiformats/multistream-select README, plus the computed rows of the reference (f).
TEST(MssMessage, EncodesSpecVectors) {
  EXPECT_EQ(message_hex(kNa), "036e610a");
  EXPECT_EQ(message_hex(kLs), "036c730a");
  EXPECT_EQ(message_hex(kHeader), "132f6d756c746973747265616d2f312e302e300a");
  EXPECT_EQ(message_hex("/noise"), "072f6e6f6973650a");
  EXPECT_EQ(message_hex("/yamux/1.0.0"), "0d2f79616d75782f312e302e300a");
}

TEST(MssMessage, DecodesAndReportsConsumed) {
  const Bytes b = hex("0d2f79616d75782f312e302e300aff");
  auto m = decode_message(b);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ((*m)->first, "/yamux/1.0.0");
  EXPECT_EQ((*m)->second, 14u);
}

TEST(MssMessage, IncompleteIsNullopt) {
  const Bytes b = hex("0d2f79616d75782f312e302e300a");
  for (std::size_t n = 0; n < b.size(); ++n) {
    auto m = decode_message(ByteView(b).first(n));
    ASSERT_TRUE(m) << n;
    EXPECT_FALSE(m->has_value()) << n;
  }
}

TEST(MssMessage, RejectsOversizeBeforeBuffering) {
  // 1025 = 0x81 0x08: rejected from the prefix alone.
  EXPECT_EQ(decode_message(hex("8108")).error(), errc::mss_message_too_long);
  // An unfinished two-byte prefix can only mean 16384 or more.
  EXPECT_EQ(decode_message(hex("8080")).error(), errc::mss_message_too_long);
  // 1024 itself is fine: waits for the body.
  auto m = decode_message(hex("8008"));
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->has_value());
  // And a full 1024-byte message decodes.
  Bytes big = hex("8008");
  big.insert(big.end(), 1023, 'a');
  big.push_back('\n');
  auto full = decode_message(big);
  ASSERT_TRUE(full);
  ASSERT_TRUE(full->has_value());
  EXPECT_EQ((*full)->first.size(), 1023u);
}

TEST(MssMessage, RejectsMalformed) {
  EXPECT_EQ(decode_message(hex("036e6161")).error(), errc::mss_malformed_message);    // no '\n'
  EXPECT_EQ(decode_message(hex("00")).error(), errc::mss_malformed_message);          // empty
  EXPECT_EQ(decode_message(hex("040a610a0a")).error(), errc::mss_malformed_message);  // inner '\n'
  EXPECT_EQ(decode_message(hex("03c3280a")).error(), errc::mss_malformed_message);    // bad UTF-8
  EXPECT_EQ(decode_message(hex("03c0af0a")).error(), errc::mss_malformed_message);    // overlong
  EXPECT_EQ(decode_message(hex("04eda0800a")).error(), errc::mss_malformed_message);  // surrogate
  const Bytes e_acute = hex("03c3a90a");                                              // "é"
  auto ok = decode_message(e_acute);
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)->first, "\xc3\xa9");
  EXPECT_EQ(decode_message(hex("010a")).value()->first, "");  // an empty line is a message
}

TEST(MssMessage, RejectsNonMinimalLength) {
  EXPECT_EQ(decode_message(hex("83006e610a")).error(), errc::varint_non_minimal);
  // A third prefix byte is never looked at: two continuation bytes already exceed the limit,
  // so the verdict is the same however the bytes are split.
  EXPECT_EQ(decode_message(hex("808000")).error(), errc::mss_message_too_long);
}

// Runs a dialer and a listener against each other in memory, feeding `chunk` bytes at a time.
struct Outcome {
  boost::system::error_code dialer_error, listener_error;
  std::optional<std::string> dialer_selected, listener_selected;
  Bytes dialer_leftover, listener_leftover;
};

Outcome negotiate(std::vector<std::string> dialer_protocols,
                  std::vector<std::string> listener_protocols, std::size_t chunk,
                  const Bytes& dialer_extra = {}, const Bytes& listener_extra = {}) {
  Dialer dialer(std::move(dialer_protocols));
  Listener listener(std::move(listener_protocols));
  Outcome o;
  Bytes to_listener = dialer.start();
  to_listener.insert(to_listener.end(), dialer_extra.begin(), dialer_extra.end());
  Bytes to_dialer;
  for (int round = 0; round < 100; ++round) {
    if (to_listener.empty() && to_dialer.empty()) break;
    Bytes in = std::exchange(to_listener, {});
    for (std::size_t at = 0; at < in.size() && !o.listener_error && !listener.done(); at += chunk) {
      auto p = listener.on_bytes(ByteView(in).subspan(at, std::min(chunk, in.size() - at)));
      if (!p) {
        o.listener_error = p.error();
        break;
      }
      to_dialer.insert(to_dialer.end(), p->output.begin(), p->output.end());
      if (p->done()) {
        o.listener_selected = p->selected;
        o.listener_leftover = p->leftover;
        // The rest of this round's bytes belong to the protocol too.
        const std::size_t next = std::min(at + chunk, in.size());
        o.listener_leftover.insert(o.listener_leftover.end(), in.begin() + static_cast<long>(next),
                                   in.end());
        to_dialer.insert(to_dialer.end(), listener_extra.begin(), listener_extra.end());
      }
    }
    in = std::exchange(to_dialer, {});
    for (std::size_t at = 0; at < in.size() && !o.dialer_error && !dialer.done(); at += chunk) {
      auto p = dialer.on_bytes(ByteView(in).subspan(at, std::min(chunk, in.size() - at)));
      if (!p) {
        o.dialer_error = p.error();
        break;
      }
      to_listener.insert(to_listener.end(), p->output.begin(), p->output.end());
      if (p->done()) {
        o.dialer_selected = p->selected;
        o.dialer_leftover = p->leftover;
        const std::size_t next = std::min(at + chunk, in.size());
        o.dialer_leftover.insert(o.dialer_leftover.end(), in.begin() + static_cast<long>(next),
                                 in.end());
      }
    }
  }
  return o;
}

TEST(MssNegotiate, FirstChoice) {
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
    auto o = negotiate({"/noise", "/tls/1.0.0"}, {"/tls/1.0.0", "/noise"}, chunk);
    EXPECT_FALSE(o.dialer_error) << chunk;
    EXPECT_FALSE(o.listener_error) << chunk;
    EXPECT_EQ(o.dialer_selected, "/noise") << chunk;
    EXPECT_EQ(o.listener_selected, "/noise") << chunk;
    EXPECT_TRUE(o.dialer_leftover.empty());
    EXPECT_TRUE(o.listener_leftover.empty());
  }
}

TEST(MssNegotiate, FallsBackAfterNa) {
  for (std::size_t chunk : {std::size_t{1}, std::size_t{5}, std::size_t{1000}}) {
    auto o = negotiate({"/quic", "/tls/1.0.0", "/yamux/1.0.0"}, {"/yamux/1.0.0"}, chunk);
    EXPECT_FALSE(o.dialer_error);
    EXPECT_FALSE(o.listener_error);
    EXPECT_EQ(o.dialer_selected, "/yamux/1.0.0") << chunk;
    EXPECT_EQ(o.listener_selected, "/yamux/1.0.0") << chunk;
  }
}

TEST(MssNegotiate, NoCommonProtocol) {
  auto o = negotiate({"/a", "/b"}, {"/c"}, 1);
  EXPECT_EQ(o.dialer_error, errc::mss_protocol_not_supported);
  EXPECT_FALSE(o.listener_error);
  EXPECT_FALSE(o.listener_selected);
}

TEST(MssNegotiate, LeftoverBytesBelongToTheProtocol) {
  const Bytes early = hex("deadbeef");  // the dialer's first protocol bytes, sent optimistically
  const Bytes reply = hex("cafe");      // the listener's first protocol bytes
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{1000}}) {
    auto o = negotiate({"/noise"}, {"/noise"}, chunk, early, reply);
    EXPECT_EQ(o.listener_selected, "/noise");
    EXPECT_EQ(o.dialer_selected, "/noise");
    EXPECT_EQ(to_hex(o.listener_leftover), "deadbeef") << chunk;
    EXPECT_EQ(to_hex(o.dialer_leftover), "cafe") << chunk;
  }
}

TEST(MssDialer, StartPipelinesHeaderAndFirstProposal) {
  Dialer d({"/noise", "/tls/1.0.0"});
  EXPECT_EQ(to_hex(d.start()), "132f6d756c746973747265616d2f312e302e300a072f6e6f6973650a");
}

TEST(MssDialer, OneShotReplyWithTrailingBytes) {
  Dialer d({"/noise"});
  (void)d.start();
  const Bytes in = concat({message(kHeader), message("/noise"), hex("0102")});
  auto p = d.on_bytes(in);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->output.empty());
  EXPECT_EQ(p->selected, "/noise");
  EXPECT_EQ(to_hex(p->leftover), "0102");
  EXPECT_TRUE(d.done());
  // Later bytes are not negotiation bytes.
  EXPECT_EQ(d.on_bytes(hex("00")).error(), errc::mss_unexpected_message);
}

TEST(MssDialer, SendsNextProposalAfterNa) {
  Dialer d({"/a", "/b"});
  (void)d.start();
  auto p = d.on_bytes(concat({message(kHeader), message(kNa)}));
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->done());
  EXPECT_EQ(p->output, message("/b"));
}

TEST(MssDialer, BadHeader) {
  Dialer d({"/a"});
  (void)d.start();
  EXPECT_EQ(d.on_bytes(message("/multistream/2.0.0")).error(), errc::mss_bad_header);
  // Sticky.
  EXPECT_EQ(d.on_bytes(message(kHeader)).error(), errc::mss_bad_header);
}

TEST(MssDialer, UnexpectedAnswer) {
  Dialer d({"/a"});
  (void)d.start();
  EXPECT_EQ(d.on_bytes(concat({message(kHeader), message("/b")})).error(),
            errc::mss_unexpected_message);
}

TEST(MssDialer, NoProtocolsFailsOnHeader) {
  Dialer d({});
  EXPECT_EQ(d.start(), message(kHeader));
  EXPECT_EQ(d.on_bytes(message(kHeader)).error(), errc::mss_protocol_not_supported);
}

TEST(MssDialer, MissingNewline) {
  Dialer d({"/a"});
  (void)d.start();
  EXPECT_EQ(d.on_bytes(hex("03616161")).error(), errc::mss_malformed_message);
}

TEST(MssListener, AnswersHeaderNaAndSelection) {
  Listener l({"/yamux/1.0.0"});
  auto p = l.on_bytes(concat({message(kHeader), message("/mplex/6.7.0")}));
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->done());
  EXPECT_EQ(p->output, concat({message(kHeader), message(kNa)}));
  p = l.on_bytes(message("/yamux/1.0.0"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->selected, "/yamux/1.0.0");
  EXPECT_EQ(p->output, message("/yamux/1.0.0"));
}

TEST(MssListener, LsIsAnsweredWithNa) {
  Listener l({"/a"});
  auto p = l.on_bytes(concat({message(kHeader), message(kLs)}));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->output, concat({message(kHeader), message(kNa)}));
}

TEST(MssListener, BadHeader) {
  Listener l({"/a"});
  EXPECT_EQ(l.on_bytes(message("/a")).error(), errc::mss_bad_header);
}

TEST(MssListener, OversizeLine) {
  Listener l({"/a"});
  ASSERT_TRUE(l.on_bytes(message(kHeader)));
  // The prefix alone (2000) is enough to fail; no body is buffered.
  EXPECT_EQ(l.on_bytes(hex("d00f")).error(), errc::mss_message_too_long);
}

TEST(MssListener, NonMinimalLength) {
  Listener l({"/a"});
  EXPECT_EQ(l.on_bytes(hex("93002f")).error(), errc::varint_non_minimal);
}

TEST(MssListener, MissingNewline) {
  Listener l({"/a"});
  ASSERT_TRUE(l.on_bytes(message(kHeader)));
  EXPECT_EQ(l.on_bytes(hex("032f6161")).error(), errc::mss_malformed_message);
}

TEST(MssListener, TooManyProposals) {
  Listener l({"/a"}, 4);
  ASSERT_TRUE(l.on_bytes(message(kHeader)));
  for (int i = 0; i < 4; ++i) {
    auto p = l.on_bytes(message("/nope"));
    ASSERT_TRUE(p) << i;
    EXPECT_EQ(p->output, message(kNa));
  }
  // Even a supported protocol is refused once the budget is spent.
  EXPECT_EQ(l.on_bytes(message("/a")).error(), errc::mss_unexpected_message);
}

TEST(MssListener, DefaultProposalBudget) {
  Listener l({"/a"});
  Bytes in = message(kHeader);
  for (std::size_t i = 0; i < kMaxProposals; ++i) append_message(in, "/nope");
  ASSERT_TRUE(l.on_bytes(in));
  EXPECT_EQ(l.on_bytes(message("/nope")).error(), errc::mss_unexpected_message);
}

TEST(MssListener, ByteAtATimeWithLeftover) {
  Listener l({"/a"});
  const Bytes in = concat({message(kHeader), message("/a"), hex("aabb")});
  Bytes output;
  std::optional<Progress> final;
  for (std::size_t i = 0; i < in.size() && !final; ++i) {
    auto p = l.on_bytes(ByteView(in).subspan(i, 1));
    ASSERT_TRUE(p) << i;
    output.insert(output.end(), p->output.begin(), p->output.end());
    if (p->done()) {
      final = std::move(*p);
      // The protocol's bytes after the selection were not yet fed.
      EXPECT_EQ(i, in.size() - 3);
    }
  }
  ASSERT_TRUE(final);
  EXPECT_EQ(final->selected, "/a");
  EXPECT_TRUE(final->leftover.empty());
  EXPECT_EQ(output, concat({message(kHeader), message("/a")}));
}

}  // namespace
}  // namespace bb::wire::mss

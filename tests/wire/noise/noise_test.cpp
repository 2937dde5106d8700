// libp2p Noise: the signed handshake payload, framing, and the Transport.
#include "bb/wire/noise/session.hpp"

#include "bb/proto/libp2p.pb.h"

#include <gtest/gtest.h>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace bb::wire::noise {
namespace {

using boost::system::error_code;

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

Ed25519KeyPair identity(std::uint8_t fill) {
  std::array<std::uint8_t, Ed25519KeyPair::kSeedSize> seed;
  seed.fill(fill);
  return Ed25519KeyPair::from_seed(seed).value();
}

X25519KeyPair x25519(std::uint8_t fill) {
  std::array<std::uint8_t, X25519KeyPair::kSize> secret;
  secret.fill(fill);
  return X25519KeyPair::from_secret(secret).value();
}

// Fixed Noise keys, so every run sends the same bytes and a mutated message can be replayed.
Handshake::TestOptions fixed_keys(std::uint8_t base) {
  Handshake::TestOptions options;
  options.static_key = x25519(base);
  options.ephemeral_key = x25519(static_cast<std::uint8_t>(base + 1));
  return options;
}

const std::vector<std::string> kInitiatorMuxers = {"/yamux/1.0.0"};
const std::vector<std::string> kResponderMuxers = {"/yamux/1.0.0", "/mplex/6.7.0"};

struct Pair {
  Ed25519KeyPair alice = identity(1);  // initiator
  Ed25519KeyPair bob = identity(2);    // responder
  Handshake initiator = Handshake::with_test_options(Role::initiator, alice, bob.peer_id(),
                                                     kInitiatorMuxers, fixed_keys(10));
  Handshake responder = Handshake::with_test_options(Role::responder, bob, std::nullopt,
                                                     kResponderMuxers, fixed_keys(20));
};

// One message from `from` to `to`; returns the reader's error (or the writer's).
error_code pass(Handshake& from, Handshake& to, Bytes* sent = nullptr) {
  auto message = from.write_next();
  if (!message) return message.error();
  if (!*message) return errc::noise_unexpected_message;  // nothing to send: a test bug
  if (sent != nullptr) *sent = **message;
  return to.read(**message);
}

// Runs the three messages; returns the first error.
error_code run(Handshake& initiator, Handshake& responder) {
  if (auto ec = pass(initiator, responder)) return ec;
  if (auto ec = pass(responder, initiator)) return ec;
  if (auto ec = pass(initiator, responder)) return ec;
  return {};
}

// The honest messages 1..3 of a Pair (they are the same on every run).
std::array<Bytes, 3> honest_messages() {
  Pair p;
  std::array<Bytes, 3> messages;
  EXPECT_FALSE(pass(p.initiator, p.responder, &messages[0]));
  EXPECT_FALSE(pass(p.responder, p.initiator, &messages[1]));
  EXPECT_FALSE(pass(p.initiator, p.responder, &messages[2]));
  return messages;
}

// Feeds `message` as message `index` (0-based) of a fresh Pair, after honest earlier messages.
// Returns the error the reading side reports, and for message 1 (which nothing authenticates)
// the error the initiator then reports on message 2.
error_code inject(std::size_t index, ByteView message, Pair& p) {
  if (index >= 1) {
    EXPECT_FALSE(pass(p.initiator, p.responder));
  }
  if (index >= 2) {
    EXPECT_FALSE(pass(p.responder, p.initiator));
  }
  Handshake& writer = index % 2 == 0 ? p.initiator : p.responder;
  Handshake& reader = index % 2 == 0 ? p.responder : p.initiator;
  EXPECT_TRUE(writer.write_next());  // the honest message, replaced below
  if (auto ec = reader.read(message)) return ec;
  if (index == 0) return pass(p.responder, p.initiator);
  return {};
}

Bytes encode(const libp2p::NoiseHandshakePayload& payload) {
  const std::string s = payload.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Bytes signed_static_key(const X25519KeyPair& static_key) {
  const ByteView prefix = as_bytes(kStaticKeySignaturePrefix);
  Bytes message(prefix.size() + X25519KeyPair::kSize);
  std::copy(static_key.public_key().begin(), static_key.public_key().end(),
            std::copy(prefix.begin(), prefix.end(), message.begin()));
  return message;
}

// A NoiseHandshakePayload as the spec defines it, built independently of session.cpp.
Bytes signed_payload(const Ed25519KeyPair& sender, const X25519KeyPair& sender_static,
                     const std::vector<std::string>& muxers) {
  libp2p::NoiseHandshakePayload payload;
  payload.set_identity_key(to_string(sender.public_key().to_protobuf()));
  payload.set_identity_sig(to_string(sender.sign(signed_static_key(sender_static))));
  for (const auto& m : muxers) payload.mutable_extensions()->add_stream_muxers(m);
  return encode(payload);
}

// A responder whose message 2 carries `payload` verbatim; returns the initiator's verdict.
error_code initiator_reads_payload(Bytes payload) {
  const auto alice = identity(1);
  const auto bob = identity(2);
  auto options = fixed_keys(20);
  options.payload = std::move(payload);
  auto initiator = Handshake::initiator(alice);
  auto responder =
      Handshake::with_test_options(Role::responder, bob, std::nullopt, {}, std::move(options));
  if (auto ec = pass(initiator, responder)) return ec;
  const auto ec = pass(responder, initiator);
  EXPECT_FALSE(initiator.complete());
  EXPECT_TRUE(initiator.remote_muxers().empty());
  return ec;
}

Bytes pattern_bytes(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 131 + (i >> 8));
  return b;
}

// Decodes and opens every frame in `wire`; fails the test on leftovers or errors.
Bytes open_all(Transport& t, Bytes& wire, std::size_t* frames = nullptr) {
  Bytes plaintext;
  std::size_t count = 0;
  std::size_t at = 0;
  while (at < wire.size()) {
    auto frame = decode_noise_frame(ByteView(wire).subspan(at));
    EXPECT_TRUE(frame);
    if (!frame || !*frame) {
      ADD_FAILURE() << "incomplete frame at " << at;
      break;
    }
    const std::size_t consumed = (*frame)->second;
    auto opened = t.open(std::span(wire).subspan(at + kFrameHeaderBytes, consumed - 2));
    EXPECT_TRUE(opened) << opened.error().message();
    if (!opened) break;
    plaintext.insert(plaintext.end(), opened->begin(), opened->end());
    at += consumed;
    ++count;
  }
  if (frames != nullptr) *frames = count;
  return plaintext;
}

struct Transports {
  Transport initiator;
  Transport responder;
};

Transports connected() {
  Pair p;
  EXPECT_FALSE(run(p.initiator, p.responder));
  return {std::move(p.initiator).into_transport(), std::move(p.responder).into_transport()};
}

// ---------------------------------------------------------------------------------------------
// Handshake

TEST(Noise, HandshakeProvesIdentitiesAndExchangesMuxers) {
  const auto alice = identity(1);
  const auto bob = identity(2);
  auto initiator = Handshake::initiator(alice, bob.peer_id(), kInitiatorMuxers);
  auto responder = Handshake::responder(bob, kResponderMuxers);
  EXPECT_EQ(initiator.role(), Role::initiator);
  EXPECT_EQ(responder.role(), Role::responder);

  Bytes m1;
  Bytes m2;
  Bytes m3;
  ASSERT_FALSE(pass(initiator, responder, &m1));
  EXPECT_EQ(m1.size(), 32u);  // e only: no payload in message 1
  EXPECT_TRUE(responder.remote_muxers().empty());
  ASSERT_FALSE(pass(responder, initiator, &m2));
  EXPECT_FALSE(initiator.complete());
  EXPECT_EQ(initiator.remote_peer(), bob.peer_id());  // known after message 2
  EXPECT_EQ(initiator.remote_muxers(), kResponderMuxers);
  ASSERT_FALSE(pass(initiator, responder, &m3));

  EXPECT_TRUE(initiator.complete());
  EXPECT_TRUE(responder.complete());
  EXPECT_EQ(initiator.remote_peer(), bob.peer_id());
  EXPECT_EQ(responder.remote_peer(), alice.peer_id());
  EXPECT_EQ(responder.remote_muxers(), kInitiatorMuxers);
  EXPECT_EQ(initiator.handshake_hash(), responder.handshake_hash());
  // Both done: nothing more to write.
  EXPECT_FALSE(*initiator.write_next());
  EXPECT_FALSE(*responder.write_next());
}

// The payload of message 2 or 3 checked by a bare Noise peer (the generic HandshakeState).
void expect_spec_payload(ByteView payload, const Ed25519KeyPair& sender,
                         const X25519KeyPair& sender_static,
                         const std::vector<std::string>& muxers) {
  libp2p::NoiseHandshakePayload decoded;
  ASSERT_TRUE(decoded.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
  EXPECT_EQ(to_hex(as_bytes(decoded.identity_key())), to_hex(sender.public_key().to_protobuf()));
  EXPECT_TRUE(sender.public_key().verify(signed_static_key(sender_static),
                                         as_bytes(decoded.identity_sig())));
  EXPECT_EQ(std::vector<std::string>(decoded.extensions().stream_muxers().begin(),
                                     decoded.extensions().stream_muxers().end()),
            muxers);
  EXPECT_EQ(decoded.extensions().webtransport_certhashes_size(), 0);
}

TEST(Noise, ResponderPayloadInMessageTwoHasTheSpecFields) {
  const auto bob = identity(2);
  auto responder = Handshake::with_test_options(Role::responder, bob, std::nullopt,
                                                kResponderMuxers, fixed_keys(20));
  HandshakeState bare(Role::initiator, {}, x25519(10));
  auto m1 = bare.write_message({});
  ASSERT_TRUE(m1);
  ASSERT_FALSE(responder.read(*m1));
  auto m2 = responder.write_next();
  ASSERT_TRUE(m2 && *m2);
  auto payload = bare.read_message(**m2);
  ASSERT_TRUE(payload) << payload.error().message();
  expect_spec_payload(*payload, bob, x25519(20), kResponderMuxers);
}

TEST(Noise, InitiatorPayloadOnlyInMessageThreeWithTheSpecFields) {
  const auto alice = identity(1);
  const auto bob = identity(2);
  auto initiator = Handshake::with_test_options(Role::initiator, alice, bob.peer_id(),
                                                kInitiatorMuxers, fixed_keys(10));
  HandshakeState bare(Role::responder, {}, x25519(20));
  auto m1 = initiator.write_next();
  ASSERT_TRUE(m1 && *m1);
  auto empty = bare.read_message(**m1);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  ASSERT_FALSE(initiator.read(*bare.write_message(signed_payload(bob, x25519(20), {}))));
  auto m3 = initiator.write_next();
  ASSERT_TRUE(m3 && *m3);
  auto payload = bare.read_message(**m3);
  ASSERT_TRUE(payload) << payload.error().message();
  expect_spec_payload(*payload, alice, x25519(10), kInitiatorMuxers);
  EXPECT_TRUE(initiator.complete());
  EXPECT_EQ(initiator.handshake_hash(), bare.handshake_hash());
}

TEST(Noise, HandshakeWithoutMuxersAndWithoutExpectedPeer) {
  const auto alice = identity(1);
  const auto bob = identity(2);
  auto initiator = Handshake::initiator(alice);
  auto responder = Handshake::responder(bob);
  ASSERT_FALSE(run(initiator, responder));
  EXPECT_EQ(initiator.remote_peer(), bob.peer_id());
  EXPECT_EQ(responder.remote_peer(), alice.peer_id());
  EXPECT_TRUE(initiator.remote_muxers().empty());
  EXPECT_TRUE(responder.remote_muxers().empty());
}

TEST(Noise, FreshNoiseKeysEveryHandshake) {
  const auto alice = identity(1);
  auto a = Handshake::initiator(alice);
  auto b = Handshake::initiator(alice);
  EXPECT_NE(**a.write_next(), **b.write_next());
}

TEST(Noise, InitiatorRejectsAnUnexpectedPeer) {
  const auto alice = identity(1);
  const auto bob = identity(2);
  const auto carol = identity(3);
  auto initiator = Handshake::initiator(alice, carol.peer_id());
  auto responder = Handshake::responder(bob, kResponderMuxers);
  ASSERT_FALSE(pass(initiator, responder));
  EXPECT_EQ(pass(responder, initiator), errc::noise_peer_id_mismatch);
  EXPECT_FALSE(initiator.complete());
  EXPECT_TRUE(initiator.remote_muxers().empty());  // early data of a failed handshake is dropped
  EXPECT_THROW((void)initiator.remote_peer(), std::bad_optional_access);
  // Poisoned: every later call repeats the error.
  EXPECT_EQ(initiator.write_next().error(), errc::noise_peer_id_mismatch);
  EXPECT_EQ(initiator.read(Bytes(100, 0)), errc::noise_peer_id_mismatch);
}

TEST(Noise, SignatureOverTheWrongStaticKeyIsRejected) {
  const auto alice = identity(1);
  const auto bob = identity(2);
  {
    Handshake::TestOptions options;
    options.sign_wrong_static_key = true;
    auto initiator = Handshake::initiator(alice);
    auto responder =
        Handshake::with_test_options(Role::responder, bob, std::nullopt, {}, std::move(options));
    ASSERT_FALSE(pass(initiator, responder));
    EXPECT_EQ(pass(responder, initiator), errc::signature_invalid);
    EXPECT_FALSE(initiator.complete());
  }
  {
    Handshake::TestOptions options;
    options.sign_wrong_static_key = true;
    auto initiator =
        Handshake::with_test_options(Role::initiator, alice, bob.peer_id(), {}, std::move(options));
    auto responder = Handshake::responder(bob);
    ASSERT_FALSE(pass(initiator, responder));
    ASSERT_FALSE(pass(responder, initiator));
    EXPECT_EQ(pass(initiator, responder), errc::signature_invalid);
    EXPECT_FALSE(responder.complete());
    EXPECT_TRUE(initiator.complete());  // it cannot know; the responder closes the connection
  }
}

TEST(Noise, PayloadIdentityKeyMustBeALibp2pEd25519Key) {
  const auto bob = identity(2);
  const Bytes good_key = bob.public_key().to_protobuf();
  const auto payload_with_key = [](Bytes key) {
    libp2p::NoiseHandshakePayload payload;
    payload.set_identity_key(to_string(key));
    payload.set_identity_sig(std::string(64, '\x01'));
    return encode(payload);
  };
  // secp256k1 key from the peer-ids spec vectors.
  EXPECT_EQ(initiator_reads_payload(payload_with_key(
                hex("08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"))),
            errc::key_unsupported_type);
  EXPECT_EQ(initiator_reads_payload(payload_with_key(Bytes{0xff, 0xff, 0xff})),
            errc::key_malformed);
  Bytes short_key = good_key;
  short_key[3] = 31;
  short_key.pop_back();
  EXPECT_EQ(initiator_reads_payload(payload_with_key(short_key)), errc::key_wrong_length);
  // A well-formed key with a signature that is not over our static key.
  EXPECT_EQ(initiator_reads_payload(payload_with_key(good_key)), errc::signature_invalid);
}

TEST(Noise, MalformedPayloadsAreRejected) {
  const auto bob = identity(2);
  EXPECT_EQ(initiator_reads_payload({}), errc::noise_payload_invalid);  // no fields at all
  EXPECT_EQ(initiator_reads_payload(Bytes{0xff, 0xff, 0xff, 0xff}), errc::noise_payload_invalid);
  EXPECT_EQ(initiator_reads_payload(Bytes{0x0a, 0x05, 0x01}), errc::noise_payload_invalid);

  libp2p::NoiseHandshakePayload no_sig;
  no_sig.set_identity_key(to_string(bob.public_key().to_protobuf()));
  EXPECT_EQ(initiator_reads_payload(encode(no_sig)), errc::noise_payload_invalid);
  libp2p::NoiseHandshakePayload no_key;
  no_key.set_identity_sig(std::string(64, '\x01'));
  EXPECT_EQ(initiator_reads_payload(encode(no_key)), errc::noise_payload_invalid);
}

TEST(Noise, ValidPayloadBuiltByHandIsAccepted) {
  // The hook path itself works: a spec payload with an extra extension field passes.
  const auto bob = identity(2);
  libp2p::NoiseHandshakePayload payload;
  const Bytes encoded = signed_payload(bob, x25519(20), {"/yamux/1.0.0"});
  ASSERT_TRUE(payload.ParseFromArray(encoded.data(), static_cast<int>(encoded.size())));
  payload.mutable_extensions()->add_webtransport_certhashes("ignored");

  auto options = fixed_keys(20);
  options.payload = encode(payload);
  auto initiator = Handshake::initiator(identity(1), bob.peer_id());
  auto responder =
      Handshake::with_test_options(Role::responder, bob, std::nullopt, {}, std::move(options));
  ASSERT_FALSE(pass(initiator, responder));
  ASSERT_FALSE(pass(responder, initiator));
  EXPECT_EQ(initiator.remote_peer(), bob.peer_id());
  EXPECT_EQ(initiator.remote_muxers(), std::vector<std::string>{"/yamux/1.0.0"});
}

TEST(Noise, BitFlipAnywhereInAnyHandshakeMessageFails) {
  const auto honest = honest_messages();
  for (std::size_t index = 0; index < honest.size(); ++index) {
    for (std::size_t n = 0; n < honest[index].size(); ++n) {
      Bytes message = honest[index];
      message[n] ^= static_cast<std::uint8_t>(1u << (n % 8));
      Pair p;
      // Message 1 is unauthenticated: the responder takes it, and the transcripts diverge, so
      // the initiator cannot decrypt message 2.
      EXPECT_EQ(inject(index, message, p), errc::noise_decrypt_failed)
          << "message " << index + 1 << " byte " << n;
      EXPECT_FALSE(p.initiator.complete() && p.responder.complete());
      EXPECT_FALSE(p.responder.complete());
    }
  }
}

TEST(Noise, TruncationAtEveryLengthFails) {
  const auto honest = honest_messages();
  for (std::size_t index = 0; index < honest.size(); ++index) {
    // Bytes before the encrypted payload's tag is complete: e (32) and/or encrypted s (48).
    const std::size_t keys = index == 0 ? 32 : index == 1 ? 32 + 48 : 48;
    const std::size_t minimum = index == 0 ? keys : keys + kTagBytes;
    for (std::size_t n = 0; n < honest[index].size(); ++n) {
      Pair p;
      const auto ec = inject(index, ByteView(honest[index]).first(n), p);
      const error_code expected =
          n < minimum ? make_error_code(errc::noise_truncated) : errc::noise_decrypt_failed;
      EXPECT_EQ(ec, expected) << "message " << index + 1 << " cut at " << n;
      EXPECT_FALSE(p.responder.complete());
    }
  }
}

TEST(Noise, MessageOneMustHaveAnEmptyPayload) {
  auto honest = honest_messages();
  Bytes longer = honest[0];
  longer.push_back(0);
  Pair p;
  EXPECT_EQ(inject(0, longer, p), errc::noise_payload_invalid);
}

TEST(Noise, LowOrderEphemeralFailsTheResponder) {
  Pair p;
  ASSERT_TRUE(p.initiator.write_next());
  ASSERT_FALSE(p.responder.read(Bytes(32, 0)));
  EXPECT_EQ(p.responder.write_next().error(), errc::noise_bad_public_key);
}

TEST(Noise, MessagesOutOfTurn) {
  Pair p;
  // The responder has nothing to say first, and reading before writing is out of turn.
  EXPECT_FALSE(*p.responder.write_next());
  EXPECT_EQ(p.initiator.read(Bytes(32, 1)), errc::noise_unexpected_message);
  EXPECT_EQ(p.initiator.write_next().error(), errc::noise_unexpected_message);  // poisoned

  Pair q;
  auto m1 = q.initiator.write_next();
  ASSERT_TRUE(m1 && *m1);
  EXPECT_FALSE(*q.initiator.write_next());  // writing twice: the second has nothing
  ASSERT_FALSE(q.responder.read(**m1));
  EXPECT_EQ(q.responder.read(**m1), errc::noise_unexpected_message);  // its turn to write
  EXPECT_FALSE(q.responder.complete());

  Pair r;
  ASSERT_FALSE(run(r.initiator, r.responder));
  // After completion, further bytes belong to the transport; the handshake stays complete.
  EXPECT_EQ(r.responder.read(Bytes(40, 0)), errc::noise_unexpected_message);
  EXPECT_TRUE(r.responder.complete());
}

TEST(Noise, IntoTransportBeforeCompletionThrows) {
  Pair p;
  ASSERT_FALSE(pass(p.initiator, p.responder));
  EXPECT_THROW((void)std::move(p.initiator).into_transport(), boost::system::system_error);
}

TEST(Noise, OversizedMuxerListDoesNotFitAMessage) {
  const auto bob = identity(2);
  auto initiator = Handshake::initiator(identity(1));
  auto responder = Handshake::responder(bob, {std::string(kMaxMessageBytes, 'm')});
  ASSERT_FALSE(pass(initiator, responder));
  EXPECT_EQ(responder.write_next().error(), errc::noise_frame_too_large);
}

// ---------------------------------------------------------------------------------------------
// Framing

TEST(Noise, FrameEncodingIsTwoByteBigEndianLength) {
  Bytes out;
  ASSERT_FALSE(append_noise_frame(out, Bytes{0xaa, 0xbb, 0xcc}));
  EXPECT_EQ(to_hex(out), "0003aabbcc");
  Bytes big;
  ASSERT_FALSE(append_noise_frame(big, Bytes(kMaxMessageBytes, 1)));
  EXPECT_EQ(big.size(), kMaxMessageBytes + 2);
  EXPECT_EQ(to_hex(ByteView(big).first(2)), "ffff");
  Bytes too_big = {7};
  EXPECT_EQ(append_noise_frame(too_big, Bytes(kMaxMessageBytes + 1, 1)),
            errc::noise_frame_too_large);
  EXPECT_EQ(too_big, Bytes{7});
  EXPECT_EQ(noise_frame_length(Bytes{0x01, 0x02}), 0x0102u);
  EXPECT_EQ(noise_frame_length(Bytes{0x01}), std::nullopt);
}

TEST(Noise, DecodeWaitsForTheLengthAndTheBody) {
  Bytes wire;
  ASSERT_FALSE(append_noise_frame(wire, Bytes{1, 2, 3, 4}));
  ASSERT_FALSE(append_noise_frame(wire, Bytes{}));
  for (std::size_t n = 0; n < 6; ++n) {
    auto frame = decode_noise_frame(ByteView(wire).first(n));
    ASSERT_TRUE(frame) << n;
    EXPECT_FALSE(*frame) << n;
  }
  auto frame = decode_noise_frame(wire);
  ASSERT_TRUE(frame && *frame);
  EXPECT_EQ(to_hex((*frame)->first), "01020304");
  EXPECT_EQ((*frame)->second, 6u);
  auto empty = decode_noise_frame(ByteView(wire).subspan(6));
  ASSERT_TRUE(empty && *empty);
  EXPECT_TRUE((*empty)->first.empty());
  EXPECT_EQ((*empty)->second, 2u);
}

// ---------------------------------------------------------------------------------------------
// Transport

TEST(Noise, TransportsInteroperateBothWaysAtFrameBoundaries) {
  auto [initiator, responder] = connected();
  EXPECT_EQ(initiator.remote_peer(), identity(2).peer_id());
  EXPECT_EQ(responder.remote_peer(), identity(1).peer_id());
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, kMaxPlaintextBytes,
                                 kMaxPlaintextBytes + 1, std::size_t{1} << 20}) {
    const Bytes plaintext = pattern_bytes(size);
    const std::size_t frames = (size + kMaxPlaintextBytes - 1) / kMaxPlaintextBytes;
    for (auto [from, to] : {std::pair{&initiator, &responder}, std::pair{&responder, &initiator}}) {
      Bytes wire = {0xee};  // seal appends
      ASSERT_FALSE(from->seal(plaintext, wire));
      ASSERT_EQ(wire.size(), 1 + size + frames * (kFrameHeaderBytes + kTagBytes)) << size;
      wire.erase(wire.begin());
      std::size_t opened_frames = 0;
      EXPECT_EQ(open_all(*to, wire, &opened_frames), plaintext) << size;
      EXPECT_EQ(opened_frames, frames) << size;
    }
  }
  EXPECT_EQ(initiator.send_nonce(), 1u + 1u + 2u + 17u);
  EXPECT_EQ(responder.receive_nonce(), initiator.send_nonce());
}

TEST(Noise, SealedFramesAreFullWhenSplit) {
  auto [initiator, responder] = connected();
  Bytes wire;
  ASSERT_FALSE(initiator.seal(pattern_bytes(kMaxPlaintextBytes + 1), wire));
  EXPECT_EQ(noise_frame_length(wire), kMaxMessageBytes);
  EXPECT_EQ(noise_frame_length(ByteView(wire).subspan(2 + kMaxMessageBytes)), 1 + kTagBytes);
}

// seal_into() writes what seal() would append, into a buffer of exactly sealed_size() bytes
// whatever it held before, and refuses a buffer of any other size without using a nonce.
TEST(Noise, SealIntoFillsExactlyTheSealedSize) {
  auto [a, b] = connected();
  for (const std::size_t size : {std::size_t{1}, kMaxPlaintextBytes, 2 * kMaxPlaintextBytes + 7}) {
    const Bytes plaintext = pattern_bytes(size);
    Bytes out(Transport::sealed_size(size) + 1, 0xee);
    EXPECT_EQ(a.seal_into(plaintext, std::span(out)), boost::system::errc::invalid_argument);
    out.pop_back();
    const std::uint64_t nonce = a.send_nonce();
    ASSERT_FALSE(a.seal_into(plaintext, std::span(out)));
    const std::size_t frames = (size + kMaxPlaintextBytes - 1) / kMaxPlaintextBytes;
    EXPECT_EQ(a.send_nonce(), nonce + frames);
    Bytes opened;
    for (std::size_t at = 0; at < out.size();) {
      const std::size_t length = noise_frame_length(ByteView(out).subspan(at)).value();
      auto plain = b.open(std::span(out).subspan(at + kFrameHeaderBytes, length));
      ASSERT_TRUE(plain) << size;
      opened.insert(opened.end(), plain->begin(), plain->end());
      at += kFrameHeaderBytes + length;
    }
    EXPECT_EQ(opened, plaintext) << size;
  }
}

TEST(Noise, TamperedCiphertextFailsToOpen) {
  for (std::size_t n = 0; n < 5 + kTagBytes; ++n) {
    auto [a, b] = connected();
    Bytes wire;
    ASSERT_FALSE(a.seal(Bytes{1, 2, 3, 4, 5}, wire));
    wire[kFrameHeaderBytes + n] ^= 0x10;
    auto opened = b.open(std::span(wire).subspan(kFrameHeaderBytes));
    EXPECT_EQ(opened.error(), errc::noise_decrypt_failed) << n;
  }
}

TEST(Noise, ReplayedFrameFailsToOpen) {
  auto [initiator, responder] = connected();
  Bytes wire;
  ASSERT_FALSE(initiator.seal(Bytes{1, 2, 3}, wire));
  const Bytes copy = wire;
  ASSERT_TRUE(responder.open(std::span(wire).subspan(kFrameHeaderBytes)));
  Bytes replay = copy;
  EXPECT_EQ(responder.open(std::span(replay).subspan(kFrameHeaderBytes)).error(),
            errc::noise_decrypt_failed);
  // A frame sent the other way is under a different key.
  Bytes reflected = copy;
  EXPECT_EQ(initiator.open(std::span(reflected).subspan(kFrameHeaderBytes)).error(),
            errc::noise_decrypt_failed);
}

TEST(Noise, OpenRejectsShortAndOversizedMessages) {
  auto [initiator, responder] = connected();
  Bytes short_message(kTagBytes - 1, 0);
  EXPECT_EQ(responder.open(short_message).error(), errc::noise_truncated);
  Bytes huge(kMaxMessageBytes + 1, 0);
  EXPECT_EQ(responder.open(huge).error(), errc::noise_frame_too_large);
  EXPECT_EQ(responder.receive_nonce(), 0u);
}

TEST(Noise, NonceExhaustionOnSealAndOpen) {
  auto [initiator, responder] = connected();
  initiator.set_nonces_for_test(CipherState::kMaxNonce - 1, 0);
  responder.set_nonces_for_test(0, CipherState::kMaxNonce - 1);
  Bytes wire = {0x55};
  // Two frames would need nonces 2^64-2 and 2^64-1: refused up front, nothing written.
  EXPECT_EQ(initiator.seal(pattern_bytes(kMaxPlaintextBytes + 1), wire),
            errc::noise_nonce_exhausted);
  EXPECT_EQ(wire, Bytes{0x55});
  EXPECT_EQ(initiator.send_nonce(), CipherState::kMaxNonce - 1);
  // One frame uses the last nonce; after it the direction is exhausted.
  wire.clear();
  ASSERT_FALSE(initiator.seal(Bytes{1}, wire));
  const Bytes last = wire;
  ASSERT_TRUE(responder.open(std::span(wire).subspan(kFrameHeaderBytes)));
  EXPECT_EQ(initiator.seal(Bytes{1}, wire), errc::noise_nonce_exhausted);
  Bytes again = last;
  EXPECT_EQ(responder.open(std::span(again).subspan(kFrameHeaderBytes)).error(),
            errc::noise_nonce_exhausted);
}

TEST(Noise, TransportFromFixedKeysTalksToItsMirror) {
  Key k1;
  Key k2;
  k1.fill(1);
  k2.fill(2);
  auto a = Transport::from_keys_for_test(k1, k2, PeerId::from_u64(2));
  auto b = Transport::from_keys_for_test(k2, k1, PeerId::from_u64(1));
  Bytes wire;
  ASSERT_FALSE(a.seal(as_bytes("hello"), wire));
  EXPECT_EQ(as_chars(open_all(b, wire)), "hello");
  EXPECT_EQ(b.remote_peer(), PeerId::from_u64(1));
}

}  // namespace
}  // namespace bb::wire::noise

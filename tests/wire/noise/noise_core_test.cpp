// The generic Noise core: CipherState, SymmetricState and the XX HandshakeState, checked against
// the cacophony vector for Noise_XX_25519_ChaChaPoly_SHA256.
#include "bb/wire/noise/cipher_state.hpp"
#include "bb/wire/noise/handshake_state.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string_view>

namespace bb::wire::noise {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

X25519KeyPair x25519(std::string_view secret_hex) {
  return X25519KeyPair::from_secret(hex(secret_hex)).value();
}

Key key_of(std::uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}

Bytes seal(CipherState& c, ByteView plaintext, ByteView ad = {}) {
  Bytes out(plaintext.size() + kTagBytes);
  const auto ec = c.encrypt(ad, plaintext, out);
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

result<Bytes> open(CipherState& c, ByteView message, ByteView ad = {}) {
  Bytes out(message.size() >= kTagBytes ? message.size() - kTagBytes : 0);
  if (auto ec = c.decrypt(ad, message, out)) return ec;
  return out;
}

// ---------------------------------------------------------------------------------------------
// mcginty/snow tests/vectors/cacophony.txt, Noise_XX_25519_ChaChaPoly_SHA256.

struct VectorMessage {
  std::string_view payload;
  std::string_view ciphertext;
};

constexpr std::string_view kPrologue = "4a6f686e2047616c74";  // "John Galt"
constexpr std::string_view kInitStatic =
    "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
constexpr std::string_view kInitEphemeral =
    "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
constexpr std::string_view kRespStatic =
    "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
constexpr std::string_view kRespEphemeral =
    "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
constexpr std::string_view kHandshakeHash =
    "c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e";
constexpr VectorMessage kMessages[] = {
    {"4c756477696720766f6e204d69736573",
     "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69"
     "736573"},
    {"4d757272617920526f746862617264",
     "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2"
     "b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c"
     "412f8a0db50f8814c7194e83f23dbd8d162c9326ad"},
    {"462e20412e20486179656b",
     "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be08"
     "65b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030"},
    {"4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"},
    {"4a65616e2d426170746973746520536179",
     "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"},
    {"457567656e2042f6686d20766f6e2042617765726b",
     "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"},
};

TEST(NoiseCore, CacophonyXXVectorByteForByte) {
  HandshakeState initiator(Role::initiator, hex(kPrologue), x25519(kInitStatic),
                           x25519(kInitEphemeral));
  HandshakeState responder(Role::responder, hex(kPrologue), x25519(kRespStatic),
                           x25519(kRespEphemeral));

  // Messages alternate, initiator first, through the handshake and on into transport.
  for (std::size_t i = 0; i < HandshakeState::kMessageCount; ++i) {
    HandshakeState& writer = i % 2 == 0 ? initiator : responder;
    HandshakeState& reader = i % 2 == 0 ? responder : initiator;
    auto message = writer.write_message(hex(kMessages[i].payload));
    ASSERT_TRUE(message) << i << ": " << message.error().message();
    EXPECT_EQ(to_hex(*message), kMessages[i].ciphertext) << "message " << i;
    auto payload = reader.read_message(*message);
    ASSERT_TRUE(payload) << i << ": " << payload.error().message();
    EXPECT_EQ(to_hex(*payload), kMessages[i].payload) << "message " << i;
  }
  ASSERT_TRUE(initiator.finished());
  ASSERT_TRUE(responder.finished());
  EXPECT_EQ(to_hex(initiator.handshake_hash()), kHandshakeHash);
  EXPECT_EQ(to_hex(responder.handshake_hash()), kHandshakeHash);
  EXPECT_EQ(*initiator.remote_static(), responder.local_static().public_key());
  EXPECT_EQ(*responder.remote_static(), initiator.local_static().public_key());

  auto init_ciphers = initiator.split();
  auto resp_ciphers = responder.split();
  ASSERT_TRUE(init_ciphers);
  ASSERT_TRUE(resp_ciphers);
  for (std::size_t i = HandshakeState::kMessageCount; i < std::size(kMessages); ++i) {
    const bool from_initiator = i % 2 == 0;
    CipherState& send = from_initiator ? init_ciphers->send : resp_ciphers->send;
    CipherState& receive = from_initiator ? resp_ciphers->receive : init_ciphers->receive;
    const Bytes ciphertext = seal(send, hex(kMessages[i].payload));
    EXPECT_EQ(to_hex(ciphertext), kMessages[i].ciphertext) << "message " << i;
    auto plaintext = open(receive, ciphertext);
    ASSERT_TRUE(plaintext) << i;
    EXPECT_EQ(to_hex(*plaintext), kMessages[i].payload) << "message " << i;
  }
}

TEST(NoiseCore, TamperedVectorMessageFailsToDecrypt) {
  HandshakeState initiator(Role::initiator, hex(kPrologue), x25519(kInitStatic),
                           x25519(kInitEphemeral));
  HandshakeState responder(Role::responder, hex(kPrologue), x25519(kRespStatic),
                           x25519(kRespEphemeral));
  ASSERT_TRUE(responder.read_message(*initiator.write_message({})));
  Bytes message = *responder.write_message({});
  message.back() ^= 0x80;
  auto payload = initiator.read_message(message);
  EXPECT_EQ(payload.error(), errc::noise_decrypt_failed);
  EXPECT_TRUE(initiator.failed());
}

TEST(NoiseCore, DifferentProloguesDoNotAgree) {
  HandshakeState initiator(Role::initiator, as_bytes("a"), X25519KeyPair::generate());
  HandshakeState responder(Role::responder, as_bytes("b"), X25519KeyPair::generate());
  ASSERT_TRUE(responder.read_message(*initiator.write_message({})));
  auto message = responder.write_message({});
  ASSERT_TRUE(message);
  EXPECT_EQ(initiator.read_message(*message).error(), errc::noise_decrypt_failed);
}

// ---------------------------------------------------------------------------------------------
// HandshakeState rules

TEST(NoiseCore, MessagesOutOfTurnAreRejected) {
  HandshakeState initiator(Role::initiator, {}, X25519KeyPair::generate());
  HandshakeState responder(Role::responder, {}, X25519KeyPair::generate());
  EXPECT_TRUE(initiator.is_my_turn());
  EXPECT_FALSE(responder.is_my_turn());
  EXPECT_EQ(responder.write_message({}).error(), errc::noise_unexpected_message);

  auto m0 = initiator.write_message({});
  ASSERT_TRUE(m0);
  // Writing twice in a row is out of turn; a refused write does not poison the writer.
  EXPECT_EQ(initiator.write_message({}).error(), errc::noise_unexpected_message);
  EXPECT_FALSE(initiator.failed());
  ASSERT_TRUE(responder.read_message(*m0));

  // Reading when it is our turn is a protocol violation and is final.
  EXPECT_EQ(responder.read_message(*m0).error(), errc::noise_unexpected_message);
  EXPECT_TRUE(responder.failed());
  EXPECT_EQ(responder.write_message({}).error(), errc::noise_unexpected_message);
  EXPECT_EQ(responder.split().error(), errc::noise_unexpected_message);
}

TEST(NoiseCore, SplitBeforeTheEndIsRefusedAndAfterItNoMoreMessages) {
  HandshakeState initiator(Role::initiator, {}, X25519KeyPair::generate());
  HandshakeState responder(Role::responder, {}, X25519KeyPair::generate());
  EXPECT_EQ(initiator.split().error(), errc::noise_unexpected_message);
  ASSERT_TRUE(responder.read_message(*initiator.write_message({})));
  ASSERT_TRUE(initiator.read_message(*responder.write_message({})));
  EXPECT_EQ(initiator.split().error(), errc::noise_unexpected_message);
  auto m2 = initiator.write_message({});
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->size(), 32u + 16u + 16u);  // encrypted s ‖ tag of the empty payload
  ASSERT_TRUE(responder.read_message(*m2));
  EXPECT_TRUE(initiator.finished());
  EXPECT_EQ(initiator.message_index(), 3u);
  EXPECT_FALSE(initiator.is_my_turn());
  EXPECT_EQ(initiator.write_message({}).error(), errc::noise_unexpected_message);
  EXPECT_TRUE(initiator.split());
}

TEST(NoiseCore, ErrorsAreSticky) {
  HandshakeState responder(Role::responder, {}, X25519KeyPair::generate());
  EXPECT_EQ(responder.read_message(Bytes(31, 1)).error(), errc::noise_truncated);
  EXPECT_EQ(responder.read_message(Bytes(32, 1)).error(), errc::noise_truncated);
  EXPECT_FALSE(responder.is_my_turn());
  EXPECT_FALSE(responder.finished());
}

TEST(NoiseCore, LowOrderEphemeralIsABadPublicKey) {
  // The all-zero point makes every X25519 output zero, which libsodium refuses.
  HandshakeState responder(Role::responder, {}, X25519KeyPair::generate());
  ASSERT_TRUE(responder.read_message(Bytes(32, 0)));
  EXPECT_EQ(responder.write_message({}).error(), errc::noise_bad_public_key);

  HandshakeState initiator(Role::initiator, {}, X25519KeyPair::generate());
  ASSERT_TRUE(initiator.write_message({}));
  Bytes message2(32 + 48 + 16, 0);
  EXPECT_EQ(initiator.read_message(message2).error(), errc::noise_bad_public_key);
}

TEST(NoiseCore, MessageSizeIsCappedAt65535) {
  HandshakeState initiator(Role::initiator, {}, X25519KeyPair::generate());
  EXPECT_EQ(initiator.write_message(Bytes(kMaxMessageBytes - 32 + 1, 0)).error(),
            errc::noise_frame_too_large);

  HandshakeState fits(Role::initiator, {}, X25519KeyPair::generate());
  auto message = fits.write_message(Bytes(kMaxMessageBytes - 32, 0));
  ASSERT_TRUE(message);
  EXPECT_EQ(message->size(), kMaxMessageBytes);

  HandshakeState responder(Role::responder, {}, X25519KeyPair::generate());
  EXPECT_EQ(responder.read_message(Bytes(kMaxMessageBytes + 1, 9)).error(),
            errc::noise_frame_too_large);
}

TEST(NoiseCore, RandomEphemeralsGiveDifferentMessagesButAgree) {
  HandshakeState a(Role::initiator, {}, X25519KeyPair::generate());
  HandshakeState b(Role::initiator, {}, X25519KeyPair::generate());
  EXPECT_NE(*a.write_message({}), *b.write_message({}));
}

TEST(NoiseCore, X25519KeyPairChecksLengths) {
  EXPECT_EQ(X25519KeyPair::from_secret(Bytes(31, 1)).error(), errc::key_wrong_length);
  // RFC 7748 §6.1 Alice's key pair.
  auto alice = x25519("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  EXPECT_EQ(to_hex(alice.public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  Key shared;
  EXPECT_EQ(alice.dh(Bytes(31, 1), shared), errc::noise_bad_public_key);
  EXPECT_FALSE(
      alice.dh(hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"), shared));
  EXPECT_EQ(to_hex(shared), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

// ---------------------------------------------------------------------------------------------
// CipherState

TEST(NoiseCore, NonceIsFourZeroBytesThenLittleEndianCounter) {
  const Key key = key_of(0x42);
  CipherState c(key);
  c.set_nonce_for_test(0x0102030405060708);
  const Bytes plaintext = Bytes{'h', 'i'};
  const Bytes ad = Bytes{'a', 'd'};
  const Bytes got = seal(c, plaintext, ad);
  EXPECT_EQ(c.nonce(), 0x0102030405060709u);

  const std::uint8_t nonce[12] = {0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  Bytes expected(plaintext.size() + kTagBytes);
  unsigned long long size = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(expected.data(), &size, plaintext.data(),
                                            plaintext.size(), ad.data(), ad.size(), nullptr, nonce,
                                            key.data());
  EXPECT_EQ(to_hex(got), to_hex(expected));
}

TEST(NoiseCore, EncryptAndDecryptWorkInPlace) {
  CipherState a(key_of(7));
  CipherState b(key_of(7));
  Bytes buffer = {1, 2, 3, 4, 5};
  const Bytes original = buffer;
  buffer.resize(buffer.size() + kTagBytes);
  ASSERT_FALSE(a.encrypt({}, ByteView(buffer).first(5), buffer));
  EXPECT_NE(Bytes(buffer.begin(), buffer.begin() + 5), original);
  ASSERT_FALSE(b.decrypt({}, buffer, std::span(buffer).first(5)));
  EXPECT_EQ(Bytes(buffer.begin(), buffer.begin() + 5), original);
}

TEST(NoiseCore, FailedDecryptDoesNotAdvanceTheNonce) {
  CipherState a(key_of(1));
  CipherState b(key_of(1));
  Bytes message = seal(a, Bytes{1, 2, 3});
  Bytes forged = message;
  forged[0] ^= 1;
  EXPECT_EQ(open(b, forged).error(), errc::noise_decrypt_failed);
  EXPECT_EQ(b.nonce(), 0u);
  ASSERT_TRUE(open(b, message));
  EXPECT_EQ(b.nonce(), 1u);
  EXPECT_EQ(open(b, message).error(), errc::noise_decrypt_failed);  // replay: nonce moved on
  EXPECT_EQ(open(b, Bytes(15, 0)).error(), errc::noise_truncated);
}

TEST(NoiseCore, NonceExhaustionOnEncryptAndDecrypt) {
  CipherState a(key_of(3));
  CipherState b(key_of(3));
  a.set_nonce_for_test(CipherState::kMaxNonce - 1);
  b.set_nonce_for_test(CipherState::kMaxNonce - 1);
  const Bytes last = seal(a, Bytes{9});
  ASSERT_TRUE(open(b, last));
  EXPECT_EQ(a.nonce(), CipherState::kMaxNonce);

  Bytes out(1 + kTagBytes);
  EXPECT_EQ(a.encrypt({}, Bytes{9}, out), errc::noise_nonce_exhausted);
  EXPECT_EQ(a.nonce(), CipherState::kMaxNonce);
  EXPECT_EQ(open(b, last).error(), errc::noise_nonce_exhausted);
}

TEST(NoiseCore, CipherStateWithoutKeyRefusesAndMovedFromLosesItsKey) {
  CipherState empty;
  Bytes out(kTagBytes);
  EXPECT_EQ(empty.encrypt({}, {}, out), errc::crypto_failure);
  CipherState a(key_of(5));
  CipherState b = std::move(a);
  EXPECT_TRUE(b.has_key());
  EXPECT_FALSE(a.has_key());  // NOLINT(bugprone-use-after-move): checking the wipe
  EXPECT_EQ(a.encrypt({}, {}, out), errc::crypto_failure);
  Bytes wrong_size(kTagBytes + 1);
  EXPECT_EQ(b.encrypt({}, {}, wrong_size), errc::crypto_failure);
}

TEST(NoiseCore, SymmetricStateInitialisesFromTheProtocolName) {
  // A 32-byte name is used as h directly; a longer one is hashed.
  SymmetricState exact(HandshakeState::kProtocolName);
  EXPECT_EQ(to_hex(exact.handshake_hash()), to_hex(as_bytes(HandshakeState::kProtocolName)));
  const std::string_view long_name = "Noise_XXpsk3_25519_ChaChaPoly_SHA256";
  SymmetricState hashed(long_name);
  Hash expected;
  crypto_hash_sha256(expected.data(), as_bytes(long_name).data(), long_name.size());
  EXPECT_EQ(hashed.handshake_hash(), expected);
  SymmetricState short_name("ab");
  Hash padded{};
  padded[0] = 'a';
  padded[1] = 'b';
  EXPECT_EQ(short_name.handshake_hash(), padded);
  EXPECT_FALSE(short_name.has_key());
}

}  // namespace
}  // namespace bb::wire::noise

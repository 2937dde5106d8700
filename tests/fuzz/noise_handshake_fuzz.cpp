// Noise handshake messages from an attacker, with fixed identities and Noise keys so runs repeat.
// A responder reads the input as message 1 and, if it accepts it, writes message 2; an
// initiator that sent message 1 reads the input as message 2. Nothing may crash; the responder
// can never complete here; the initiator may accept message 2 only when it proves the expected
// responder (as the seed does) and must then finish with message 3; a failed side stays failed
// and exposes no early data.
#include "bb/wire/noise/session.hpp"

#include <array>

namespace {

using namespace bb::wire;
using namespace bb::wire::noise;

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

// The seeds in corpus/noise_handshake are the honest messages 1 and 2 under these keys.
struct Fixture {
  Ed25519KeyPair alice = identity(1);
  Ed25519KeyPair bob = identity(2);
  X25519KeyPair alice_static = x25519(10);
  X25519KeyPair alice_ephemeral = x25519(11);
  X25519KeyPair bob_static = x25519(20);
  X25519KeyPair bob_ephemeral = x25519(21);
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

Handshake::TestOptions options(const X25519KeyPair& s, const X25519KeyPair& e) {
  Handshake::TestOptions o;
  o.static_key = s;
  o.ephemeral_key = e;
  return o;
}

void responder_reads_message_1(ByteView input) {
  const Fixture& f = fixture();
  auto responder =
      Handshake::with_test_options(Role::responder, f.bob, std::nullopt, {"/yamux/1.0.0"},
                                   options(f.bob_static, f.bob_ephemeral));
  if (responder.read(input)) {
    if (responder.complete() || !responder.remote_muxers().empty()) __builtin_trap();
    if (responder.write_next()) __builtin_trap();  // a failed handshake stays failed
    return;
  }
  if (input.size() != HandshakeState::kDhBytes) __builtin_trap();  // e only, empty payload
  auto message2 = responder.write_next();
  if (message2) {
    if (!*message2 || (*message2)->size() > kMaxMessageBytes) __builtin_trap();
  } else if (message2.error() != errc::noise_bad_public_key) {
    __builtin_trap();
  }
  if (responder.complete()) __builtin_trap();
}

void initiator_reads_message_2(ByteView input) {
  const Fixture& f = fixture();
  auto initiator =
      Handshake::with_test_options(Role::initiator, f.alice, f.bob.peer_id(), {"/yamux/1.0.0"},
                                   options(f.alice_static, f.alice_ephemeral));
  auto message1 = initiator.write_next();
  if (!message1 || !*message1) __builtin_trap();
  if (initiator.read(input)) {
    if (initiator.complete() || !initiator.remote_muxers().empty()) __builtin_trap();
    if (initiator.write_next()) __builtin_trap();
    return;
  }
  // Accepted: the payload proved the expected responder, so message 3 completes the handshake.
  if (initiator.remote_peer() != f.bob.peer_id()) __builtin_trap();
  auto message3 = initiator.write_next();
  if (!message3 || !*message3 || !initiator.complete()) __builtin_trap();
  (void)std::move(initiator).into_transport();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  responder_reads_message_1(input);
  initiator_reads_message_2(input);
  return 0;
}

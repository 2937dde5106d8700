// libp2p Noise (protocol id /noise, libp2p specs noise/README.md) on top of the generic XX
// HandshakeState: the signed handshake payload that binds each side's Noise static key to its
// libp2p identity, the 2-byte frame, and the post-handshake Transport.
//
// Sans-IO: bytes in, bytes out. The caller owns the socket, the buffers and every deadline; it
// moves whole Noise messages (without their 2-byte length) between a Handshake and the wire,
// then turns the Handshake into a Transport. Errors are values (wire::errc); any error from a
// Handshake or a Transport means: close the connection.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/noise/cipher_state.hpp"
#include "bb/wire/noise/handshake_state.hpp"
#include "bb/wire/peer_id.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bb::wire::noise {

inline constexpr std::string_view kProtocolId = "/noise";
inline constexpr std::size_t kFrameHeaderBytes = 2;  // big-endian message length
inline constexpr std::size_t kMaxPlaintextBytes = kMaxMessageBytes - kTagBytes;
// The identity key signs this prefix followed by the 32-byte Noise static public key.
inline constexpr std::string_view kStaticKeySignaturePrefix = "noise-libp2p-static-key:";

// Appends 2-byte big-endian length ‖ message. Error: noise_frame_too_large beyond
// kMaxMessageBytes (`out` is left unchanged).
boost::system::error_code append_noise_frame(Bytes& out, ByteView message);
// The message length announced by the first two bytes of `in`; nullopt while fewer than 2.
std::optional<std::size_t> noise_frame_length(ByteView in) noexcept;
// The frame at the start of `in`: {message, consumed = 2 + message size}, or nullopt while the
// length or the message is incomplete. Never allocates. Every 16-bit length is acceptable, so no
// input fails today; the result type leaves room for a tighter limit. A reader that wants to
// open() in place takes the message as bytes [2, consumed) of its own mutable buffer.
result<std::optional<std::pair<ByteView, std::size_t>>> decode_noise_frame(ByteView in);

class Transport;

// One libp2p Noise handshake (XX, empty prologue). Single-threaded, no synchronisation; it copies
// what it needs, so nothing passed in must outlive it. Drive it with write_next() and read() until
// complete(), then call into_transport(). The first error poisons it: later calls return it
// (a read() after completion only reports noise_unexpected_message; the handshake stays done).
class Handshake {
 public:
  // The initiator dialed `expected` when it knows whom it dialed (a /p2p/ address): a different
  // proven PeerId fails with noise_peer_id_mismatch. `muxers` go in the payload's stream_muxers
  // extension (responder in message 2, initiator in message 3, never message 1).
  static Handshake initiator(const Ed25519KeyPair& identity, std::optional<PeerId> expected = {},
                             std::vector<std::string> muxers = {});
  static Handshake responder(const Ed25519KeyPair& identity, std::vector<std::string> muxers = {});

  // Test and fuzz hooks; production code uses initiator() and responder(), which draw fresh
  // static and ephemeral Noise keys for every handshake.
  struct TestOptions {
    std::optional<X25519KeyPair> static_key;     // fixed Noise static key
    std::optional<X25519KeyPair> ephemeral_key;  // fixed Noise ephemeral key
    bool sign_wrong_static_key = false;          // identity_sig covers some other X25519 key
    std::optional<Bytes> payload;                // sent instead of our NoiseHandshakePayload
  };
  static Handshake with_test_options(Role role, const Ed25519KeyPair& identity,
                                     std::optional<PeerId> expected,
                                     std::vector<std::string> muxers, TestOptions options);

  Handshake(Handshake&&) noexcept = default;
  Handshake& operator=(Handshake&&) noexcept = default;

  // Our next message (without the 2-byte length), or nullopt when it is the peer's turn or done.
  result<std::optional<Bytes>> write_next();
  // One message from the peer (without the 2-byte length). Verifies the payload when it arrives:
  // identity_key must parse as a libp2p Ed25519 public key, identity_sig must verify over
  // "noise-libp2p-static-key:" ‖ the remote static X25519 key; the remote PeerId is derived from
  // it. Message 1 must carry an empty payload. Errors: noise_unexpected_message (our turn, or
  // already complete), noise_truncated, noise_decrypt_failed, noise_bad_public_key,
  // noise_frame_too_large, noise_payload_invalid, key_malformed, key_unsupported_type,
  // key_wrong_length, signature_invalid, noise_peer_id_mismatch.
  boost::system::error_code read(ByteView message);

  bool complete() const noexcept;
  Role role() const noexcept { return state_.role(); }
  // Valid once complete (the initiator knows it after message 2). Throws std::bad_optional_access
  // before the peer's payload has been verified.
  const PeerId& remote_peer() const;
  // The peer's stream_muxers extension, available once its payload has been verified.
  const std::vector<std::string>& remote_muxers() const noexcept { return remote_muxers_; }
  // The Noise handshake hash (channel binding), final once complete.
  const Hash& handshake_hash() const noexcept { return state_.handshake_hash(); }
  // Precondition: complete(); otherwise throws boost::system::system_error
  // (noise_unexpected_message).
  Transport into_transport() &&;

 private:
  Handshake(HandshakeState state, Bytes payload, std::optional<PeerId> expected);
  boost::system::error_code fail(boost::system::error_code ec);
  boost::system::error_code verify_payload(ByteView payload);

  HandshakeState state_;
  Bytes local_payload_;  // our encoded NoiseHandshakePayload, sent in message 2 or 3
  std::optional<PeerId> expected_;
  std::optional<PeerId> remote_peer_;
  std::vector<std::string> remote_muxers_;
  boost::system::error_code failed_;
};

// Post-handshake cipher pair. Frames are 2-byte big-endian length ‖ ciphertext ‖ tag. Move-only.
// seal() touches only the send state and open() only the receive state, so one writer and one
// reader (each single-threaded) may share a Transport; remote_peer() is immutable. Any error is
// final for the connection: close it.
class Transport {
 public:
  // Appends frames for `plaintext` (split into chunks of at most kMaxPlaintextBytes) to `out`;
  // an empty plaintext appends nothing. Grows `out` once and encrypts straight into it. Error:
  // noise_nonce_exhausted, checked for all chunks up front, with `out` unchanged.
  boost::system::error_code seal(ByteView plaintext, Bytes& out);
  // The bytes seal() appends for `plaintext_bytes` of plaintext.
  static std::size_t sealed_size(std::size_t plaintext_bytes) noexcept;
  // seal() into `out`, exactly sealed_size(plaintext.size()) bytes (invalid_argument otherwise):
  // a writer that keeps its buffer at its largest size seals without zero-filling it first.
  // Errors as seal().
  boost::system::error_code seal_into(ByteView plaintext, std::span<std::uint8_t> out);
  // Decrypts one Noise message in place (message excludes the length prefix) and returns the
  // plaintext view inside `message`. Errors: noise_decrypt_failed, noise_nonce_exhausted,
  // noise_truncated (shorter than a tag), noise_frame_too_large.
  result<std::span<std::uint8_t>> open(std::span<std::uint8_t> message);

  const PeerId& remote_peer() const noexcept { return remote_peer_; }
  std::uint64_t send_nonce() const noexcept { return send_.nonce(); }
  std::uint64_t receive_nonce() const noexcept { return receive_.nonce(); }

  // Test and fuzz hooks: a Transport from fixed keys, and a way to reach nonce exhaustion.
  static Transport from_keys_for_test(const Key& send_key, const Key& receive_key,
                                      PeerId remote_peer);
  void set_nonces_for_test(std::uint64_t send, std::uint64_t receive) noexcept;

 private:
  friend class Handshake;
  Transport(CipherPair ciphers, PeerId remote_peer) noexcept;

  CipherState send_;
  CipherState receive_;
  PeerId remote_peer_;
};

}  // namespace bb::wire::noise

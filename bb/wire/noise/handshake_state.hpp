// The generic Noise HandshakeState (Noise spec rev 34, §5.3) for one pattern and one suite:
// Noise_XX_25519_ChaChaPoly_SHA256,
//   -> e
//   <- e, ee, s, es
//   -> s, se
// with an arbitrary prologue and arbitrary payloads. It knows nothing of libp2p (see
// wire/noise/session.hpp). Sans-IO and single-threaded: messages in, messages out; no
// synchronisation. Any error is final: the state is poisoned and every later call returns the
// first error. Secrets are wiped on destruction.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/noise/cipher_state.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace bb::wire::noise {

enum class Role { initiator, responder };

// An X25519 key pair (RFC 7748). Copyable so tests can reuse fixed keys; the secret is wiped on
// destruction.
class X25519KeyPair {
 public:
  static constexpr std::size_t kSize = 32;
  using PublicKey = std::array<std::uint8_t, kSize>;

  static X25519KeyPair generate();
  // From a 32-byte secret scalar (clamped by X25519 itself). Error: key_wrong_length.
  static result<X25519KeyPair> from_secret(ByteView secret);

  X25519KeyPair(const X25519KeyPair&) = default;
  X25519KeyPair& operator=(const X25519KeyPair&) = default;
  ~X25519KeyPair();

  const PublicKey& public_key() const noexcept { return public_; }
  // DH(secret, remote) into `shared`. A low-order remote point (all-zero result) fails with
  // noise_bad_public_key and leaves `shared` zeroed.
  boost::system::error_code dh(ByteView remote_public, Key& shared) const noexcept;

 private:
  X25519KeyPair() = default;
  std::array<std::uint8_t, kSize> secret_{};
  PublicKey public_{};
};

class HandshakeState {
 public:
  static constexpr std::string_view kProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
  static constexpr std::size_t kMessageCount = 3;
  static constexpr std::size_t kDhBytes = X25519KeyPair::kSize;

  // `fixed_ephemeral` is for test vectors and repeatable fuzzing; otherwise the ephemeral key is
  // drawn from libsodium's CSPRNG when its `e` token is written.
  HandshakeState(Role role, ByteView prologue, X25519KeyPair local_static,
                 std::optional<X25519KeyPair> fixed_ephemeral = {});
  HandshakeState(HandshakeState&&) noexcept = default;
  HandshakeState& operator=(HandshakeState&&) noexcept = default;

  // Our next message carrying `payload`. Errors: noise_unexpected_message when it is not our
  // turn or the handshake is over, noise_bad_public_key, noise_frame_too_large when the message
  // would exceed kMaxMessageBytes.
  result<Bytes> write_message(ByteView payload);
  // The payload of the peer's next message. Errors: noise_unexpected_message (not the peer's
  // turn), noise_truncated, noise_decrypt_failed, noise_bad_public_key, noise_frame_too_large.
  result<Bytes> read_message(ByteView message);

  Role role() const noexcept { return role_; }
  // Messages processed so far (0..3): the index of the next message.
  std::size_t message_index() const noexcept { return index_; }
  bool is_my_turn() const noexcept;
  bool finished() const noexcept { return !failed_ && index_ == kMessageCount; }
  bool failed() const noexcept { return static_cast<bool>(failed_); }

  const X25519KeyPair& local_static() const noexcept { return s_; }
  // The peer's static key once its `s` token has been read; nullopt before.
  const std::optional<X25519KeyPair::PublicKey>& remote_static() const noexcept { return rs_; }
  // h: the channel binding value once finished.
  const Hash& handshake_hash() const noexcept { return symmetric_.handshake_hash(); }
  // Split() into our send and receive CipherStates. Error: noise_unexpected_message before the
  // third message has been processed.
  result<CipherPair> split() const;

 private:
  enum class Token : std::uint8_t { e, s, ee, es, se };
  static std::span<const Token> pattern(std::size_t index) noexcept;  // the XX tokens

  boost::system::error_code fail(boost::system::error_code ec) noexcept;
  boost::system::error_code mix_dh(Token token);

  Role role_;
  SymmetricState symmetric_;
  X25519KeyPair s_;
  std::optional<X25519KeyPair> e_;
  std::optional<X25519KeyPair::PublicKey> rs_;
  std::optional<X25519KeyPair::PublicKey> re_;
  std::size_t index_ = 0;
  boost::system::error_code failed_;
};

}  // namespace bb::wire::noise

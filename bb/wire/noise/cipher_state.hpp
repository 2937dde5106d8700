// The Noise CipherState and SymmetricState (Noise spec rev 34, §5.1 and §5.2) for the
// ChaChaPoly/SHA256 suite: ChaCha20-Poly1305 IETF with the nonce 0^32 ‖ LE64(n), SHA-256, and
// the Noise HKDF built from HMAC-SHA256. Implemented with libsodium, which stays out of this
// header. Value types with no synchronisation: one owner at a time. Move-only, because a copied
// CipherState would reuse nonces; keys and the chaining key are wiped on destruction and a
// moved-from CipherState holds no key.
#pragma once

#include "bb/wire/bytes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <utility>

namespace bb::wire::noise {

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kHashBytes = 32;
inline constexpr std::size_t kTagBytes = 16;
// Noise caps every message (handshake or transport) at 65535 bytes.
inline constexpr std::size_t kMaxMessageBytes = 65535;

using Key = std::array<std::uint8_t, kKeyBytes>;
using Hash = std::array<std::uint8_t, kHashBytes>;

class CipherState {
 public:
  // The Noise spec reserves n = 2^64-1: a CipherState that reaches it is exhausted for good.
  static constexpr std::uint64_t kMaxNonce = std::numeric_limits<std::uint64_t>::max();

  CipherState() noexcept = default;
  explicit CipherState(const Key& key) noexcept { initialize_key(key); }
  CipherState(CipherState&& other) noexcept;
  CipherState& operator=(CipherState&& other) noexcept;
  CipherState(const CipherState&) = delete;
  CipherState& operator=(const CipherState&) = delete;
  ~CipherState();

  void initialize_key(const Key& key) noexcept;  // and n = 0
  bool has_key() const noexcept { return has_key_; }
  std::uint64_t nonce() const noexcept { return n_; }
  // Test hook: reach the exhaustion path without 2^64 messages.
  void set_nonce_for_test(std::uint64_t n) noexcept { n_ = n; }

  // ENCRYPT(k, n, ad, plaintext) into `out` (ciphertext ‖ tag, plaintext.size() + kTagBytes
  // bytes), then n += 1. `out` may start at plaintext.data() (in place) but must not otherwise
  // overlap it. Errors: noise_nonce_exhausted; crypto_failure without a key or on a size mismatch.
  boost::system::error_code encrypt(ByteView ad, ByteView plaintext, std::span<std::uint8_t> out);
  // DECRYPT(k, n, ad, message) for message = ciphertext ‖ tag into `out`
  // (message.size() - kTagBytes bytes); same aliasing rule. n advances only on success.
  // Errors: noise_truncated, noise_decrypt_failed, noise_nonce_exhausted, crypto_failure.
  boost::system::error_code decrypt(ByteView ad, ByteView message, std::span<std::uint8_t> out);

 private:
  void wipe() noexcept;

  Key key_{};
  std::uint64_t n_ = 0;
  bool has_key_ = false;
};

// The two CipherStates of Split(), already assigned to directions for one role.
struct CipherPair {
  CipherState send;
  CipherState receive;
};

class SymmetricState {
 public:
  // h = protocol_name padded with zeros when it fits HASHLEN, else HASH(protocol_name); ck = h.
  explicit SymmetricState(std::string_view protocol_name);
  SymmetricState(SymmetricState&&) noexcept = default;
  SymmetricState& operator=(SymmetricState&&) noexcept = default;
  ~SymmetricState();

  void mix_key(ByteView input_key_material) noexcept;
  void mix_hash(ByteView data) noexcept;
  bool has_key() const noexcept { return cipher_.has_key(); }
  // Appends EncryptWithAd(h, plaintext) to `out`, then MixHash(ciphertext). Without a key the
  // "ciphertext" is the plaintext. `plaintext` must not point into `out`.
  boost::system::error_code encrypt_and_hash(ByteView plaintext, Bytes& out);
  // Appends DecryptWithAd(h, ciphertext) to `out`, then MixHash(ciphertext); on error `out` is
  // left as it was. `ciphertext` must not point into `out`.
  boost::system::error_code decrypt_and_hash(ByteView ciphertext, Bytes& out);
  // Split(): the first CipherState encrypts initiator -> responder, the second the reverse.
  std::pair<CipherState, CipherState> split() const noexcept;
  const Hash& handshake_hash() const noexcept { return h_; }

 private:
  Hash ck_{};
  Hash h_{};
  CipherState cipher_;
};

}  // namespace bb::wire::noise

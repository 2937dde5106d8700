// Ed25519 identity keys (libsodium) and their libp2p protobuf encodings (peer-ids spec):
// PublicKey{Type=Ed25519, Data=32-byte key}, PrivateKey{Type=Ed25519, Data=seed‖pub (64 bytes)},
// with the legacy 96-byte private form accepted when its two public halves agree.
// Value types; the secret is wiped on destruction. Thread-safe once constructed (const use).
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"

#include <array>
#include <filesystem>

namespace bb::wire {

// Idempotent libsodium initialisation; every key function calls it. Throws
// boost::system::system_error(errc::crypto_failure) if libsodium cannot start.
void ensure_sodium();

using Signature = std::array<std::uint8_t, 64>;

class Ed25519PublicKey {
 public:
  static constexpr std::size_t kSize = 32;
  static result<Ed25519PublicKey> from_raw(ByteView raw);
  // Parses a libp2p protobuf PublicKey; only Ed25519 is supported.
  static result<Ed25519PublicKey> from_protobuf(ByteView encoded);

  bool verify(ByteView message, ByteView signature) const noexcept;
  Bytes to_protobuf() const;  // deterministic: 36 bytes, 0801 1220 ‖ key
  PeerId peer_id() const;
  ByteView raw() const noexcept { return key_; }

  friend bool operator==(const Ed25519PublicKey&, const Ed25519PublicKey&) = default;

 private:
  std::array<std::uint8_t, kSize> key_{};
};

class Ed25519KeyPair {
 public:
  static constexpr std::size_t kSeedSize = 32;
  static Ed25519KeyPair generate();
  static result<Ed25519KeyPair> from_seed(ByteView seed);
  // Parses a libp2p protobuf PrivateKey (64-byte or legacy 96-byte Ed25519 data).
  static result<Ed25519KeyPair> from_protobuf(ByteView encoded);

  Ed25519KeyPair(const Ed25519KeyPair& other) = default;
  Ed25519KeyPair& operator=(const Ed25519KeyPair& other) = default;
  ~Ed25519KeyPair();

  Signature sign(ByteView message) const noexcept;
  const Ed25519PublicKey& public_key() const noexcept { return public_; }
  PeerId peer_id() const { return public_.peer_id(); }
  Bytes to_protobuf() const;  // 68 bytes: 0801 1240 ‖ seed ‖ pub

 private:
  Ed25519KeyPair() = default;
  std::array<std::uint8_t, 64> secret_{};  // libsodium layout: seed ‖ public key
  Ed25519PublicKey public_;
};

// Key files hold the protobuf PrivateKey encoding. Writing creates the file with mode 0600 and
// refuses to replace an existing file unless `overwrite` is set.
result<void> write_key_file(const std::filesystem::path& path, const Ed25519KeyPair& key,
                            bool overwrite = false);
result<Ed25519KeyPair> read_key_file(const std::filesystem::path& path);

}  // namespace bb::wire

#include "bb/wire/noise/cipher_state.hpp"

#include "bb/wire/keys.hpp"

#include <sodium.h>

#include <algorithm>

namespace bb::wire::noise {
namespace {

static_assert(kKeyBytes == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
static_assert(kTagBytes == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(kHashBytes == crypto_hash_sha256_BYTES);
static_assert(kHashBytes == crypto_auth_hmacsha256_BYTES);

using Nonce = std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES>;

// ChaChaPoly in Noise: 32 bits of zeros, then n as a little-endian 64-bit integer.
Nonce make_nonce(std::uint64_t n) noexcept {
  Nonce nonce{};
  for (std::size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return nonce;
}

// HMAC-SHA256(key, part1 ‖ part2).
void hmac_sha256(ByteView key, ByteView part1, ByteView part2, Hash& out) noexcept {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, part1.data(), part1.size());
  crypto_auth_hmacsha256_update(&state, part2.data(), part2.size());
  crypto_auth_hmacsha256_final(&state, out.data());
  sodium_memzero(&state, sizeof state);
}

// The Noise HKDF with two outputs: temp_key = HMAC(ck, ikm); out1 = HMAC(temp_key, 0x01);
// out2 = HMAC(temp_key, out1 ‖ 0x02).
void hkdf2(const Hash& chaining_key, ByteView input_key_material, Hash& out1, Hash& out2) noexcept {
  Hash temp_key;
  hmac_sha256(chaining_key, input_key_material, {}, temp_key);
  const std::uint8_t one = 0x01;
  const std::uint8_t two = 0x02;
  hmac_sha256(temp_key, {&one, 1}, {}, out1);
  hmac_sha256(temp_key, out1, {&two, 1}, out2);
  sodium_memzero(temp_key.data(), temp_key.size());
}

}  // namespace

CipherState::CipherState(CipherState&& other) noexcept
    : key_(other.key_), n_(other.n_), has_key_(other.has_key_) {
  other.wipe();
}

CipherState& CipherState::operator=(CipherState&& other) noexcept {
  if (this != &other) {
    key_ = other.key_;
    n_ = other.n_;
    has_key_ = other.has_key_;
    other.wipe();
  }
  return *this;
}

CipherState::~CipherState() {
  wipe();
}

void CipherState::wipe() noexcept {
  sodium_memzero(key_.data(), key_.size());
  n_ = 0;
  has_key_ = false;
}

void CipherState::initialize_key(const Key& key) noexcept {
  key_ = key;
  n_ = 0;
  has_key_ = true;
}

boost::system::error_code CipherState::encrypt(ByteView ad, ByteView plaintext,
                                               std::span<std::uint8_t> out) {
  if (!has_key_ || out.size() != plaintext.size() + kTagBytes) return errc::crypto_failure;
  if (n_ == kMaxNonce) return errc::noise_nonce_exhausted;
  const Nonce nonce = make_nonce(n_);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      out.data(), out.data() + plaintext.size(), nullptr, plaintext.data(), plaintext.size(),
      ad.data(), ad.size(), nullptr, nonce.data(), key_.data());
  ++n_;
  return {};
}

boost::system::error_code CipherState::decrypt(ByteView ad, ByteView message,
                                               std::span<std::uint8_t> out) {
  if (!has_key_) return errc::crypto_failure;
  if (message.size() < kTagBytes) return errc::noise_truncated;
  const std::size_t plain_size = message.size() - kTagBytes;
  if (out.size() != plain_size) return errc::crypto_failure;
  if (n_ == kMaxNonce) return errc::noise_nonce_exhausted;
  const Nonce nonce = make_nonce(n_);
  // libsodium checks the tag before it decrypts, so a forged message is never released.
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          out.data(), nullptr, message.data(), plain_size, message.data() + plain_size, ad.data(),
          ad.size(), nonce.data(), key_.data()) != 0) {
    return errc::noise_decrypt_failed;
  }
  ++n_;
  return {};
}

SymmetricState::SymmetricState(std::string_view protocol_name) {
  ensure_sodium();
  const ByteView name = as_bytes(protocol_name);
  if (name.size() <= h_.size()) {
    std::copy(name.begin(), name.end(), h_.begin());
  } else {
    crypto_hash_sha256(h_.data(), name.data(), name.size());
  }
  ck_ = h_;
}

SymmetricState::~SymmetricState() {
  sodium_memzero(ck_.data(), ck_.size());
}

void SymmetricState::mix_key(ByteView input_key_material) noexcept {
  Hash next_ck;
  Hash temp_k;
  hkdf2(ck_, input_key_material, next_ck, temp_k);
  ck_ = next_ck;
  cipher_.initialize_key(temp_k);  // HASHLEN == 32, so no truncation
  sodium_memzero(next_ck.data(), next_ck.size());
  sodium_memzero(temp_k.data(), temp_k.size());
}

void SymmetricState::mix_hash(ByteView data) noexcept {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, h_.data(), h_.size());
  crypto_hash_sha256_update(&state, data.data(), data.size());
  crypto_hash_sha256_final(&state, h_.data());
}

boost::system::error_code SymmetricState::encrypt_and_hash(ByteView plaintext, Bytes& out) {
  const std::size_t start = out.size();
  if (!cipher_.has_key()) {
    out.insert(out.end(), plaintext.begin(), plaintext.end());
  } else {
    out.resize(start + plaintext.size() + kTagBytes);
    if (auto ec = cipher_.encrypt(h_, plaintext, std::span(out).subspan(start))) {
      out.resize(start);
      return ec;
    }
  }
  mix_hash(ByteView(out).subspan(start));
  return {};
}

boost::system::error_code SymmetricState::decrypt_and_hash(ByteView ciphertext, Bytes& out) {
  const std::size_t start = out.size();
  if (!cipher_.has_key()) {
    out.insert(out.end(), ciphertext.begin(), ciphertext.end());
  } else {
    if (ciphertext.size() < kTagBytes) return errc::noise_truncated;
    out.resize(start + ciphertext.size() - kTagBytes);
    if (auto ec = cipher_.decrypt(h_, ciphertext, std::span(out).subspan(start))) {
      out.resize(start);
      return ec;
    }
  }
  mix_hash(ciphertext);
  return {};
}

std::pair<CipherState, CipherState> SymmetricState::split() const noexcept {
  Hash k1;
  Hash k2;
  hkdf2(ck_, {}, k1, k2);
  std::pair<CipherState, CipherState> pair{CipherState(k1), CipherState(k2)};
  sodium_memzero(k1.data(), k1.size());
  sodium_memzero(k2.data(), k2.size());
  return pair;
}

}  // namespace bb::wire::noise

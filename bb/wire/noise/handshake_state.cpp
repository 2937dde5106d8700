#include "bb/wire/noise/handshake_state.hpp"

#include "bb/wire/keys.hpp"

#include <sodium.h>

#include <algorithm>

namespace bb::wire::noise {
namespace {

static_assert(X25519KeyPair::kSize == crypto_scalarmult_BYTES);
static_assert(X25519KeyPair::kSize == crypto_scalarmult_SCALARBYTES);

}  // namespace

X25519KeyPair X25519KeyPair::generate() {
  ensure_sodium();
  X25519KeyPair pair;
  randombytes_buf(pair.secret_.data(), pair.secret_.size());
  crypto_scalarmult_base(pair.public_.data(), pair.secret_.data());
  return pair;
}

result<X25519KeyPair> X25519KeyPair::from_secret(ByteView secret) {
  ensure_sodium();
  if (secret.size() != kSize) return errc::key_wrong_length;
  X25519KeyPair pair;
  std::copy(secret.begin(), secret.end(), pair.secret_.begin());
  crypto_scalarmult_base(pair.public_.data(), pair.secret_.data());
  return pair;
}

X25519KeyPair::~X25519KeyPair() {
  sodium_memzero(secret_.data(), secret_.size());
}

boost::system::error_code X25519KeyPair::dh(ByteView remote_public, Key& shared) const noexcept {
  if (remote_public.size() != kSize ||
      crypto_scalarmult(shared.data(), secret_.data(), remote_public.data()) != 0) {
    sodium_memzero(shared.data(), shared.size());
    return errc::noise_bad_public_key;
  }
  return {};
}

HandshakeState::HandshakeState(Role role, ByteView prologue, X25519KeyPair local_static,
                               std::optional<X25519KeyPair> fixed_ephemeral)
    : role_(role),
      symmetric_(kProtocolName),
      s_(std::move(local_static)),
      e_(std::move(fixed_ephemeral)) {
  // XX has no pre-messages, so the prologue is the only thing mixed in before message 1.
  symmetric_.mix_hash(prologue);
}

bool HandshakeState::is_my_turn() const noexcept {
  if (failed_ || index_ >= kMessageCount) return false;
  const bool initiator_turn = index_ % 2 == 0;
  return initiator_turn == (role_ == Role::initiator);
}

boost::system::error_code HandshakeState::fail(boost::system::error_code ec) noexcept {
  failed_ = ec;
  return ec;
}

boost::system::error_code HandshakeState::mix_dh(Token token) {
  // Which of our keys meets which of the peer's: es is always initiator-e with responder-s, se
  // initiator-s with responder-e.
  const bool initiator = role_ == Role::initiator;
  const X25519KeyPair* local = nullptr;
  const std::optional<X25519KeyPair::PublicKey>* remote = nullptr;
  switch (token) {
    case Token::ee:
      local = e_ ? &*e_ : nullptr;
      remote = &re_;
      break;
    case Token::es:
      local = initiator ? (e_ ? &*e_ : nullptr) : &s_;
      remote = initiator ? &rs_ : &re_;
      break;
    case Token::se:
      local = initiator ? &s_ : (e_ ? &*e_ : nullptr);
      remote = initiator ? &re_ : &rs_;
      break;
    case Token::e:
    case Token::s: return errc::crypto_failure;
  }
  if (local == nullptr || !remote->has_value()) return errc::crypto_failure;  // pattern bug
  Key shared;
  auto ec = local->dh(**remote, shared);
  if (!ec) symmetric_.mix_key(shared);
  sodium_memzero(shared.data(), shared.size());
  return ec;
}

std::span<const HandshakeState::Token> HandshakeState::pattern(std::size_t index) noexcept {
  static constexpr Token kMessage0[] = {Token::e};
  static constexpr Token kMessage1[] = {Token::e, Token::ee, Token::s, Token::es};
  static constexpr Token kMessage2[] = {Token::s, Token::se};
  static constexpr std::span<const Token> kPattern[kMessageCount] = {kMessage0, kMessage1,
                                                                     kMessage2};
  return kPattern[index];
}

result<Bytes> HandshakeState::write_message(ByteView payload) {
  if (failed_) return failed_;
  if (!is_my_turn()) return errc::noise_unexpected_message;
  Bytes out;
  out.reserve(2 * kDhBytes + 2 * kTagBytes + payload.size());
  for (const Token token : pattern(index_)) {
    switch (token) {
      case Token::e: {
        if (!e_) e_ = X25519KeyPair::generate();
        const auto& pub = e_->public_key();
        out.insert(out.end(), pub.begin(), pub.end());
        symmetric_.mix_hash(pub);
        break;
      }
      case Token::s:
        if (auto ec = symmetric_.encrypt_and_hash(s_.public_key(), out)) return fail(ec);
        break;
      case Token::ee:
      case Token::es:
      case Token::se:
        if (auto ec = mix_dh(token)) return fail(ec);
        break;
    }
  }
  if (auto ec = symmetric_.encrypt_and_hash(payload, out)) return fail(ec);
  if (out.size() > kMaxMessageBytes) return fail(errc::noise_frame_too_large);
  ++index_;
  return out;
}

result<Bytes> HandshakeState::read_message(ByteView message) {
  if (failed_) return failed_;
  if (index_ >= kMessageCount || is_my_turn()) return fail(errc::noise_unexpected_message);
  if (message.size() > kMaxMessageBytes) return fail(errc::noise_frame_too_large);
  ByteView rest = message;
  for (const Token token : pattern(index_)) {
    switch (token) {
      case Token::e: {
        if (rest.size() < kDhBytes) return fail(errc::noise_truncated);
        X25519KeyPair::PublicKey re;
        std::copy_n(rest.begin(), kDhBytes, re.begin());
        re_ = re;
        symmetric_.mix_hash(re);
        rest = rest.subspan(kDhBytes);
        break;
      }
      case Token::s: {
        const std::size_t size = kDhBytes + (symmetric_.has_key() ? kTagBytes : 0);
        if (rest.size() < size) return fail(errc::noise_truncated);
        Bytes rs;
        if (auto ec = symmetric_.decrypt_and_hash(rest.first(size), rs)) return fail(ec);
        rs_.emplace();
        std::copy_n(rs.begin(), kDhBytes, rs_->begin());
        rest = rest.subspan(size);
        break;
      }
      case Token::ee:
      case Token::es:
      case Token::se:
        if (auto ec = mix_dh(token)) return fail(ec);
        break;
    }
  }
  Bytes payload;
  if (auto ec = symmetric_.decrypt_and_hash(rest, payload)) return fail(ec);
  ++index_;
  return payload;
}

result<CipherPair> HandshakeState::split() const {
  if (!finished()) return errc::noise_unexpected_message;
  auto [c1, c2] = symmetric_.split();
  if (role_ == Role::initiator) return CipherPair{std::move(c1), std::move(c2)};
  return CipherPair{std::move(c2), std::move(c1)};
}

}  // namespace bb::wire::noise

#include "bb/wire/noise/session.hpp"

#include "bb/proto/libp2p.pb.h"

#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>

namespace bb::wire::noise {
namespace {

using SignedStaticKey =
    std::array<std::uint8_t, kStaticKeySignaturePrefix.size() + X25519KeyPair::kSize>;

SignedStaticKey static_key_signature_message(const X25519KeyPair::PublicKey& static_key) {
  SignedStaticKey message{};
  const ByteView prefix = as_bytes(kStaticKeySignaturePrefix);
  std::copy(static_key.begin(), static_key.end(),
            std::copy(prefix.begin(), prefix.end(), message.begin()));
  return message;
}

Bytes encode_payload(const Ed25519KeyPair& identity, const X25519KeyPair::PublicKey& signed_key,
                     const std::vector<std::string>& muxers) {
  const Signature sig = identity.sign(static_key_signature_message(signed_key));
  const Bytes key = identity.public_key().to_protobuf();
  libp2p::NoiseHandshakePayload payload;
  payload.set_identity_key(to_string(key));
  payload.set_identity_sig(to_string(sig));
  if (!muxers.empty()) {
    auto* extensions = payload.mutable_extensions();
    for (const auto& muxer : muxers) extensions->add_stream_muxers(muxer);
  }
  const std::string encoded = payload.SerializeAsString();
  return Bytes(encoded.begin(), encoded.end());
}

void put_length(std::uint8_t* at, std::size_t length) noexcept {
  at[0] = static_cast<std::uint8_t>(length >> 8);
  at[1] = static_cast<std::uint8_t>(length);
}

}  // namespace

boost::system::error_code append_noise_frame(Bytes& out, ByteView message) {
  if (message.size() > kMaxMessageBytes) return errc::noise_frame_too_large;
  const std::size_t start = out.size();
  out.resize(start + kFrameHeaderBytes);
  put_length(out.data() + start, message.size());
  out.insert(out.end(), message.begin(), message.end());
  return {};
}

std::optional<std::size_t> noise_frame_length(ByteView in) noexcept {
  if (in.size() < kFrameHeaderBytes) return std::nullopt;
  return (std::size_t{in[0]} << 8) | std::size_t{in[1]};
}

result<std::optional<std::pair<ByteView, std::size_t>>> decode_noise_frame(ByteView in) {
  const auto length = noise_frame_length(in);
  if (!length || in.size() - kFrameHeaderBytes < *length) {
    return std::optional<std::pair<ByteView, std::size_t>>{};
  }
  return std::optional{
      std::pair{in.subspan(kFrameHeaderBytes, *length), kFrameHeaderBytes + *length}};
}

// ---------------------------------------------------------------------------------------------
// Handshake

Handshake::Handshake(HandshakeState state, Bytes payload, std::optional<PeerId> expected)
    : state_(std::move(state)), local_payload_(std::move(payload)), expected_(expected) {}

Handshake Handshake::initiator(const Ed25519KeyPair& identity, std::optional<PeerId> expected,
                               std::vector<std::string> muxers) {
  return with_test_options(Role::initiator, identity, expected, std::move(muxers), {});
}

Handshake Handshake::responder(const Ed25519KeyPair& identity, std::vector<std::string> muxers) {
  return with_test_options(Role::responder, identity, std::nullopt, std::move(muxers), {});
}

Handshake Handshake::with_test_options(Role role, const Ed25519KeyPair& identity,
                                       std::optional<PeerId> expected,
                                       std::vector<std::string> muxers, TestOptions options) {
  // A fresh static key per handshake: the identity signature is what authenticates it, and the
  // spec advises against keeping Noise static keys around.
  X25519KeyPair static_key =
      options.static_key ? std::move(*options.static_key) : X25519KeyPair::generate();
  Bytes payload;
  if (options.payload) {
    payload = std::move(*options.payload);
  } else if (options.sign_wrong_static_key) {
    payload = encode_payload(identity, X25519KeyPair::generate().public_key(), muxers);
  } else {
    payload = encode_payload(identity, static_key.public_key(), muxers);
  }
  HandshakeState state(role, {}, std::move(static_key), std::move(options.ephemeral_key));
  if (role == Role::responder) expected.reset();
  return Handshake(std::move(state), std::move(payload), expected);
}

boost::system::error_code Handshake::fail(boost::system::error_code ec) {
  failed_ = ec;
  // Early data from a failed handshake must not leak to the rest of the stack.
  remote_peer_.reset();
  remote_muxers_.clear();
  return ec;
}

result<std::optional<Bytes>> Handshake::write_next() {
  if (failed_) return failed_;
  if (!state_.is_my_turn()) return std::optional<Bytes>{};
  // Message 1 goes out before any key exists, so it carries nothing (the spec forbids a payload).
  const ByteView payload = state_.message_index() == 0 ? ByteView{} : ByteView(local_payload_);
  auto message = state_.write_message(payload);
  if (!message) return fail(message.error());
  return std::optional<Bytes>(std::move(*message));
}

boost::system::error_code Handshake::read(ByteView message) {
  if (failed_) return failed_;
  if (state_.finished()) return errc::noise_unexpected_message;  // a transport message, not ours
  const std::size_t index = state_.message_index();
  auto payload = state_.read_message(message);
  if (!payload) return fail(payload.error());
  if (index == 0) {
    if (!payload->empty()) return fail(errc::noise_payload_invalid);
    return {};
  }
  if (auto ec = verify_payload(*payload)) return fail(ec);
  return {};
}

boost::system::error_code Handshake::verify_payload(ByteView payload) {
  libp2p::NoiseHandshakePayload decoded;
  if (!decoded.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
      !decoded.has_identity_key() || !decoded.has_identity_sig()) {
    return errc::noise_payload_invalid;
  }
  auto key = Ed25519PublicKey::from_protobuf(as_bytes(decoded.identity_key()));
  if (!key) return key.error();
  const auto& remote_static = state_.remote_static();
  if (!remote_static) return errc::noise_payload_invalid;  // unreachable: s precedes payloads
  if (!key->verify(static_key_signature_message(*remote_static),
                   as_bytes(decoded.identity_sig()))) {
    return errc::signature_invalid;
  }
  PeerId peer = key->peer_id();
  if (expected_ && *expected_ != peer) return errc::noise_peer_id_mismatch;
  remote_peer_ = peer;
  const auto& muxers = decoded.extensions().stream_muxers();
  remote_muxers_.assign(muxers.begin(), muxers.end());
  return {};
}

bool Handshake::complete() const noexcept {
  return !failed_ && state_.finished();
}

const PeerId& Handshake::remote_peer() const {
  return remote_peer_.value();
}

Transport Handshake::into_transport() && {
  if (!complete() || !remote_peer_) {
    throw boost::system::system_error(make_error_code(errc::noise_unexpected_message),
                                      "Noise handshake is not complete");
  }
  auto ciphers = state_.split();
  if (!ciphers) throw boost::system::system_error(ciphers.error());
  return Transport(std::move(*ciphers), *remote_peer_);
}

// ---------------------------------------------------------------------------------------------
// Transport

Transport::Transport(CipherPair ciphers, PeerId remote_peer) noexcept
    : send_(std::move(ciphers.send)),
      receive_(std::move(ciphers.receive)),
      remote_peer_(remote_peer) {}

Transport Transport::from_keys_for_test(const Key& send_key, const Key& receive_key,
                                        PeerId remote_peer) {
  return Transport(CipherPair{CipherState(send_key), CipherState(receive_key)}, remote_peer);
}

void Transport::set_nonces_for_test(std::uint64_t send, std::uint64_t receive) noexcept {
  send_.set_nonce_for_test(send);
  receive_.set_nonce_for_test(receive);
}

std::size_t Transport::sealed_size(std::size_t plaintext_bytes) noexcept {
  const std::size_t frames = (plaintext_bytes + kMaxPlaintextBytes - 1) / kMaxPlaintextBytes;
  return plaintext_bytes + frames * (kFrameHeaderBytes + kTagBytes);
}

boost::system::error_code Transport::seal(ByteView plaintext, Bytes& out) {
  if (plaintext.empty()) return {};
  const std::size_t start = out.size();
  out.resize(start + sealed_size(plaintext.size()));
  auto ec = seal_into(plaintext, std::span(out).subspan(start));
  if (ec) out.resize(start);
  return ec;
}

boost::system::error_code Transport::seal_into(ByteView plaintext, std::span<std::uint8_t> out) {
  if (out.size() != sealed_size(plaintext.size())) {
    return make_error_code(boost::system::errc::invalid_argument);
  }
  const std::size_t frames = (plaintext.size() + kMaxPlaintextBytes - 1) / kMaxPlaintextBytes;
  // Refuse before encrypting anything, so a failed seal neither half-writes nor burns nonces.
  if (CipherState::kMaxNonce - send_.nonce() < frames) return errc::noise_nonce_exhausted;
  std::uint8_t* at = out.data();
  for (ByteView rest = plaintext; !rest.empty();) {
    const ByteView chunk = rest.first(std::min(rest.size(), kMaxPlaintextBytes));
    const std::size_t message_size = chunk.size() + kTagBytes;
    put_length(at, message_size);
    if (auto ec = send_.encrypt({}, chunk, {at + kFrameHeaderBytes, message_size})) return ec;
    at += kFrameHeaderBytes + message_size;
    rest = rest.subspan(chunk.size());
  }
  return {};
}

result<std::span<std::uint8_t>> Transport::open(std::span<std::uint8_t> message) {
  if (message.size() > kMaxMessageBytes) return errc::noise_frame_too_large;
  if (message.size() < kTagBytes) return errc::noise_truncated;
  const auto plaintext = message.first(message.size() - kTagBytes);
  if (auto ec = receive_.decrypt({}, message, plaintext)) return ec;
  return plaintext;
}

}  // namespace bb::wire::noise

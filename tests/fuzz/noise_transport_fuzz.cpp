// Noise transport frames from an attacker, with fixed transport keys. The input is (1) decoded
// as a stream of frames, each opened by a receiver whose key the seeds share, (2) sealed and
// opened by the peer, which must give the same bytes back in the expected number of frames, and
// (3) sealed, bit-flipped inside the first message and opened, which must fail. An input that
// starts with 0xff is repeated past one frame's capacity so the multi-frame path runs.
#include "bb/wire/noise/session.hpp"

#include <algorithm>

namespace {

using namespace bb::wire;
using namespace bb::wire::noise;

Key key_of(std::uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}

// a -> b under key 1, b -> a under key 2 (nonces start at 0 for every input).
Transport sender() {
  return Transport::from_keys_for_test(key_of(1), key_of(2), PeerId::from_u64(2));
}
Transport receiver() {
  return Transport::from_keys_for_test(key_of(2), key_of(1), PeerId::from_u64(1));
}

void open_arbitrary_frames(ByteView input) {
  Bytes buffer(input.begin(), input.end());
  Transport b = receiver();
  std::size_t at = 0;
  while (at < buffer.size()) {
    auto frame = decode_noise_frame(ByteView(buffer).subspan(at));
    if (!frame) __builtin_trap();  // framing alone never fails
    if (!*frame) break;
    const auto [message, consumed] = **frame;
    if (consumed != kFrameHeaderBytes + message.size() || consumed > buffer.size() - at) {
      __builtin_trap();
    }
    const std::uint64_t nonce = b.receive_nonce();
    auto opened = b.open(std::span(buffer).subspan(at + kFrameHeaderBytes, message.size()));
    if (opened) {
      if (opened->size() + kTagBytes != message.size() || b.receive_nonce() != nonce + 1) {
        __builtin_trap();
      }
    } else if (b.receive_nonce() != nonce) {
      __builtin_trap();
    }
    at += consumed;
  }
}

Bytes seal_all(ByteView plaintext) {
  Transport a = sender();
  Bytes wire;
  if (a.seal(plaintext, wire)) __builtin_trap();
  const std::size_t frames = (plaintext.size() + kMaxPlaintextBytes - 1) / kMaxPlaintextBytes;
  if (wire.size() != plaintext.size() + frames * (kFrameHeaderBytes + kTagBytes) ||
      a.send_nonce() != frames) {
    __builtin_trap();
  }
  return wire;
}

void round_trip(ByteView plaintext) {
  Bytes wire = seal_all(plaintext);
  Transport b = receiver();
  Bytes got;
  std::size_t at = 0;
  while (at < wire.size()) {
    auto frame = decode_noise_frame(ByteView(wire).subspan(at));
    if (!frame || !*frame) __builtin_trap();
    const std::size_t consumed = (*frame)->second;
    auto opened = b.open(std::span(wire).subspan(at + kFrameHeaderBytes, consumed - 2));
    if (!opened || opened->size() > kMaxPlaintextBytes) __builtin_trap();
    got.insert(got.end(), opened->begin(), opened->end());
    at += consumed;
  }
  if (!std::equal(got.begin(), got.end(), plaintext.begin(), plaintext.end())) __builtin_trap();
}

void tampered(ByteView plaintext) {
  if (plaintext.empty()) return;
  Bytes wire = seal_all(plaintext);
  const std::size_t message_size = *noise_frame_length(wire);
  const std::size_t flip = (plaintext[0] * 257u + plaintext.back()) % message_size;
  wire[kFrameHeaderBytes + flip] ^= static_cast<std::uint8_t>(1u << (plaintext.size() % 8));
  Transport b = receiver();
  auto opened = b.open(std::span(wire).subspan(kFrameHeaderBytes, message_size));
  if (opened || opened.error() != errc::noise_decrypt_failed) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  open_arbitrary_frames(input);
  Bytes plaintext(input.begin(), input.end());
  if (size > 0 && data[0] == 0xff) {
    while (plaintext.size() <= kMaxPlaintextBytes)
      plaintext.insert(plaintext.end(), data, data + size);
  }
  round_trip(plaintext);
  tampered(plaintext);
  return 0;
}

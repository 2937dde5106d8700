#include "bb/runtime/inbound_dedup.hpp"

#include "bb/wire/multihash.hpp"

#include <sodium.h>
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace bb::runtime {
namespace detail {
namespace {

std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct SipState {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  void absorb(std::uint64_t m) noexcept {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, wire::ByteView data) noexcept {
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
             k1 ^ 0x7465646279746573ULL};
  const std::size_t whole = data.size() / 8 * 8;
  for (std::size_t i = 0; i < whole; i += 8) s.absorb(load_le64(data.data() + i));
  // Last block: the remaining bytes, little-endian, with the length's low byte on top.
  std::uint64_t last = static_cast<std::uint64_t>(data.size() & 0xff) << 56;
  for (std::size_t i = whole; i < data.size(); ++i) {
    last |= static_cast<std::uint64_t>(data[i]) << (8 * (i - whole));
  }
  s.absorb(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace detail

namespace {

// Per-process random SipHash keys: keys are only compared within one process, and a remote
// cannot grind for collisions against keys it does not know.
struct DedupHashKeys {
  std::array<std::uint64_t, 6> k{};
  DedupHashKeys() {
    // From libsodium's generator, like every other random draw of bb: a program that installs
    // its own (bb-sim, seeded) gets the same keys on every run.
    randombytes_buf(k.data(), sizeof k);
  }
};

const DedupHashKeys& hash_keys() {
  static const DedupHashKeys keys;
  return keys;
}

}  // namespace

DedupKey InboundDedup::make_key(const wire::PeerId& origin, std::uint64_t message_id,
                                std::uint32_t fill_index) {
  // origin ‖ u32 LE: the fixed-width suffix keeps the concatenation unambiguous. The hash does
  // not depend on the message id, and messages come in runs from one origin (a batch, a
  // stream): the last one is remembered per thread, so a run pays for one SipHash.
  struct Last {
    std::array<std::uint8_t, wire::Multihash::kMaxEncodedBytes + 4> input{};
    std::size_t size = 0;
    std::uint64_t hash = 0;
  };
  thread_local Last last;
  std::array<std::uint8_t, wire::Multihash::kMaxEncodedBytes + 4> buf{};
  const wire::ByteView o = origin.bytes();
  std::copy(o.begin(), o.end(), buf.begin());
  for (std::size_t i = 0; i < 4; ++i) {
    buf[o.size() + i] = static_cast<std::uint8_t>(fill_index >> (8 * i));
  }
  const std::size_t size = o.size() + 4;
  if (size != last.size || std::memcmp(buf.data(), last.input.data(), size) != 0) {
    const auto& keys = hash_keys();
    last.hash = detail::siphash24(keys.k[0], keys.k[1], wire::ByteView(buf.data(), size));
    last.input = buf;
    last.size = size;
  }
  return DedupKey{last.hash, message_id};
}

DedupKey InboundDedup::make_payload_key(const wire::PeerId& origin, wire::ByteView payload) {
  const auto& keys = hash_keys();
  return DedupKey{detail::siphash24(keys.k[2], keys.k[3], origin.bytes()),
                  detail::siphash24(keys.k[4], keys.k[5], payload)};
}

InboundDedup::InboundDedup(const InboundDedupConfig& config)
    : window_(std::clamp<std::size_t>(config.window, 1, kMaxDedupWindow)) {
  seen_.reserve(window_);
  order_.reserve(window_);
}

bool InboundDedup::record(const DedupKey& key) {
  if (seen_.contains(key)) return true;
  const Slot slot{key, ++generation_};
  if (order_.size() < window_) {
    order_.push_back(slot);
  } else {
    const Slot& oldest = order_[head_];
    if (auto it = seen_.find(oldest.key); it != seen_.end() && it->second == oldest.generation) {
      seen_.erase(it);
    }
    order_[head_] = slot;
    head_ = head_ + 1 == window_ ? 0 : head_ + 1;
  }
  seen_.emplace(key, slot.generation);
  return false;
}

void InboundDedup::clear() {
  seen_.clear();
  order_.clear();
  head_ = 0;
}

}  // namespace bb::runtime

// InboundDedup: the receive-side duplicate filter behind DedupGateRx (bytesandbrains §4.3), with
// 128-bit keys that, unlike the original's payload hash, separate origins, messages and fills.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace bb::runtime {

inline constexpr std::size_t kDefaultDedupWindow = 8192;
inline constexpr std::size_t kMaxDedupWindow = std::size_t{1} << 22;

struct DedupKey {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  friend bool operator==(const DedupKey&, const DedupKey&) = default;
};

struct DedupKeyHash {
  std::size_t operator()(const DedupKey& k) const noexcept {
    return static_cast<std::size_t>(k.hi ^ (k.lo * 0x9e3779b97f4a7c15ULL));
  }
};

struct InboundDedupConfig {
  std::size_t window = kDefaultDedupWindow;  // clamped to 1..kMaxDedupWindow
};

// Single-threaded: owned and touched by one Node executor only.
//
// Bound: exactly `window` keys (16 bytes each, plus the hash set: ≈ 40 bytes a key); the oldest
// key is evicted first (FIFO by first sighting; a duplicate does not refresh its age).
//
// Returns: record() says whether the key was already in the window.
class InboundDedup {
 public:
  InboundDedup() : InboundDedup(InboundDedupConfig{}) {}
  explicit InboundDedup(const InboundDedupConfig& config);

  // The key of fill `fill_index` of message `message_id` from `origin`:
  //   hi = SipHash-2-4(k₁, origin multihash bytes ‖ fill_index as u32 LE), lo = message_id,
  // with a per-process random key k₁. Keys of two distinct message ids from one origin never
  // collide (lo differs); keys that differ only in origin or fill index collide with
  // probability 2⁻⁶⁴ per pair, and an attacker cannot aim for a collision without the key. The
  // payload is not involved, so equal payloads and trigger-only (empty) fills stay distinct.
  static DedupKey make_key(const wire::PeerId& origin, std::uint64_t message_id,
                           std::uint32_t fill_index);
  // Content-keyed dedup: hi = SipHash-2-4(k₂, origin), lo = SipHash-2-4(k₃, payload), keys
  // independent of k₁. Equal payloads from different origins do not collide (2⁻⁶⁴); note that
  // all empty payloads of one origin do, so trigger-only fills must use make_key.
  static DedupKey make_payload_key(const wire::PeerId& origin, wire::ByteView payload);

  // True if `key` is already in the window (a duplicate; its age is not refreshed); otherwise
  // records it, evicting the oldest key when the window is full.
  bool record(const DedupKey& key);
  // Takes back a record() whose message was then refused further down the pipeline, so that a
  // retry of the same message is not mistaken for a duplicate. Its slot in the FIFO stays until
  // it ages out, but no longer evicts the key if the key is recorded again meanwhile.
  void forget(const DedupKey& key) { seen_.erase(key); }
  bool contains(const DedupKey& key) const { return seen_.contains(key); }
  void clear();
  std::size_t size() const noexcept { return seen_.size(); }
  std::size_t window() const noexcept { return window_; }

 private:
  std::size_t window_;
  struct Slot {
    DedupKey key;
    std::uint64_t generation;
  };
  // key -> generation of the record() that holds it; a FIFO slot evicts its key only if the
  // generations match, so a forgotten and re-recorded key keeps its full window.
  boost::unordered_flat_map<DedupKey, std::uint64_t, DedupKeyHash> seen_;
  std::vector<Slot> order_;  // FIFO ring: grows to window_, then order_[head_] is oldest
  std::uint64_t generation_ = 0;
  std::size_t head_ = 0;
};

namespace detail {
// SipHash-2-4 (Aumasson & Bernstein), key (k0, k1) as two little-endian words. Exposed for the
// reference vectors.
std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, wire::ByteView data) noexcept;
}  // namespace detail

}  // namespace bb::runtime

template <>
struct std::hash<bb::runtime::DedupKey> {
  std::size_t operator()(const bb::runtime::DedupKey& k) const noexcept {
    return bb::runtime::DedupKeyHash{}(k);
  }
};

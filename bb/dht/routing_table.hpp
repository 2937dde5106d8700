// The Kademlia routing table (kad-dht spec): k-buckets of k = 20 peers by the length of the
// prefix their key shares with ours (bucket i: common prefix i bits; the farthest half of the
// space is bucket 0). A full bucket keeps its peers (long-lived peers are the reliable ones) and
// remembers up to k newcomers as replacements, promoted when a peer in the bucket fails or
// leaves. Sans-IO: times are passed in; the DHT decides who is worth adding (peers that speak
// the protocol in server mode) and who failed.
#pragma once

#include "bb/dht/key.hpp"
#include "bb/wire/peer_id.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace bb::dht {

struct TableEntry {
  wire::PeerId peer;
  Key key;
  std::uint64_t added_ns = 0;
  std::uint64_t last_seen_ns = 0;
};

class RoutingTable {
 public:
  enum class Added : std::uint8_t { added, refreshed, pending, self };

  RoutingTable(wire::PeerId self, std::size_t k = 20);

  // Adds `peer` or refreshes it (last seen now); in a full bucket it becomes a replacement
  // (pending), the oldest replacement going when there are k.
  Added add(const wire::PeerId& peer, std::uint64_t now_ns);
  // Removes `peer` (it failed, left, or stopped serving); a replacement takes its place.
  bool remove(const wire::PeerId& peer);
  bool contains(const wire::PeerId& peer) const;

  // Up to `count` peers closest to `target`, closest first.
  std::vector<wire::PeerId> closest(const Key& target, std::size_t count) const;
  std::vector<wire::PeerId> peers() const;
  std::size_t size() const noexcept { return size_; }
  std::size_t bucket_size(std::size_t index) const;
  std::size_t bucket_index(const Key& key) const noexcept;  // common prefix with ours, ≤ 255

  // Buckets to refresh (for each, a random key in it can be looked up): every bucket from 0 to
  // one past the deepest non-empty one (capped at 15, as libp2p does) not looked up since
  // `older_than_ns`. mark_refreshed() notes a lookup in that bucket.
  std::vector<std::size_t> stale_buckets(std::uint64_t older_than_ns) const;
  void mark_refreshed(const Key& key, std::uint64_t now_ns);
  Key random_key_in(std::size_t bucket) const { return self_key_.random_with_prefix(bucket); }

  const wire::PeerId& self() const noexcept { return self_; }
  const Key& self_key() const noexcept { return self_key_; }
  std::size_t k() const noexcept { return k_; }

 private:
  struct Bucket {
    std::vector<TableEntry> entries;      // at most k
    std::deque<TableEntry> replacements;  // at most k, newest at the back
    std::uint64_t refreshed_ns = 0;
  };

  wire::PeerId self_;
  Key self_key_;
  std::size_t k_;
  std::size_t size_ = 0;
  std::array<Bucket, Key::kBits> buckets_;
};

}  // namespace bb::dht

// Provider records: who says they provide a key (a CID's multihash), each for `ttl` after its
// last announcement (ADD_PROVIDER). Bounded three ways, checked before anything is stored: keys,
// providers per key, and entries per announcing peer, so one peer that floods ADD_PROVIDER
// fills its own share and nothing else (store_full). Sans-IO: times are passed in.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

namespace bb::dht {

struct ProviderLimits {
  std::size_t max_keys = 16'384;
  std::size_t max_providers_per_key = 64;
  std::size_t max_entries_per_peer = 256;  // what one provider may hold here
  std::chrono::nanoseconds ttl = std::chrono::hours(48);
};

class ProviderStore {
 public:
  explicit ProviderStore(ProviderLimits limits = {}) : limits_(limits) {}

  // Adds or refreshes (expiry now + ttl). errc::store_full when the key, the key's providers or
  // the peer's share is at its bound; errc::bad_key for an empty or over-long key.
  boost::system::error_code add(wire::ByteView key, const wire::PeerId& provider,
                                std::uint64_t now_ns);
  // Unexpired providers of `key`, most recently announced first, at most `max`.
  std::vector<wire::PeerId> get(wire::ByteView key, std::uint64_t now_ns,
                                std::size_t max = 20) const;
  // Drops expired entries; returns how many.
  std::size_t sweep(std::uint64_t now_ns);

  std::size_t keys() const noexcept { return by_key_.size(); }
  std::size_t entries() const noexcept { return entries_; }
  std::size_t entries_of(const wire::PeerId& provider) const;
  const ProviderLimits& limits() const noexcept { return limits_; }

 private:
  struct Entry {
    wire::PeerId provider;
    std::uint64_t expires_ns;
  };

  ProviderLimits limits_;
  std::map<wire::Bytes, std::vector<Entry>> by_key_;
  std::unordered_map<wire::PeerId, std::size_t> per_peer_;
  std::size_t entries_ = 0;
};

}  // namespace bb::dht

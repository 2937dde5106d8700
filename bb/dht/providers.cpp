#include "bb/dht/providers.hpp"

#include "bb/dht/error.hpp"

#include <algorithm>

namespace bb::dht {

namespace {
constexpr std::size_t kMaxKeyBytes = 256;
}

boost::system::error_code ProviderStore::add(wire::ByteView key, const wire::PeerId& provider,
                                             std::uint64_t now_ns) {
  if (key.empty() || key.size() > kMaxKeyBytes) return make_error_code(errc::bad_key);
  const auto ttl = static_cast<std::uint64_t>(std::max<std::int64_t>(0, limits_.ttl.count()));
  const std::uint64_t expires = now_ns + ttl;
  const wire::Bytes k(key.begin(), key.end());
  auto it = by_key_.find(k);
  if (it != by_key_.end()) {
    auto& list = it->second;
    auto e = std::find_if(list.begin(), list.end(),
                          [&](const Entry& x) { return x.provider == provider; });
    if (e != list.end()) {
      Entry refreshed{e->provider, expires};
      list.erase(e);
      list.push_back(std::move(refreshed));  // most recent at the back
      return {};
    }
    // Expired entries give their room back before the bounds are checked.
    if (list.size() >= limits_.max_providers_per_key) {
      for (auto x = list.begin(); x != list.end();) {
        if (x->expires_ns <= now_ns) {
          auto p = per_peer_.find(x->provider);
          if (p != per_peer_.end() && --p->second == 0) per_peer_.erase(p);
          --entries_;
          x = list.erase(x);
        } else {
          ++x;
        }
      }
    }
    if (list.size() >= limits_.max_providers_per_key) return make_error_code(errc::store_full);
  } else if (by_key_.size() >= limits_.max_keys) {
    return make_error_code(errc::store_full);
  }
  auto& count = per_peer_[provider];
  if (count >= limits_.max_entries_per_peer) return make_error_code(errc::store_full);
  ++count;
  ++entries_;
  by_key_[k].push_back(Entry{provider, expires});
  return {};
}

std::vector<wire::PeerId> ProviderStore::get(wire::ByteView key, std::uint64_t now_ns,
                                             std::size_t max) const {
  std::vector<wire::PeerId> out;
  auto it = by_key_.find(wire::Bytes(key.begin(), key.end()));
  if (it == by_key_.end()) return out;
  for (auto e = it->second.rbegin(); e != it->second.rend() && out.size() < max; ++e)
    if (e->expires_ns > now_ns) out.push_back(e->provider);
  return out;
}

std::size_t ProviderStore::sweep(std::uint64_t now_ns) {
  std::size_t dropped = 0;
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    auto& list = it->second;
    for (auto e = list.begin(); e != list.end();) {
      if (e->expires_ns <= now_ns) {
        auto p = per_peer_.find(e->provider);
        if (p != per_peer_.end() && --p->second == 0) per_peer_.erase(p);
        e = list.erase(e);
        --entries_;
        ++dropped;
      } else {
        ++e;
      }
    }
    it = list.empty() ? by_key_.erase(it) : std::next(it);
  }
  return dropped;
}

std::size_t ProviderStore::entries_of(const wire::PeerId& provider) const {
  auto it = per_peer_.find(provider);
  return it == per_peer_.end() ? 0 : it->second;
}

}  // namespace bb::dht

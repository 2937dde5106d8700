#include "bb/wire/observed_addrs.hpp"

#include "bb/wire/address_scope.hpp"

#include <algorithm>

namespace bb::wire {

namespace ip = boost::asio::ip;

bool ObservedAddrs::record(const Multiaddr& observer, const Multiaddr& observed) {
  const auto from = ip_of(observer);
  const auto said = ip_of(observed);
  if (!from || !said || address_scope(*said) == AddressScope::unspecified) return false;
  const bool was = votes_for(*said) >= needed_;
  if (auto it = votes_.find(*from); it != votes_.end()) {
    if (it->second == *said) return false;
    if (auto t = tally_.find(it->second); t != tally_.end() && --t->second == 0) tally_.erase(t);
    it->second = *said;
  } else {
    if (votes_.size() >= kMaxObservers) {
      const ip::address oldest = order_.front();
      order_.pop_front();
      if (auto old = votes_.find(oldest); old != votes_.end()) {
        if (auto t = tally_.find(old->second); t != tally_.end() && --t->second == 0) {
          tally_.erase(t);
        }
        votes_.erase(old);
      }
    }
    votes_.emplace(*from, *said);
    order_.push_back(*from);
  }
  ++tally_[*said];
  return !was && votes_for(*said) >= needed_;
}

std::size_t ObservedAddrs::votes_for(const ip::address& address) const {
  auto it = tally_.find(address);
  return it == tally_.end() ? 0 : it->second;
}

std::vector<ip::address> ObservedAddrs::confirmed() const {
  std::vector<std::pair<std::size_t, ip::address>> ranked;
  for (const auto& [address, votes] : tally_) {
    if (votes >= needed_) ranked.emplace_back(votes, address);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<ip::address> out;
  for (const auto& [votes, address] : ranked) {
    if (out.size() >= kMaxConfirmed) break;
    out.push_back(address);
  }
  return out;
}

}  // namespace bb::wire

#include "node/address_book.hpp"

namespace bb::node {

void AddressBook::remember(const wire::PeerId& peer, const wire::Multiaddr& addr, bool named) {
  if (!addr.tcp_port()) return;  // only dialable transport addresses
  if (auto other = addr.peer_id(); other && *other != peer) return;
  auto full = addr.with_peer_id(peer);
  if (named) {
    named_.insert(peer);
  } else if (!addresses_.contains(peer) && !named_.contains(peer)) {
    while (learned_order_.size() >= capacity_) {
      const wire::PeerId oldest = std::move(learned_order_.front());
      learned_order_.pop_front();
      if (!named_.contains(oldest)) addresses_.erase(oldest);
    }
    learned_order_.push_back(peer);
  }
  auto& list = addresses_[peer];
  for (const auto& a : list) {
    if (a == full) return;
  }
  if (list.size() >= kMaxAddressesPerPeer) list.erase(list.begin());
  list.push_back(std::move(full));
}

std::vector<wire::Multiaddr> AddressBook::addresses(const wire::PeerId& peer) const {
  auto it = addresses_.find(peer);
  return it == addresses_.end() ? std::vector<wire::Multiaddr>{} : it->second;
}

}  // namespace bb::node

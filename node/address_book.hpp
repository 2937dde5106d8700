// The Node's address book: where to dial a peer. At most kMaxAddressesPerPeer dialable (TCP)
// addresses per peer. Peers the application named (connect(), add_address()) stay; peers learned
// from the network (identify, envelopes, their dials) are at most `capacity`, the longest known
// going first. Thread rule: the Node's executor.
#pragma once

#include "wire/multiaddr.hpp"
#include "wire/peer_id.hpp"

#include <cstddef>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace bb::node {

class AddressBook {
 public:
  static constexpr std::size_t kMaxAddressesPerPeer = 8;

  explicit AddressBook(std::size_t capacity) : capacity_(capacity > 0 ? capacity : 1) {}

  // Adds `addr` (a /p2p/ part naming another peer is ignored, as is a non-TCP address).
  void remember(const wire::PeerId& peer, const wire::Multiaddr& addr, bool named = false);
  bool knows(const wire::PeerId& peer) const { return addresses_.contains(peer); }
  std::vector<wire::Multiaddr> addresses(const wire::PeerId& peer) const;
  std::size_t size() const noexcept { return addresses_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_map<wire::PeerId, std::vector<wire::Multiaddr>> addresses_;
  std::unordered_set<wire::PeerId> named_;  // the application's: never evicted
  std::deque<wire::PeerId> learned_order_;  // the others, oldest first
};

}  // namespace bb::node

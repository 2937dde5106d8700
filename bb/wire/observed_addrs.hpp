// What other peers say our address is (identify's observedAddr), and which of those IPs enough
// of them agree on to advertise. Sans-IO: the Host feeds it each identified peer's report.
//
// One vote per observer IP (its latest report), so one machine with many peer ids cannot
// confirm an address alone. An IP is confirmed once `confirmations` distinct observer IPs
// reported it. Bounded: at most kMaxObservers votes are kept, the oldest going first.
// Thread rule: the owner's (the Host's executor).
#pragma once

#include "bb/wire/multiaddr.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstddef>
#include <deque>
#include <map>
#include <vector>

namespace bb::wire {

class ObservedAddrs {
 public:
  static constexpr std::size_t kMaxObservers = 1024;
  static constexpr std::size_t kMaxConfirmed = 8;

  explicit ObservedAddrs(std::size_t confirmations)
      : needed_(confirmations > 0 ? confirmations : 1) {}

  // `observer`: the reporting peer's address as we see it; `observed`: what it says ours is.
  // Reports without an IP, or of an unspecified IP, are ignored. Returns true when this report
  // confirmed an IP that was not confirmed before.
  bool record(const Multiaddr& observer, const Multiaddr& observed);

  // The confirmed IPs, most agreed first (at most kMaxConfirmed).
  std::vector<boost::asio::ip::address> confirmed() const;
  std::size_t votes_for(const boost::asio::ip::address& ip) const;
  std::size_t observers() const noexcept { return votes_.size(); }

 private:
  std::size_t needed_;
  std::map<boost::asio::ip::address, boost::asio::ip::address> votes_;  // observer -> observed
  std::deque<boost::asio::ip::address> order_;                          // observers, oldest first
  std::map<boost::asio::ip::address, std::size_t> tally_;               // observed -> votes
};

}  // namespace bb::wire

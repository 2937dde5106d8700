// Which of our addresses may be handed to whom. An address names a network (loopback, a private
// range, the public internet); telling a peer an address on a network it cannot be on only
// makes it dial in vain (and leaks our LAN layout to the internet). The Host advertises its
// addresses per connection through shareable_with(). Pure functions; no I/O except
// expand_wildcard(), which reads the interface list (getifaddrs).
#pragma once

#include "bb/wire/multiaddr.hpp"

#include <cstdint>
#include <optional>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace bb::wire {

enum class AddressScope : std::uint8_t {
  unspecified,  // 0.0.0.0, ::
  loopback,     // 127/8, ::1
  link_local,   // 169.254/16, fe80::/10
  private_net,  // 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7
  public_net,   // any other ip4/ip6 address
  other,        // no ip4/ip6 part (dns, …)
};

// From the first ip4/ip6 component of `addr`.
AddressScope address_scope(const Multiaddr& addr);
AddressScope address_scope(const boost::asio::ip::address& ip);

// The address of the first ip4/ip6 component, if any.
std::optional<boost::asio::ip::address> ip_of(const Multiaddr& addr);

// May `addr` be handed to a peer whose address (as we see it) is `remote`? loopback only to
// loopback; private and link-local only to loopback/private/link-local; public and other to
// anyone; unspecified never.
bool shareable_with(const Multiaddr& addr, const Multiaddr& remote);
std::vector<Multiaddr> filter_shareable(const std::vector<Multiaddr>& addrs,
                                        const Multiaddr& remote);

// `addr` with its first ip4/ip6 component replaced by `ip` (its family may differ); nullopt when
// `addr` has none.
std::optional<Multiaddr> with_ip(const Multiaddr& addr, const boost::asio::ip::address& ip);

// The interface addresses (getifaddrs) a wildcard listen address (/ip4/0.0.0.0, /ip6/::)
// covers, with the rest of it (its port); any other address as is. IPv6 link-local interface
// addresses are left out (not dialable without a zone). At most 64.
std::vector<Multiaddr> expand_wildcard(const Multiaddr& listen);

}  // namespace bb::wire

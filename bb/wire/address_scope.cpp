#include "bb/wire/address_scope.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace bb::wire {

namespace ip = boost::asio::ip;

namespace {

constexpr std::size_t kMaxExpanded = 64;

// The first ip4/ip6 component: where it starts in the bytes, its size, its address.
struct IpPart {
  std::size_t offset = 0;
  std::size_t size = 0;
  ip::address address;
};

std::optional<IpPart> ip_part(const Multiaddr& addr) {
  std::size_t offset = 0;
  for (const auto& c : addr.components()) {
    // Each component is varint(code) ‖ value (ip4/ip6 values are fixed size, codes < 128).
    if (c.code == protocol::ip4 && c.value.size() == 4) {
      std::array<unsigned char, 4> b{};
      std::copy(c.value.begin(), c.value.end(), b.begin());
      return IpPart{offset, 1 + 4, ip::address_v4(b)};
    }
    if (c.code == protocol::ip6 && c.value.size() == 16) {
      std::array<unsigned char, 16> b{};
      std::copy(c.value.begin(), c.value.end(), b.begin());
      const ip::address_v6 v6(b);
      if (v6.is_v4_mapped()) return IpPart{offset, 1 + 16, ip::make_address_v4(ip::v4_mapped, v6)};
      return IpPart{offset, 1 + 16, v6};
    }
    // Skip this component's bytes: its encoded size is what remains after the value ends.
    const auto* end = c.value.data() + c.value.size();
    offset = static_cast<std::size_t>(end - addr.bytes().data());
  }
  return std::nullopt;
}

bool reaches_local(AddressScope s) {
  return s == AddressScope::loopback || s == AddressScope::private_net ||
         s == AddressScope::link_local;
}

}  // namespace

AddressScope address_scope(const ip::address& a) {
  if (a.is_unspecified()) return AddressScope::unspecified;
  if (a.is_loopback()) return AddressScope::loopback;
  if (a.is_v4()) {
    const auto v = a.to_v4().to_uint();
    if ((v >> 24) == 127) return AddressScope::loopback;
    if ((v >> 24) == 0) return AddressScope::unspecified;                // 0/8: "this network"
    if ((v >> 16) == 0xA9FE) return AddressScope::link_local;            // 169.254/16
    if ((v >> 24) == 10 || (v >> 20) == 0xAC1 || (v >> 16) == 0xC0A8 ||  // 10/8, 172.16/12,
        (v >> 22) == (0x6440'0000u >> 22)) {                             // 192.168/16, 100.64/10
      return AddressScope::private_net;
    }
    return AddressScope::public_net;
  }
  const auto b = a.to_v6().to_bytes();
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressScope::link_local;  // fe80::/10
  if ((b[0] & 0xfe) == 0xfc) return AddressScope::private_net;                 // fc00::/7
  return AddressScope::public_net;
}

std::optional<ip::address> ip_of(const Multiaddr& addr) {
  auto part = ip_part(addr);
  if (!part) return std::nullopt;
  return part->address;
}

AddressScope address_scope(const Multiaddr& addr) {
  auto part = ip_part(addr);
  return part ? address_scope(part->address) : AddressScope::other;
}

bool shareable_with(const Multiaddr& addr, const Multiaddr& remote) {
  const AddressScope ours = address_scope(addr);
  const AddressScope theirs = address_scope(remote);
  switch (ours) {
    case AddressScope::unspecified: return false;
    case AddressScope::loopback: return theirs == AddressScope::loopback;
    case AddressScope::link_local:
    case AddressScope::private_net: return reaches_local(theirs);
    case AddressScope::public_net:
    case AddressScope::other: return true;
  }
  return false;
}

std::vector<Multiaddr> filter_shareable(const std::vector<Multiaddr>& addrs,
                                        const Multiaddr& remote) {
  std::vector<Multiaddr> out;
  for (const auto& a : addrs) {
    if (shareable_with(a, remote)) out.push_back(a);
  }
  return out;
}

std::optional<Multiaddr> with_ip(const Multiaddr& addr, const ip::address& address) {
  auto part = ip_part(addr);
  if (!part) return std::nullopt;
  const ByteView bytes = addr.bytes();
  Bytes out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(part->offset));
  if (address.is_v4()) {
    out.push_back(static_cast<std::uint8_t>(protocol::ip4));
    const auto b = address.to_v4().to_bytes();
    out.insert(out.end(), b.begin(), b.end());
  } else {
    out.push_back(static_cast<std::uint8_t>(protocol::ip6));
    const auto b = address.to_v6().to_bytes();
    out.insert(out.end(), b.begin(), b.end());
  }
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(part->offset + part->size),
             bytes.end());
  auto result = Multiaddr::from_bytes(out);
  if (!result) return std::nullopt;
  return *result;
}

std::vector<Multiaddr> expand_wildcard(const Multiaddr& listen) {
  auto part = ip_part(listen);
  if (!part || !part->address.is_unspecified()) return {listen};
  const bool v4 = part->address.is_v4();
  std::vector<Multiaddr> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return {listen};
  for (const ifaddrs* i = list; i != nullptr && out.size() < kMaxExpanded; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    std::optional<ip::address> a;
    if (v4 && i->ifa_addr->sa_family == AF_INET) {
      sockaddr_in sin{};
      std::memcpy(&sin, i->ifa_addr, sizeof sin);
      a = ip::address_v4(ntohl(sin.sin_addr.s_addr));
    } else if (!v4 && i->ifa_addr->sa_family == AF_INET6) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, i->ifa_addr, sizeof sin6);
      std::array<unsigned char, 16> b{};
      std::memcpy(b.data(), &sin6.sin6_addr, 16);
      a = ip::address_v6(b);
    }
    if (!a || (!v4 && address_scope(*a) == AddressScope::link_local)) continue;
    if (auto m = with_ip(listen, *a); m && std::find(out.begin(), out.end(), *m) == out.end()) {
      out.push_back(*m);
    }
  }
  ::freeifaddrs(list);
  if (out.empty()) out.push_back(listen);
  return out;
}

}  // namespace bb::wire

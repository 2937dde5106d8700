// wire/address_scope.hpp: the scope of an address, which addresses may go to which peer, and
// what a wildcard listen address stands for.
#include "bb/wire/address_scope.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace bb::wire {
namespace {

Multiaddr ma(const std::string& text) {
  return Multiaddr::parse(text).value();
}

TEST(AddressScope, FromTheIpPart) {
  EXPECT_EQ(address_scope(ma("/ip4/0.0.0.0/tcp/1")), AddressScope::unspecified);
  EXPECT_EQ(address_scope(ma("/ip6/::/tcp/1")), AddressScope::unspecified);
  EXPECT_EQ(address_scope(ma("/ip4/127.0.0.1/tcp/1")), AddressScope::loopback);
  EXPECT_EQ(address_scope(ma("/ip4/127.3.2.1/tcp/1")), AddressScope::loopback);
  EXPECT_EQ(address_scope(ma("/ip6/::1/tcp/1")), AddressScope::loopback);
  EXPECT_EQ(address_scope(ma("/ip4/169.254.3.4/tcp/1")), AddressScope::link_local);
  EXPECT_EQ(address_scope(ma("/ip6/fe80::1/tcp/1")), AddressScope::link_local);
  EXPECT_EQ(address_scope(ma("/ip4/10.1.2.3/tcp/1")), AddressScope::private_net);
  EXPECT_EQ(address_scope(ma("/ip4/172.16.0.1/tcp/1")), AddressScope::private_net);
  EXPECT_EQ(address_scope(ma("/ip4/172.31.255.1/tcp/1")), AddressScope::private_net);
  EXPECT_EQ(address_scope(ma("/ip4/172.32.0.1/tcp/1")), AddressScope::public_net);
  EXPECT_EQ(address_scope(ma("/ip4/192.168.1.1/tcp/1")), AddressScope::private_net);
  EXPECT_EQ(address_scope(ma("/ip4/100.64.0.1/tcp/1")), AddressScope::private_net);
  EXPECT_EQ(address_scope(ma("/ip4/100.127.255.1/tcp/1")), AddressScope::private_net);
  EXPECT_EQ(address_scope(ma("/ip4/100.128.0.1/tcp/1")), AddressScope::public_net);
  EXPECT_EQ(address_scope(ma("/ip6/fd00::1/tcp/1")), AddressScope::private_net);
  EXPECT_EQ(address_scope(ma("/ip4/8.8.8.8/tcp/1")), AddressScope::public_net);
  EXPECT_EQ(address_scope(ma("/ip6/2001:db8::1/tcp/1")), AddressScope::public_net);
  EXPECT_EQ(address_scope(ma("/dns4/example.com/tcp/1")), AddressScope::other);
  EXPECT_EQ(address_scope(Multiaddr()), AddressScope::other);
}

TEST(AddressScope, LoopbackOnlyToLoopbackPrivateOnlyToLocalPublicToAnyone) {
  const auto loop = ma("/ip4/127.0.0.1/tcp/1");
  const auto lan = ma("/ip4/192.168.1.5/tcp/1");
  const auto link = ma("/ip4/169.254.1.1/tcp/1");
  const auto pub = ma("/ip4/8.8.8.8/tcp/1");
  const auto dns = ma("/dns4/example.com/tcp/1");
  const auto any = ma("/ip4/0.0.0.0/tcp/1");

  EXPECT_TRUE(shareable_with(loop, ma("/ip4/127.0.0.1/tcp/9")));
  EXPECT_FALSE(shareable_with(loop, ma("/ip4/10.0.0.1/tcp/9")));
  EXPECT_FALSE(shareable_with(loop, ma("/ip4/8.8.4.4/tcp/9")));

  EXPECT_TRUE(shareable_with(lan, ma("/ip4/127.0.0.1/tcp/9")));
  EXPECT_TRUE(shareable_with(lan, ma("/ip4/10.0.0.1/tcp/9")));
  EXPECT_TRUE(shareable_with(lan, ma("/ip4/169.254.9.9/tcp/9")));
  EXPECT_FALSE(shareable_with(lan, ma("/ip4/8.8.4.4/tcp/9")));
  EXPECT_TRUE(shareable_with(link, ma("/ip4/10.0.0.1/tcp/9")));
  EXPECT_FALSE(shareable_with(link, ma("/ip6/2001:db8::1/tcp/9")));

  EXPECT_TRUE(shareable_with(pub, ma("/ip4/127.0.0.1/tcp/9")));
  EXPECT_TRUE(shareable_with(pub, ma("/ip4/8.8.4.4/tcp/9")));
  EXPECT_TRUE(shareable_with(dns, ma("/ip4/8.8.4.4/tcp/9")));

  EXPECT_FALSE(shareable_with(any, ma("/ip4/127.0.0.1/tcp/9")));

  const std::vector<Multiaddr> all{loop, lan, link, pub, dns, any};
  EXPECT_EQ(filter_shareable(all, ma("/ip4/8.8.4.4/tcp/9")), (std::vector<Multiaddr>{pub, dns}));
  EXPECT_EQ(filter_shareable(all, ma("/ip4/10.9.9.9/tcp/9")),
            (std::vector<Multiaddr>{lan, link, pub, dns}));
  EXPECT_EQ(filter_shareable(all, ma("/ip4/127.0.0.1/tcp/9")),
            (std::vector<Multiaddr>{loop, lan, link, pub, dns}));
}

TEST(AddressScope, WithIpKeepsTheRestOfTheAddress) {
  const auto addr =
      ma("/ip4/0.0.0.0/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
  const auto out = with_ip(addr, boost::asio::ip::make_address("203.0.113.7"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->to_string(),
            "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
  const auto v6 = with_ip(addr, boost::asio::ip::make_address("2001:db8::7"));
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->tcp_port(), 4001);
  EXPECT_EQ(address_scope(*v6), AddressScope::public_net);
  EXPECT_FALSE(with_ip(ma("/dns4/example.com/tcp/1"), boost::asio::ip::make_address("1.2.3.4")));
}

TEST(AddressScope, AWildcardExpandsToTheInterfacesWithItsPortAndOthersStayAsTheyAre) {
  const auto bound = ma("/ip4/127.0.0.1/tcp/4001");
  EXPECT_EQ(expand_wildcard(bound), std::vector<Multiaddr>{bound});
  const auto expanded = expand_wildcard(ma("/ip4/0.0.0.0/tcp/4001"));
  ASSERT_FALSE(expanded.empty());
  // Every machine has a loopback interface.
  EXPECT_NE(std::find(expanded.begin(), expanded.end(), bound), expanded.end());
  for (const auto& a : expanded) {
    EXPECT_EQ(a.tcp_port(), 4001) << a.to_string();
    EXPECT_NE(address_scope(a), AddressScope::unspecified) << a.to_string();
  }
}

}  // namespace
}  // namespace bb::wire

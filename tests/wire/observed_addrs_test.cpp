// wire/observed_addrs.hpp: an IP other peers report as ours is confirmed by enough distinct
// observer IPs, one vote each, within bounds.
#include "bb/wire/observed_addrs.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bb::wire {
namespace {

Multiaddr ma(const std::string& text) {
  return Multiaddr::parse(text).value();
}
Multiaddr observer(int n) {
  return ma("/ip4/198.51.100." + std::to_string(n) + "/tcp/" + std::to_string(1000 + n));
}
const auto kOurs = boost::asio::ip::make_address("203.0.113.7");

TEST(ObservedAddrs, ConfirmedByDistinctObserverIpsNotByRepeats) {
  ObservedAddrs observed(3);
  EXPECT_FALSE(observed.record(observer(1), ma("/ip4/203.0.113.7/tcp/50001")));
  // The same IP again (another peer id behind it, another port) is the same vote.
  EXPECT_FALSE(observed.record(ma("/ip4/198.51.100.1/tcp/7"), ma("/ip4/203.0.113.7/tcp/50002")));
  EXPECT_EQ(observed.votes_for(kOurs), 1u);
  EXPECT_FALSE(observed.record(observer(2), ma("/ip4/203.0.113.7/tcp/50003")));
  EXPECT_TRUE(observed.confirmed().empty());
  EXPECT_TRUE(observed.record(observer(3), ma("/ip4/203.0.113.7/tcp/50004")));
  ASSERT_EQ(observed.confirmed().size(), 1u);
  EXPECT_EQ(observed.confirmed()[0], kOurs);
  // A fourth says so too: confirmed already, not "newly".
  EXPECT_FALSE(observed.record(observer(4), ma("/ip4/203.0.113.7/tcp/50005")));
}

TEST(ObservedAddrs, AnObserverThatChangesItsReportMovesItsVote) {
  ObservedAddrs observed(2);
  (void)observed.record(observer(1), ma("/ip4/203.0.113.7/tcp/1"));
  EXPECT_TRUE(observed.record(observer(2), ma("/ip4/203.0.113.7/tcp/1")));
  (void)observed.record(observer(2), ma("/ip4/203.0.113.9/tcp/1"));
  EXPECT_EQ(observed.votes_for(kOurs), 1u);
  EXPECT_TRUE(observed.confirmed().empty());
}

TEST(ObservedAddrs, ReportsWithoutAnIpOrOfTheWildcardAreIgnored) {
  ObservedAddrs observed(1);
  EXPECT_FALSE(observed.record(observer(1), ma("/ip4/0.0.0.0/tcp/1")));
  EXPECT_FALSE(observed.record(observer(1), ma("/dns4/example.com/tcp/1")));
  EXPECT_FALSE(observed.record(ma("/dns4/example.com/tcp/1"), ma("/ip4/203.0.113.7/tcp/1")));
  EXPECT_EQ(observed.observers(), 0u);
  EXPECT_TRUE(observed.record(observer(1), ma("/ip4/203.0.113.7/tcp/1")));
}

TEST(ObservedAddrs, VotesAreBoundedTheOldestObserversGoFirst) {
  ObservedAddrs observed(2);
  for (std::size_t i = 0; i < ObservedAddrs::kMaxObservers + 10; ++i) {
    const auto ip = boost::asio::ip::address_v4(static_cast<std::uint32_t>(0x0A000000u + i));
    (void)observed.record(ma("/ip4/" + ip.to_string() + "/tcp/1"), ma("/ip4/203.0.113.7/tcp/1"));
  }
  EXPECT_EQ(observed.observers(), ObservedAddrs::kMaxObservers);
  EXPECT_EQ(observed.votes_for(kOurs), ObservedAddrs::kMaxObservers);
  ASSERT_EQ(observed.confirmed().size(), 1u);
}

}  // namespace
}  // namespace bb::wire

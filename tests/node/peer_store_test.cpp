// node/peer_store.hpp on a ManualClock: addresses with their sources and expiries, the bounds
// (peers, addresses per peer, identify), the order of usefulness, and the file.
#include "bb/node/peer_store.hpp"

#include "bb/async/clock.hpp"
#include "bb/proto/peerstore.pb.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace bb::node {
namespace {

using namespace std::chrono_literals;
using wire::Multiaddr;
using wire::PeerId;

constexpr std::uint64_t kStart = 1'000'000'000;

Multiaddr ma(const std::string& text) {
  return Multiaddr::parse(text).value();
}
Multiaddr tcp(int port) {
  return ma("/ip4/10.0.0.1/tcp/" + std::to_string(port));
}
PeerId peer(std::uint64_t n) {
  return PeerId::from_u64(n);
}

// A file path of this test's own, removed with it.
struct TempFile {
  TempFile()
      : path(std::filesystem::temp_directory_path() /
             ("bb_peer_store_" + std::to_string(::getpid()) + "_" +
              testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove(path);
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(std::filesystem::path(path.string() + ".tmp"), ec);
  }
  std::filesystem::path path;
};

TEST(PeerStore, AddressesEndInTheirPeerAndOnlyDialableOnesOfThatPeerAreKept) {
  async::ManualClock clock(kStart);
  PeerStore store({}, clock);
  store.add_address(peer(1), tcp(1), AddressSource::identify);
  store.add_address(peer(1), ma("/ip4/10.0.0.1/udp/1"), AddressSource::identify);     // not TCP
  store.add_address(peer(1), tcp(2).with_peer_id(peer(2)), AddressSource::identify);  // other
  store.add_address(peer(1), tcp(3).with_peer_id(peer(1)), AddressSource::identify);
  EXPECT_EQ(store.addresses(peer(1)),
            (std::vector<Multiaddr>{tcp(1).with_peer_id(peer(1)), tcp(3).with_peer_id(peer(1))}));
  EXPECT_TRUE(store.knows(peer(1)));
  EXPECT_FALSE(store.knows(peer(2)));
  EXPECT_EQ(store.size(), 1u);
}

TEST(PeerStore, BestSourceFirstAndARefreshKeepsTheBetterSourceAndTheLaterExpiry) {
  async::ManualClock clock(kStart);
  PeerStore store({}, clock);
  store.add_address(peer(1), tcp(1), AddressSource::loaded);
  store.add_address(peer(1), tcp(2), AddressSource::dht);
  store.add_address(peer(1), tcp(3), AddressSource::named);
  store.add_address(peer(1), tcp(4), AddressSource::identify);
  const auto p = [](int port) { return tcp(port).with_peer_id(peer(1)); };
  EXPECT_EQ(store.addresses(peer(1)), (std::vector<Multiaddr>{p(3), p(4), p(2), p(1)}));

  // dht (30 min) then envelope (10 min): the source improves, the later expiry stays.
  store.add_address(peer(2), tcp(1), AddressSource::dht);
  store.add_address(peer(2), tcp(1), AddressSource::envelope);
  auto info = store.info(peer(2));
  ASSERT_TRUE(info);
  ASSERT_EQ(info->addresses.size(), 1u);
  EXPECT_EQ(info->addresses[0].source, AddressSource::envelope);
  EXPECT_EQ(info->addresses[0].expires_ns, kStart + std::chrono::nanoseconds(30min).count());
  // An explicit ttl wins when it is later.
  store.add_address(peer(2), tcp(1), AddressSource::dht, 2h);
  EXPECT_EQ(store.info(peer(2))->addresses[0].expires_ns,
            kStart + std::chrono::nanoseconds(2h).count());
}

TEST(PeerStore, AddressesExpireByTheirSourceNamedOnesNeverAndSweepDropsEmptyPeers) {
  async::ManualClock clock(kStart);
  PeerStore store({}, clock);
  store.add_address(peer(1), tcp(1), AddressSource::envelope);  // 10 min
  store.add_address(peer(1), tcp(2), AddressSource::dht);       // 30 min
  store.add_address(peer(2), tcp(1), AddressSource::named);
  clock.advance(std::chrono::nanoseconds(11min).count());
  EXPECT_EQ(store.addresses(peer(1)), std::vector<Multiaddr>{tcp(2).with_peer_id(peer(1))});
  clock.advance(std::chrono::nanoseconds(20min).count());
  EXPECT_FALSE(store.knows(peer(1)));
  EXPECT_TRUE(store.addresses(peer(1)).empty());
  EXPECT_EQ(store.size(), 2u);  // dropped lazily from view, from memory by the sweep
  EXPECT_EQ(store.sweep(), 2u);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_TRUE(store.knows(peer(2)));
  EXPECT_EQ(store.info(peer(2))->addresses[0].expires_ns, 0u);
  EXPECT_TRUE(store.info(peer(2))->named);
}

TEST(PeerStore, ExtendKeepsAConnectedPeersAddressesATtlAhead) {
  async::ManualClock clock(kStart);
  PeerStore store({}, clock);
  store.add_address(peer(1), tcp(1), AddressSource::identify);  // 1 h
  for (int i = 0; i < 5; ++i) {
    clock.advance(std::chrono::nanoseconds(50min).count());
    store.extend(peer(1));
  }
  EXPECT_TRUE(store.knows(peer(1)));
  clock.advance(std::chrono::nanoseconds(61min).count());
  EXPECT_FALSE(store.knows(peer(1)));
  // sweep() keeps what `keep` says (a connected peer) even without addresses.
  EXPECT_EQ(store.sweep([](const PeerId&) { return true; }), 1u);
  EXPECT_EQ(store.size(), 1u);
}

TEST(PeerStore, APeersAddressesAreBoundedTheWorstGoingFirst) {
  async::ManualClock clock(kStart);
  PeerStoreOptions options;
  options.max_addresses_per_peer = 3;
  PeerStore store(options, clock);
  store.add_address(peer(1), tcp(1), AddressSource::identify);
  store.add_address(peer(1), tcp(2), AddressSource::dht);
  store.add_address(peer(1), tcp(3), AddressSource::envelope);
  store.add_address(peer(1), tcp(4), AddressSource::identify);  // the dht one goes
  store.add_address(peer(1), tcp(5), AddressSource::inbound);   // worse than all: not taken
  const auto p = [](int port) { return tcp(port).with_peer_id(peer(1)); };
  EXPECT_EQ(store.addresses(peer(1)), (std::vector<Multiaddr>{p(1), p(4), p(3)}));
}

TEST(PeerStore, AtCapacityNeverUsefulPeersGoFirstThenTheLeastRecentlyUsefulNeverNamedOnes) {
  async::ManualClock clock(kStart);
  PeerStoreOptions options;
  options.capacity = 3;
  PeerStore store(options, clock);
  store.add_address(peer(100), tcp(1), AddressSource::named);  // not counted, never evicted
  store.add_address(peer(1), tcp(1), AddressSource::identify);
  store.add_address(peer(2), tcp(1), AddressSource::identify);
  store.add_address(peer(3), tcp(1), AddressSource::identify);
  store.mark_useful(peer(1));
  clock.advance(1);
  store.mark_useful(peer(2));
  store.add_address(peer(4), tcp(1), AddressSource::envelope);  // peer 3 (never useful) goes
  EXPECT_FALSE(store.knows(peer(3)));
  EXPECT_EQ(store.peers(), (std::vector<PeerId>{peer(2), peer(1), peer(4), peer(100)}));
  store.mark_useful(peer(4));
  store.add_address(peer(5), tcp(1), AddressSource::envelope);  // peer 1 (least recent) goes
  EXPECT_FALSE(store.knows(peer(1)));
  EXPECT_TRUE(store.knows(peer(100)));
  EXPECT_EQ(store.peers(), (std::vector<PeerId>{peer(4), peer(2), peer(5), peer(100)}));
  EXPECT_EQ(store.size(), 4u);
  EXPECT_EQ(store.info(peer(4))->last_useful_ns, kStart + 1);
}

TEST(PeerStore, IdentifyIsBounded) {
  async::ManualClock clock(kStart);
  PeerStore store({}, clock);
  std::vector<std::string> protocols;
  for (int i = 0; i < 300; ++i) protocols.push_back("/p/" + std::to_string(i));
  protocols.insert(protocols.begin(), std::string(1000, 'x'));
  store.set_identify(peer(1), protocols, std::string(5000, 'a'));
  const auto info = store.info(peer(1));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->protocols.size(), PeerStore::kMaxProtocols);
  EXPECT_EQ(info->protocols.front(), "/p/0");  // the over-long one is skipped
  EXPECT_EQ(info->agent_version.size(), PeerStore::kMaxAgentChars);
}

TEST(PeerStore, TheFileRoundTripsRemainingLifetimesNamesAndOrder) {
  TempFile file;
  async::ManualClock clock(kStart);
  PeerStore store({}, clock);
  store.add_address(peer(1), tcp(1), AddressSource::dht);  // 30 min
  store.add_address(peer(2), tcp(2), AddressSource::named);
  store.add_address(peer(3), tcp(3), AddressSource::envelope);
  store.set_identify(peer(1), {"/a/1", "/b/1"}, "agent/1");
  store.mark_useful(peer(3));
  store.mark_useful(peer(1));
  clock.advance(std::chrono::nanoseconds(5min).count());
  ASSERT_TRUE(store.save(file.path));
  EXPECT_FALSE(std::filesystem::exists(file.path.string() + ".tmp"));

  // Another run: another clock, starting elsewhere.
  async::ManualClock later(7 * kStart);
  PeerStore loaded({}, later);
  const auto n = loaded.load(file.path);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(loaded.peers(), (std::vector<PeerId>{peer(1), peer(3), peer(2)}));
  const auto one = loaded.info(peer(1));
  ASSERT_TRUE(one);
  ASSERT_EQ(one->addresses.size(), 1u);
  EXPECT_EQ(one->addresses[0].source, AddressSource::loaded);
  EXPECT_EQ(one->protocols, (std::vector<std::string>{"/a/1", "/b/1"}));
  EXPECT_EQ(one->agent_version, "agent/1");
  // About 25 minutes were left (wall-clock time passed meanwhile: a little less).
  const auto left = one->addresses[0].expires_ns - later.now_ns();
  EXPECT_LE(left, std::chrono::nanoseconds(25min).count() + 1'000'000);
  EXPECT_GE(left, std::chrono::nanoseconds(24min).count());
  EXPECT_TRUE(loaded.info(peer(2))->named);
  EXPECT_EQ(loaded.info(peer(2))->addresses[0].expires_ns, 0u);
  later.advance(std::chrono::nanoseconds(26min).count());
  EXPECT_FALSE(loaded.knows(peer(1)));
  EXPECT_TRUE(loaded.knows(peer(2)));
}

TEST(PeerStore, AMissingFileIsEmptyACorruptOneIsAnErrorAndLoadsNothing) {
  TempFile file;
  async::ManualClock clock(kStart);
  PeerStore store({}, clock);
  auto missing = store.load(file.path);
  ASSERT_TRUE(missing);
  EXPECT_EQ(*missing, 0u);

  {
    std::ofstream f(file.path, std::ios::binary);
    f << "\xff\xff\xff\xff not a protobuf";
  }
  auto corrupt = store.load(file.path);
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.error(), make_error_code(peer_store_errc::corrupt_file));

  // A well-formed file with one good record and one bad one: nothing is taken.
  peerstore::PeerStoreFile out;
  out.set_version(1);
  auto* good = out.add_peers();
  good->set_peer(std::string(wire::as_chars(peer(1).bytes())));
  auto* addr = good->add_addresses();
  addr->set_addr(std::string(wire::as_chars(tcp(1).with_peer_id(peer(1)).bytes())));
  auto* bad = out.add_peers();
  bad->set_peer("not a peer id");
  {
    std::ofstream f(file.path, std::ios::binary | std::ios::trunc);
    f << out.SerializeAsString();
  }
  auto partly = store.load(file.path);
  ASSERT_FALSE(partly);
  EXPECT_EQ(partly.error(), make_error_code(peer_store_errc::corrupt_file));
  EXPECT_EQ(store.size(), 0u);

  out.set_version(2);
  out.mutable_peers()->RemoveLast();
  {
    std::ofstream f(file.path, std::ios::binary | std::ios::trunc);
    f << out.SerializeAsString();
  }
  auto newer = store.load(file.path);
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error(), make_error_code(peer_store_errc::unsupported_version));

  std::filesystem::resize_file(file.path, PeerStore::kMaxFileBytes + 1);
  auto big = store.load(file.path);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error(), make_error_code(peer_store_errc::file_too_large));
  EXPECT_EQ(store.size(), 0u);
}

}  // namespace
}  // namespace bb::node

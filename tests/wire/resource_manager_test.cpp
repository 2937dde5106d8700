#include "bb/wire/resource_manager.hpp"

#include <gtest/gtest.h>

namespace bb::wire {
namespace {

PeerId peer(std::uint64_t n) {
  return PeerId::from_u64(n);
}

ResourceLimits small_limits() {
  ResourceLimits l = ResourceLimits::unlimited();
  l.system.memory = 1000;
  l.system.connections = 4;
  l.transient.connections = 2;
  l.peer.connections = 2;
  l.peer.memory = 600;
  l.connection.memory = 400;
  l.stream.memory = 300;
  l.connection.streams = 3;
  l.peer.streams_inbound = 4;
  ScopeLimits perf;
  perf.streams = 1;
  perf.memory = 100;
  l.protocols.emplace("/perf/1.0.0", perf);
  return l;
}

TEST(ResourceManager, TransientConnectionsAreLimitedBeforeAnyIdentity) {
  ResourceManager rm(small_limits());
  auto a = rm.open_connection(Dir::inbound);
  auto b = rm.open_connection(Dir::inbound);
  ASSERT_TRUE(a && b);
  auto c = rm.open_connection(Dir::inbound);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), errc::resource_connection_limit);
  EXPECT_EQ(rm.stats().refusals.at("transient:connections"), 1u);
  EXPECT_NE(rm.last_refusal().find("transient connections: 2 in use, limit 2"), std::string::npos)
      << rm.last_refusal();
  // Authenticating one frees its transient slot for the next newcomer.
  ASSERT_FALSE(a->set_peer(peer(1)));
  EXPECT_FALSE(a->is_transient());
  EXPECT_TRUE(rm.open_connection(Dir::inbound));
  EXPECT_EQ(rm.stats().system.connections_inbound, 2u);  // the temporary above is gone
}

TEST(ResourceManager, PeerScopeLimitsConnectionsAcrossConnectionsOfOnePeer) {
  ResourceManager rm(small_limits());
  std::vector<ConnectionScope> held;
  for (int i = 0; i < 2; ++i) {
    auto c = rm.open_connection(Dir::inbound);
    ASSERT_TRUE(c);
    ASSERT_FALSE(c->set_peer(peer(7)));
    held.push_back(std::move(*c));
  }
  auto third = rm.open_connection(Dir::outbound);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->set_peer(peer(7)), errc::resource_connection_limit);
  EXPECT_NE(third->last_refusal().find("peer "), std::string::npos);
  EXPECT_FALSE(third->set_peer(peer(8))) << "another peer is not affected";
  held.clear();
  third.value() = ConnectionScope{};
  EXPECT_EQ(rm.stats().peers, 0u);
  EXPECT_EQ(rm.stats().system.connections_inbound + rm.stats().system.connections_outbound, 0u);
}

TEST(ResourceManager, MemoryIsChargedToEveryScopeAndRefusedAtTheTightest) {
  ResourceManager rm(small_limits());
  auto conn = rm.open_connection(Dir::inbound);
  ASSERT_TRUE(conn);
  ASSERT_FALSE(conn->set_peer(peer(1)));
  auto s1 = conn->open_stream(Dir::inbound);
  ASSERT_TRUE(s1);
  EXPECT_FALSE(s1->reserve_memory(300));
  EXPECT_EQ(s1->reserve_memory(1), errc::resource_memory_limit) << "stream limit 300";
  auto s2 = conn->open_stream(Dir::inbound);
  ASSERT_TRUE(s2);
  EXPECT_FALSE(s2->reserve_memory(100));
  EXPECT_EQ(s2->reserve_memory(1), errc::resource_memory_limit) << "connection limit 400";
  EXPECT_NE(s2->last_refusal().find("connection"), std::string::npos) << s2->last_refusal();
  EXPECT_EQ(rm.peer_stat(peer(1))->memory, 400u);
  EXPECT_EQ(rm.stats().system.memory, 400u);
  s1->release_memory(300);
  EXPECT_EQ(rm.stats().system.memory, 100u);
  EXPECT_FALSE(s2->reserve_memory(1));
  // The peer's limit (600) binds across its connections.
  auto conn2 = rm.open_connection(Dir::outbound);
  ASSERT_TRUE(conn2);
  ASSERT_FALSE(conn2->set_peer(peer(1)));
  EXPECT_FALSE(conn2->reserve_memory(350));
  EXPECT_EQ(conn->reserve_memory(200), errc::resource_memory_limit) << "peer: 101 + 350 + 200";
  EXPECT_EQ(rm.stats().refusals.at("peer:memory"), 1u);
  EXPECT_GE(rm.stats().peak_memory, 451u);
}

TEST(ResourceManager, StreamsAreCountedPerConnectionPeerAndProtocol) {
  ResourceManager rm(small_limits());
  auto conn = rm.open_connection(Dir::inbound);
  ASSERT_TRUE(conn);
  std::vector<StreamScope> streams;
  for (int i = 0; i < 3; ++i) {
    auto s = conn->open_stream(Dir::inbound);
    ASSERT_TRUE(s);
    streams.push_back(std::move(*s));
  }
  auto fourth = conn->open_stream(Dir::inbound);
  ASSERT_FALSE(fourth);
  EXPECT_EQ(fourth.error(), errc::resource_stream_limit);
  // Protocol: one perf stream at a time.
  EXPECT_FALSE(streams[0].set_protocol("/perf/1.0.0"));
  EXPECT_EQ(streams[1].set_protocol("/perf/1.0.0"), errc::resource_stream_limit);
  EXPECT_FALSE(streams[1].set_protocol("/ipfs/ping/1.0.0"));
  // Memory of a perf stream also counts against perf's 100 bytes.
  EXPECT_EQ(streams[0].reserve_memory(101), errc::resource_memory_limit);
  EXPECT_FALSE(streams[0].reserve_memory(100));
  streams.erase(streams.begin());
  EXPECT_TRUE(rm.stats().protocols.size() == 1u) << "perf's scope goes with its last stream";
}

TEST(ResourceManager, HandlesMayBeReleasedInAnyOrder) {
  ResourceManager rm(small_limits());
  std::optional<StreamScope> stream;
  {
    auto conn = rm.open_connection(Dir::inbound);
    ASSERT_TRUE(conn);
    ASSERT_FALSE(conn->reserve_memory(50));
    auto s = conn->open_stream(Dir::outbound);
    ASSERT_TRUE(s);
    ASSERT_FALSE(s->reserve_memory(70));
    ASSERT_FALSE(s->set_protocol("/bb/wire/1.0.0"));
    ASSERT_FALSE(conn->set_peer(peer(3)));  // moves the stream's memory and count too
    EXPECT_EQ(rm.peer_stat(peer(3))->memory, 120u);
    EXPECT_EQ(rm.peer_stat(peer(3))->streams_outbound, 1u);
    EXPECT_EQ(rm.stats().transient.memory, 0u);
    stream.emplace(std::move(*s));
  }  // the connection handle goes first
  EXPECT_EQ(rm.stats().system.memory, 70u);
  EXPECT_EQ(rm.peer_stat(peer(3))->memory, 70u);
  stream.reset();
  const auto st = rm.stats();
  EXPECT_EQ(st.system.memory, 0u);
  EXPECT_EQ(st.system.streams_outbound, 0u);
  EXPECT_EQ(st.peers, 0u);
  EXPECT_TRUE(st.protocols.empty());
}

TEST(ResourceManager, MemoryReservationFollowsItsBuffer) {
  ResourceManager rm(small_limits());
  auto conn = rm.open_connection(Dir::inbound);
  ASSERT_TRUE(conn);
  {
    MemoryReservation r(*conn);
    EXPECT_FALSE(r.resize(300));
    EXPECT_EQ(r.resize(401), errc::resource_memory_limit);
    EXPECT_EQ(r.size(), 300u) << "a refused growth changes nothing";
    EXPECT_FALSE(r.resize(10));
    EXPECT_EQ(conn->memory(), 10u);
  }
  EXPECT_EQ(conn->memory(), 0u);
}

TEST(ResourceManager, NodeMemoryIsChargedToThePeerAndTheSystem) {
  ResourceManager rm(small_limits());
  EXPECT_FALSE(rm.reserve_peer_memory(peer(9), 600));
  EXPECT_EQ(rm.reserve_peer_memory(peer(9), 1), errc::resource_memory_limit);
  EXPECT_FALSE(rm.reserve_peer_memory(peer(10), 400));
  EXPECT_EQ(rm.reserve_peer_memory(peer(11), 1), errc::resource_memory_limit) << "system 1000";
  rm.release_peer_memory(peer(9), 600);
  rm.release_peer_memory(peer(10), 400);
  EXPECT_EQ(rm.stats().peers, 0u);
  EXPECT_EQ(rm.stats().system.memory, 0u);
}

TEST(ResourceManager, HeldPeerMemoryGoesBackWhenTheHandleDiesEvenAfterTheManager) {
  auto rm = std::make_unique<ResourceManager>(small_limits());
  auto first = rm->hold_peer_memory(peer(9), 600);
  ASSERT_TRUE(first);
  auto refused = rm->hold_peer_memory(peer(9), 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::resource_memory_limit);
  EXPECT_NE(rm->last_refusal().find("memory"), std::string::npos) << rm->last_refusal();
  {
    PeerMemory moved = std::move(*first);
    EXPECT_EQ(moved.size(), 600u);
    EXPECT_EQ(first->size(), 0u);
    EXPECT_EQ(rm->stats().system.memory, 600u);
  }
  EXPECT_EQ(rm->stats().system.memory, 0u);
  EXPECT_EQ(rm->stats().peers, 0u);
  auto late = rm->hold_peer_memory(peer(10), 100);
  ASSERT_TRUE(late);
  rm.reset();  // the handle outlives its manager
  late->release();
  EXPECT_EQ(late->size(), 0u);
}

TEST(ResourceManager, BudgetScalesTheSmallerScopes) {
  const auto l = ResourceLimits::for_budget(std::size_t{64} << 20, 256);
  EXPECT_EQ(l.system.memory, std::size_t{64} << 20);
  EXPECT_LE(l.peer.memory, l.system.memory);
  EXPECT_LE(l.stream.memory, l.peer.memory);
  EXPECT_LE(l.system.connections, 256u);
  const auto d = ResourceLimits::defaults();
  EXPECT_EQ(ResourceLimits::for_budget(d.system.memory, d.system.fds).peer.memory, d.peer.memory);
}

}  // namespace
}  // namespace bb::wire

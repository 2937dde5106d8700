// The gossipsub router without I/O: meshes, gossip, backoff, floodsub peers, signatures and
// IDONTWANT, on a ManualClock with routers wired in memory (router_net.hpp).
#include "tests/pubsub/router_net.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace bb::pubsub::test {
namespace {

const TopicId kTopic = "bb-test";

wire::ByteView text(const std::string& s) {
  return wire::as_bytes(s);
}

MessagePtr publish(RouterNet& net, std::size_t i, const std::string& data,
                   const TopicId& topic = kTopic) {
  std::size_t recipients = 0;
  boost::system::error_code error;
  auto msg = net.routers[i]->publish(topic, text(data), recipients, error);
  EXPECT_FALSE(error) << error.message();
  return msg;
}

// A graph where node i dials i+1, i+3, i+7 and i+11 (mod n): connected, degree 8, not complete.
void chords(RouterNet& net) {
  const std::size_t n = net.routers.size();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t step : {1u, 3u, 7u, 11u}) net.connect(i, (i + step) % n);
  }
}

void subscribe_all(RouterNet& net, const TopicId& topic = kTopic) {
  for (auto& r : net.routers) r->subscribe(topic);
  net.settle();
}

void expect_everyone_got_everything_once(const RouterNet& net, const std::vector<MessagePtr>& sent,
                                         const std::vector<std::size_t>& authors) {
  for (std::size_t i = 0; i < net.routers.size(); ++i) {
    for (std::size_t m = 0; m < sent.size(); ++m) {
      const std::size_t want = authors[m] == i ? 0 : 1;
      EXPECT_EQ(net.count(i, sent[m]->id), want) << "node " << i << " message " << m;
    }
  }
}

TEST(GossipsubMesh, ThirtyNodesOverTheMeshDeliverEveryMessageExactlyOnce) {
  auto config = small_config();
  config.flood_publish = false;  // every hop but the first over the mesh
  RouterNet net(30, config);
  chords(net);
  subscribe_all(net);
  net.heartbeat_all(3);
  for (std::size_t i = 0; i < 30; ++i) {
    const auto mesh = net.routers[i]->mesh_peers(kTopic).size();
    EXPECT_GE(mesh, config.d_lo) << "node " << i;
    EXPECT_LE(mesh, config.d_hi) << "node " << i;
  }
  std::vector<MessagePtr> sent;
  std::vector<std::size_t> authors;
  for (std::size_t i = 0; i < 30; ++i) {
    sent.push_back(publish(net, i, "message " + std::to_string(i)));
    authors.push_back(i);
  }
  net.settle();
  expect_everyone_got_everything_once(net, sent, authors);
  // Every delivery kept its author and seqno.
  for (const auto& m : net.delivered[5]) {
    ASSERT_TRUE(m->author.has_value());
    EXPECT_EQ(m->fields.data(), "message " + std::to_string(net.index.at(*m->author)));
  }
}

TEST(GossipsubMesh, FloodPublishingReachesEveryNodeOnce) {
  RouterNet net(30);
  chords(net);
  subscribe_all(net);
  net.heartbeat_all(2);
  std::vector<MessagePtr> sent{publish(net, 0, "a"), publish(net, 17, "b")};
  net.settle();
  expect_everyone_got_everything_once(net, sent, {0, 17});
}

TEST(GossipsubMesh, AFullyConnectedGroupKeepsMeshesBetweenDloAndDhi) {
  RouterNet net(20);
  for (std::size_t i = 0; i < 20; ++i) {
    for (std::size_t j = i + 1; j < 20; ++j) net.connect(i, j);
  }
  subscribe_all(net);
  net.heartbeat_all(5);
  for (std::size_t i = 0; i < 20; ++i) {
    const auto mesh = net.routers[i]->mesh_peers(kTopic);
    EXPECT_GE(mesh.size(), 4u) << "node " << i;
    EXPECT_LE(mesh.size(), 12u) << "node " << i;
    // Meshes are symmetric: a GRAFT is answered by membership or a PRUNE.
    for (const auto& p : mesh) {
      const auto& other = net.routers[net.index.at(p)]->mesh_peers(kTopic);
      EXPECT_TRUE(std::find(other.begin(), other.end(), net.ids[i]) != other.end());
    }
  }
}

TEST(GossipsubGossip, AMessageLostOnTheMeshArrivesThroughIhaveAndIwant) {
  auto config = small_config();
  config.flood_publish = false;
  config.d = 1;
  config.d_lo = 1;
  config.d_hi = 1;
  config.d_score = 1;
  config.d_out = 0;
  RouterNet net(3, config);
  net.connect(0, 1);
  net.connect(0, 2);
  net.connect(1, 2);
  // Node 2's GRAFTs, and those to it, are lost: nobody has it in their mesh, so it is gossiped to.
  bool lose_pushes = false;
  net.drop = [&](std::size_t from, std::size_t to, pb::RPC& rpc) {
    if ((from == 2 || to == 2) && rpc.has_control()) rpc.mutable_control()->clear_graft();
    if (lose_pushes && to == 2) rpc.clear_publish();
    return false;
  };
  subscribe_all(net);
  net.heartbeat_all(2);
  // Node 2 hears no pushed message at all for now.
  lose_pushes = true;
  auto msg = publish(net, 0, "lost on the way");
  net.settle();
  EXPECT_EQ(net.count(2, msg->id), 0u);
  lose_pushes = false;
  net.heartbeat_all(1);  // node 0 or 1 announces it; node 2 asks and gets it
  EXPECT_EQ(net.count(2, msg->id), 1u);
  EXPECT_EQ(net.count(1, msg->id), 1u);
}

TEST(GossipsubMesh, PruneBacksOffAndAGraftDuringTheBackoffIsRefused) {
  RouterNet net(2);
  net.connect(0, 1);
  subscribe_all(net);
  net.heartbeat_all(1);
  ASSERT_EQ(net.routers[0]->mesh_peers(kTopic).size(), 1u);
  net.routers[1]->unsubscribe(kTopic);
  net.settle();
  EXPECT_TRUE(net.routers[0]->mesh_peers(kTopic).empty());
  EXPECT_TRUE(net.routers[0]->in_backoff(kTopic, net.ids[1]));
  // Node 1 comes back at once; it keeps its own backoff and does not graft...
  net.routers[1]->subscribe(kTopic);
  net.settle();
  EXPECT_TRUE(net.routers[0]->mesh_peers(kTopic).empty());
  EXPECT_EQ(net.routers[0]->stats().graft_refused, 0u);
  // ...and a GRAFT that ignores the backoff is refused with a PRUNE.
  pb::RPC graft;
  graft.mutable_control()->add_graft()->set_topicid(kTopic);
  EXPECT_TRUE(net.routers[0]->handle_rpc(net.ids[1], graft).empty());
  EXPECT_EQ(net.routers[0]->stats().graft_refused, 1u);
  EXPECT_TRUE(net.routers[0]->mesh_peers(kTopic).empty());
  net.settle();
  EXPECT_TRUE(net.routers[1]->in_backoff(kTopic, net.ids[0]));
  // After the backoff (10 s for an unsubscribe, 60 s for the refusal's own) the mesh reforms.
  net.heartbeat_all(62);
  EXPECT_EQ(net.routers[0]->mesh_peers(kTopic).size(), 1u);
}

TEST(GossipsubFloodsub, FloodsubPeersGetEveryMessageOfTheirTopicsAndNoControl) {
  RouterNet net(3);
  net.connect(0, 1);
  net.connect(0, 2, PeerKind::floodsub);
  std::size_t control_to_floodsub = 0;
  net.drop = [&](std::size_t from, std::size_t to, pb::RPC& rpc) {
    if (from == 0 && to == 2 && rpc.has_control()) ++control_to_floodsub;
    return false;
  };
  subscribe_all(net);
  net.heartbeat_all(3);
  EXPECT_EQ(net.routers[0]->mesh_peers(kTopic).size(), 1u);  // the floodsub peer is no member
  auto msg = publish(net, 1, "to everyone");
  net.settle();
  EXPECT_EQ(net.count(2, msg->id), 1u);
  EXPECT_EQ(control_to_floodsub, 0u);
}

TEST(GossipsubMessages, AForgedSignatureIsRejectedAndDoesNotShadowTheGenuineMessage) {
  RouterNet net(2);
  net.connect(0, 1);
  subscribe_all(net);
  net.heartbeat_all(1);
  auto genuine = publish(net, 0, "genuine");
  // The same message with its data changed: same id, a signature that no longer holds.
  pb::RPC forged;
  *forged.add_publish() = genuine->fields;
  forged.mutable_publish(0)->set_data("forged");
  net.routers[0]->take_outgoing();  // the genuine copy has not left yet
  auto pending = net.routers[1]->handle_rpc(net.ids[0], forged);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(net.routers[1]->stats().invalid, 1u);
  pb::RPC real;
  *real.add_publish() = genuine->fields;
  pending = net.routers[1]->handle_rpc(net.ids[0], real);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].msg->fields.data(), "genuine");
}

TEST(GossipsubMessages, StrictNoSignRefusesSignedMessagesAndIdsByData) {
  auto config = small_config();
  config.signature_policy = SignaturePolicy::strict_no_sign;
  RouterNet net(2, config);
  net.connect(0, 1);
  subscribe_all(net);
  net.heartbeat_all(1);
  auto msg = publish(net, 0, "anonymous");
  EXPECT_FALSE(msg->fields.has_from());
  EXPECT_FALSE(msg->fields.has_signature());
  net.settle();
  EXPECT_EQ(net.count(1, msg->id), 1u);
  pb::RPC signed_rpc;
  *signed_rpc.add_publish() = make_message(kTopic, text("x"), 7, wire::Ed25519KeyPair::generate(),
                                           SignaturePolicy::strict_sign);
  EXPECT_TRUE(net.routers[1]->handle_rpc(net.ids[0], signed_rpc).empty());
  EXPECT_EQ(net.routers[1]->stats().invalid, 1u);
}

// Hands what router i queued for router j over, with validation accepting everything.
void deliver(RouterNet& net, std::size_t i, std::size_t j, const std::string& frames) {
  for (auto& rpc : split_frames(frames)) {
    for (auto& p : net.routers[j]->handle_rpc(net.ids[i], std::move(rpc))) {
      net.routers[j]->validated(p, Acceptance::accept);
    }
  }
}

std::map<wire::PeerId, std::string> outgoing(RouterNet& net, std::size_t i) {
  std::map<wire::PeerId, std::string> out;
  for (auto& [peer, frames] : net.routers[i]->take_outgoing()) out[peer] = std::move(frames);
  return out;
}

TEST(GossipsubMessages, IdontwantKeepsALargeMessageFromAPeerThatHasIt) {
  RouterNet net(3);
  net.connect(0, 1);
  net.connect(1, 2);
  net.connect(0, 2);
  subscribe_all(net);
  net.heartbeat_all(2);
  ASSERT_EQ(net.routers[1]->mesh_peers(kTopic).size(), 2u);
  auto msg = publish(net, 0, std::string(4096, 'x'));
  auto from0 = outgoing(net, 0);
  // Node 2 gets it first and tells its mesh (node 1) it has it...
  deliver(net, 0, 2, from0[net.ids[2]]);
  auto from2 = outgoing(net, 2);
  const auto rpcs = split_frames(from2[net.ids[1]]);
  ASSERT_EQ(rpcs.size(), 1u);
  ASSERT_EQ(rpcs[0].control().idontwant_size(), 1);
  EXPECT_EQ(rpcs[0].control().idontwant(0).messageids(0), msg->id);
  // (Node 2's own forward of it is lost on the way; only the IDONTWANT arrives.)
  pb::RPC control_only = rpcs[0];
  control_only.clear_publish();
  EXPECT_TRUE(net.routers[1]->handle_rpc(net.ids[2], control_only).empty());
  // ...so node 1, getting it from node 0 next, forwards it to nobody.
  deliver(net, 0, 1, from0[net.ids[1]]);
  auto from1 = outgoing(net, 1);
  for (const auto& rpc : split_frames(from1[net.ids[2]])) EXPECT_EQ(rpc.publish_size(), 0);
  EXPECT_EQ(net.routers[1]->stats().idontwant_dropped, 1u);
  // A small message is not announced.
  publish(net, 0, "small");
  from0 = outgoing(net, 0);
  deliver(net, 0, 2, from0[net.ids[2]]);
  auto small = outgoing(net, 2);
  for (const auto& rpc : split_frames(small[net.ids[1]])) {
    EXPECT_EQ(rpc.control().idontwant_size(), 0);
  }
}

TEST(GossipsubMessages, RpcsOverTheirLimitsFailToDecodeWithTheReason) {
  pb::RPC rpc;
  auto* ihave = rpc.mutable_control()->add_ihave();
  ihave->set_topicid(kTopic);
  for (int i = 0; i < 9000; ++i) ihave->add_messageids("id" + std::to_string(i));
  std::string detail;
  const std::string bytes = rpc.SerializeAsString();
  auto decoded = decode_rpc(text(bytes), RpcLimits{}, &detail);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error(), make_error_code(errc::rpc_limit));
  EXPECT_NE(detail.find("control entries"), std::string::npos) << detail;
  const std::string junk = "\xff\xff\xff";
  EXPECT_EQ(decode_rpc(text(junk), RpcLimits{}).error(), make_error_code(errc::bad_rpc));
}

}  // namespace
}  // namespace bb::pubsub::test

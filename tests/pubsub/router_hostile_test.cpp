// A gossipsub router under attack from one of its peers, on the ManualClock: IHAVE, IWANT,
// GRAFT and subscription floods and invalid messages cost a bounded amount, the attacker's score
// takes it out of the mesh and out of hearing, and a legitimate peer still gets through.
#include "tests/pubsub/router_net.hpp"

#include <gtest/gtest.h>

namespace bb::pubsub::test {
namespace {

const TopicId kTopic = "bb-test";
constexpr std::size_t kVictim = 0, kAttacker = 1, kHonest = 2;

GossipsubConfig scored_config() {
  auto config = small_config();
  TopicScoreParams topic;
  topic.time_in_mesh_weight = 0.001;
  topic.mesh_message_deliveries_weight = 0;  // P3 is the subject of its own test
  topic.mesh_failure_penalty_weight = 0;
  config.score.topics[kTopic] = topic;
  return config;
}

// Victim, attacker and an honest peer, all connected, all in the topic, meshes formed.
void trio(RouterNet& net) {
  net.connect(kVictim, kAttacker);
  net.connect(kVictim, kHonest);
  net.connect(kAttacker, kHonest);
  for (auto& r : net.routers) r->subscribe(kTopic);
  net.settle();
  net.heartbeat_all(2);
}

// Sends `rpc` from the attacker straight into the victim (validation accepts).
void attack(RouterNet& net, pb::RPC rpc) {
  for (auto& p : net.routers[kVictim]->handle_rpc(net.ids[kAttacker], std::move(rpc))) {
    net.routers[kVictim]->validated(p, Acceptance::accept);
  }
}

// The honest peer publishes; true when the victim delivered it.
bool honest_gets_through(RouterNet& net, const std::string& data) {
  std::size_t recipients = 0;
  boost::system::error_code error;
  auto msg = net.routers[kHonest]->publish(kTopic, wire::as_bytes(data), recipients, error);
  net.settle();
  return net.count(kVictim, msg->id) == 1;
}

// Everything the victim queued for the attacker, in bytes, and its IWANT ids.
std::pair<std::size_t, std::size_t> victim_output_to_attacker(RouterNet& net) {
  std::size_t bytes = 0, iwant = 0;
  for (auto& [peer, frames] : net.routers[kVictim]->take_outgoing()) {
    if (peer != net.ids[kAttacker]) continue;
    bytes += frames.size();
    for (const auto& rpc : split_frames(frames)) {
      for (const auto& w : rpc.control().iwant())
        iwant += static_cast<std::size_t>(w.messageids_size());
    }
  }
  return {bytes, iwant};
}

TEST(GossipsubHostile, AnIhaveFloodIsAskedAtMostTheBudgetAndEndsInPenalties) {
  RouterNet net(3, scored_config());
  trio(net);
  net.routers[kVictim]->take_outgoing();
  std::size_t asked_total = 0, beats_unheard = 0;
  constexpr int kBeats = 30;
  for (int beat = 0; beat < kBeats; ++beat) {
    for (int r = 0; r < 20; ++r) {
      pb::RPC rpc;
      auto* ihave = rpc.mutable_control()->add_ihave();
      ihave->set_topicid(kTopic);
      for (int i = 0; i < 5000; ++i) {
        ihave->add_messageids("fake-" + std::to_string(beat) + "-" + std::to_string(r) + "-" +
                              std::to_string(i));
      }
      attack(net, std::move(rpc));
    }
    const auto [bytes, iwant] = victim_output_to_attacker(net);
    EXPECT_LE(iwant, net.routers[kVictim]->config().max_ihave_length) << "beat " << beat;
    asked_total += iwant;
    beats_unheard += iwant == 0 ? 1 : 0;
    net.clock.advance(1'000'000'000);
    net.routers[kVictim]->heartbeat();
    net.routers[kVictim]->take_outgoing();
  }
  EXPECT_GE(net.routers[kVictim]->stats().ihave_ignored, kBeats * 19u);
  // Each IWANT carried a promise; none was kept: P7 took the attacker below the gossip threshold,
  // after which it was not even asked.
  EXPECT_GE(net.routers[kVictim]->stats().broken_promises, 8u);
  EXPECT_GE(beats_unheard, 1u);
  EXPECT_LT(asked_total, kBeats * 5000u);
  EXPECT_TRUE(honest_gets_through(net, "still heard"));
}

TEST(GossipsubHostile, AnIwantFloodIsAnsweredAtMostThreeTimesPerMessage) {
  RouterNet net(3, scored_config());
  trio(net);
  std::size_t recipients = 0;
  boost::system::error_code error;
  auto msg = net.routers[kVictim]->publish(kTopic, wire::as_bytes(std::string("cached")),
                                           recipients, error);
  net.routers[kVictim]->take_outgoing();
  std::size_t copies = 0;
  for (int r = 0; r < 50; ++r) {
    pb::RPC rpc;
    auto* iwant = rpc.mutable_control()->add_iwant();
    for (int i = 0; i < 100; ++i) iwant->add_messageids(msg->id);
    attack(net, std::move(rpc));
    for (auto& [peer, frames] : net.routers[kVictim]->take_outgoing()) {
      for (const auto& out : split_frames(frames))
        copies += static_cast<std::size_t>(out.publish_size());
    }
  }
  EXPECT_EQ(copies, net.routers[kVictim]->config().gossip_retransmission);
}

TEST(GossipsubHostile, AGraftFloodDuringBackoffEndsGraylistedWhileTheHonestPeerGetsThrough) {
  RouterNet net(3, scored_config());
  trio(net);
  const auto& victim = *net.routers[kVictim];
  // The attacker prunes itself (we back it off), then grafts again and again.
  pb::RPC prune;
  auto* p = prune.mutable_control()->add_prune();
  p->set_topicid(kTopic);
  p->set_backoff(60);
  attack(net, prune);
  EXPECT_TRUE(victim.in_backoff(kTopic, net.ids[kAttacker]));
  for (int i = 0; i < 30; ++i) {
    pb::RPC graft;
    graft.mutable_control()->add_graft()->set_topicid(kTopic);
    attack(net, graft);
  }
  EXPECT_GE(victim.stats().graft_refused, 5u);
  const auto mesh = victim.mesh_peers(kTopic);
  EXPECT_TRUE(std::find(mesh.begin(), mesh.end(), net.ids[kAttacker]) == mesh.end());
  EXPECT_LT(victim.score(net.ids[kAttacker]), victim.config().thresholds.graylist_threshold);
  // Graylisted: its RPCs are no longer even read.
  const auto before = victim.stats().graylisted_rpcs;
  pb::RPC sub;
  auto* s = sub.add_subscriptions();
  s->set_subscribe(true);
  s->set_topicid("another");
  attack(net, sub);
  EXPECT_EQ(victim.stats().graylisted_rpcs, before + 1);
  EXPECT_TRUE(net.routers[kVictim]->topic_peers("another").empty());
  net.routers[kVictim]->take_outgoing();
  EXPECT_TRUE(honest_gets_through(net, "graft flood or not"));
}

TEST(GossipsubHostile, InvalidMessagesTakeTheSenderBelowTheGraylistThreshold) {
  RouterNet net(3, scored_config());
  trio(net);
  const auto& victim = *net.routers[kVictim];
  const auto stranger = wire::Ed25519KeyPair::generate();
  for (int i = 0; i < 12; ++i) {
    pb::RPC rpc;
    auto* m = rpc.add_publish();
    *m = make_message(kTopic, wire::as_bytes(std::string("valid")), 100 + i, stranger,
                      SignaturePolicy::strict_sign);
    m->set_data("tampered");  // the signature no longer holds
    attack(net, std::move(rpc));
  }
  // Nine cost -81 (P4: -1 per invalid message, squared): the last three are not even read.
  EXPECT_EQ(victim.stats().invalid, 9u);
  EXPECT_EQ(victim.stats().graylisted_rpcs, 3u);
  EXPECT_LT(victim.score(net.ids[kAttacker]), victim.config().thresholds.graylist_threshold);
  net.heartbeat_all(1);
  const auto mesh = victim.mesh_peers(kTopic);
  EXPECT_TRUE(std::find(mesh.begin(), mesh.end(), net.ids[kAttacker]) == mesh.end());
  EXPECT_TRUE(honest_gets_through(net, "after the invalid ones"));
}

TEST(GossipsubHostile, ValidatorRejectionsCountAndIgnoresDoNot) {
  RouterNet net(3, scored_config());
  trio(net);
  net.judge = [](std::size_t node, const PendingValidation& p) {
    if (node != kVictim) return Acceptance::accept;
    return p.msg->fields.data().starts_with("bad") ? Acceptance::reject : Acceptance::ignore;
  };
  const auto author = wire::Ed25519KeyPair::generate();
  for (int i = 0; i < 5; ++i) {
    pb::RPC rpc;
    *rpc.add_publish() = make_message(kTopic, wire::as_bytes(std::string("meh")), 10 + i, author,
                                      SignaturePolicy::strict_sign);
    for (auto& p : net.routers[kVictim]->handle_rpc(net.ids[kAttacker], std::move(rpc))) {
      net.routers[kVictim]->validated(p, net.judge(kVictim, p));
    }
  }
  EXPECT_GE(net.routers[kVictim]->score(net.ids[kAttacker]), 0.0);
  for (int i = 0; i < 5; ++i) {
    pb::RPC rpc;
    *rpc.add_publish() = make_message(kTopic, wire::as_bytes(std::string("bad")), 20 + i, author,
                                      SignaturePolicy::strict_sign);
    for (auto& p : net.routers[kVictim]->handle_rpc(net.ids[kAttacker], std::move(rpc))) {
      net.routers[kVictim]->validated(p, net.judge(kVictim, p));
    }
  }
  EXPECT_LT(net.routers[kVictim]->score(net.ids[kAttacker]), 0.0);
  EXPECT_EQ(net.routers[kVictim]->stats().ignored, 5u);
}

TEST(GossipsubHostile, SubscriptionsPastThePerPeerLimitAreNotRemembered) {
  RouterNet net(3, scored_config());
  trio(net);
  for (int r = 0; r < 10; ++r) {
    pb::RPC rpc;
    for (int i = 0; i < 1000; ++i) {
      auto* s = rpc.add_subscriptions();
      s->set_subscribe(true);
      s->set_topicid("t" + std::to_string(r * 1000 + i));
    }
    attack(net, std::move(rpc));
  }
  const auto& victim = *net.routers[kVictim];
  EXPECT_EQ(victim.stats().topic_limit, 10u * 1000u + 1 - victim.config().max_topics_per_peer);
  EXPECT_TRUE(victim.topic_peers("t9999").empty());
  EXPECT_TRUE(honest_gets_through(net, "many topics or not"));
}

TEST(GossipsubScoring, AMeshPeerThatStopsForwardingLosesItsSlot) {
  auto config = small_config();
  TopicScoreParams topic;
  topic.time_in_mesh_weight = 0.001;
  topic.first_message_deliveries_weight = 0;
  topic.mesh_message_deliveries_weight = -1;
  topic.mesh_message_deliveries_threshold = 0.5;
  topic.mesh_message_deliveries_activation = std::chrono::seconds(3);
  topic.mesh_message_deliveries_window = std::chrono::milliseconds(10);
  config.score.topics[kTopic] = topic;
  config.opportunistic_graft_ticks = 0;
  constexpr std::size_t kSilent = 1;
  RouterNet net(6, config);
  for (std::size_t i = 0; i < 6; ++i) {
    for (std::size_t j = i + 1; j < 6; ++j) net.connect(i, j);
  }
  for (auto& r : net.routers) r->subscribe(kTopic);
  net.settle();
  net.heartbeat_all(1);
  auto in_mesh = [&] {
    const auto mesh = net.routers[kVictim]->mesh_peers(kTopic);
    return std::find(mesh.begin(), mesh.end(), net.ids[kSilent]) != mesh.end();
  };
  ASSERT_TRUE(in_mesh());
  // The silent peer never passes a message on to the victim; the others do.
  net.drop = [](std::size_t from, std::size_t to, pb::RPC& rpc) {
    if (from == kSilent && to == kVictim) rpc.clear_publish();
    return false;
  };
  for (int beat = 0; beat < 8; ++beat) {
    for (std::size_t i = 2; i < 6; ++i) {
      std::size_t recipients = 0;
      boost::system::error_code error;
      net.routers[i]->publish(kTopic, wire::as_bytes("beat " + std::to_string(beat)), recipients,
                              error);
    }
    net.settle();
    net.heartbeat_all(1);
  }
  EXPECT_FALSE(in_mesh());
  EXPECT_LT(net.routers[kVictim]->score(net.ids[kSilent]), 0.0);
  for (std::size_t i = 2; i < 6; ++i) EXPECT_GE(net.routers[kVictim]->score(net.ids[i]), 0.0);
}

}  // namespace
}  // namespace bb::pubsub::test

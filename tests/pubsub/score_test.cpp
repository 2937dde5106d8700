#include "bb/pubsub/score.hpp"

#include "bb/async/clock.hpp"
#include "bb/wire/peer_id.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace bb::pubsub {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1000 * kMs;
const TopicId kTopic = "t";

// Every weight 0 and nothing decays: each test turns on the component it checks, so each
// expected number is that component alone, computed from the parameters the test sets.
PeerScoreParams silent_params() {
  TopicScoreParams t;
  t.topic_weight = 1;
  t.time_in_mesh_weight = 0;
  t.first_message_deliveries_weight = 0;
  t.first_message_deliveries_decay = 1;
  t.mesh_message_deliveries_weight = 0;
  t.mesh_message_deliveries_decay = 1;
  t.mesh_failure_penalty_weight = 0;
  t.mesh_failure_penalty_decay = 1;
  t.invalid_message_deliveries_weight = 0;
  t.invalid_message_deliveries_decay = 1;
  PeerScoreParams p;
  p.topics[kTopic] = t;
  p.app_specific_weight = 0;
  p.ip_colocation_factor_weight = 0;
  p.behaviour_penalty_weight = 0;
  p.behaviour_penalty_decay = 1;
  return p;
}

wire::PeerId peer(std::uint64_t n) {
  return wire::PeerId::from_u64(n);
}

// A message seen first from `from` and accepted at once.
void first_delivery(PeerScore& s, const wire::PeerId& from, const MessageId& id,
                    const TopicId& topic = kTopic) {
  s.validate_message(from, id, topic);
  s.deliver_message(from, id, topic);
}

// A message seen first from `from` and rejected by the topic's validator.
void invalid_delivery(PeerScore& s, const wire::PeerId& from, const MessageId& id) {
  s.validate_message(from, id, kTopic);
  s.reject_message(from, id, kTopic, RejectReason::validator_reject);
}

TEST(PeerScore, UnknownPeersAndUnscoredTopicsScoreZero) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.topics[kTopic].first_message_deliveries_weight = 1;
  PeerScore s(p, clock);
  const auto a = peer(1);
  EXPECT_EQ(s.score(a), 0);
  first_delivery(s, a, "m1");  // not added: ignored
  s.add_peer(a, "");
  EXPECT_EQ(s.score(a), 0);
  first_delivery(s, a, "m2", "other-topic");
  EXPECT_EQ(s.score(a), 0);
  first_delivery(s, a, "m3");
  EXPECT_DOUBLE_EQ(s.score(a), 1.0);
}

TEST(PeerScoreP1, TimeInMeshCountsWholeQuantaUpToTheCap) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  TopicScoreParams& t = p.topics[kTopic];
  t.topic_weight = 2;
  t.time_in_mesh_weight = 0.5;
  t.time_in_mesh_quantum = 1s;
  t.time_in_mesh_cap = 10;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  clock.advance(5 * kSec);
  EXPECT_EQ(s.score(a), 0);  // connected but not in the mesh
  s.graft(a, kTopic);
  clock.advance(3 * kSec + 500 * kMs);
  EXPECT_DOUBLE_EQ(s.score(a), 3 * 0.5 * 2);  // 3.5 s = 3 whole quanta
  clock.advance(100 * kSec);
  EXPECT_DOUBLE_EQ(s.score(a), 10 * 0.5 * 2);  // capped
  s.prune(a, kTopic);
  EXPECT_EQ(s.score(a), 0);
  s.graft(a, kTopic);  // a new graft counts from now
  clock.advance(2 * kSec);
  EXPECT_DOUBLE_EQ(s.score(a), 2 * 0.5 * 2);
}

TEST(PeerScoreP2, FirstDeliveriesCreditTheFirstForwarderUpToTheCap) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  TopicScoreParams& t = p.topics[kTopic];
  t.first_message_deliveries_weight = 2;
  t.first_message_deliveries_cap = 3;
  PeerScore s(p, clock);
  const auto a = peer(1);
  const auto b = peer(2);
  s.add_peer(a, "");
  s.add_peer(b, "");
  first_delivery(s, a, "m1");
  s.duplicate_message(b, "m1", kTopic);
  EXPECT_DOUBLE_EQ(s.score(a), 1 * 2.0);
  EXPECT_EQ(s.score(b), 0);
  first_delivery(s, a, "m1");  // the same message again: no second credit
  EXPECT_DOUBLE_EQ(s.score(a), 1 * 2.0);
  for (int i = 2; i <= 6; ++i) first_delivery(s, a, "m" + std::to_string(i));
  EXPECT_DOUBLE_EQ(s.score(a), 3 * 2.0);  // 6 deliveries, capped at 3
}

PeerScoreParams p3_params() {
  PeerScoreParams p = silent_params();
  TopicScoreParams& t = p.topics[kTopic];
  t.topic_weight = 0.5;
  t.mesh_message_deliveries_weight = -2;
  t.mesh_message_deliveries_threshold = 4;
  t.mesh_message_deliveries_cap = 6;
  t.mesh_message_deliveries_window = 10ms;
  t.mesh_message_deliveries_activation = 5s;
  return p;
}

TEST(PeerScoreP3, DeficitCountsOnlyAfterTheActivationTimeFromGraft) {
  async::ManualClock clock(7 * kSec);
  PeerScore s(p3_params(), clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  clock.advance(10 * kSec);  // connected time does not count
  s.graft(a, kTopic);
  clock.advance(5 * kSec);
  EXPECT_EQ(s.score(a), 0);  // exactly the activation time: not yet
  clock.advance(1);
  EXPECT_DOUBLE_EQ(s.score(a), 4.0 * 4.0 * -2 * 0.5);  // deficit 4
  first_delivery(s, a, "m1");
  EXPECT_DOUBLE_EQ(s.score(a), 3.0 * 3.0 * -2 * 0.5);  // deficit 3
  s.prune(a, kTopic);
  EXPECT_EQ(s.score(a), 0);  // no P3 outside the mesh (P3b weight is 0 here)
  s.graft(a, kTopic);
  clock.advance(5 * kSec);
  EXPECT_EQ(s.score(a), 0);  // the regraft restarts the activation time
  clock.advance(1);
  EXPECT_DOUBLE_EQ(s.score(a), 3.0 * 3.0 * -2 * 0.5);  // the counter survived the prune
}

TEST(PeerScoreP3, DeliveriesAtOrAboveTheThresholdCostNothingAndAreCapped) {
  async::ManualClock clock;
  PeerScoreParams p = p3_params();
  p.topics[kTopic].mesh_message_deliveries_decay = 0.5;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  s.graft(a, kTopic);
  for (int i = 0; i < 10; ++i) first_delivery(s, a, "m" + std::to_string(i));
  clock.advance(6 * kSec);
  EXPECT_EQ(s.score(a), 0);  // 10 deliveries, capped at 6, above the threshold 4
  s.refresh();               // 6 -> 3: deficit 1 (it would be 0 from 10 -> 5 without the cap)
  EXPECT_DOUBLE_EQ(s.score(a), 1.0 * 1.0 * -2 * 0.5);
}

TEST(PeerScoreP3, MeshDuplicatesWithinTheWindowCount) {
  async::ManualClock clock;
  PeerScore s(p3_params(), clock);
  const auto a = peer(1);
  const auto b = peer(2);
  const auto c = peer(3);  // not in the mesh
  for (const auto& x : {a, b, c}) s.add_peer(x, "");
  s.graft(a, kTopic);
  s.graft(b, kTopic);
  clock.advance(6 * kSec);
  ASSERT_DOUBLE_EQ(s.score(b), 16 * -2 * 0.5);

  first_delivery(s, a, "m1");
  clock.advance(10 * kMs);  // exactly at the window's end
  s.duplicate_message(b, "m1", kTopic);
  s.duplicate_message(c, "m1", kTopic);
  EXPECT_DOUBLE_EQ(s.score(b), 3.0 * 3.0 * -2 * 0.5);
  s.duplicate_message(b, "m1", kTopic);  // the same peer again: one credit per message
  EXPECT_DOUBLE_EQ(s.score(b), 3.0 * 3.0 * -2 * 0.5);

  first_delivery(s, a, "m2");
  clock.advance(10 * kMs + 1);  // just past the window: a replay, no credit
  s.duplicate_message(b, "m2", kTopic);
  EXPECT_DOUBLE_EQ(s.score(b), 3.0 * 3.0 * -2 * 0.5);

  // Copies that arrive while the first is being validated count, however long validation takes.
  s.validate_message(a, "m3", kTopic);
  s.duplicate_message(b, "m3", kTopic);
  clock.advance(1 * kSec);
  s.deliver_message(a, "m3", kTopic);
  EXPECT_DOUBLE_EQ(s.score(b), 2.0 * 2.0 * -2 * 0.5);
  EXPECT_DOUBLE_EQ(s.score(a), 1.0 * 1.0 * -2 * 0.5);  // a: first of m1, m2, m3
  EXPECT_EQ(s.score(c), 0);
}

TEST(PeerScoreP3b, PruneInDeficitKeepsTheDeficitSquared) {
  async::ManualClock clock;
  PeerScoreParams p = p3_params();
  TopicScoreParams& t = p.topics[kTopic];
  t.mesh_message_deliveries_weight = 0;  // P3b alone
  t.mesh_failure_penalty_weight = -3;
  t.mesh_failure_penalty_decay = 0.5;
  PeerScore s(p, clock);
  const auto a = peer(1);
  const auto b = peer(2);
  const auto c = peer(3);
  for (const auto& x : {a, b, c}) {
    s.add_peer(x, "");
    s.graft(x, kTopic);
  }
  first_delivery(s, a, "m1");
  for (int i = 0; i < 4; ++i) first_delivery(s, c, "c" + std::to_string(i));
  s.prune(b, kTopic);  // before activation: no penalty
  EXPECT_EQ(s.score(b), 0);
  clock.advance(6 * kSec);
  s.prune(a, kTopic);  // deficit 4 - 1 = 3
  s.prune(c, kTopic);  // 4 deliveries: no deficit
  EXPECT_DOUBLE_EQ(s.score(a), 9 * -3 * 0.5);
  EXPECT_EQ(s.score(c), 0);
  s.prune(a, kTopic);  // not in the mesh any more: nothing
  EXPECT_DOUBLE_EQ(s.score(a), 9 * -3 * 0.5);
  clock.advance(1 * kSec);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 4.5 * -3 * 0.5);
}

TEST(PeerScoreP3b, DisconnectingInDeficitCostsWhatAPruneWould) {
  async::ManualClock clock;
  PeerScoreParams p = p3_params();
  p.topics[kTopic].mesh_message_deliveries_weight = 0;
  p.topics[kTopic].mesh_failure_penalty_weight = -1;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  s.graft(a, kTopic);
  clock.advance(6 * kSec);
  EXPECT_EQ(s.score(a), 0);
  s.remove_peer(a);
  EXPECT_DOUBLE_EQ(s.score(a), 16 * -1 * 0.5);
}

PeerScoreParams p4_params() {
  PeerScoreParams p = silent_params();
  p.topics[kTopic].topic_weight = 2;
  p.topics[kTopic].invalid_message_deliveries_weight = -1.5;
  return p;
}

TEST(PeerScoreP4, InvalidMessagesCountSquared) {
  async::ManualClock clock;
  PeerScore s(p4_params(), clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  invalid_delivery(s, a, "m1");
  EXPECT_DOUBLE_EQ(s.score(a), 1 * -1.5 * 2);
  invalid_delivery(s, a, "m2");
  invalid_delivery(s, a, "m3");
  EXPECT_DOUBLE_EQ(s.score(a), 3 * 3 * -1.5 * 2);
}

TEST(PeerScoreP4, EveryoneWhoSentARejectedMessageIsPenalised) {
  async::ManualClock clock;
  PeerScore s(p4_params(), clock);
  const auto a = peer(1);
  const auto b = peer(2);
  const auto c = peer(3);
  for (const auto& x : {a, b, c}) s.add_peer(x, "");
  s.validate_message(a, "m1", kTopic);
  s.duplicate_message(b, "m1", kTopic);  // during validation
  s.reject_message(a, "m1", kTopic, RejectReason::validator_reject);
  clock.advance(60 * kSec);
  s.duplicate_message(c, "m1", kTopic);  // long after: still an invalid message
  s.duplicate_message(c, "m1", kTopic);  // but once per peer
  for (const auto& x : {a, b, c}) EXPECT_DOUBLE_EQ(s.score(x), 1 * -1.5 * 2);
}

TEST(PeerScoreP4, SignatureFailuresPenaliseOnlyTheForwarder) {
  async::ManualClock clock;
  PeerScoreParams p = p4_params();
  p.topics[kTopic].first_message_deliveries_weight = 10;
  PeerScore s(p, clock);
  const auto a = peer(1);
  const auto b = peer(2);
  s.add_peer(a, "");
  s.add_peer(b, "");
  s.reject_message(a, "m1", kTopic, RejectReason::invalid_signature);
  s.reject_message(a, "m2", kTopic, RejectReason::missing_signature);
  s.reject_message(a, "m3", kTopic, RejectReason::unexpected_signature);
  s.reject_message(a, "m4", kTopic, RejectReason::self_origin);
  EXPECT_DOUBLE_EQ(s.score(a), 4 * 4 * -1.5 * 2);
  // The forged m1 carried a real message's id: b's genuine copy is a first delivery.
  first_delivery(s, b, "m1");
  EXPECT_DOUBLE_EQ(s.score(b), 1 * 10 * 2);
}

TEST(PeerScoreP4, IgnoredMessagesAndBlockedAuthorsCostNothing) {
  async::ManualClock clock;
  PeerScore s(p4_params(), clock);
  const auto a = peer(1);
  const auto b = peer(2);
  s.add_peer(a, "");
  s.add_peer(b, "");
  for (int i = 0; i < 5; ++i) {
    const MessageId id = "m" + std::to_string(i);
    s.validate_message(a, id, kTopic);
    s.reject_message(a, id, kTopic, RejectReason::validator_ignore);
    s.duplicate_message(b, id, kTopic);
  }
  s.validate_message(a, "x", kTopic);
  s.reject_message(a, "x", kTopic, RejectReason::blocked_author);
  EXPECT_EQ(s.score(a), 0);
  EXPECT_EQ(s.score(b), 0);
  invalid_delivery(s, a, "y");  // the same setup does count a rejection
  EXPECT_DOUBLE_EQ(s.score(a), 1 * -1.5 * 2);
}

TEST(PeerScoreP5, AppSpecificScoreIsWeighted) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.app_specific_weight = 2;
  p.app_specific_score = [](const wire::PeerId& x) { return x == peer(1) ? -3.5 : 1.0; };
  PeerScore s(p, clock);
  s.add_peer(peer(1), "");
  s.add_peer(peer(2), "");
  EXPECT_DOUBLE_EQ(s.score(peer(1)), -3.5 * 2);
  EXPECT_DOUBLE_EQ(s.score(peer(2)), 1.0 * 2);
  EXPECT_DOUBLE_EQ(s.breakdown(peer(1)).app_specific, -7);
}

TEST(PeerScoreP6, PeersOnOneIpAboveTheThresholdPayTheSurplusSquared) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.ip_colocation_factor_weight = -2;
  p.ip_colocation_factor_threshold = 2;
  p.ip_colocation_factor_whitelist = {"10.0.0.9"};
  PeerScore s(p, clock);
  for (std::uint64_t i = 1; i <= 5; ++i) s.add_peer(peer(i), "10.0.0.1");
  s.add_peer(peer(6), "10.0.0.2");
  s.add_peer(peer(7), "");
  s.add_peer(peer(8), "");
  for (std::uint64_t i = 10; i <= 14; ++i) s.add_peer(peer(i), "10.0.0.9");
  for (std::uint64_t i = 1; i <= 5; ++i) EXPECT_DOUBLE_EQ(s.score(peer(i)), 3.0 * 3.0 * -2);
  EXPECT_EQ(s.score(peer(6)), 0);
  EXPECT_EQ(s.score(peer(7)), 0);   // unknown IPs are not one IP
  EXPECT_EQ(s.score(peer(10)), 0);  // whitelisted
  s.remove_peer(peer(5));
  s.remove_peer(peer(4));
  EXPECT_DOUBLE_EQ(s.score(peer(1)), 1.0 * 1.0 * -2);
  s.add_peer(peer(3), "10.0.0.2");  // a peer that moves IP leaves the old one
  EXPECT_EQ(s.score(peer(1)), 0);
  EXPECT_EQ(s.score(peer(3)), 0);
}

TEST(PeerScoreP7, BehaviourPenaltyAboveTheThresholdCountsSquaredAndDecays) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.behaviour_penalty_weight = -1;
  p.behaviour_penalty_threshold = 2;
  p.behaviour_penalty_decay = 0.5;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  s.add_penalty(a, 2);
  EXPECT_EQ(s.score(a), 0);  // at the threshold
  s.add_penalty(a);
  s.add_penalty(a, 2);
  EXPECT_DOUBLE_EQ(s.score(a), 3.0 * 3.0 * -1);  // 5 - 2
  clock.advance(1 * kSec);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 0.5 * 0.5 * -1);  // 2.5 - 2
  EXPECT_DOUBLE_EQ(s.breakdown(a).behaviour_penalty, -0.25);
}

TEST(PeerScoreDecay, DecaysOncePerIntervalOnTheIntervalGrid) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.topics[kTopic].first_message_deliveries_weight = 1;
  p.topics[kTopic].first_message_deliveries_decay = 0.5;
  p.decay_to_zero = 0.001;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  for (int i = 0; i < 16; ++i) first_delivery(s, a, "m" + std::to_string(i));
  clock.advance_to(999 * kMs);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 16);
  clock.advance_to(1000 * kMs);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 8);
  s.refresh();  // no interval has passed since
  EXPECT_DOUBLE_EQ(s.score(a), 8);
  clock.advance_to(2700 * kMs);  // a late heartbeat decays once
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 4);
  clock.advance_to(3100 * kMs);  // the grid is at 2 s, not 2.7 s
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 2);
  clock.advance_to(3900 * kMs);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 2);
  clock.advance_to(4000 * kMs);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 1);
  clock.advance_to(7500 * kMs);  // three intervals without a refresh: not caught up
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 0.5);
  clock.advance_to(7999 * kMs);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 0.5);
  clock.advance_to(8000 * kMs);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 0.25);
}

TEST(PeerScoreDecay, CountersBelowDecayToZeroBecomeZero) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.topics[kTopic].invalid_message_deliveries_weight = -1;
  p.topics[kTopic].invalid_message_deliveries_decay = 0.5;
  p.decay_to_zero = 0.3;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  invalid_delivery(s, a, "m1");
  EXPECT_DOUBLE_EQ(s.score(a), -1);
  clock.advance(1 * kSec);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), -0.25);  // 0.5 squared
  clock.advance(1 * kSec);
  s.refresh();
  EXPECT_EQ(s.score(a), 0);  // 0.25 < 0.3
}

TEST(PeerScoreCap, TopicScoreCapLimitsOnlyTheTopicsPositiveSum) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.topics[kTopic].first_message_deliveries_weight = 1;
  p.topics["u"] = p.topics[kTopic];
  p.topics["u"].topic_weight = 2;
  p.topics["u"].invalid_message_deliveries_weight = -1;
  p.topic_score_cap = 7;
  p.app_specific_weight = 1;
  p.app_specific_score = [](const wire::PeerId&) { return 5.0; };
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  first_delivery(s, a, "t1", kTopic);
  first_delivery(s, a, "t2", kTopic);
  first_delivery(s, a, "u1", "u");
  EXPECT_DOUBLE_EQ(s.breakdown(a).topics, 2 + 1 * 2);  // 4 < 7
  first_delivery(s, a, "u2", "u");
  first_delivery(s, a, "u3", "u");
  EXPECT_DOUBLE_EQ(s.breakdown(a).topics, 7);  // 2 + 3 * 2 = 8, capped
  EXPECT_DOUBLE_EQ(s.score(a), 7 + 5);         // P5 is outside the cap
  s.validate_message(a, "bad", "u");
  s.reject_message(a, "bad", "u", RejectReason::validator_reject);
  s.validate_message(a, "bad2", "u");
  s.reject_message(a, "bad2", "u", RejectReason::validator_reject);
  s.validate_message(a, "bad3", "u");
  s.reject_message(a, "bad3", "u", RejectReason::validator_reject);
  EXPECT_DOUBLE_EQ(s.breakdown(a).topics, 2 + (3 - 9) * 2);  // -10: not touched by the cap
}

TEST(PeerScoreRetain, ANegativeScoreSurvivesReconnectingUntilRetainScore) {
  async::ManualClock clock;
  PeerScoreParams p = p4_params();
  p.retain_score = 10 * 60s;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "10.0.0.1");
  invalid_delivery(s, a, "m1");
  invalid_delivery(s, a, "m2");
  const double bad = 2 * 2 * -1.5 * 2;
  ASSERT_DOUBLE_EQ(s.score(a), bad);
  s.remove_peer(a);
  EXPECT_DOUBLE_EQ(s.score(a), bad);
  clock.advance(5 * 60 * kSec);
  s.refresh();
  s.add_peer(a, "10.0.0.2");  // reconnecting does not reset it
  EXPECT_DOUBLE_EQ(s.score(a), bad);
  s.remove_peer(a);  // the retention counts from this disconnection
  clock.advance(10 * 60 * kSec - 1);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), bad);
  clock.advance(1);
  s.refresh();
  EXPECT_EQ(s.score(a), 0);
  s.add_peer(a, "10.0.0.1");
  EXPECT_EQ(s.score(a), 0);  // forgotten
}

TEST(PeerScoreRetain, APositiveScoreIsForgottenAtDisconnection) {
  async::ManualClock clock;
  PeerScoreParams p = silent_params();
  p.topics[kTopic].first_message_deliveries_weight = 1;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  first_delivery(s, a, "m1");
  ASSERT_DOUBLE_EQ(s.score(a), 1);
  s.remove_peer(a);
  EXPECT_EQ(s.score(a), 0);
}

TEST(PeerScoreRetain, ARetainedPeerKeepsPenaltiesButNotCredit) {
  async::ManualClock clock;
  PeerScoreParams p = p4_params();
  p.topics[kTopic].first_message_deliveries_weight = 1;
  PeerScore s(p, clock);
  const auto a = peer(1);
  s.add_peer(a, "");
  first_delivery(s, a, "m1");
  invalid_delivery(s, a, "m2");
  ASSERT_DOUBLE_EQ(s.score(a), (1 - 1.5) * 2);
  s.remove_peer(a);
  s.add_peer(a, "");
  EXPECT_DOUBLE_EQ(s.score(a), -1.5 * 2);
}

TEST(PeerScoreRecords, DeliveryRecordsAreDroppedAfterTwoMinutes) {
  async::ManualClock clock;
  PeerScoreParams p = p3_params();
  p.topics[kTopic].mesh_message_deliveries_window = 10 * 60s;  // the record's age alone decides
  p.topics[kTopic].invalid_message_deliveries_weight = -1;
  p.decay_interval = 24h;
  PeerScore s(p, clock);
  const auto a = peer(1);
  const auto b = peer(2);
  const auto c = peer(3);
  for (const auto& x : {a, b, c}) {
    s.add_peer(x, "");
    s.graft(x, kTopic);
  }
  first_delivery(s, a, "m1");
  invalid_delivery(s, a, "bad");
  clock.advance(120 * kSec - 1);
  s.refresh();
  s.duplicate_message(b, "m1", kTopic);
  s.duplicate_message(b, "bad", kTopic);
  clock.advance(1);
  s.refresh();
  s.duplicate_message(c, "m1", kTopic);
  s.duplicate_message(c, "bad", kTopic);
  // b got P3 credit for m1 and P4 for bad; c's copies came after the records were dropped.
  EXPECT_DOUBLE_EQ(s.score(b), (3.0 * 3.0 * -2 - 1) * 0.5);
  EXPECT_DOUBLE_EQ(s.score(c), 4.0 * 4.0 * -2 * 0.5);
}

TEST(PeerScoreThresholds, InvalidMessagesSinkAPeerBelowTheGraylist) {
  async::ManualClock clock;
  PeerScoreParams p;
  p.topics[kTopic] = TopicScoreParams{};  // the defaults: P4 weight -1, topic weight 1
  const PeerScoreThresholds th;
  PeerScore s(p, clock);
  const auto a = peer(1);
  const auto honest = peer(2);
  s.add_peer(a, "10.0.0.1");
  s.add_peer(honest, "10.0.0.2");
  s.graft(a, kTopic);
  s.graft(honest, kTopic);
  int sent = 0;
  auto send_invalid = [&] { invalid_delivery(s, a, "bad" + std::to_string(sent++)); };
  for (int i = 0; i < 8; ++i) send_invalid();
  EXPECT_DOUBLE_EQ(s.score(a), -64);  // P1 is 0 at graft time; P3 is not active yet
  EXPECT_LT(s.score(a), th.publish_threshold);
  EXPECT_GT(s.score(a), th.graylist_threshold);
  send_invalid();
  EXPECT_DOUBLE_EQ(s.score(a), -81);
  EXPECT_LT(s.score(a), th.graylist_threshold);
  EXPECT_EQ(s.score(honest), 0);
  // The defaults decay P4 by 0.3 a second: one interval later it is back above the graylist.
  clock.advance(1 * kSec);
  s.refresh();
  EXPECT_DOUBLE_EQ(s.score(a), 1 * 0.01 - 2.7 * 2.7);
}

}  // namespace
}  // namespace bb::pubsub

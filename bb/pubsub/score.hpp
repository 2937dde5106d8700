// Gossipsub v1.1 peer scoring (the gossipsub-v1.1 spec, "Peer Scoring"): the score of each
// connected peer from its per-topic counters (P1 time in mesh, P2 first message deliveries, P3
// mesh message delivery rate, P3b mesh failure penalty, P4 invalid messages), the application's
// own score (P5), IP colocation (P6) and behaviour penalties (P7), with their decay. Sans I/O:
// the router tells it what happened, it reads time from the Clock, and the router asks it for
// scores when it decides whom to keep in a mesh, to gossip to, to accept PX from, to hear at all.
//
// Thread rule: one PeerScore belongs to one router, on one executor.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/peer_id.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace bb::pubsub {

using TopicId = std::string;
// A message id: bytes (by default the author's PeerId bytes followed by the seqno bytes).
using MessageId = std::string;

// The per-topic parameters, with the spec's names. Defaults follow the spec's recommendations
// for a topic of moderate traffic; a topic without parameters contributes nothing (P1-P4 = 0).
struct TopicScoreParams {
  double topic_weight = 1.0;
  // P1: time in mesh, counted in quanta, capped; positive weight.
  double time_in_mesh_weight = 0.01;
  std::chrono::nanoseconds time_in_mesh_quantum = std::chrono::seconds(1);
  double time_in_mesh_cap = 3600;
  // P2: first deliveries of valid messages; positive weight, decays.
  double first_message_deliveries_weight = 1.0;
  double first_message_deliveries_decay = 0.5;
  double first_message_deliveries_cap = 2000;
  // P3: mesh message deliveries under the threshold (deficit squared), negative weight; counts
  // a delivery by a mesh peer that arrives first or within the window after the first; active
  // only after the peer has been in the mesh for the activation time.
  double mesh_message_deliveries_weight = -1.0;
  double mesh_message_deliveries_decay = 0.5;
  double mesh_message_deliveries_cap = 100;
  double mesh_message_deliveries_threshold = 20;
  std::chrono::nanoseconds mesh_message_deliveries_window = std::chrono::milliseconds(10);
  std::chrono::nanoseconds mesh_message_deliveries_activation = std::chrono::seconds(5);
  // P3b: the deficit squared kept when a peer is pruned while in deficit; negative weight.
  double mesh_failure_penalty_weight = -1.0;
  double mesh_failure_penalty_decay = 0.5;
  // P4: invalid messages (squared); negative weight.
  double invalid_message_deliveries_weight = -1.0;
  double invalid_message_deliveries_decay = 0.3;
};

struct PeerScoreParams {
  std::unordered_map<TopicId, TopicScoreParams> topics;
  // For a topic not in `topics`; nullopt: such a topic is not scored. Only our own topics are
  // ever scored (the router drops messages on others before scoring them).
  std::optional<TopicScoreParams> default_topic;
  double topic_score_cap = 0;  // cap on the sum of the topics' contributions; 0 = none
  // P5: the application's score of a peer.
  double app_specific_weight = 1.0;
  std::function<double(const wire::PeerId&)> app_specific_score;  // null = 0
  // P6: (peers on the same IP - threshold)^2 above the threshold; negative weight.
  double ip_colocation_factor_weight = -10.0;
  double ip_colocation_factor_threshold = 10;
  std::unordered_set<std::string> ip_colocation_factor_whitelist;  // IPs as text
  // P7: (penalties - threshold)^2 above the threshold; negative weight; decays.
  double behaviour_penalty_weight = -10.0;
  double behaviour_penalty_threshold = 6;
  double behaviour_penalty_decay = 0.9;
  std::chrono::nanoseconds decay_interval = std::chrono::seconds(1);
  double decay_to_zero = 0.01;  // a decayed counter below this becomes 0
  // How long a disconnected peer's counters are kept (a peer cannot reset a bad score by
  // reconnecting).
  std::chrono::nanoseconds retain_score = std::chrono::hours(1);
};

// Scores below these lose, in order: gossip both ways; our publishes (flood publishing); all
// RPCs from them are ignored (graylist). Above accept_px their PX is followed; a mesh whose
// median is below opportunistic_graft gets better peers grafted.
struct PeerScoreThresholds {
  double gossip_threshold = -10;
  double publish_threshold = -50;
  double graylist_threshold = -80;
  double accept_px_threshold = 10;
  double opportunistic_graft_threshold = 20;
};

// Why a message was rejected: P4 counts only rejections that are the forwarder's fault.
enum class RejectReason : std::uint8_t {
  invalid_signature,     // P4
  missing_signature,     // P4
  unexpected_signature,  // P4 (StrictNoSign)
  self_origin,           // P4 (a message that claims to be ours)
  validator_reject,      // P4 (a topic validator said reject)
  validator_ignore,      // no penalty
  blocked_author,        // no penalty
};

// The components of one peer's score, for metrics and tests.
struct ScoreBreakdown {
  double topics = 0;  // P1-P4 weighted and summed over topics (after topic_score_cap)
  double app_specific = 0;
  double ip_colocation = 0;
  double behaviour_penalty = 0;
  double total = 0;
};

class PeerScore {
 public:
  PeerScore(PeerScoreParams params, async::Clock& clock);
  ~PeerScore();
  PeerScore(const PeerScore&) = delete;
  PeerScore& operator=(const PeerScore&) = delete;

  // A connected peer and the IP it connects from ("" when unknown; then not counted in P6).
  // Events about peers not added are ignored. On remove_peer a peer with a positive score is
  // forgotten at once; any other is kept for retain_score (its P2 credit dropped, P3b charged for
  // each mesh it was in while in deficit), and if it comes back by then it keeps its counters.
  void add_peer(const wire::PeerId& peer, std::string ip);
  void remove_peer(const wire::PeerId& peer);

  // Mesh membership (P1, P3 activation, P3b on prune).
  void graft(const wire::PeerId& peer, const TopicId& topic);
  void prune(const wire::PeerId& peer, const TopicId& topic);

  // Message events, from the peer that forwarded the message to us. validate_message: a message
  // seen for the first time, before validation (starts its delivery record); deliver_message:
  // it was accepted (P2 for the first forwarder, P3 for mesh peers who delivered it in time);
  // reject_message: it was rejected (P4 for the forwarder and for peers who sent it within the
  // window, per RejectReason); duplicate_message: another copy (P3 when within the window of an
  // accepted message, P4 when the message was rejected).
  //
  // The P3 window is counted from the moment the message was accepted (copies that arrive while
  // it is being validated always count). Signature failures and self_origin penalise only the
  // forwarder and leave the message's record alone: a forged message may carry a real message's
  // id. validator_ignore marks the record so that later copies cost nothing either. Delivery
  // records are kept for 2 minutes after the first copy; duplicates of an unknown or expired
  // message are ignored.
  void validate_message(const wire::PeerId& from, const MessageId& id, const TopicId& topic);
  void deliver_message(const wire::PeerId& from, const MessageId& id, const TopicId& topic);
  void reject_message(const wire::PeerId& from, const MessageId& id, const TopicId& topic,
                      RejectReason reason);
  void duplicate_message(const wire::PeerId& from, const MessageId& id, const TopicId& topic);

  // P7: broken promises (IWANT not answered in time), GRAFT during backoff, and the like.
  void add_penalty(const wire::PeerId& peer, double count = 1);

  // P1 and the P3 activation are read from the clock at the call, not at the last refresh.
  // Unknown peers score 0.
  double score(const wire::PeerId& peer) const;
  ScoreBreakdown breakdown(const wire::PeerId& peer) const;

  // Decays every counter once if decay_interval has passed since the last decay (call it from
  // the heartbeat); drops disconnected peers past retain_score and delivery records older than
  // their window's use (2 minutes). Decays stay on a grid of decay_interval from construction:
  // a heartbeat that does not divide the interval still decays about once per interval, and
  // intervals missed entirely are not caught up.
  void refresh();

  const PeerScoreParams& params() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bb::pubsub

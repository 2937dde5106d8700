// The peer-state tables of one Node and the outcome feeds that keep them true. Stages read the
// tables (the gates); the transport and the Node report outcomes through the on_* methods, which
// update the tables and emit the events, so every PeerUp/PeerDown/PeerSuspect/PeerBlocked/
// SendFailed/Timeout comes from an observed outcome, never from a guess.
//
// Thread rule: owned by one Node and touched only from its executor. The clock and the event
// queue must outlive it.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/runtime/backoff_table.hpp"
#include "bb/runtime/backpressure.hpp"
#include "bb/runtime/events.hpp"
#include "bb/runtime/inbound_dedup.hpp"
#include "bb/runtime/message.hpp"
#include "bb/runtime/peer_governor.hpp"
#include "bb/runtime/phi_accrual.hpp"
#include "bb/runtime/request_tracker.hpp"
#include "bb/runtime/rtt_tracker.hpp"

namespace bb::runtime {

struct PeerTablesConfig {
  BackoffConfig backoff;
  PeerGovernorConfig governor;
  PhiAccrualConfig phi;
  InboundDedupConfig dedup;
  RttTrackerConfig rtt;
  RequestTrackerConfig requests;
  BackpressureConfig backpressure;
};

class PeerTables {
 public:
  PeerTables(async::Clock& clock, EventQueue& events, const PeerTablesConfig& config = {});

  async::Clock& clock() const noexcept { return clock_; }
  EventQueue& events() const noexcept { return events_; }
  std::uint64_t now_ns() const noexcept { return clock_.now_ns(); }

  BackoffTable& backoff() noexcept { return backoff_; }
  PeerGovernor& governor() noexcept { return governor_; }
  PhiAccrualDetector& phi() noexcept { return phi_; }
  InboundDedup& dedup() noexcept { return dedup_; }
  RttTracker& rtt() noexcept { return rtt_; }
  RequestTracker& requests() noexcept { return requests_; }
  BackpressureTracker& backpressure() noexcept { return backpressure_; }
  const BackoffTable& backoff() const noexcept { return backoff_; }
  const PeerGovernor& governor() const noexcept { return governor_; }
  const PhiAccrualDetector& phi() const noexcept { return phi_; }

  // A send could not be delivered (dial, handshake or write failure, or the peer refused it):
  // backoff and health record a failure (PeerDown at the threshold) and SendFailed is emitted.
  void on_send_failed(const wire::PeerId& peer, std::string_view reason, std::string detail,
                      std::uint64_t message_id = 0);
  // A dial or handshake failed: as on_send_failed, without a SendFailed event (the sends that
  // waited for the dial report their own outcome).
  void on_unreachable(const wire::PeerId& peer);
  // A gate denied a send: nothing is wrong with the peer, but the sender is told (SendFailed).
  void on_send_denied(const wire::PeerId& peer, const Denial& denial, std::uint64_t message_id = 0);
  // A write or a reply succeeded: backoff clears, health recovers (PeerUp if it was down).
  void on_send_succeeded(const wire::PeerId& peer);
  // Inbound traffic or a ping: a heartbeat for the failure detector.
  void on_heartbeat(const wire::PeerId& peer);
  // A measured round trip (ping, request/response): RTT estimate and heartbeat.
  void on_round_trip(const wire::PeerId& peer, std::uint64_t rtt_ns);
  // The peer told us to back off (BackoffNotice): remote advisory and a health failure.
  void on_backoff_notice(const wire::PeerId& peer, std::uint64_t min_backoff_ns);
  // A connection to the peer was established (dialed or accepted, handshake verified): the
  // peer is reachable, so backoff clears and health recovers (PeerUp if it was down).
  void on_connected(const wire::PeerId& peer);
  // The connection to the peer is gone: PeerDown now, without waiting for the detector; a
  // backoff failure, so redials wait out a window; the failure detector forgets the peer.
  void on_connection_lost(const wire::PeerId& peer);
  // A message was dropped from an outbound queue (count messages, reason label).
  void on_outbound_dropped(const wire::PeerId& peer, std::size_t count, std::string_view reason);

  // Policy, with its events.
  void block(const wire::PeerId& peer);
  void unblock(const wire::PeerId& peer);

  // Periodic upkeep, driven by the Node's ticker: failure-detector transitions (PeerSuspect,
  // PeerDown, PeerUp on recovery), expired requests (Timeout), idle backoff entries.
  void tick();

 private:
  void apply(const wire::PeerId& peer, LifecycleTransition transition, std::string_view cause,
             std::uint64_t silent_ns = 0);

  async::Clock& clock_;
  EventQueue& events_;
  BackoffTable backoff_;
  PeerGovernor governor_;
  PhiAccrualDetector phi_;
  InboundDedup dedup_;
  RttTracker rtt_;
  RequestTracker requests_;
  BackpressureTracker backpressure_;
};

}  // namespace bb::runtime

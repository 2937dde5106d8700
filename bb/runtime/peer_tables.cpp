#include "bb/runtime/peer_tables.hpp"

namespace bb::runtime {

PeerTables::PeerTables(async::Clock& clock, EventQueue& events, const PeerTablesConfig& config)
    : clock_(clock),
      events_(events),
      backoff_(config.backoff),
      governor_(config.governor),
      phi_(config.phi),
      dedup_(config.dedup),
      rtt_(config.rtt),
      requests_(config.requests),
      backpressure_(config.backpressure) {}

void PeerTables::apply(const wire::PeerId& peer, LifecycleTransition transition,
                       std::string_view cause, std::uint64_t silent_ns) {
  switch (transition) {
    case LifecycleTransition::went_down: events_.emit(PeerDown{peer, cause, silent_ns}); break;
    case LifecycleTransition::came_up: events_.emit(PeerUp{peer}); break;
    case LifecycleTransition::none: break;
  }
}

void PeerTables::on_send_failed(const wire::PeerId& peer, std::string_view reason,
                                std::string detail, std::uint64_t message_id) {
  const auto now = now_ns();
  backoff_.record_failure(peer, now);
  events_.emit(SendFailed{peer, reason, std::move(detail), message_id});
  apply(peer, governor_.record_failure(peer, now), "failures");
}

void PeerTables::on_unreachable(const wire::PeerId& peer) {
  const auto now = now_ns();
  backoff_.record_failure(peer, now);
  apply(peer, governor_.record_failure(peer, now), "failures");
}

void PeerTables::on_send_denied(const wire::PeerId& peer, const Denial& denial,
                                std::uint64_t message_id) {
  events_.emit(SendFailed{peer, denial.reason, denial.detail, message_id});
}

void PeerTables::on_send_succeeded(const wire::PeerId& peer) {
  backoff_.record_success(peer);
  apply(peer, governor_.record_success(peer, now_ns()), {});
}

void PeerTables::on_heartbeat(const wire::PeerId& peer) {
  phi_.heartbeat(peer, now_ns());
}

void PeerTables::on_round_trip(const wire::PeerId& peer, std::uint64_t rtt_ns) {
  const auto now = now_ns();
  rtt_.observe(peer, rtt_ns, now);
  phi_.heartbeat(peer, now);
}

void PeerTables::on_backoff_notice(const wire::PeerId& peer, std::uint64_t min_backoff_ns) {
  const auto now = now_ns();
  backoff_.record_remote_advisory(peer, now, min_backoff_ns);
  apply(peer, governor_.record_failure(peer, now), "backoff_notices");
}

void PeerTables::on_connected(const wire::PeerId& peer) {
  const auto now = now_ns();
  backoff_.record_success(peer);
  phi_.heartbeat(peer, now);
  apply(peer, governor_.record_connected(peer, now), {});
}

void PeerTables::on_connection_lost(const wire::PeerId& peer) {
  const auto now = now_ns();
  backoff_.record_failure(peer, now);  // the next dial waits out a backoff window
  phi_.remove(peer);  // the detector watches connected peers; the loss itself is the verdict
  apply(peer, governor_.mark_down(peer, now), "connection_lost");
}

void PeerTables::on_outbound_dropped(const wire::PeerId& peer, std::size_t count,
                                     std::string_view reason) {
  if (count > 0) events_.emit(OutboundDropped{peer, count, reason});
}

void PeerTables::block(const wire::PeerId& peer) {
  if (governor_.is_blocked(peer)) return;
  if (governor_.block(peer)) events_.emit(PeerBlocked{peer});
}

void PeerTables::unblock(const wire::PeerId& peer) {
  governor_.unblock(peer);
}

void PeerTables::tick() {
  const auto now = now_ns();
  for (const auto& t : phi_.scan(now)) {
    switch (t.state) {
      case PhiState::suspect: events_.emit(PeerSuspect{t.peer, t.phi, t.silent_ns}); break;
      case PhiState::down:
        apply(t.peer, governor_.mark_down(t.peer, now), "phi", t.silent_ns);
        break;
      case PhiState::live: apply(t.peer, governor_.record_success(t.peer, now), {}); break;
    }
  }
  for (const auto& timeout : requests_.expire(now)) {
    events_.emit(Timeout{timeout.peer, timeout.token, timeout.started_ns});
  }
  backoff_.sweep(now);
}

}  // namespace bb::runtime

// PeerHealthGateTx: may this message go out to this peer at all? Blocklist, then allowlist, then
// health, then the backoff cooldown. A peer whose failure detector is past the suspect threshold
// is denied (`peer_down`). A peer marked down is a circuit breaker: denied (`peer_down`) while
// its backoff window is open; once the window has passed, messages go through as probes (their
// dial or write outcome feeds the tables again, and a failure opens a longer window), so a peer
// that comes back is found.
#include "syscalls/detail/gate_common.hpp"

namespace bb::syscalls {

const OpId kPeerHealthGateTx{kSyscallDomain, "PeerHealthGateTx"};

namespace {

using namespace runtime;

class PeerHealthGateTx final : public Stage {
 public:
  PeerHealthGateTx(const onnx::NodeProto& node, PeerTables& peers)
      : Stage(stage_name(node)), peer_(node), peers_(peers) {}

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    const wire::PeerId& peer = peer_(msg);
    const auto& governor = peers_.governor();
    if (auto d = governor.check_inbound(peer); !d.allowed()) {
      co_return detail::deny(
          DenyKind::blocked, label(*d.deny),
          "send to " + peer.to_base58() + " denied: " + std::string(label(*d.deny)));
    }
    const auto now = peers_.now_ns();
    const bool may_probe = peers_.backoff().should_retry(peer, now);
    if (governor.is_down(peer) && !may_probe) {
      co_return detail::deny(DenyKind::unhealthy, reason::peer_down,
                             "peer " + peer.to_base58() + " is marked down");
    }
    if (peers_.phi().state(peer, now) != PhiState::live) {
      co_return detail::deny(DenyKind::unhealthy, reason::peer_down,
                             "peer " + peer.to_base58() +
                                 " is suspected by the failure detector"
                                 " (phi " +
                                 std::to_string(peers_.phi().phi(peer, now)) + ")");
    }
    if (!peers_.backoff().should_retry(peer, now)) {
      const auto retry = peers_.backoff().retry_at(peer).value_or(now);
      co_return detail::deny(
          DenyKind::cooldown, reason::cooldown,
          "peer " + peer.to_base58() + " is backing off for another " + detail::ms(retry - now));
    }
    co_return std::nullopt;
  }

 private:
  detail::PeerSource peer_;
  PeerTables& peers_;
};

std::unique_ptr<Stage> make(const onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<PeerHealthGateTx>(node, ctx.peers);
}

}  // namespace

BB_REGISTER_OP(peer_health_gate_tx, kPeerHealthGateTx.domain, kPeerHealthGateTx.op_type, &make);

}  // namespace bb::syscalls

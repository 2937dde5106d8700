// PeerHealthGateTx: may this message go out to this peer at all? Blocklist, then allowlist, then
// health, then the backoff cooldown. A peer whose failure detector is past the suspect threshold
// is denied (`peer_down`). A peer marked down is a circuit breaker: closed to messages while its
// backoff window is open; once the window has passed, messages go through as probes (their dial
// or write outcome feeds the tables again, and a failure opens a longer window), so a peer that
// comes back is found.
//   policy "wait" (default): a message that meets an open window (a cooldown, or a down peer's
//     window before its probe) waits for the window's end on the async::Clock when that end comes
//     within the message's budget (start_ns + budget_ns) and within `max_wait_ns` (default: the
//     backoff cap, 60 s); otherwise it is denied at once (`cooldown`, `peer_down`), without
//     waiting for a failure it can already see.
//   policy "drop": denied at once while the window is open (the original's behaviour).
#include "bb/syscalls/detail/gate_common.hpp"

#include "bb/async/clock.hpp"

namespace bb::syscalls {

const OpId kPeerHealthGateTx{kSyscallDomain, "PeerHealthGateTx"};

namespace {

using namespace runtime;

class PeerHealthGateTx final : public Stage {
 public:
  PeerHealthGateTx(const bb::onnx::NodeProto& node, const StageContext& ctx)
      : Stage(stage_name(node)),
        peer_(node),
        peers_(ctx.peers),
        clock_(ctx.clock),
        policy_(node, ctx.peers) {}

  // The fast path: allowed, live and not backing off; anything else is invoke()'s to decide.
  bool try_invoke(Message& msg, Verdict& verdict) override {
    const wire::PeerId& peer = peer_(msg);
    if (!peers_.governor().check_inbound(peer).allowed()) return false;
    const auto now = peers_.now_ns();
    if (peers_.phi().state(peer, now) != PhiState::live) return false;
    if (!peers_.backoff().should_retry(peer, now)) return false;
    verdict.reset();
    return true;
  }

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    const wire::PeerId& peer = peer_(msg);
    const auto& governor = peers_.governor();
    if (auto d = governor.check_inbound(peer); !d.allowed()) {
      co_return detail::deny(
          DenyKind::blocked, label(*d.deny),
          "send to " + peer.to_base58() + " denied: " + std::string(label(*d.deny)));
    }
    const std::uint64_t started = peers_.now_ns();
    const std::uint64_t deadline =
        msg.budget_ns == 0 ? UINT64_MAX : async::saturating_add(msg.start_ns, msg.budget_ns);
    const std::uint64_t wait_limit = async::saturating_add(started, policy_.max_wait_ns);
    while (true) {
      const auto now = peers_.now_ns();
      if (peers_.phi().state(peer, now) != PhiState::live) {
        co_return detail::deny(DenyKind::unhealthy, reason::peer_down,
                               "peer " + peer.to_base58() +
                                   " is suspected by the failure detector"
                                   " (phi " +
                                   std::to_string(peers_.phi().phi(peer, now)) + ")");
      }
      if (peers_.backoff().should_retry(peer, now)) co_return std::nullopt;
      // A window is open: a down peer's (the circuit breaker) or a cooldown.
      const bool down = governor.is_down(peer);
      const auto retry = peers_.backoff().retry_at(peer).value_or(now);
      if (!policy_.wait || retry > deadline || retry > wait_limit) {
        const std::string when =
            policy_.wait
                ? " (past " +
                      std::string(retry > deadline ? "the message's budget" : "max_wait_ns") + ")"
                : "";
        if (down) {
          co_return detail::deny(DenyKind::unhealthy, reason::peer_down,
                                 "peer " + peer.to_base58() + " is marked down; next probe in " +
                                     detail::ms(retry - now) + when);
        }
        co_return detail::deny(DenyKind::cooldown, reason::cooldown,
                               "peer " + peer.to_base58() + " is backing off for another " +
                                   detail::ms(retry - now) + when);
      }
      const bool slept = co_await clock_.sleep_until(retry);
      if (!slept) {
        co_return detail::deny(DenyKind::other, reason::cancelled, "wait for backoff cancelled");
      }
    }
  }

 private:
  detail::PeerSource peer_;
  PeerTables& peers_;
  async::Clock& clock_;
  detail::WaitPolicy policy_;
};

std::unique_ptr<Stage> make(const bb::onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<PeerHealthGateTx>(node, ctx);
}

}  // namespace

BB_REGISTER_OP(peer_health_gate_tx, kPeerHealthGateTx.domain, kPeerHealthGateTx.op_type, &make);

}  // namespace bb::syscalls

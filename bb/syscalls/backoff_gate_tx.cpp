// BackoffGateTx: consults BackoffTable::should_retry for the destination peer.
//   policy "wait" (default): co_await the async::Clock until the retry time, then let the message
//     through. The wait
//     is bounded by the message's deadline (start_ns + budget_ns; a retry time past it denies at
//     once with `deadline_exceeded`) and by the `max_wait_ns` attribute (default: the backoff cap,
//     60 s; past it, `cooldown`).
//   policy "drop" (the original's behaviour): deny with `cooldown` while the peer is in its
//     backoff window.
#include "bb/syscalls/detail/gate_common.hpp"

#include "bb/async/clock.hpp"

#include <boost/system/system_error.hpp>

namespace bb::syscalls {

const OpId kBackoffGateTx{kSyscallDomain, "BackoffGateTx"};

namespace {

using namespace runtime;

class BackoffGateTx final : public Stage {
 public:
  BackoffGateTx(const bb::onnx::NodeProto& node, const StageContext& ctx)
      : Stage(stage_name(node)),
        peer_(node),
        peers_(ctx.peers),
        clock_(ctx.clock),
        policy_(node, ctx.peers) {}

  // The fast path: nothing to wait for.
  bool try_invoke(Message& msg, Verdict& verdict) override {
    if (!peers_.backoff().should_retry(peer_(msg), clock_.now_ns())) return false;
    verdict.reset();
    return true;
  }

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    const wire::PeerId& peer = peer_(msg);
    auto now = clock_.now_ns();
    if (peers_.backoff().should_retry(peer, now)) co_return std::nullopt;  // the fast path
    if (!policy_.wait) co_return cooldown(peer, now);

    const std::uint64_t deadline =
        msg.budget_ns == 0 ? UINT64_MAX : async::saturating_add(msg.start_ns, msg.budget_ns);
    const std::uint64_t wait_limit = async::saturating_add(now, policy_.max_wait_ns);
    while (!peers_.backoff().should_retry(peer, now)) {
      const auto retry = peers_.backoff().retry_at(peer).value_or(now);
      if (retry > deadline) {
        co_return detail::deny(DenyKind::timeout, reason::deadline_exceeded,
                               "peer " + peer.to_base58() + " may be retried in " +
                                   detail::ms(retry - now) + ", after the message's deadline");
      }
      if (retry > wait_limit) co_return cooldown(peer, now);
      const bool slept = co_await clock_.sleep_until(retry);
      if (!slept) {
        co_return detail::deny(DenyKind::other, reason::cancelled, "wait for backoff cancelled");
      }
      now = clock_.now_ns();
    }
    co_return std::nullopt;
  }

 private:
  Denial cooldown(const wire::PeerId& peer, std::uint64_t now) const {
    const auto retry = peers_.backoff().retry_at(peer).value_or(now);
    return detail::deny(DenyKind::cooldown, reason::cooldown,
                        "BackoffGateTx held send to peer " + peer.to_base58() + " for another " +
                            detail::ms(retry - now));
  }

  detail::PeerSource peer_;
  PeerTables& peers_;
  async::Clock& clock_;
  detail::WaitPolicy policy_;
};

std::unique_ptr<Stage> make(const bb::onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<BackoffGateTx>(node, ctx);
}

}  // namespace

BB_REGISTER_OP(backoff_gate_tx, kBackoffGateTx.domain, kBackoffGateTx.op_type, &make);

}  // namespace bb::syscalls

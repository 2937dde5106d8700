// BackoffGateRx: a source peer we are backing off from (it failed us, or told us to back off)
// is not heard either until its window passes, as in the original.
#include "bb/syscalls/detail/gate_common.hpp"

namespace bb::syscalls {

const OpId kBackoffGateRx{kSyscallDomain, "BackoffGateRx"};

namespace {

using namespace runtime;

class BackoffGateRx final : public Stage {
 public:
  BackoffGateRx(const bb::onnx::NodeProto& node, PeerTables& peers)
      : Stage(stage_name(node)), peer_(node), peers_(peers) {}

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    Verdict verdict;
    try_invoke(msg, verdict);
    co_return verdict;
  }

  bool try_invoke(Message& msg, Verdict& verdict) override {
    verdict.reset();
    const wire::PeerId& peer = peer_(msg);
    const auto now = peers_.now_ns();
    if (!peers_.backoff().should_retry(peer, now)) {
      const auto retry = peers_.backoff().retry_at(peer).value_or(now);
      verdict = detail::deny(DenyKind::cooldown, reason::cooldown,
                             "message from " + peer.to_base58() + " during its backoff window (" +
                                 detail::ms(retry - now) + " left)");
    }
    return true;
  }

 private:
  detail::PeerSource peer_;
  PeerTables& peers_;
};

std::unique_ptr<Stage> make(const bb::onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<BackoffGateRx>(node, ctx.peers);
}

}  // namespace

BB_REGISTER_OP(backoff_gate_rx, kBackoffGateRx.domain, kBackoffGateRx.op_type, &make);

}  // namespace bb::syscalls

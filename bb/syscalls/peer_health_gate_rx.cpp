// PeerHealthGateRx: may this source peer deliver to us? Blocklist, then allowlist (no cooldown
// on the way in, as in the original).
#include "bb/syscalls/detail/gate_common.hpp"

namespace bb::syscalls {

const OpId kPeerHealthGateRx{kSyscallDomain, "PeerHealthGateRx"};

namespace {

using namespace runtime;

class PeerHealthGateRx final : public Stage {
 public:
  PeerHealthGateRx(const bb::onnx::NodeProto& node, PeerTables& peers)
      : Stage(stage_name(node)), peer_(node), peers_(peers) {}

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    Verdict verdict;
    try_invoke(msg, verdict);
    co_return verdict;
  }

  bool try_invoke(Message& msg, Verdict& verdict) override {
    verdict.reset();
    const wire::PeerId& peer = peer_(msg);
    if (auto d = peers_.governor().check_inbound(peer); !d.allowed()) {
      verdict = detail::deny(
          DenyKind::blocked, label(*d.deny),
          "message from " + peer.to_base58() + " denied: " + std::string(label(*d.deny)));
    }
    return true;
  }

 private:
  detail::PeerSource peer_;
  PeerTables& peers_;
};

std::unique_ptr<Stage> make(const bb::onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<PeerHealthGateRx>(node, ctx.peers);
}

}  // namespace

BB_REGISTER_OP(peer_health_gate_rx, kPeerHealthGateRx.domain, kPeerHealthGateRx.op_type, &make);

}  // namespace bb::syscalls

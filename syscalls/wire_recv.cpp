// wire.Recv: the last stage of the receive pipeline. A fill that passed the gates goes to the
// subscriber of its dest_suffix (a channel's `/site/<id>`, or a `/component/<c>/op/<name>`)
// through the Node's Inbox. A trigger-only fill is delivered as a trigger: no payload, the flag
// set, whatever bytes the sender put in it.
#include "runtime/wire_transport.hpp"
#include "syscalls/detail/gate_common.hpp"

namespace bb::syscalls {

const OpId kWireRecv{kWireDomain, "Recv"};

namespace {

using namespace runtime;

class WireRecv final : public Stage {
 public:
  WireRecv(const onnx::NodeProto& node, const StageContext& ctx)
      : Stage(stage_name(node)), inbox_(ctx.inbox) {
    if (inbox_ == nullptr) {
      throw_attribute_error(node, "(context)",
                            "wire.Recv needs an Inbox: build it inside a bb::runtime::Node");
    }
  }

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    if (msg.dest_suffix.empty()) {
      co_return detail::deny(DenyKind::bad_input, reason::no_subscriber,
                             "fill " + std::to_string(msg.fill_index) + " from " +
                                 msg.peer.to_base58() + " has no dest_suffix");
    }
    if (msg.trigger_only) msg.payload = {};  // synthesized trigger
    co_return co_await inbox_->deliver(msg);
  }

 private:
  Inbox* inbox_;
};

std::unique_ptr<Stage> make(const onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<WireRecv>(node, ctx);
}

}  // namespace

BB_REGISTER_OP(wire_recv, kWireRecv.domain, kWireRecv.op_type, &make);

}  // namespace bb::syscalls

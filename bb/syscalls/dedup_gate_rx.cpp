// DedupGateRx: each delivered fill passes once. Unlike the original, which hashed the payload
// alone (so every trigger, and equal payloads from different peers, collided), the key is
// (origin, message id, fill index): the same payload from two peers and two messages with equal
// bytes stay distinct, while one message relayed along two paths is caught. Attribute `key`:
// "message" (default) or "payload" (origin + payload bytes, for senders that do not number
// their messages). A message id of 0 (never sent by bb) falls back to the payload key.
#include "bb/syscalls/detail/gate_common.hpp"

namespace bb::syscalls {

const OpId kDedupGateRx{kSyscallDomain, "DedupGateRx"};

namespace {

using namespace runtime;

class DedupGateRx final : public Stage {
 public:
  DedupGateRx(const bb::onnx::NodeProto& node, PeerTables& peers)
      : Stage(stage_name(node)), peers_(peers) {
    const auto key = string_attribute(node, "key").value_or("message");
    if (key == "payload") {
      by_payload_ = true;
    } else if (key != "message") {
      throw_attribute_error(node, "key", "must be \"message\" or \"payload\", not \"" + key + "\"");
    }
  }

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    Verdict verdict;
    try_invoke(msg, verdict);
    co_return verdict;
  }

  bool try_invoke(Message& msg, Verdict& verdict) override {
    verdict.reset();
    if (peers_.dedup().record(key_of(msg))) {
      verdict = detail::deny(DenyKind::duplicate, reason::duplicate,
                             "message " + std::to_string(msg.message_id) + " fill " +
                                 std::to_string(msg.fill_index) + " from " +
                                 msg.origin.to_base58() + " was already delivered");
    }
    return true;
  }

  // A later gate refused the message: forget it, so a retry is not taken for a duplicate.
  void undo(const Message& msg) noexcept override { peers_.dedup().forget(key_of(msg)); }

 private:
  DedupKey key_of(const Message& msg) const noexcept {
    return by_payload_ || msg.message_id == 0
               ? InboundDedup::make_payload_key(msg.origin, msg.payload)
               : InboundDedup::make_key(msg.origin, msg.message_id, msg.fill_index);
  }

  PeerTables& peers_;
  bool by_payload_ = false;
};

std::unique_ptr<Stage> make(const bb::onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<DedupGateRx>(node, ctx.peers);
}

}  // namespace

BB_REGISTER_OP(dedup_gate_rx, kDedupGateRx.domain, kDedupGateRx.op_type, &make);

}  // namespace bb::syscalls

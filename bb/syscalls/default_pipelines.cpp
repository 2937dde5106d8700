#include "bb/runtime/node_builder.hpp"
#include "bb/syscalls/ops.hpp"

namespace bb::syscalls {

std::vector<bb::onnx::NodeProto> default_tx_gates() {
  return {runtime::make_node(kPeerHealthGateTx.domain, kPeerHealthGateTx.op_type),
          runtime::make_node(kBackoffGateTx.domain, kBackoffGateTx.op_type)};
}

std::vector<bb::onnx::NodeProto> dropping_tx_gates() {
  auto gates = default_tx_gates();
  for (auto& gate : gates) runtime::set_attribute(gate, "policy", "drop");
  return gates;
}

std::vector<bb::onnx::NodeProto> default_rx_gates() {
  // DeadlineCheck first: an envelope whose remaining budget ran out before its fill was
  // processed is refused `deadline_exceeded` before it costs a dedup slot.
  return {runtime::make_node(kDeadlineCheck.domain, kDeadlineCheck.op_type),
          runtime::make_node(kDedupGateRx.domain, kDedupGateRx.op_type),
          runtime::make_node(kPeerHealthGateRx.domain, kPeerHealthGateRx.op_type),
          runtime::make_node(kBackoffGateRx.domain, kBackoffGateRx.op_type)};
}

}  // namespace bb::syscalls

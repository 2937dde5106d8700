// The identities of bb's built-in ops, and the default pipelines made of them. Each op's
// identity is defined in its own file (syscalls/<op>.cpp) next to its stage and registration.
#pragma once

#include <string_view>
#include <vector>

namespace bb::onnx {
class NodeProto;
}

namespace bb::syscalls {

inline constexpr std::string_view kSyscallDomain = "ai.bytesandbrains.syscall";

struct OpId {
  std::string_view domain;
  std::string_view op_type;
};

extern const OpId kPeerHealthGateTx;  // blocklist -> allowlist -> health -> backoff cooldown
extern const OpId kBackoffGateTx;     // BackoffTable::should_retry; policy "drop" or "wait"
extern const OpId kDedupGateRx;       // InboundDedup keyed by origin + message id + fill
extern const OpId kPeerHealthGateRx;  // blocklist -> allowlist for the source peer
extern const OpId kBackoffGateRx;     // should_retry for the source peer
extern const OpId kDeadlineCheck;     // relative budget from dispatch or arrival

// PeerHealthGateTx -> BackoffGateTx; the Node appends its send op (wire.Send). Both gates wait
// out a backoff window that ends within the message's budget (policy "wait").
std::vector<bb::onnx::NodeProto> default_tx_gates();
// The same gates with policy "drop": a message meeting a backoff window is denied at once
// (`cooldown`, `peer_down`), the original's behaviour.
std::vector<bb::onnx::NodeProto> dropping_tx_gates();
// DeadlineCheck -> DedupGateRx -> PeerHealthGateRx -> BackoffGateRx: a fill whose remaining
// budget ran out before it was processed is refused `deadline_exceeded` first.
std::vector<bb::onnx::NodeProto> default_rx_gates();

}  // namespace bb::syscalls

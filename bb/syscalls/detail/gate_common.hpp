// Shared pieces of the gate ops: peer resolution and denial text.
#pragma once

#include "bb/runtime/attributes.hpp"
#include "bb/runtime/error.hpp"
#include "bb/runtime/message.hpp"
#include "bb/runtime/op_registry.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/runtime/stage.hpp"
#include "bb/syscalls/ops.hpp"

#include <optional>
#include <string>

namespace bb::syscalls::detail {

// The gate's peer: the `peer` attribute (multihash bytes on attribute.s, as in the original)
// when the node has one, else the message's peer, so one compiled pipeline serves every peer.
class PeerSource {
 public:
  explicit PeerSource(const bb::onnx::NodeProto& node) : fixed_(runtime::peer_attribute(node)) {}
  const wire::PeerId& operator()(const runtime::Message& msg) const noexcept {
    return fixed_ ? *fixed_ : msg.peer;
  }

 private:
  std::optional<wire::PeerId> fixed_;
};

// The `policy` and `max_wait_ns` attributes of the gates that may wait out a backoff window
// (PeerHealthGateTx, BackoffGateTx): "wait" (the default) or "drop"; the longest wait, by default
// the backoff cap.
struct WaitPolicy {
  bool wait = true;
  std::uint64_t max_wait_ns = 0;

  WaitPolicy(const bb::onnx::NodeProto& node, const runtime::PeerTables& peers) {
    const auto policy = runtime::string_attribute(node, "policy").value_or("wait");
    if (policy == "drop") {
      wait = false;
    } else if (policy != "wait") {
      runtime::throw_attribute_error(node, "policy",
                                     "must be \"wait\" or \"drop\", not \"" + policy + "\"");
    }
    max_wait_ns = runtime::uint_attribute(node, "max_wait_ns")
                      .value_or(peers.backoff().config().max_delay_ns);
  }
};

inline runtime::Denial deny(runtime::DenyKind kind, std::string_view reason, std::string detail) {
  return runtime::Denial{kind, reason, std::move(detail), {}};
}

inline std::string ms(std::uint64_t ns) {
  return std::to_string(ns / 1'000'000) + "." + std::to_string(ns / 100'000 % 10) + " ms";
}

}  // namespace bb::syscalls::detail

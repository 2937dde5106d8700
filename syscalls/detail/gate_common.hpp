// Shared pieces of the gate ops: peer resolution and denial text.
#pragma once

#include "runtime/attributes.hpp"
#include "runtime/error.hpp"
#include "runtime/message.hpp"
#include "runtime/op_registry.hpp"
#include "runtime/peer_tables.hpp"
#include "runtime/stage.hpp"
#include "syscalls/ops.hpp"

#include <optional>
#include <string>

namespace bb::syscalls::detail {

// The gate's peer: the `peer` attribute (multihash bytes on attribute.s, as in the original)
// when the node has one, else the message's peer, so one compiled pipeline serves every peer.
class PeerSource {
 public:
  explicit PeerSource(const onnx::NodeProto& node) : fixed_(runtime::peer_attribute(node)) {}
  const wire::PeerId& operator()(const runtime::Message& msg) const noexcept {
    return fixed_ ? *fixed_ : msg.peer;
  }

 private:
  std::optional<wire::PeerId> fixed_;
};

inline runtime::Denial deny(runtime::DenyKind kind, std::string_view reason, std::string detail) {
  return runtime::Denial{kind, reason, std::move(detail), {}};
}

inline std::string ms(std::uint64_t ns) {
  return std::to_string(ns / 1'000'000) + "." + std::to_string(ns / 100'000 % 10) + " ms";
}

}  // namespace bb::syscalls::detail

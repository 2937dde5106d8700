// Small helpers to write pipelines as ONNX NodeProtos in C++ (tests, examples, Node defaults).
#pragma once

#include "bb/proto/onnx.pb.h"
#include "bb/wire/peer_id.hpp"

#include <cstdint>
#include <string_view>

namespace bb::runtime {

inline bb::onnx::NodeProto make_node(std::string_view domain, std::string_view op_type,
                                     std::string_view name = {}) {
  bb::onnx::NodeProto node;
  node.set_domain(std::string(domain));
  node.set_op_type(std::string(op_type));
  node.set_name(std::string(name));
  return node;
}

inline bb::onnx::NodeProto& set_attribute(bb::onnx::NodeProto& node, std::string_view name,
                                          std::string_view value) {
  auto* attr = node.add_attribute();
  attr->set_name(std::string(name));
  attr->set_type(bb::onnx::AttributeProto::STRING);
  attr->set_s(std::string(value));
  return node;
}

inline bb::onnx::NodeProto& set_attribute(bb::onnx::NodeProto& node, std::string_view name,
                                          std::int64_t value) {
  auto* attr = node.add_attribute();
  attr->set_name(std::string(name));
  attr->set_type(bb::onnx::AttributeProto::INT);
  attr->set_i(value);
  return node;
}

// The original's `peer` attribute: the PeerId's multihash bytes on attribute.s.
inline bb::onnx::NodeProto& set_peer_attribute(bb::onnx::NodeProto& node,
                                               const wire::PeerId& peer) {
  return set_attribute(node, "peer", wire::as_chars(peer.bytes()));
}

}  // namespace bb::runtime

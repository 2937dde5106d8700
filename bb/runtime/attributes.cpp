#include "bb/runtime/attributes.hpp"

#include "bb/proto/onnx.pb.h"
#include "bb/runtime/error.hpp"

#include <boost/system/system_error.hpp>

namespace bb::runtime {
namespace {

const bb::onnx::AttributeProto* find(const bb::onnx::NodeProto& node, std::string_view name) {
  for (const auto& attr : node.attribute()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

}  // namespace

std::string describe(const bb::onnx::NodeProto& node) {
  std::string out = node.op_type();
  if (!node.name().empty()) out += " '" + node.name() + "'";
  out += " (" + (node.domain().empty() ? std::string("ai.onnx") : node.domain()) + ")";
  return out;
}

void throw_attribute_error(const bb::onnx::NodeProto& node, std::string_view attribute,
                           std::string_view problem, bool missing) {
  throw boost::system::system_error(
      make_error_code(missing ? errc::missing_attribute : errc::bad_attribute),
      describe(node) + ": attribute '" + std::string(attribute) + "' " + std::string(problem));
}

std::optional<std::string> string_attribute(const bb::onnx::NodeProto& node,
                                            std::string_view name) {
  const auto* attr = find(node, name);
  if (attr == nullptr) return std::nullopt;
  if (attr->type() != bb::onnx::AttributeProto::STRING) {
    throw_attribute_error(node, name, "must be a STRING");
  }
  return attr->s();
}

std::optional<std::int64_t> int_attribute(const bb::onnx::NodeProto& node, std::string_view name) {
  const auto* attr = find(node, name);
  if (attr == nullptr) return std::nullopt;
  if (attr->type() != bb::onnx::AttributeProto::INT)
    throw_attribute_error(node, name, "must be an INT");
  return attr->i();
}

std::optional<std::uint64_t> uint_attribute(const bb::onnx::NodeProto& node,
                                            std::string_view name) {
  auto value = int_attribute(node, name);
  if (!value) return std::nullopt;
  if (*value < 0) throw_attribute_error(node, name, "must not be negative");
  return static_cast<std::uint64_t>(*value);
}

std::optional<wire::PeerId> peer_attribute(const bb::onnx::NodeProto& node, std::string_view name) {
  auto bytes = string_attribute(node, name);
  if (!bytes) return std::nullopt;
  auto peer = wire::PeerId::from_bytes(wire::as_bytes(*bytes));
  if (!peer) {
    throw_attribute_error(node, name,
                          "must hold PeerId multihash bytes: " + peer.error().message());
  }
  return *peer;
}

std::string stage_name(const bb::onnx::NodeProto& node) {
  return node.name().empty() ? node.op_type() : node.name();
}

}  // namespace bb::runtime

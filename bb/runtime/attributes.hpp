// Reading an op's NodeProto attributes at pipeline build time. Every reader throws
// boost::system::system_error (runtime::errc::bad_attribute / missing_attribute) with a message
// that names the node and the attribute.
#pragma once

#include "bb/wire/peer_id.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bb::onnx {
class NodeProto;
}

namespace bb::runtime {

// "BackoffGateTx 'tx-backoff' (ai.bytesandbrains.syscall)", for error messages.
std::string describe(const bb::onnx::NodeProto& node);

[[noreturn]] void throw_attribute_error(const bb::onnx::NodeProto& node, std::string_view attribute,
                                        std::string_view problem, bool missing = false);

std::optional<std::string> string_attribute(const bb::onnx::NodeProto& node, std::string_view name);
std::optional<std::int64_t> int_attribute(const bb::onnx::NodeProto& node, std::string_view name);
// A non-negative INT attribute, e.g. a duration in nanoseconds.
std::optional<std::uint64_t> uint_attribute(const bb::onnx::NodeProto& node, std::string_view name);
// The `peer` attribute convention of the original: multihash bytes on attribute.s.
std::optional<wire::PeerId> peer_attribute(const bb::onnx::NodeProto& node,
                                           std::string_view name = "peer");

// The name a stage is known by in denials and logs.
std::string stage_name(const bb::onnx::NodeProto& node);

}  // namespace bb::runtime

// Ops are found by (domain, op_type), e.g. ("ai.bytesandbrains.syscall", "BackoffGateTx").
// Each op lives in one file with its identity, its stage and its registration:
//
//   BB_REGISTER_OP(backoff_gate_tx, kDomain, kOpType, &make_backoff_gate_tx);
//
// Registration runs during static initialisation. Lookup happens once, when a pipeline is built;
// nothing is looked up by string per message.
//
// Static libraries: the linker drops object files nobody references, and with them their
// registrations. bb::syscalls is therefore linked whole-archive (see syscalls/CMakeLists.txt); a
// user library of ops needs the same ($<LINK_LIBRARY:WHOLE_ARCHIVE,...>), or can call
// OpRegistry::global().add() explicitly.
//
// Thread rule: register everything before building pipelines; the registry is not synchronised.
#pragma once

#include <boost/system/error_code.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bb::onnx {
class NodeProto;
}

namespace bb::async {
class Clock;
}

namespace bb::runtime {

class PeerTables;
class Stage;

// What an op's factory may use. Everything here outlives every stage built from it.
struct StageContext {
  async::Clock& clock;
  PeerTables& peers;
};

// Builds one stage from its NodeProto, parsing every attribute now. Throws
// boost::system::system_error (runtime::errc) on a missing or bad attribute.
using StageFactory = std::unique_ptr<Stage> (*)(const bb::onnx::NodeProto& node,
                                                const StageContext& ctx);

struct OpInfo {
  std::string_view domain;   // static storage
  std::string_view op_type;  // static storage
  StageFactory factory = nullptr;
  std::string_view source;  // file that registered it, for error messages
};

class OpRegistry {
 public:
  // The process-wide registry that BB_REGISTER_OP fills.
  static OpRegistry& global();

  // runtime::errc::duplicate_op if (domain, op_type) is taken; the first registration stays.
  boost::system::error_code add(const OpInfo& op);
  const OpInfo* find(std::string_view domain, std::string_view op_type) const noexcept;
  const std::vector<OpInfo>& ops() const noexcept { return ops_; }
  // Static registrations that collided, as "domain/op_type: a.cpp and b.cpp". Building a
  // pipeline that uses a collided op fails with duplicate_op and this text.
  const std::vector<std::string>& conflicts() const noexcept { return conflicts_; }
  std::string conflict_for(std::string_view domain, std::string_view op_type) const;

 private:
  friend struct OpRegistrar;
  std::vector<OpInfo> ops_;
  std::vector<std::string> conflicts_;
};

struct OpRegistrar {
  explicit OpRegistrar(const OpInfo& op) noexcept;
};

}  // namespace bb::runtime

#define BB_REGISTER_OP(id, domain, op_type, factory)                              \
  [[maybe_unused]] static const ::bb::runtime::OpRegistrar bb_op_registrar_##id { \
    ::bb::runtime::OpInfo {                                                       \
      domain, op_type, factory, __FILE__                                          \
    }                                                                             \
  }

#include "bb/runtime/op_registry.hpp"

#include "bb/runtime/error.hpp"

namespace bb::runtime {

OpRegistry& OpRegistry::global() {
  static OpRegistry registry;
  return registry;
}

boost::system::error_code OpRegistry::add(const OpInfo& op) {
  if (find(op.domain, op.op_type) != nullptr) return errc::duplicate_op;
  ops_.push_back(op);
  return {};
}

const OpInfo* OpRegistry::find(std::string_view domain, std::string_view op_type) const noexcept {
  for (const auto& op : ops_) {
    if (op.domain == domain && op.op_type == op_type) return &op;
  }
  return nullptr;
}

std::string OpRegistry::conflict_for(std::string_view domain, std::string_view op_type) const {
  const std::string key = std::string(domain) + "/" + std::string(op_type) + ":";
  for (const auto& c : conflicts_) {
    if (c.starts_with(key)) return c;
  }
  return {};
}

OpRegistrar::OpRegistrar(const OpInfo& op) noexcept {
  auto& registry = OpRegistry::global();
  try {
    if (const OpInfo* existing = registry.find(op.domain, op.op_type)) {
      registry.conflicts_.push_back(std::string(op.domain) + "/" + std::string(op.op_type) +
                                    ": registered by " + std::string(existing->source) + " and " +
                                    std::string(op.source));
      return;
    }
    registry.ops_.push_back(op);
  } catch (...) {
    // Out of memory during static initialisation: the op stays unregistered and building a
    // pipeline with it reports unknown_op.
  }
}

}  // namespace bb::runtime

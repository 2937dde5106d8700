#include "bb/runtime/error.hpp"

#include <string>

namespace bb::runtime {
namespace {

class RuntimeCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.runtime"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::unknown_op: return "no op is registered under this (domain, op_type)";
      case errc::duplicate_op: return "an op is already registered under this (domain, op_type)";
      case errc::missing_attribute: return "a required op attribute is missing";
      case errc::bad_attribute: return "an op attribute has the wrong type or an invalid value";
      case errc::empty_pipeline: return "a pipeline needs at least one stage";
      case errc::missing_peer:
        return "the stage has no peer: no `peer` attribute and none on the message";
    }
    return "unknown bb.runtime error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& runtime_category() noexcept {
  static const RuntimeCategory category;
  return category;
}

}  // namespace bb::runtime

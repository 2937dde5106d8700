// Error codes of bb::runtime's pipeline machinery. Building a pipeline is configuration, not
// remote input: a bad pipeline throws boost::system::system_error with one of these codes and a
// message naming the node and the attribute. Denials of messages are not errors (see message.hpp).
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace bb::runtime {

enum class errc {
  unknown_op = 1,     // no op registered under (domain, op_type)
  duplicate_op,       // a second registration of the same (domain, op_type)
  missing_attribute,  // a required attribute is absent
  bad_attribute,      // an attribute has the wrong type or an invalid value
  empty_pipeline,     // a pipeline with no stages
  missing_peer,       // a stage needs a peer and neither attribute nor message has one
};

const boost::system::error_category& runtime_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), runtime_category()};
}

}  // namespace bb::runtime

template <>
struct boost::system::is_error_code_enum<bb::runtime::errc> : std::true_type {};

// NodeMetrics' derived figures (node.hpp).
#include "bb/node/node.hpp"

namespace bb::node {

std::uint64_t NodeMetrics::dropped(std::string_view reason) const {
  auto it = drops.find(reason);
  return it == drops.end() ? 0 : it->second;
}

std::uint64_t NodeMetrics::failed_sends() const {
  std::uint64_t n = 0;
  for (const auto& [reason, count] : drops) {
    if (!reason.starts_with("rx:")) n += count;
  }
  return n;
}

}  // namespace bb::node

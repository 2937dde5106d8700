#include "examples/node/commands.hpp"

#include <iostream>

namespace bb::cli {

std::optional<wire::Multiaddr> parse_addr(const std::string& text, const char* command) {
  auto addr = wire::Multiaddr::parse(text);
  if (!addr) {
    std::cerr << "bb-node " << command << ": '" << text
              << "' is not a multiaddr: " << addr.error().message() << "\n";
    return std::nullopt;
  }
  return *addr;
}

}  // namespace bb::cli

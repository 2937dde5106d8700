#include "examples/node/commands.hpp"

#include "examples/node/output.hpp"

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

std::optional<wire::Multiaddr> parse_addr(const std::string& text, const Output& out) {
  auto addr = wire::Multiaddr::parse(text);
  if (!addr) {
    out.fail("bad_multiaddr", "'" + text + "' is not a multiaddr: " + addr.error().message(),
             kExitBadInput);
    return std::nullopt;
  }
  return *addr;
}

}  // namespace bb::cli

// Binary multiaddr decoder: anything from_bytes accepts must print to text that parses back to
// the same bytes, and the accessors must not fail on it.
#include "bb/wire/multiaddr.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using bb::wire::Multiaddr;
  auto decoded = Multiaddr::from_bytes({data, size});
  if (!decoded) return 0;
  if (!std::equal(decoded->bytes().begin(), decoded->bytes().end(), data, data + size)) {
    __builtin_trap();
  }

  std::size_t covered = 0;
  for (const auto& c : decoded->components()) covered += c.value.size();
  if (covered > size) __builtin_trap();
  (void)decoded->peer_id();
  (void)decoded->site_id();
  (void)decoded->component_ref();
  (void)decoded->op_name();
  (void)decoded->tcp_port();
  if (decoded->decapsulate(*decoded) != Multiaddr()) __builtin_trap();

  const std::string text = decoded->to_string();
  if (decoded->empty()) {
    // The empty address prints as "", which parse() refuses (go-multiaddr).
    if (!text.empty()) __builtin_trap();
    return 0;
  }
  if (text.size() > Multiaddr::kMaxStringChars) __builtin_trap();
  auto reparsed = Multiaddr::parse(text);
  if (!reparsed || *reparsed != *decoded) __builtin_trap();
  return 0;
}

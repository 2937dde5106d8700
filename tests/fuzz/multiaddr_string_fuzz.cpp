// Text multiaddr parser: anything parse accepts must encode to bytes that from_bytes accepts,
// and the canonical text of those bytes must parse back to the same bytes.
#include "bb/wire/multiaddr.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using bb::wire::Multiaddr;
  auto parsed = Multiaddr::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed) return 0;
  if (parsed->empty() || parsed->bytes().size() > Multiaddr::kMaxBytes) __builtin_trap();

  auto decoded = Multiaddr::from_bytes(parsed->bytes());
  if (!decoded || *decoded != *parsed) __builtin_trap();
  auto reparsed = Multiaddr::parse(decoded->to_string());
  if (!reparsed || *reparsed != *parsed) __builtin_trap();
  return 0;
}

// Identify replies from remote peers: no crash, bounded, and whatever decodes re-encodes to a
// message that decodes to the same information.
#include "bb/wire/protocols/identify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb::wire;
  auto info = identify::decode(ByteView(data, size));
  if (!info) return 0;
  if (info->listen_addrs.size() > identify::kMaxMessages * identify::kMaxMessageBytes)
    __builtin_trap();
  auto again = identify::decode(identify::encode(*info));
  if (!again) __builtin_trap();
  if (again->agent_version != info->agent_version || again->protocols != info->protocols ||
      again->listen_addrs != info->listen_addrs || again->public_key != info->public_key ||
      again->observed_addr != info->observed_addr) {
    __builtin_trap();
  }
  return 0;
}

// Envelope decoding with the default and edge caps: no crash, no allocation beyond the caps
// (libFuzzer's -rss_limit_mb and -malloc_limit_mb catch that), and every accepted envelope
// re-encodes to something that decodes to the same message.
#include "proto/bb_core.pb.h"
#include "wire/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb::wire;
  for (const EnvelopeCaps& caps : {EnvelopeCaps{}, EnvelopeCaps::edge()}) {
    bb::core::WireEnvelope env;
    if (decode_envelope(ByteView(data, size), caps, env)) continue;
    if (env.fills_size() > static_cast<int>(caps.max_slot_fills)) __builtin_trap();
    Bytes again;
    encode_envelope(env, again);
    bb::core::WireEnvelope back;
    EnvelopeCaps roomy = caps;
    roomy.max_total_bytes += 2;  // the version stamp may add two bytes
    if (decode_envelope(again, roomy, back)) __builtin_trap();
    if (back.schema_version() != kEnvelopeSchemaVersion) __builtin_trap();
    back.set_schema_version(env.schema_version());
    if (back.SerializeAsString() != env.SerializeAsString()) __builtin_trap();
  }
  return 0;
}

// Envelope decoding with the default and edge caps: no crash, no allocation beyond the caps
// (libFuzzer's -rss_limit_mb and -malloc_limit_mb catch that), every accepted envelope
// re-encodes to something that decodes to the same message, and verifying its fills' origin
// signatures against its claimed origin is safe.
#include "bb/proto/bb_core.pb.h"
#include "bb/wire/envelope.hpp"

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
    // An accepted fill's origin signature is empty or 64 bytes, and checking it against any
    // claimed origin is safe whatever the bytes (a receiving Node does this for relayed fills).
    const auto origin = PeerId::from_bytes(
        ByteView(reinterpret_cast<const std::uint8_t*>(env.src_peer_bytes().data()),
                 env.src_peer_bytes().size()));
    for (const auto& fill : env.fills()) {
      const auto& sig = fill.origin_signature();
      if (!sig.empty() && sig.size() != kOriginSignatureSize) __builtin_trap();
      if (!origin) continue;
      OriginFields fields;
      fields.message_id = env.correlation().wire_req_id();
      fields.dest_suffix =
          ByteView(reinterpret_cast<const std::uint8_t*>(fill.dest_suffix().data()),
                   fill.dest_suffix().size());
      fields.payload = ByteView(reinterpret_cast<const std::uint8_t*>(fill.payload().data()),
                                fill.payload().size());
      fields.trigger_only = fill.trigger_only();
      fields.type_hash = fill.type_hash();
      (void)verify_origin(*origin, fields,
                          ByteView(reinterpret_cast<const std::uint8_t*>(sig.data()), sig.size()));
    }
  }
  return 0;
}

// Codec for bb.core.WireEnvelope with the Rust original's caps (EnvelopeCaps) and schema rule:
// encoding stamps schema_version 1; decoding accepts 0 (legacy) or 1. The generated protobuf
// type stays out of this header (include "proto/bb_core.pb.h" where you build envelopes).
#pragma once

#include "wire/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace bb::core {
class WireEnvelope;
}

namespace bb::wire {

inline constexpr std::uint32_t kEnvelopeSchemaVersion = 1;

struct EnvelopeCaps {
  std::size_t max_total_bytes = std::size_t{16} << 20;
  std::size_t max_slot_fills = 256;
  std::size_t max_per_fill_bytes = std::size_t{4} << 20;
  std::size_t max_dest_suffix_bytes = 4096;
  std::size_t max_src_peer_addresses = 8;
  std::size_t max_src_peer_address_bytes = 256;
  // Bounds the original leaves open: receivers ignore these fields, but a hostile sender could
  // still make the parser allocate one object per few bytes.
  std::size_t max_dest_peer_addresses = 16;
  std::size_t max_edge_rtt_reports = 64;

  // The original's `edge()` preset for constrained devices.
  static constexpr EnvelopeCaps edge() noexcept {
    EnvelopeCaps caps;
    caps.max_total_bytes = std::size_t{256} << 10;
    caps.max_slot_fills = 16;
    caps.max_per_fill_bytes = std::size_t{64} << 10;
    caps.max_dest_suffix_bytes = 512;
    caps.max_src_peer_addresses = 4;
    caps.max_src_peer_address_bytes = 256;
    caps.max_dest_peer_addresses = 4;
    caps.max_edge_rtt_reports = 16;
    return caps;
  }
};

// Appends the encoding of `env` to `out`, with schema_version 1 whatever `env` holds.
void encode_envelope(const core::WireEnvelope& env, Bytes& out);
// Appends varint(length) ‖ encoding: one /bb/wire/1.0.0 frame.
void encode_envelope_frame(const core::WireEnvelope& env, Bytes& out);

// A one-fill envelope as bb's wire.Send makes it, encoded straight from views: no protobuf object
// and one copy of the payload (into `out`). The bytes are exactly what protobuf produces for
// the same WireEnvelope (fields in number order, proto3 defaults omitted).
struct SingleFillEnvelope {
  ByteView dest_suffix;
  ByteView payload;
  bool trigger_only = false;
  std::uint64_t type_hash = 0;
  std::uint32_t correlation_kind = 0;  // bb.core.CorrelationKind: NONE 0, REQUEST 1, RESPONSE 2
  std::uint64_t wire_req_id = 0;
  std::uint64_t remaining_deadline_ns = 0;
  ByteView src_peer;                     // the origin's PeerId bytes
  std::span<const Bytes> src_addresses;  // binary multiaddrs
};
// Appends varint(length) ‖ encoding, with schema_version 1.
void append_envelope_frame(Bytes& out, const SingleFillEnvelope& env);
std::size_t envelope_frame_size(const SingleFillEnvelope& env) noexcept;

// Decodes `bytes` into `out` and checks it against `caps` in the original's order: total size,
// then well-formedness, schema version, fill count, src address count (counts are taken from a
// pass over the raw fields before the message is materialised, so a hostile envelope cannot make
// the parser allocate thousands of objects), then each fill's payload and suffix size and each
// src address's size. On error `out` is left in an unspecified but valid state.
boost::system::error_code decode_envelope(ByteView bytes, const EnvelopeCaps& caps,
                                          core::WireEnvelope& out);

}  // namespace bb::wire

// Codec for bb.core.WireEnvelope with the Rust original's caps (EnvelopeCaps) and schema rule:
// encoding stamps schema_version 1; decoding accepts 0 (legacy) or 1. The generated protobuf
// type stays out of this header (include "proto/bb_core.pb.h" where you build envelopes).
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/peer_id.hpp"

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
  ByteView origin_signature;             // the fill's origin_signature (field 5): empty or 64 B
};
// Appends varint(length) ‖ encoding, with schema_version 1.
void append_envelope_frame(Bytes& out, const SingleFillEnvelope& env);
// Writes bytes [offset, offset + out.size()) of that frame into `out` (a FillRef for
// Stream::write_into): the frame encoded straight into someone else's buffer, in pieces.
void encode_envelope_frame_range(const SingleFillEnvelope& env, std::size_t offset,
                                 std::span<std::uint8_t> out);
std::size_t envelope_frame_size(const SingleFillEnvelope& env) noexcept;

// ---- batches (/bb/wire/1.1.0) ---------------------------------------------------------------
//
// A batch is one envelope whose fills are messages of their own: each fill carries its own
// correlation and remaining deadline (SlotFill fields 6–8), the envelope carries what they
// share (src_peer_bytes, src_peer_addresses, schema_version). Its frame is
//
//   varint(length) ‖ fill record ‖ fill record ‖ … ‖ batch tail
//
// (protobuf accepts fields in any order). A batch carries only its sender's own messages: a
// relayed one (src_peer set) travels alone, as a one-fill envelope.

// The size of one fill record (WireEnvelope field 2, tag and length included) for `env`'s
// fill, correlation and deadline; env.src_peer and env.src_addresses are the batch's, not the
// record's.
std::size_t batch_fill_record_size(const SingleFillEnvelope& env) noexcept;
void append_batch_fill_record(Bytes& out, const SingleFillEnvelope& env);
// The envelope fields after the records: src addresses (8) and schema_version (7).
void append_batch_tail(Bytes& out, std::span<const Bytes> src_addresses);

// Decodes `bytes` into `out` and checks it against `caps` in the original's order: total size,
// then well-formedness, schema version, fill count, src address count (counts are taken from a
// pass over the raw fields before the message is materialised, so a hostile envelope cannot make
// the parser allocate thousands of objects), then each fill's payload and suffix size and each
// src address's size, then each fill's origin_signature (empty or kOriginSignatureSize bytes,
// else errc::origin_signature_invalid). On error `out` is left in an unspecified but valid state.
boost::system::error_code decode_envelope(ByteView bytes, const EnvelopeCaps& caps,
                                          core::WireEnvelope& out);

// ---- authenticated origins ----------------------------------------------------------------
//
// An envelope names its author in src_peer_bytes; the connection only proves who delivered it.
// A message carried for someone else (a relay's forward) is believed only with the author's
// Ed25519 signature over what identifies it, carried in the fill's origin_signature (SlotFill
// field 5, a bb extension; absent, so the bytes are unchanged, on messages that carry none).
// The signed bytes are, in this order:
//
//   "bb/wire/origin-signature/v1" 0x00        domain separation (28 bytes)
//   uvarint(len) ‖ origin PeerId bytes         the author (its multihash)
//   message id, 8 bytes big-endian             the envelope's correlation wire_req_id
//   uvarint(len) ‖ dest_suffix                 where it goes inside the receiver
//   trigger_only, 1 byte (0 or 1)
//   type_hash, 8 bytes big-endian
//   SHA-256(payload), 32 bytes                 of the empty string for a trigger-only fill
//
// Not signed: what a relay changes (remaining deadline, src addresses, the envelope's other
// fills and the fill's index in it). Only Ed25519 PeerIds (identity multihash of the key, the
// 12D3KooW… form) can be verified: for any other origin verification fails.
inline constexpr std::size_t kOriginSignatureSize = 64;

// The signed fields of one message.
struct OriginFields {
  std::uint64_t message_id = 0;
  ByteView dest_suffix;
  ByteView payload;  // ignored when trigger_only
  bool trigger_only = false;
  std::uint64_t type_hash = 0;
};

// The exact bytes signed for `origin` (above).
Bytes origin_signing_input(const PeerId& origin, const OriginFields& fields);
// `author`'s signature over its own message (origin = author.peer_id()). 20–50 µs, plus
// SHA-256 of the payload.
Signature sign_origin(const Ed25519KeyPair& author, const OriginFields& fields);
// Empty error code when `signature` is `origin`'s valid signature over `fields`; otherwise
// errc::origin_signature_missing (empty signature) or errc::origin_signature_invalid (wrong
// length, origin without an inlined Ed25519 key, or a signature that does not verify).
boost::system::error_code verify_origin(const PeerId& origin, const OriginFields& fields,
                                        ByteView signature);

// A fresh message id: 64 random bits (libsodium), never 0. Unpredictable, so nobody can
// claim an id before its author uses it.
std::uint64_t random_message_id();

}  // namespace bb::wire

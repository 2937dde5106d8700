#include "bb/wire/envelope.hpp"

#include "bb/proto/bb_core.pb.h"
#include "bb/wire/varint.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

namespace bb::wire {
namespace {

using google::protobuf::internal::WireFormatLite;

// WireEnvelope field numbers (proto/bb_core.proto).
constexpr int kDestPeerAddresses = 1;
constexpr int kFills = 2;
constexpr int kEdgeRttReports = 5;
constexpr int kSchemaVersion = 7;
constexpr int kSrcPeerAddresses = 8;

// Tag of field 7 as a varint, followed by the value 1.
constexpr std::uint8_t kVersionStamp[] = {(kSchemaVersion << 3) | 0, kEnvelopeSchemaVersion};

std::size_t stamped_size(const core::WireEnvelope& env) {
  const std::size_t size = env.ByteSizeLong();
  return env.schema_version() == kEnvelopeSchemaVersion ? size : size + sizeof kVersionStamp;
}

void serialize_stamped(const core::WireEnvelope& env, std::size_t body_size, Bytes& out) {
  // ByteSizeLong() was called by stamped_size(), so the cached sizes are valid.
  const std::size_t at = out.size();
  out.resize(at + body_size);
  std::uint8_t* end = env.SerializeWithCachedSizesToArray(out.data() + at);
  // Protobuf keeps the last value of a repeated scalar field, so appending field 7 = 1 stamps
  // the version without copying the message.
  if (env.schema_version() != kEnvelopeSchemaVersion) {
    std::copy(std::begin(kVersionStamp), std::end(kVersionStamp), end);
  }
}

struct FieldCounts {
  std::uint64_t schema_version = 0;
  std::size_t fills = 0;
  std::size_t src_addresses = 0;
  std::size_t dest_addresses = 0;
  std::size_t rtt_reports = 0;
};

// One pass over the top-level fields without materialising anything.
bool count_fields(ByteView bytes, FieldCounts& counts) {
  google::protobuf::io::CodedInputStream in(bytes.data(), static_cast<int>(bytes.size()));
  while (true) {
    const std::uint32_t tag = in.ReadTag();
    if (tag == 0) return in.CurrentPosition() == static_cast<int>(bytes.size());
    const int field = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (field == kSchemaVersion && type == WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&counts.schema_version)) return false;
      continue;
    }
    if (type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      switch (field) {
        case kFills: ++counts.fills; break;
        case kSrcPeerAddresses: ++counts.src_addresses; break;
        case kDestPeerAddresses: ++counts.dest_addresses; break;
        case kEdgeRttReports: ++counts.rtt_reports; break;
        default: break;
      }
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
}

}  // namespace

void encode_envelope(const core::WireEnvelope& env, Bytes& out) {
  serialize_stamped(env, stamped_size(env), out);
}

void encode_envelope_frame(const core::WireEnvelope& env, Bytes& out) {
  const std::size_t body = stamped_size(env);
  append_varint(out, body);
  serialize_stamped(env, body, out);
}

boost::system::error_code decode_envelope(ByteView bytes, const EnvelopeCaps& caps,
                                          core::WireEnvelope& out) {
  if (bytes.size() > caps.max_total_bytes) return errc::envelope_too_large;
  // Protobuf's parser takes an int length; the cap above keeps us far below that in practice.
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX)) return errc::envelope_too_large;

  FieldCounts counts;
  if (!count_fields(bytes, counts)) return errc::envelope_malformed;
  if (counts.schema_version > kEnvelopeSchemaVersion) return errc::envelope_version_mismatch;
  if (counts.fills > caps.max_slot_fills) return errc::envelope_too_many_fills;
  if (counts.src_addresses > caps.max_src_peer_addresses) {
    return errc::envelope_too_many_src_addresses;
  }
  if (counts.dest_addresses > caps.max_dest_peer_addresses) {
    return errc::envelope_too_many_dest_addresses;
  }
  if (counts.rtt_reports > caps.max_edge_rtt_reports) return errc::envelope_too_many_rtt_reports;

  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return errc::envelope_malformed;
  }
  for (const auto& fill : out.fills()) {
    if (fill.payload().size() > caps.max_per_fill_bytes) {
      return errc::envelope_fill_payload_too_large;
    }
    if (fill.dest_suffix().size() > caps.max_dest_suffix_bytes) {
      return errc::envelope_fill_suffix_too_large;
    }
  }
  for (const auto& addr : out.src_peer_addresses()) {
    if (addr.size() > caps.max_src_peer_address_bytes) return errc::envelope_src_address_too_large;
  }
  for (const auto& fill : out.fills()) {
    const auto n = fill.origin_signature().size();
    if (n != 0 && n != kOriginSignatureSize) return errc::origin_signature_invalid;
  }
  return {};
}

// Hand-written protobuf encoding of a one-fill WireEnvelope (see SingleFillEnvelope). Tags are
// (field << 3 | wire type): 0 = varint, 2 = length-delimited.
namespace {

constexpr std::uint8_t tag(unsigned field, unsigned wire_type) {
  return static_cast<std::uint8_t>(field << 3 | wire_type);
}

std::size_t bytes_field_size(std::size_t n) noexcept {
  return 1 + varint_size(n) + n;
}
std::size_t varint_field_size(std::uint64_t v) noexcept {
  return v == 0 ? 0 : 1 + varint_size(v);
}

struct Sizes {
  std::size_t fill = 0;
  std::size_t correlation = 0;
  std::size_t body = 0;
};

Sizes sizes_of(const SingleFillEnvelope& env) noexcept {
  Sizes s;
  s.fill = (env.dest_suffix.empty() ? 0 : bytes_field_size(env.dest_suffix.size())) +
           (env.payload.empty() ? 0 : bytes_field_size(env.payload.size())) +
           (env.trigger_only ? 2 : 0) + varint_field_size(env.type_hash) +
           (env.origin_signature.empty() ? 0 : bytes_field_size(env.origin_signature.size()));
  s.correlation = varint_field_size(env.correlation_kind) + varint_field_size(env.wire_req_id);
  s.body = bytes_field_size(s.fill) + bytes_field_size(s.correlation) +
           varint_field_size(env.remaining_deadline_ns) +
           (env.src_peer.empty() ? 0 : bytes_field_size(env.src_peer.size())) +
           varint_field_size(kEnvelopeSchemaVersion);
  for (const auto& a : env.src_addresses) s.body += bytes_field_size(a.size());
  return s;
}

// Writers over a raw cursor: the caller sized the buffer (sizes_of()).
void put(std::uint8_t*& p, std::uint64_t v) noexcept {
  p += encode_varint(v, p);
}
void put_bytes(std::uint8_t*& p, std::uint8_t t, ByteView b) noexcept {
  *p++ = t;
  put(p, b.size());
  if (!b.empty()) std::memcpy(p, b.data(), b.size());
  p += b.size();
}
void put_varint_field(std::uint8_t*& p, std::uint8_t t, std::uint64_t v) noexcept {
  if (v == 0) return;
  *p++ = t;
  put(p, v);
}

// What comes before the payload's bytes: varint(length), the fill's tag and length, its
// suffix, the payload's tag and length. Returns the cursor past it.
std::uint8_t* put_head(std::uint8_t* p, const SingleFillEnvelope& env, const Sizes& s) noexcept {
  put(p, s.body);
  // 2: fills
  *p++ = tag(2, 2);
  put(p, s.fill);
  if (!env.dest_suffix.empty()) put_bytes(p, tag(1, 2), env.dest_suffix);
  if (!env.payload.empty()) {
    *p++ = tag(2, 2);
    put(p, env.payload.size());
  }
  return p;
}

// The fill's fields after its payload: trigger_only (3), type_hash (4), origin_signature (5).
void put_fill_flags(std::uint8_t*& p, const SingleFillEnvelope& env) noexcept {
  if (env.trigger_only) {
    *p++ = tag(3, 0);
    *p++ = 1;
  }
  put_varint_field(p, tag(4, 0), env.type_hash);
  if (!env.origin_signature.empty()) put_bytes(p, tag(5, 2), env.origin_signature);
}

// What comes after the payload's bytes.
std::uint8_t* put_tail(std::uint8_t* p, const SingleFillEnvelope& env, const Sizes& s) noexcept {
  put_fill_flags(p, env);
  // 3: correlation
  *p++ = tag(3, 2);
  put(p, s.correlation);
  put_varint_field(p, tag(1, 0), env.correlation_kind);
  put_varint_field(p, tag(2, 0), env.wire_req_id);
  // 4, 6, 8, 7
  put_varint_field(p, tag(4, 0), env.remaining_deadline_ns);
  if (!env.src_peer.empty()) put_bytes(p, tag(6, 2), env.src_peer);
  // protobuf writes fields in declaration order, and bb_core.proto declares 8 before 7
  for (const auto& a : env.src_addresses) put_bytes(p, tag(8, 2), a);
  put_varint_field(p, tag(7, 0), kEnvelopeSchemaVersion);
  return p;
}

std::uint8_t* put_frame(std::uint8_t* p, const SingleFillEnvelope& env, const Sizes& s) noexcept {
  p = put_head(p, env, s);
  if (!env.payload.empty()) std::memcpy(p, env.payload.data(), env.payload.size());
  return put_tail(p + env.payload.size(), env, s);
}

}  // namespace

std::size_t envelope_frame_size(const SingleFillEnvelope& env) noexcept {
  const auto s = sizes_of(env);
  return varint_size(s.body) + s.body;
}

void append_envelope_frame(Bytes& out, const SingleFillEnvelope& env) {
  const auto s = sizes_of(env);
  const std::size_t total = varint_size(s.body) + s.body;
  if (env.payload.size() < 4096) {
    const std::size_t at = out.size();
    out.resize(at + total);
    put_frame(out.data() + at, env, s);
    return;
  }
  // A large payload is appended as it is, not over bytes resize() zero-filled first: head and
  // tail (small, capped) are encoded aside.
  thread_local Bytes scratch;
  scratch.resize(total - env.payload.size());
  std::uint8_t* tail = put_head(scratch.data(), env, s);
  const auto head_size = static_cast<std::ptrdiff_t>(tail - scratch.data());
  put_tail(tail, env, s);
  out.insert(out.end(), scratch.begin(), scratch.begin() + head_size);
  out.insert(out.end(), env.payload.begin(), env.payload.end());
  out.insert(out.end(), scratch.begin() + head_size, scratch.end());
}

void encode_envelope_frame_range(const SingleFillEnvelope& env, std::size_t offset,
                                 std::span<std::uint8_t> out) {
  const auto s = sizes_of(env);
  const std::size_t total = varint_size(s.body) + s.body;
  if (offset == 0 && out.size() == total) {  // the whole frame: no piece to assemble
    put_frame(out.data(), env, s);
    return;
  }
  // Head and tail are small (the suffix and the addresses are capped): encode them aside and
  // copy the requested range out of head ‖ payload ‖ tail.
  Bytes head(total - env.payload.size());
  std::uint8_t* tail = put_head(head.data(), env, s);
  const std::size_t head_size = static_cast<std::size_t>(tail - head.data());
  put_tail(tail, env, s);
  const std::array<ByteView, 3> pieces{ByteView(head).first(head_size), env.payload,
                                       ByteView(head).subspan(head_size)};
  std::size_t piece_at = 0;  // offset of the current piece in the frame
  std::size_t written = 0;
  for (const ByteView piece : pieces) {
    const std::size_t from = offset + written;
    if (written < out.size() && from < piece_at + piece.size()) {
      const std::size_t n = std::min(out.size() - written, piece_at + piece.size() - from);
      std::memcpy(out.data() + written, piece.data() + (from - piece_at), n);
      written += n;
    }
    piece_at += piece.size();
  }
}

// ---- batches ----

namespace {

// The fill's fields, then its own wire_req_id (6, always written: its presence makes the fill a
// message of its own), correlation kind (7) and remaining deadline (8).
std::size_t batch_fill_size(const SingleFillEnvelope& env, const Sizes& s) noexcept {
  return s.fill + 1 + varint_size(env.wire_req_id) + varint_field_size(env.correlation_kind) +
         varint_field_size(env.remaining_deadline_ns);
}

}  // namespace

std::size_t batch_fill_record_size(const SingleFillEnvelope& env) noexcept {
  return bytes_field_size(batch_fill_size(env, sizes_of(env)));
}

void append_batch_fill_record(Bytes& out, const SingleFillEnvelope& env) {
  const auto s = sizes_of(env);
  const std::size_t fill = batch_fill_size(env, s);
  const std::size_t at = out.size();
  out.resize(at + bytes_field_size(fill));
  std::uint8_t* p = out.data() + at;
  *p++ = tag(2, 2);
  put(p, fill);
  if (!env.dest_suffix.empty()) put_bytes(p, tag(1, 2), env.dest_suffix);
  if (!env.payload.empty()) put_bytes(p, tag(2, 2), env.payload);
  put_fill_flags(p, env);
  *p++ = tag(6, 0);
  put(p, env.wire_req_id);
  put_varint_field(p, tag(7, 0), env.correlation_kind);
  put_varint_field(p, tag(8, 0), env.remaining_deadline_ns);
}

void append_batch_tail(Bytes& out, std::span<const Bytes> src_addresses) {
  std::size_t size = varint_field_size(kEnvelopeSchemaVersion);
  for (const auto& a : src_addresses) size += bytes_field_size(a.size());
  const std::size_t at = out.size();
  out.resize(at + size);
  std::uint8_t* p = out.data() + at;
  for (const auto& a : src_addresses) put_bytes(p, tag(8, 2), a);
  put_varint_field(p, tag(7, 0), kEnvelopeSchemaVersion);
}

// ---- authenticated origins ----

namespace {

constexpr char kOriginDomain[] = "bb/wire/origin-signature/v1";  // sizeof includes the 0x00

void put_be64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

}  // namespace

Bytes origin_signing_input(const PeerId& origin, const OriginFields& fields) {
  const ByteView id = origin.bytes();
  Bytes out(sizeof kOriginDomain);
  std::memcpy(out.data(), kOriginDomain, sizeof kOriginDomain);
  out.reserve(sizeof kOriginDomain + 10 + id.size() + 8 + 10 + fields.dest_suffix.size() + 1 + 8 +
              crypto_hash_sha256_BYTES);
  append_varint(out, id.size());
  out.insert(out.end(), id.begin(), id.end());
  put_be64(out, fields.message_id);
  append_varint(out, fields.dest_suffix.size());
  out.insert(out.end(), fields.dest_suffix.begin(), fields.dest_suffix.end());
  out.push_back(fields.trigger_only ? 1 : 0);
  put_be64(out, fields.type_hash);
  const ByteView payload = fields.trigger_only ? ByteView{} : fields.payload;
  const std::size_t at = out.size();
  out.resize(at + crypto_hash_sha256_BYTES);
  crypto_hash_sha256(out.data() + at, payload.data(), payload.size());
  return out;
}

Signature sign_origin(const Ed25519KeyPair& author, const OriginFields& fields) {
  const Bytes input = origin_signing_input(author.peer_id(), fields);
  return author.sign(input);
}

boost::system::error_code verify_origin(const PeerId& origin, const OriginFields& fields,
                                        ByteView signature) {
  if (signature.empty()) return errc::origin_signature_missing;
  if (signature.size() != kOriginSignatureSize) return errc::origin_signature_invalid;
  const ByteView encoded_key = origin.inlined_public_key();
  if (encoded_key.empty()) return errc::origin_signature_invalid;  // not an inlined key
  const auto key = Ed25519PublicKey::from_protobuf(encoded_key);
  if (!key) return errc::origin_signature_invalid;  // not an Ed25519 key
  const Bytes input = origin_signing_input(origin, fields);
  if (!key->verify(input, signature)) return errc::origin_signature_invalid;
  return {};
}

std::uint64_t random_message_id() {
  // libsodium's randombytes_buf is one getrandom() system call per call: at hundreds of
  // thousands of messages a second that was the largest single cost of a send. Ids are taken
  // from a per-thread block of 64 drawn at once: still the kernel's CSPRNG output, still
  // unpredictable to a peer (it sees ids, never the block before they are used).
  thread_local std::array<std::uint64_t, 64> block{};
  thread_local std::size_t next = block.size();
  std::uint64_t id = 0;
  while (id == 0) {
    if (next == block.size()) {
      ensure_sodium();
      randombytes_buf(block.data(), sizeof block);
      next = 0;
    }
    id = block[next];
    block[next++] = 0;  // nothing of a used id stays behind
  }
  return id;
}

}  // namespace bb::wire

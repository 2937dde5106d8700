#include "wire/envelope.hpp"

#include "proto/bb_core.pb.h"
#include "wire/varint.hpp"

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
  return {};
}

}  // namespace bb::wire

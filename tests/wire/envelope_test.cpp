#include "bb/wire/envelope.hpp"

#include "bb/proto/bb_core.pb.h"
#include "bb/wire/frame.hpp"
#include "bb/wire/peer_id.hpp"

#include <gtest/gtest.h>

#include <set>

namespace bb::wire {
namespace {

core::WireEnvelope sample() {
  core::WireEnvelope env;
  env.add_dest_peer_addresses("/p2p/x");
  auto* fill = env.add_fills();
  fill->set_dest_suffix("\xe2\x01\x00\x00\x00\x00\x00\x00\x00\x11", 10);
  fill->set_payload("hello");
  fill->set_type_hash(0x1234);
  auto* trig = env.add_fills();
  trig->set_trigger_only(true);
  env.mutable_correlation()->set_kind(core::CORRELATION_KIND_REQUEST);
  env.mutable_correlation()->set_wire_req_id(7);
  env.set_remaining_deadline_ns(100'000'000);
  auto* rtt = env.add_edge_rtt_reports();
  rtt->set_srtt_ns(5);
  rtt->set_sample_count(3);
  const auto id = PeerId::from_u64(1);
  env.set_src_peer_bytes(std::string(as_chars(id.bytes())));
  env.add_src_peer_addresses("addr");
  return env;
}

core::WireEnvelope decode_ok(ByteView bytes, const EnvelopeCaps& caps = {}) {
  core::WireEnvelope out;
  const auto ec = decode_envelope(bytes, caps, out);
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

boost::system::error_code decode_err(const core::WireEnvelope& env, const EnvelopeCaps& caps) {
  Bytes bytes;
  encode_envelope(env, bytes);
  core::WireEnvelope out;
  return decode_envelope(bytes, caps, out);
}

TEST(Envelope, FieldNumbersMatchTheRustSchema) {
  core::WireEnvelope env;
  env.set_remaining_deadline_ns(1);
  env.set_src_peer_bytes("p");
  env.add_src_peer_addresses("a");
  Bytes bytes;
  encode_envelope(env, bytes);
  // field 4 varint 1, field 6 "p", field 8 "a", then field 7 = 1 appended by the stamp
  EXPECT_EQ(to_hex(bytes),
            "2001320170"
            "420161"
            "3801");
}

TEST(Envelope, RoundTripsEveryField) {
  const auto env = sample();
  Bytes bytes;
  encode_envelope(env, bytes);
  const auto back = decode_ok(bytes);
  EXPECT_EQ(back.schema_version(), kEnvelopeSchemaVersion);
  auto expected = env;
  expected.set_schema_version(kEnvelopeSchemaVersion);
  EXPECT_EQ(back.SerializeAsString(), expected.SerializeAsString());
  EXPECT_EQ(back.fills(0).payload(), "hello");
  EXPECT_TRUE(back.fills(1).trigger_only());
  EXPECT_EQ(back.correlation().wire_req_id(), 7u);
  EXPECT_EQ(back.edge_rtt_reports(0).sample_count(), 3u);
}

TEST(Envelope, StampsVersionOneWhateverTheInputHolds) {
  for (std::uint32_t v : {0u, 1u, 9u}) {
    auto env = sample();
    env.set_schema_version(v);
    Bytes bytes;
    encode_envelope(env, bytes);
    EXPECT_EQ(decode_ok(bytes).schema_version(), 1u) << v;
  }
}

TEST(Envelope, FramedEncodingIsAFrameOfTheEncoding) {
  const auto env = sample();
  Bytes plain, framed;
  encode_envelope(env, plain);
  encode_envelope_frame(env, framed);
  auto frame = decode_frame(framed, kDefaultMaxFrameBytes).value();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->consumed, framed.size());
  EXPECT_TRUE(std::equal(frame->body.begin(), frame->body.end(), plain.begin(), plain.end()));
}

TEST(Envelope, AcceptsLegacyVersionZero) {
  auto env = sample();
  const std::string raw = env.SerializeAsString();  // version 0: field 7 absent
  EXPECT_EQ(decode_ok(as_bytes(raw)).schema_version(), 0u);
}

TEST(Envelope, RejectsNewerSchemaVersion) {
  auto env = sample();
  env.set_schema_version(2);
  const std::string raw = env.SerializeAsString();
  core::WireEnvelope out;
  EXPECT_EQ(decode_envelope(as_bytes(raw), {}, out), errc::envelope_version_mismatch);
}

TEST(Envelope, RejectsMalformedProtobuf) {
  core::WireEnvelope out;
  EXPECT_EQ(decode_envelope(from_hex("12ff").value(), {}, out), errc::envelope_malformed);
  EXPECT_EQ(decode_envelope(from_hex("0a05ab").value(), {}, out), errc::envelope_malformed);
  EXPECT_EQ(decode_envelope(from_hex("00").value(), {}, out), errc::envelope_malformed);
  EXPECT_EQ(decode_envelope(from_hex("ff").value(), {}, out), errc::envelope_malformed);
  // A fill whose body is not a SlotFill.
  EXPECT_EQ(decode_envelope(from_hex("1202ffff").value(), {}, out), errc::envelope_malformed);
  EXPECT_FALSE(decode_envelope({}, {}, out));  // the empty envelope is valid
}

TEST(Envelope, EnforcesCapsInTheOriginalsOrder) {
  EnvelopeCaps caps;
  caps.max_total_bytes = 10;
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_too_large);

  auto env = sample();
  env.set_schema_version(3);
  caps = EnvelopeCaps::edge();
  caps.max_slot_fills = 1;
  Bytes bytes;
  bytes.clear();
  const std::string raw = env.SerializeAsString();
  core::WireEnvelope out;
  // Version is checked before the fill count.
  EXPECT_EQ(decode_envelope(as_bytes(raw), caps, out), errc::envelope_version_mismatch);
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_too_many_fills);

  caps = {};
  caps.max_per_fill_bytes = 4;
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_fill_payload_too_large);
  caps = {};
  caps.max_dest_suffix_bytes = 9;
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_fill_suffix_too_large);
  caps = {};
  caps.max_src_peer_addresses = 0;
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_too_many_src_addresses);
  caps = {};
  caps.max_src_peer_address_bytes = 3;
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_src_address_too_large);
  caps = {};
  caps.max_dest_peer_addresses = 0;
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_too_many_dest_addresses);
  caps = {};
  caps.max_edge_rtt_reports = 0;
  EXPECT_EQ(decode_err(sample(), caps), errc::envelope_too_many_rtt_reports);
}

TEST(Envelope, CapsAreInclusiveLimits) {
  auto env = sample();
  EnvelopeCaps caps;
  caps.max_per_fill_bytes = 5;      // "hello"
  caps.max_dest_suffix_bytes = 10;  // /site/17
  caps.max_slot_fills = 2;
  caps.max_src_peer_addresses = 1;
  caps.max_src_peer_address_bytes = 4;
  EXPECT_FALSE(decode_err(env, caps));
}

TEST(Envelope, EdgePresetMatchesTheOriginal) {
  constexpr auto edge = EnvelopeCaps::edge();
  EXPECT_EQ(edge.max_total_bytes, 256u * 1024);
  EXPECT_EQ(edge.max_slot_fills, 16u);
  EXPECT_EQ(edge.max_per_fill_bytes, 64u * 1024);
  EXPECT_EQ(edge.max_dest_suffix_bytes, 512u);
  EXPECT_EQ(edge.max_src_peer_addresses, 4u);
  EXPECT_EQ(edge.max_src_peer_address_bytes, 256u);
  const EnvelopeCaps defaults;
  EXPECT_EQ(defaults.max_total_bytes, 16u << 20);
  EXPECT_EQ(defaults.max_slot_fills, 256u);
  EXPECT_EQ(defaults.max_per_fill_bytes, 4u << 20);
  EXPECT_EQ(defaults.max_dest_suffix_bytes, 4096u);
  EXPECT_EQ(defaults.max_src_peer_addresses, 8u);
  EXPECT_EQ(defaults.max_src_peer_address_bytes, 256u);
}

TEST(Envelope, ManyTinyFillsAreRejectedBeforeParsing) {
  // 1 MiB of empty fills (2 bytes each) would be half a million SlotFill objects.
  Bytes bytes;
  for (int i = 0; i < (1 << 19); ++i) {
    bytes.push_back(0x12);
    bytes.push_back(0x00);
  }
  core::WireEnvelope out;
  EXPECT_EQ(decode_envelope(bytes, {}, out), errc::envelope_too_many_fills);
  EXPECT_EQ(out.fills_size(), 0);
}

}  // namespace
}  // namespace bb::wire

namespace bb::wire {
namespace {

// The direct encoder must produce exactly protobuf's bytes for the same envelope.
void expect_same_as_protobuf(const SingleFillEnvelope& direct) {
  core::WireEnvelope env;
  auto* fill = env.add_fills();
  fill->set_dest_suffix(std::string(as_chars(direct.dest_suffix)));
  fill->set_payload(std::string(as_chars(direct.payload)));
  fill->set_trigger_only(direct.trigger_only);
  fill->set_type_hash(direct.type_hash);
  fill->set_origin_signature(std::string(as_chars(direct.origin_signature)));
  env.mutable_correlation()->set_kind(static_cast<core::CorrelationKind>(direct.correlation_kind));
  env.mutable_correlation()->set_wire_req_id(direct.wire_req_id);
  env.set_remaining_deadline_ns(direct.remaining_deadline_ns);
  env.set_src_peer_bytes(std::string(as_chars(direct.src_peer)));
  for (const auto& a : direct.src_addresses) env.add_src_peer_addresses(std::string(as_chars(a)));
  Bytes expected;
  encode_envelope_frame(env, expected);
  Bytes got{0xAA};  // appends after what is there
  append_envelope_frame(got, direct);
  ASSERT_EQ(got.size(), expected.size() + 1);
  EXPECT_EQ(to_hex(ByteView(got).subspan(1)), to_hex(expected));
  EXPECT_EQ(envelope_frame_size(direct), expected.size());
}

TEST(SingleFillEnvelope, EncodesExactlyAsProtobufDoes) {
  const auto origin = PeerId::from_u64(42);
  const Bytes suffix{0xe2, 0x01, 0x05};
  const Bytes payload(300, 0x5a);  // a two-byte length
  const std::vector<Bytes> addrs{Bytes{0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1}, Bytes{0x01}};
  SingleFillEnvelope env;
  env.dest_suffix = suffix;
  env.payload = payload;
  env.type_hash = 0xfeedface12345678ULL;
  env.correlation_kind = 1;
  env.wire_req_id = 1'700'000'000'000'000ULL;
  env.remaining_deadline_ns = 100'000'000;
  env.src_peer = origin.bytes();
  env.src_addresses = addrs;
  expect_same_as_protobuf(env);
}

// From 4 KiB on the payload is appended as it is (no zero-fill first): the same bytes.
TEST(SingleFillEnvelope, EncodesALargePayloadExactlyAsProtobufDoes) {
  const auto origin = PeerId::from_u64(42);
  const Bytes suffix{0xe2, 0x01, 0x05};
  Bytes payload(70'000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  const std::vector<Bytes> addrs{Bytes{0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1}};
  SingleFillEnvelope env;
  env.dest_suffix = suffix;
  env.payload = payload;
  env.type_hash = 9;
  env.correlation_kind = 2;
  env.wire_req_id = 77;
  env.remaining_deadline_ns = 1'000;
  env.src_peer = origin.bytes();
  env.src_addresses = addrs;
  expect_same_as_protobuf(env);
  env.payload = ByteView(payload).first(4096);  // the boundary
  expect_same_as_protobuf(env);
}

TEST(SingleFillEnvelope, EncodesTheOriginSignatureExactlyAsProtobufDoes) {
  const auto origin = PeerId::from_u64(42);
  const Bytes suffix{0xe2, 0x01, 0x05};
  const Bytes payload(200, 0x33);
  const Bytes signature(kOriginSignatureSize, 0xa5);
  SingleFillEnvelope env;
  env.dest_suffix = suffix;
  env.payload = payload;
  env.type_hash = 7;
  env.correlation_kind = 1;
  env.wire_req_id = 0xfedcba9876543210ULL;
  env.remaining_deadline_ns = 5;
  env.src_peer = origin.bytes();
  env.origin_signature = signature;
  expect_same_as_protobuf(env);
  env.payload = {};
  env.trigger_only = true;
  expect_same_as_protobuf(env);
}

TEST(SingleFillEnvelope, WithoutASignatureTheBytesAreThoseOfBefore) {
  // SlotFill field 5 is absent when empty: an unsigned message is what it always was.
  SingleFillEnvelope env;
  const Bytes payload{'h', 'i'};
  env.payload = payload;
  env.wire_req_id = 1;
  env.correlation_kind = 1;
  Bytes frame;
  append_envelope_frame(frame, env);
  // varint(len) ‖ fills{payload "hi"} ‖ correlation{kind 1, id 1} ‖ schema_version 1
  EXPECT_EQ(to_hex(frame),
            "0e"
            "12041202"
            "6869"
            "1a0408011001"
            "3801");
}

TEST(SingleFillEnvelope, OmitsDefaultsAsProtobufDoes) {
  SingleFillEnvelope env;  // empty fill, empty correlation, nothing else but the version
  expect_same_as_protobuf(env);
  env.trigger_only = true;
  expect_same_as_protobuf(env);
}

TEST(Envelope, AnOriginSignatureIsEmptyOrSixtyFourBytes) {
  for (const std::size_t size : {std::size_t{0}, kOriginSignatureSize}) {
    core::WireEnvelope env;
    env.add_fills()->set_origin_signature(std::string(size, 's'));
    EXPECT_FALSE(decode_err(env, {})) << size;
  }
  for (const std::size_t size :
       {std::size_t{1}, kOriginSignatureSize - 1, kOriginSignatureSize + 1, std::size_t{4096}}) {
    core::WireEnvelope env;
    env.add_fills();
    env.add_fills()->set_origin_signature(std::string(size, 's'));
    EXPECT_EQ(decode_err(env, {}), errc::origin_signature_invalid) << size;
  }
}

TEST(SingleFillEnvelope, DecodesWithTheCappedDecoder) {
  const Bytes payload(64 * 1024, 0x01);
  SingleFillEnvelope env;
  env.payload = payload;
  env.wire_req_id = 9;
  env.correlation_kind = 1;
  Bytes frame;
  append_envelope_frame(frame, env);
  FrameReader reader;
  reader.append(frame);
  auto body = reader.next();
  ASSERT_TRUE(body && *body);
  core::WireEnvelope out;
  ASSERT_FALSE(decode_envelope(**body, EnvelopeCaps{}, out));
  EXPECT_EQ(out.fills(0).payload().size(), payload.size());
  EXPECT_EQ(out.correlation().wire_req_id(), 9u);
  EXPECT_EQ(out.schema_version(), kEnvelopeSchemaVersion);
}

}  // namespace
}  // namespace bb::wire

namespace bb::wire {
namespace {

OriginFields sample_fields(const Bytes& suffix, const Bytes& payload) {
  OriginFields f;
  f.message_id = 0x0102030405060708ULL;
  f.dest_suffix = suffix;
  f.payload = payload;
  f.type_hash = 0x1112131415161718ULL;
  return f;
}

TEST(OriginSignature, SignsTheDocumentedBytes) {
  const auto author = Ed25519KeyPair::generate();
  const PeerId id = author.peer_id();
  const Bytes suffix{0xe2, 0x01, 0x05};
  const Bytes payload{'a', 'b', 'c'};
  const Bytes input = origin_signing_input(id, sample_fields(suffix, payload));
  Bytes expected;
  const std::string_view domain = "bb/wire/origin-signature/v1";
  expected.insert(expected.end(), domain.begin(), domain.end());
  expected.push_back(0);
  expected.push_back(static_cast<std::uint8_t>(id.bytes().size()));
  expected.insert(expected.end(), id.bytes().begin(), id.bytes().end());
  for (int i = 1; i <= 8; ++i) expected.push_back(static_cast<std::uint8_t>(i));
  expected.push_back(3);
  expected.insert(expected.end(), suffix.begin(), suffix.end());
  expected.push_back(0);  // not a trigger
  for (int i = 0x11; i <= 0x18; ++i) expected.push_back(static_cast<std::uint8_t>(i));
  // SHA-256("abc")
  const auto digest = from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ASSERT_TRUE(digest);
  expected.insert(expected.end(), digest->begin(), digest->end());
  EXPECT_EQ(to_hex(input), to_hex(expected));
}

TEST(OriginSignature, VerifiesForItsOriginAndNothingElse) {
  const auto author = Ed25519KeyPair::generate();
  const auto other = Ed25519KeyPair::generate();
  const Bytes suffix{0xe2, 0x01, 0x05};
  const Bytes payload{'h', 'i'};
  const OriginFields fields = sample_fields(suffix, payload);
  const Signature sig = sign_origin(author, fields);
  EXPECT_FALSE(verify_origin(author.peer_id(), fields, sig));

  EXPECT_EQ(verify_origin(other.peer_id(), fields, sig), errc::origin_signature_invalid);
  EXPECT_EQ(verify_origin(PeerId::from_u64(1), fields, sig), errc::origin_signature_invalid);
  EXPECT_EQ(verify_origin(author.peer_id(), fields, {}), errc::origin_signature_missing);
  EXPECT_EQ(verify_origin(author.peer_id(), fields, ByteView(sig).first(63)),
            errc::origin_signature_invalid);
  OriginFields changed = fields;
  changed.message_id += 1;
  EXPECT_EQ(verify_origin(author.peer_id(), changed, sig), errc::origin_signature_invalid);
  changed = fields;
  const Bytes other_payload{'h', 'o'};
  changed.payload = other_payload;
  EXPECT_EQ(verify_origin(author.peer_id(), changed, sig), errc::origin_signature_invalid);
  changed = fields;
  const Bytes other_suffix{0xe2, 0x01, 0x06};
  changed.dest_suffix = other_suffix;
  EXPECT_EQ(verify_origin(author.peer_id(), changed, sig), errc::origin_signature_invalid);
  changed = fields;
  changed.type_hash ^= 1;
  EXPECT_EQ(verify_origin(author.peer_id(), changed, sig), errc::origin_signature_invalid);
  changed = fields;
  changed.trigger_only = true;
  EXPECT_EQ(verify_origin(author.peer_id(), changed, sig), errc::origin_signature_invalid);
}

TEST(OriginSignature, ATriggerIgnoresThePayload) {
  const auto author = Ed25519KeyPair::generate();
  const Bytes suffix{0xe2, 0x01, 0x05};
  const Bytes payload{'x'};
  OriginFields fields = sample_fields(suffix, payload);
  fields.trigger_only = true;
  const Signature sig = sign_origin(author, fields);
  fields.payload = {};  // what a relay of the trigger carries
  EXPECT_FALSE(verify_origin(author.peer_id(), fields, sig));
}

TEST(OriginSignature, RandomMessageIdsAreNeverZeroAndDoNotRepeat) {
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 10'000; ++i) {
    const std::uint64_t id = random_message_id();
    EXPECT_NE(id, 0u);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10'000u);
}

}  // namespace
}  // namespace bb::wire

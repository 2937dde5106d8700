#include "bb/wire/multiaddr.hpp"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace bb::wire {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

Multiaddr ma(std::string_view text) {
  return Multiaddr::parse(text).value();
}

const std::string kEd25519Peer = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
const std::string kEd25519PeerCid =
    "bafzaajaiaejcal72gwuz2or47oyxxn6b3rkwdmmkrxgkjxzy3rqt5kczyn7lcm3l";
const std::string kSha256Peer = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
const std::string kSha256PeerCid = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";

// Text → bytes → text, and bytes → the same address.
void expect_vector(std::string_view text, std::string_view bytes_hex) {
  auto parsed = Multiaddr::parse(text);
  ASSERT_TRUE(parsed) << text << ": " << parsed.error().message();
  EXPECT_EQ(to_hex(parsed->bytes()), bytes_hex) << text;
  EXPECT_EQ(parsed->to_string(), text);
  auto decoded = Multiaddr::from_bytes(hex(bytes_hex));
  ASSERT_TRUE(decoded) << bytes_hex << ": " << decoded.error().message();
  EXPECT_EQ(*decoded, *parsed);
  EXPECT_EQ(decoded->to_string(), text);
}

void expect_parse_error(std::string_view text, errc expected) {
  auto parsed = Multiaddr::parse(text);
  ASSERT_FALSE(parsed) << "'" << text << "' parsed as " << to_hex(parsed->bytes());
  EXPECT_EQ(parsed.error(), make_error_code(expected))
      << "'" << text << "': " << parsed.error().message();
}

void expect_bytes_error(std::string_view bytes_hex, errc expected) {
  auto decoded = Multiaddr::from_bytes(hex(bytes_hex));
  ASSERT_FALSE(decoded) << bytes_hex << " decoded as " << decoded->to_string();
  EXPECT_EQ(decoded.error(), make_error_code(expected))
      << bytes_hex << ": " << decoded.error().message();
}

// go-multiaddr TestStringToBytes, the multiaddr README and multiaddr.feature.
TEST(Multiaddr, SpecVectors) {
  expect_vector("/ip4/127.0.0.1/udp/1234", "047f000001910204d2");
  expect_vector("/ip4/192.0.2.42/tcp/443", "04c000022a0601bb");
  expect_vector("/ip4/127.0.0.1/tcp/4321", "047f0000010610e1");
  expect_vector("/ip4/127.0.0.1/udp/1234/ip4/127.0.0.1/tcp/4321",
                "047f000001910204d2047f0000010610e1");
}

// cpp-libp2p multiaddress_test.cpp.
TEST(Multiaddr, CppLibp2pVector) {
  expect_vector("/ip4/192.168.0.1/udp/228", "04c0a80001910200e4");
}

TEST(Multiaddr, P2pVector) {
  expect_vector(
      "/ip4/127.0.0.1/tcp/4001/p2p/" + kEd25519Peer,
      "047f000001060fa1a503260024080112202ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613e"
      "a859c37eb1336b");
}

// bytesandbrains Address vectors.
TEST(Multiaddr, BytesAndBrainsVectors) {
  const std::string peer = PeerId::from_u64(1).to_base58();
  EXPECT_EQ(peer, "16uZAbWC1AJvL");
  expect_vector("/p2p/" + peer + "/site/17", "a5030a00080000000000000001e2010000000000000011");
  expect_vector("/component/7/op/FindNode", "e30100000007e4010846696e644e6f6465");
}

TEST(Multiaddr, ParseErrorsFromGoMultiaddr) {
  expect_parse_error("/ip4", errc::multiaddr_missing_value);
  expect_parse_error("/ip4/::1", errc::multiaddr_invalid_value);
  expect_parse_error("/tcp/65536", errc::multiaddr_invalid_value);
  expect_parse_error("/udp/65536", errc::multiaddr_invalid_value);
  expect_parse_error("/p2p", errc::multiaddr_missing_value);
  expect_parse_error("/ip4/127.0.0.1/tcp", errc::multiaddr_missing_value);
  expect_parse_error("/", errc::multiaddr_empty_string);
  expect_parse_error("", errc::multiaddr_empty_string);
}

TEST(Multiaddr, ParseErrorsOfShape) {
  expect_parse_error("ip4/1.2.3.4", errc::multiaddr_missing_leading_slash);
  expect_parse_error(" /ip4/1.2.3.4", errc::multiaddr_missing_leading_slash);
  expect_parse_error("///", errc::multiaddr_empty_string);
  expect_parse_error("/foo/1", errc::multiaddr_unknown_protocol);
  expect_parse_error("/IP4/1.2.3.4", errc::multiaddr_unknown_protocol);
  expect_parse_error("//ip4/1.2.3.4", errc::multiaddr_unknown_protocol);
  expect_parse_error("/ip4/1.2.3.4//tcp/1", errc::multiaddr_unknown_protocol);
  expect_parse_error("/ip4//1.2.3.4", errc::multiaddr_missing_value);
  expect_parse_error("/op/", errc::multiaddr_missing_value);
  expect_parse_error("/op//", errc::multiaddr_missing_value);
}

// go-multiaddr drops trailing slashes; so do we (the canonical text never has one).
TEST(Multiaddr, TrailingSlashIsIgnored) {
  EXPECT_EQ(ma("/ip4/1.2.3.4/"), ma("/ip4/1.2.3.4"));
  EXPECT_EQ(ma("/ip4/1.2.3.4/tcp/80//"), ma("/ip4/1.2.3.4/tcp/80"));
  EXPECT_EQ(ma("/ip4/1.2.3.4/").to_string(), "/ip4/1.2.3.4");
}

TEST(Multiaddr, Ip4IsStrictDottedQuad) {
  expect_parse_error("/ip4/256.0.0.1", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/1.2.3", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/1.2.3.4.5", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/01.2.3.4", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/1..3.4", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/1.2.3.", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/.1.2.3", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/1.2.3.+4", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/1.2.3.4 ", errc::multiaddr_invalid_value);
  expect_parse_error("/ip4/0x1.2.3.4", errc::multiaddr_invalid_value);
  expect_vector("/ip4/0.0.0.0", "0400000000");
  expect_vector("/ip4/255.255.255.255", "04ffffffff");
}

TEST(Multiaddr, DecimalsAreStrict) {
  expect_parse_error("/tcp/-1", errc::multiaddr_invalid_value);
  expect_parse_error("/tcp/+1", errc::multiaddr_invalid_value);
  expect_parse_error("/tcp/01", errc::multiaddr_invalid_value);
  expect_parse_error("/tcp/1a", errc::multiaddr_invalid_value);
  expect_parse_error("/site/18446744073709551616", errc::multiaddr_invalid_value);
  expect_parse_error("/site/99999999999999999999", errc::multiaddr_invalid_value);
  expect_parse_error("/component/4294967296", errc::multiaddr_invalid_value);
  expect_vector("/tcp/0", "060000");
  expect_vector("/tcp/65535", "06ffff");
  expect_vector("/udp/65535", "9102ffff");
  expect_vector("/site/18446744073709551615", "e201ffffffffffffffff");
  expect_vector("/component/4294967295", "e301ffffffff");
  expect_vector("/component/0", "e30100000000");
}

TEST(Multiaddr, P2pErrorsComeFromPeerId) {
  expect_parse_error("/p2p/notbase58!", errc::peer_id_invalid_multibase);
  expect_parse_error("/p2p/Qm0OIl", errc::base58_invalid_character);
  expect_parse_error("/p2p/1", errc::multihash_truncated);  // one zero byte
}

TEST(Multiaddr, NamesAreChecked) {
  expect_parse_error("/op/\xff", errc::multiaddr_invalid_value);
  expect_parse_error("/op/\xc0\xaf", errc::multiaddr_invalid_value);      // overlong '/'
  expect_parse_error("/op/\xed\xa0\x80", errc::multiaddr_invalid_value);  // surrogate
  expect_parse_error("/dns/a\tb", errc::multiaddr_invalid_value);
  expect_parse_error("/dns4/a\x7f", errc::multiaddr_invalid_value);
  expect_parse_error("/dns/" + std::string(256, 'a'), errc::multiaddr_invalid_value);
  expect_parse_error("/op/" + std::string(256, 'a'), errc::multiaddr_invalid_value);
  EXPECT_EQ(ma("/dns/" + std::string(255, 'a')).bytes().size(), 1u + 2u + 255u);
  EXPECT_EQ(ma("/op/" + std::string(255, 'a')).bytes().size(), 2u + 2u + 255u);
  expect_vector("/op/caf\xc3\xa9", "e40105636166c3a9");
}

TEST(Multiaddr, Ip6UsesCanonicalText) {
  expect_vector("/ip6/::1", "2900000000000000000000000000000001");
  expect_vector("/ip6/::", "2900000000000000000000000000000000");
  expect_vector("/ip6/2001:db8:85a3:8d3:1319:8a2e:370:7348/tcp/443",
                "2920010db885a308d313198a2e03707348"
                "0601bb");
  // RFC 5952: lowercase, leading zeros dropped, longest zero run compressed.
  EXPECT_EQ(ma("/ip6/2001:0DB8:0000:0000:0000:0000:0000:0001").to_string(), "/ip6/2001:db8::1");
  expect_parse_error("/ip6/1.2.3.4", errc::multiaddr_invalid_value);
  expect_parse_error("/ip6/fe80::1%eth0", errc::multiaddr_invalid_value);
  expect_parse_error("/ip6/::1::2", errc::multiaddr_invalid_value);
  expect_parse_error("/ip6/" + std::string(std::string_view("::1\0"
                                                            "1",
                                                            5)),
                     errc::multiaddr_invalid_value);
  expect_parse_error("/ip6/" + std::string(60, '0'), errc::multiaddr_invalid_value);
}

TEST(Multiaddr, DnsRoundTrips) {
  expect_vector("/dns/a", "350161");
  expect_vector("/dns/example.com/tcp/443", "350b6578616d706c652e636f6d0601bb");
  expect_vector("/dns4/localhost/udp/53", "36096c6f63616c686f737491020035");
  expect_vector("/dns6/ipv6.example/tcp/1", "370c697076362e6578616d706c65060001");
}

TEST(Multiaddr, P2pAcceptsCidAndIpfsButPrintsBase58) {
  const Multiaddr from_b58 = ma("/p2p/" + kEd25519Peer);
  EXPECT_EQ(ma("/p2p/" + kEd25519PeerCid), from_b58);
  EXPECT_EQ(ma("/ipfs/" + kEd25519Peer), from_b58);
  EXPECT_EQ(ma("/p2p/" + kEd25519PeerCid).to_string(), "/p2p/" + kEd25519Peer);

  const Multiaddr sha = ma("/p2p/" + kSha256PeerCid);
  EXPECT_EQ(to_hex(sha.bytes()),
            "a503"
            "22"
            "12209dff3b17d74cf4d38a50d8b6383e92d181a10395a5e73a726dcccbd21bf6f0b9");
  EXPECT_EQ(sha.to_string(), "/p2p/" + kSha256Peer);
  EXPECT_EQ(ma("/ipfs/" + kSha256Peer), sha);
}

// Multihashes other than identity and sha2-256 print in base58 when that reads back.
TEST(Multiaddr, OtherMultihashCodesRoundTrip) {
  const PeerId sha1 = PeerId::from_bytes(hex("1103abcdef")).value();
  const Multiaddr m = Multiaddr::from_peer_id(sha1);
  EXPECT_EQ(m.to_string(), "/p2p/" + sha1.to_base58());
  EXPECT_EQ(ma(m.to_string()), m);
  EXPECT_EQ(Multiaddr::from_bytes(m.bytes()).value(), m);
}

// This multihash (code 1, 29 bytes) has the base58 form "zHoDp…", which PeerId::parse reads
// as a 'z' CID of a different id, so the address prints the CID form instead.
TEST(Multiaddr, AmbiguousBase58PeerIdPrintsAsCid) {
  const PeerId odd =
      PeerId::from_bytes(hex("011dea2cbbfa3171cd78e887a7b5fd1bcc3b3f1eed10c245a0590000000000"))
          .value();
  ASSERT_EQ(odd.to_base58(), "zHoDpGM2rVwHt8xPcUUgaxag5XocpqTnTQBgh2vGX");
  ASSERT_NE(PeerId::parse(odd.to_base58()).value(), odd);
  const Multiaddr m = Multiaddr::from_peer_id(odd);
  EXPECT_EQ(m.to_string(), "/p2p/" + odd.to_cid());
  EXPECT_EQ(ma(m.to_string()), m);
  EXPECT_EQ(Multiaddr::from_bytes(m.bytes()).value(), m);
}

TEST(Multiaddr, BinaryErrors) {
  expect_bytes_error("047f0000", errc::multiaddr_truncated);       // ip4 short by one
  expect_bytes_error("0601", errc::multiaddr_truncated);           // tcp short by one
  expect_bytes_error("047f000001a5", errc::multiaddr_truncated);   // code cut mid-varint
  expect_bytes_error("3580", errc::multiaddr_truncated);           // length cut mid-varint
  expect_bytes_error("35", errc::multiaddr_truncated);             // length missing
  expect_bytes_error("350561", errc::multiaddr_truncated);         // length past the end
  expect_bytes_error("3fffffffff", errc::multiaddr_unknown_code);  // 63: unassigned
  expect_bytes_error("cd03", errc::multiaddr_unknown_code);        // quic-v1: not ours
  expect_bytes_error("84007f000001", errc::varint_non_minimal);    // ip4 as 84 00
  expect_bytes_error("e4018100", errc::varint_non_minimal);        // length as 81 00
  expect_bytes_error("ffffffffffffffffff01", errc::varint_too_long);
  expect_bytes_error("a50303120500", errc::multihash_truncated);  // p2p, short digest
  expect_bytes_error("a503020002", errc::multihash_truncated);
  expect_bytes_error("a5030400010203", errc::multihash_trailing_bytes);
  expect_bytes_error("a50300", errc::peer_id_empty);
  expect_bytes_error("e40101ff", errc::multiaddr_invalid_value);  // op, not UTF-8
  expect_bytes_error("e401022fff", errc::multiaddr_invalid_value);
  expect_bytes_error("e401012f", errc::multiaddr_invalid_value);  // op "/"
  expect_bytes_error("e40100", errc::multiaddr_invalid_value);    // op ""
  expect_bytes_error("35020a0d", errc::multiaddr_invalid_value);  // dns "\n\r"
  expect_bytes_error("3600", errc::multiaddr_invalid_value);      // dns4 ""
}

TEST(Multiaddr, SizeLimits) {
  Bytes big;
  for (int i = 0; i < 204; ++i) big.insert(big.end(), {0x04, 0xff, 0xff, 0xff, 0xff});
  big.insert(big.end(), {0x91, 0x02, 0xff, 0xff});
  ASSERT_EQ(big.size(), Multiaddr::kMaxBytes);
  auto largest = Multiaddr::from_bytes(big);
  ASSERT_TRUE(largest);
  // About the widest text any valid binary form can have: it must still parse.
  const std::string text = largest->to_string();
  EXPECT_EQ(text.size(), 204u * 20u + 10u);
  EXPECT_LE(text.size(), Multiaddr::kMaxStringChars);
  EXPECT_EQ(ma(text), *largest);

  big.push_back(0x00);
  EXPECT_EQ(Multiaddr::from_bytes(big).error(), make_error_code(errc::multiaddr_too_long));

  std::string ip6s;
  for (int i = 0; i < 60; ++i) ip6s += "/ip6/::";
  EXPECT_EQ(ma(ip6s).bytes().size(), 60u * 17u);
  expect_parse_error(ip6s + "/ip6/::", errc::multiaddr_too_long);

  // The text limit is checked before anything else, even trailing-slash trimming.
  expect_parse_error("/ip4/1.2.3.4" + std::string(Multiaddr::kMaxStringChars, '/'),
                     errc::multiaddr_too_long);
}

TEST(Multiaddr, EmptyAddress) {
  const Multiaddr empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_TRUE(empty.bytes().empty());
  EXPECT_EQ(empty.to_string(), "");
  EXPECT_TRUE(empty.components().empty());
  EXPECT_EQ(Multiaddr::from_bytes({}).value(), empty);
  EXPECT_FALSE(empty.peer_id());
  EXPECT_FALSE(ma("/ip4/1.2.3.4").empty());
}

TEST(Multiaddr, ComponentsViewTheBytes) {
  const Multiaddr m = ma("/ip4/127.0.0.1/tcp/4001/p2p/" + kEd25519Peer + "/op/FindNode");
  const auto parts = m.components();
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].code, protocol::ip4);
  EXPECT_EQ(parts[0].name, "ip4");
  EXPECT_EQ(to_hex(parts[0].value), "7f000001");
  EXPECT_EQ(parts[1].code, protocol::tcp);
  EXPECT_EQ(parts[1].name, "tcp");
  EXPECT_EQ(to_hex(parts[1].value), "0fa1");
  EXPECT_EQ(parts[2].code, protocol::p2p);
  EXPECT_EQ(parts[2].name, "p2p");
  EXPECT_EQ(to_hex(parts[2].value),
            "0024080112202ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613ea859c37eb1336b");
  EXPECT_EQ(parts[3].code, protocol::op);
  EXPECT_EQ(as_chars(parts[3].value), "FindNode");
  EXPECT_EQ(parts[3].value.data() + parts[3].value.size(), m.bytes().data() + m.bytes().size());
}

TEST(Multiaddr, EncapsulateAndDecapsulate) {
  const Multiaddr base = ma("/ip4/127.0.0.1/tcp/4001");
  const Multiaddr peer = ma("/p2p/" + kEd25519Peer);
  const Multiaddr full = base.encapsulate(peer);
  EXPECT_EQ(full.to_string(), "/ip4/127.0.0.1/tcp/4001/p2p/" + kEd25519Peer);
  EXPECT_EQ(full.decapsulate(peer), base);
  EXPECT_EQ(full.decapsulate(ma("/tcp/4001")), ma("/ip4/127.0.0.1"));
  EXPECT_EQ(full.decapsulate(full), Multiaddr());
  EXPECT_EQ(full.decapsulate(ma("/udp/4001")), full);  // missing: unchanged
  EXPECT_EQ(full.decapsulate(ma("/tcp/4002")), full);
  EXPECT_EQ(full.decapsulate(Multiaddr()), full);
  EXPECT_EQ(base.decapsulate(full), base);  // longer than the address
  EXPECT_EQ(full.decapsulate_code(protocol::p2p), base);
  EXPECT_EQ(full.decapsulate_code(protocol::ip4), Multiaddr());
  EXPECT_EQ(full.decapsulate_code(protocol::udp), full);
  EXPECT_EQ(Multiaddr().encapsulate(peer), peer);
}

TEST(Multiaddr, DecapsulateTakesTheLastOccurrence) {
  const Multiaddr m = ma("/ip4/1.2.3.4/tcp/1/ip4/1.2.3.4/tcp/2");
  EXPECT_EQ(m.decapsulate(ma("/ip4/1.2.3.4")), ma("/ip4/1.2.3.4/tcp/1"));
  EXPECT_EQ(m.decapsulate_code(protocol::tcp), ma("/ip4/1.2.3.4/tcp/1/ip4/1.2.3.4"));
}

TEST(Multiaddr, DecapsulateDoesNotMatchInsideAComponent) {
  // site 0x060001 is stored as 0000000000060001: its tail is the bytes of /tcp/1.
  const Multiaddr m = ma("/site/393217");
  const Multiaddr tcp1 = ma("/tcp/1");
  ASSERT_EQ(to_hex(tcp1.bytes()), "060001");
  ASSERT_TRUE(to_hex(m.bytes()).ends_with("060001"));
  EXPECT_EQ(m.decapsulate(tcp1), m);
  EXPECT_EQ(m.encapsulate(tcp1).decapsulate(tcp1), m);
}

TEST(Multiaddr, Accessors) {
  const PeerId peer = PeerId::parse(kEd25519Peer).value();
  const Multiaddr m = ma("/ip4/10.0.0.1/tcp/4001/p2p/" + kEd25519Peer +
                         "/site/17/component/7/op/FindNode/site/18/tcp/5/op/Other/p2p/" +
                         PeerId::from_u64(9).to_base58());
  EXPECT_EQ(m.peer_id(), peer);
  EXPECT_EQ(m.site_id(), 17u);
  EXPECT_EQ(m.component_ref(), 7u);
  EXPECT_EQ(m.op_name(), "FindNode");
  EXPECT_EQ(m.tcp_port(), 4001u);

  const Multiaddr bare = ma("/ip4/10.0.0.1/udp/4001");
  EXPECT_EQ(bare.peer_id(), std::nullopt);
  EXPECT_EQ(bare.site_id(), std::nullopt);
  EXPECT_EQ(bare.component_ref(), std::nullopt);
  EXPECT_EQ(bare.op_name(), std::nullopt);
  EXPECT_EQ(bare.tcp_port(), std::nullopt);

  EXPECT_EQ(ma("/site/18446744073709551615").site_id(), 18446744073709551615u);
  EXPECT_EQ(ma("/component/4294967295").component_ref(), 4294967295u);
  EXPECT_EQ(ma("/tcp/65535").tcp_port(), 65535u);
}

TEST(Multiaddr, FromAndWithPeerId) {
  const PeerId one = PeerId::from_u64(1);
  const PeerId two = PeerId::from_u64(2);
  EXPECT_EQ(to_hex(Multiaddr::from_peer_id(one).bytes()), "a5030a00080000000000000001");
  EXPECT_EQ(Multiaddr::from_peer_id(one).to_string(), "/p2p/16uZAbWC1AJvL");
  EXPECT_EQ(Multiaddr::from_peer_id(one).peer_id(), one);

  const Multiaddr base = ma("/ip4/1.2.3.4/tcp/1");
  const Multiaddr with = base.with_peer_id(one);
  EXPECT_EQ(with.to_string(), "/ip4/1.2.3.4/tcp/1/p2p/16uZAbWC1AJvL");
  EXPECT_EQ(with.with_peer_id(one), with);  // already ends in it
  EXPECT_EQ(with.with_peer_id(two).to_string(),
            "/ip4/1.2.3.4/tcp/1/p2p/16uZAbWC1AJvL/p2p/16uZAbWC1AJvM");
  EXPECT_EQ(Multiaddr().with_peer_id(one), Multiaddr::from_peer_id(one));

  // The ip6 value's last 13 bytes equal /p2p/<one>, but not on a component boundary.
  const Multiaddr ip6 = ma("/ip6/0:a5:30a:8::1");
  ASSERT_TRUE(to_hex(ip6.bytes()).ends_with("a5030a00080000000000000001"));
  EXPECT_EQ(ip6.with_peer_id(one), ip6.encapsulate(Multiaddr::from_peer_id(one)));
}

TEST(Multiaddr, OrderingAndHashFollowBytes) {
  const Multiaddr a = ma("/ip4/1.2.3.4");
  const Multiaddr b = ma("/ip4/1.2.3.5");
  const Multiaddr c = ma("/tcp/1");  // code 06 sorts after 04
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(Multiaddr(), a);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, ma("/ip4/1.2.3.4/"));
  std::unordered_set<Multiaddr> set{a, b, ma("/ip4/1.2.3.4")};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(std::hash<Multiaddr>{}(a), std::hash<Multiaddr>{}(ma("/ip4/1.2.3.4")));
}

}  // namespace
}  // namespace bb::wire

#include "bb/wire/base32.hpp"
#include "bb/wire/base58.hpp"
#include "bb/wire/bytes.hpp"
#include "bb/wire/multihash.hpp"
#include "bb/wire/varint.hpp"

#include <gtest/gtest.h>

namespace bb::wire {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

std::string encode_hex(std::uint64_t v) {
  Bytes b;
  append_varint(b, v);
  return to_hex(b);
}

// multiformats/unsigned-varint README vectors, plus codes used by multiaddr.
TEST(Varint, EncodesSpecVectors) {
  EXPECT_EQ(encode_hex(1), "01");
  EXPECT_EQ(encode_hex(127), "7f");
  EXPECT_EQ(encode_hex(128), "8001");
  EXPECT_EQ(encode_hex(255), "ff01");
  EXPECT_EQ(encode_hex(300), "ac02");
  EXPECT_EQ(encode_hex(16384), "808001");
  EXPECT_EQ(encode_hex(421), "a503");
  EXPECT_EQ(encode_hex(273), "9102");
  EXPECT_EQ(encode_hex(kMaxVarintValue), "ffffffffffffffff7f");
  EXPECT_EQ(varint_size(kMaxVarintValue), 9u);
}

TEST(Varint, RoundTripsBoundaries) {
  for (std::uint64_t v :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{127}, std::uint64_t{128},
        std::uint64_t{16383}, std::uint64_t{16384}, std::uint64_t{0xffffffff}, kMaxVarintValue}) {
    Bytes b;
    append_varint(b, v);
    auto d = decode_varint(b);
    ASSERT_TRUE(d) << v;
    EXPECT_EQ(d->value, v);
    EXPECT_EQ(d->size, b.size());
    EXPECT_EQ(d->size, varint_size(v));
  }
}

TEST(Varint, RejectsNonMinimal) {
  EXPECT_EQ(decode_varint(hex("8100")).error(), errc::varint_non_minimal);
  EXPECT_EQ(decode_varint(hex("808000")).error(), errc::varint_non_minimal);
  EXPECT_EQ(decode_varint(hex("ff00")).error(), errc::varint_non_minimal);
}

TEST(Varint, TruncatedMeansNeedMore) {
  EXPECT_EQ(decode_varint({}).error(), errc::varint_truncated);
  EXPECT_EQ(decode_varint(hex("80")).error(), errc::varint_truncated);
  EXPECT_EQ(decode_varint(hex("ffffffff")).error(), errc::varint_truncated);
}

TEST(Varint, RejectsMoreThanNineBytes) {
  EXPECT_EQ(decode_varint(hex("ffffffffffffffffff01")).error(), errc::varint_too_long);
  EXPECT_EQ(decode_varint(hex("ffffffffffffffffff")).error(), errc::varint_too_long);
  EXPECT_EQ(decode_varint(hex("ffffffffffffffff80")).error(), errc::varint_too_long);
}

TEST(Varint, StopsAtFirstTerminator) {
  auto d = decode_varint(hex("ac02ff"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->value, 300u);
  EXPECT_EQ(d->size, 2u);
}

TEST(Hex, RoundTripsAndRejects) {
  EXPECT_EQ(to_hex(hex("0x00ABff")), "00abff");
  EXPECT_EQ(from_hex("abc").error(), errc::hex_invalid);
  EXPECT_EQ(from_hex("zz").error(), errc::hex_invalid);
}

TEST(Base58, EncodesMultihashVector) {
  // multiformats/multihash README: sha2-256("multihash").
  EXPECT_EQ(
      base58_encode(hex("12209cbc07c3f991725836a3aa2a581ca2029198aa420b9d99bc0e131d9f3e2cbe47")),
      "QmYtUc4iTCbbfVSDNKvtQqrfyezPPnFvE33wFmutw9PBBk");
}

TEST(Base58, KeepsLeadingZeros) {
  EXPECT_EQ(base58_encode(hex("0000")), "11");
  EXPECT_EQ(base58_decode("11").value(), hex("0000"));
  EXPECT_EQ(base58_encode({}), "");
  EXPECT_TRUE(base58_decode("").value().empty());
  EXPECT_EQ(base58_encode(hex("00080000000000000001")), "16uZAbWC1AJvL");
}

TEST(Base58, RoundTripsAllByteValues) {
  Bytes all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(255 - i));
  for (std::size_t n = 0; n < 100; n += 7) {
    Bytes b(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(base58_decode(base58_encode(b)).value(), b) << n;
  }
}

TEST(Base58, RejectsOutsideAlphabet) {
  EXPECT_EQ(base58_decode("0OIl").error(), errc::base58_invalid_character);
  EXPECT_EQ(base58_decode("Qm!").error(), errc::base58_invalid_character);
  EXPECT_EQ(base58_decode(std::string(kMaxBase58Chars + 1, 'z')).error(), errc::text_too_long);
}

TEST(Base32, RoundTripsAndMatchesRfc4648) {
  // RFC 4648 §10 test vectors, lowercased and unpadded.
  EXPECT_EQ(base32_encode(as_bytes("foobar")), "mzxw6ytboi");
  EXPECT_EQ(base32_encode(as_bytes("f")), "my");
  EXPECT_EQ(base32_encode(as_bytes("fo")), "mzxq");
  EXPECT_EQ(base32_encode(as_bytes("foo")), "mzxw6");
  EXPECT_EQ(base32_encode(as_bytes("foob")), "mzxw6yq");
  EXPECT_EQ(base32_encode(as_bytes("fooba")), "mzxw6ytb");
  for (std::string_view s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(to_string(base32_decode(base32_encode(as_bytes(s))).value()), s);
  }
}

TEST(Base32, RejectsBadText) {
  EXPECT_EQ(base32_decode("MZXW6").error(), errc::base32_invalid_character);
  EXPECT_EQ(base32_decode("mzxw6===").error(), errc::base32_invalid_character);
  EXPECT_EQ(base32_decode("m").error(), errc::base32_invalid_length);
  EXPECT_EQ(base32_decode("mzx").error(), errc::base32_invalid_length);
  EXPECT_EQ(base32_decode("mz").error(), errc::base32_invalid_character);  // non-zero tail bits
}

TEST(Multihash, Sha256Vector) {
  auto mh = Multihash::sha2_256(as_bytes("multihash"));
  EXPECT_EQ(to_hex(mh.bytes()),
            "12209cbc07c3f991725836a3aa2a581ca2029198aa420b9d99bc0e131d9f3e2cbe47");
  EXPECT_EQ(mh.code(), multicodec::sha2_256);
  EXPECT_EQ(mh.digest().size(), 32u);
}

TEST(Multihash, ParsesOtherCodesSuchAsSha1) {
  auto mh = Multihash::from_bytes(hex("111488c2f11fb2ce392acb5b2986e640211c4690073e"));
  ASSERT_TRUE(mh);
  EXPECT_EQ(mh->code(), 0x11u);
  EXPECT_EQ(to_hex(mh->digest()), "88c2f11fb2ce392acb5b2986e640211c4690073e");
}

TEST(Multihash, RoundTripsIdentity) {
  auto mh = Multihash::identity(hex("0102")).value();
  EXPECT_EQ(to_hex(mh.bytes()), "00020102");
  EXPECT_EQ(Multihash::from_bytes(mh.bytes()).value(), mh);
}

TEST(Multihash, RejectsMalformed) {
  EXPECT_EQ(Multihash::from_bytes({}).error(), errc::multihash_truncated);
  EXPECT_EQ(Multihash::from_bytes(hex("12")).error(), errc::multihash_truncated);
  EXPECT_EQ(Multihash::from_bytes(hex("120201")).error(), errc::multihash_truncated);
  EXPECT_EQ(Multihash::from_bytes(hex("12010102")).error(), errc::multihash_trailing_bytes);
  EXPECT_EQ(Multihash::from_bytes(hex("0041")).error(), errc::multihash_digest_too_long);
  EXPECT_EQ(Multihash::from_bytes(hex("810000")).error(), errc::varint_non_minimal);
  EXPECT_EQ(Multihash::identity(Bytes(65, 1)).error(), errc::multihash_digest_too_long);
}

TEST(Multihash, OrdersByBytes) {
  auto a = Multihash::identity(hex("01")).value();
  auto b = Multihash::identity(hex("02")).value();
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace bb::wire

#include "bb/wire/peer_id.hpp"

#include <gtest/gtest.h>

#include <unordered_set>

namespace bb::wire {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

TEST(PeerId, FromEd25519PublicKeyIsIdentityMultihash) {
  auto id = PeerId::from_public_key_bytes(
      hex("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"));
  EXPECT_EQ(id.multihash().code(), multicodec::identity);
  EXPECT_EQ(id.to_base58(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
  EXPECT_EQ(id.to_cid(), "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
  EXPECT_EQ(to_hex(id.inlined_public_key()),
            "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
}

TEST(PeerId, Secp256k1KeyOf37BytesIsIdentity) {
  auto id = PeerId::from_public_key_bytes(
      hex("08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"));
  EXPECT_EQ(id.to_base58(), "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY");
}

TEST(PeerId, EcdsaKeyOver42BytesIsSha256) {
  auto id = PeerId::from_public_key_bytes(hex(
      "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83ab"
      "ab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c"
      "409e62"));
  EXPECT_EQ(id.multihash().code(), multicodec::sha2_256);
  EXPECT_EQ(id.to_base58(), "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk");
  EXPECT_TRUE(id.inlined_public_key().empty());
}

TEST(PeerId, ParsesSpecStringForms) {
  // peer-ids spec §Decoding: the CID and the base58 form are the same sha256 peer ID.
  auto cid = PeerId::parse("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");
  auto b58 = PeerId::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
  ASSERT_TRUE(cid) << cid.error().message();
  ASSERT_TRUE(b58);
  EXPECT_EQ(*cid, *b58);
  EXPECT_EQ(to_hex(b58->bytes()),
            "12209dff3b17d74cf4d38a50d8b6383e92d181a10395a5e73a726dcccbd21bf6f0b9");

  auto ed = PeerId::parse("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
  ASSERT_TRUE(ed);
  EXPECT_EQ(to_hex(ed->bytes()),
            "0024080112202ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613ea859c37eb1336b");
  EXPECT_EQ(ed->to_cid(), "bafzaajaiaejcal72gwuz2or47oyxxn6b3rkwdmmkrxgkjxzy3rqt5kczyn7lcm3l");
  EXPECT_EQ(PeerId::parse(ed->to_cid()).value(), *ed);
}

TEST(PeerId, RoundTripsTextAndBytes) {
  for (std::uint64_t n : {0ull, 1ull, 42ull, 0xffffffffffffffffull}) {
    auto id = PeerId::from_u64(n);
    EXPECT_EQ(PeerId::from_bytes(id.bytes()).value(), id);
    EXPECT_EQ(PeerId::parse(id.to_base58()).value(), id);
    EXPECT_EQ(PeerId::parse(id.to_cid()).value(), id);
    EXPECT_EQ(id.as_u64(), n);
  }
}

TEST(PeerId, FromU64MatchesTheRustOriginal) {
  EXPECT_EQ(to_hex(PeerId::from_u64(1).bytes()), "00080000000000000001");
  EXPECT_EQ(PeerId::from_u64(1).to_base58(), "16uZAbWC1AJvL");
  EXPECT_EQ(PeerId::from_u64(2).to_base58(), "16uZAbWC1AJvM");
  EXPECT_EQ(PeerId::from_u64(42).to_base58(), "16uZAbWC1AJw3");
  auto sha = PeerId::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").value();
  EXPECT_FALSE(sha.as_u64());
}

TEST(PeerId, RejectsBadText) {
  EXPECT_EQ(PeerId::parse("").error(), errc::peer_id_empty);
  EXPECT_EQ(PeerId::parse("12D3KooW0OIl").error(), errc::base58_invalid_character);
  EXPECT_EQ(PeerId::parse("xabc").error(), errc::peer_id_invalid_multibase);
  EXPECT_EQ(PeerId::parse("bAFZB").error(), errc::base32_invalid_character);
  // A CIDv1 with the dag-pb codec (0x70) is not a PeerId.
  EXPECT_EQ(PeerId::parse("bafybeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe").error(),
            errc::peer_id_invalid_cid);
  EXPECT_EQ(PeerId::parse("1").error(), errc::multihash_truncated);
  EXPECT_FALSE(PeerId::parse(std::string(300, '1')));
}

TEST(PeerId, RejectsBadBytes) {
  EXPECT_EQ(PeerId::from_bytes({}).error(), errc::peer_id_empty);
  EXPECT_EQ(PeerId::from_bytes(hex("0008")).error(), errc::multihash_truncated);
  EXPECT_EQ(PeerId::from_bytes(hex("00010102")).error(), errc::multihash_trailing_bytes);
}

TEST(PeerId, OrderingAndHashingFollowTheMultihash) {
  auto a = PeerId::from_u64(1);
  auto b = PeerId::from_u64(2);
  EXPECT_LT(a, b);
  EXPECT_EQ(a, PeerId::from_u64(1));
  EXPECT_EQ(std::hash<PeerId>{}(a), std::hash<PeerId>{}(PeerId::from_u64(1)));
  std::unordered_set<PeerId> set;
  for (std::uint64_t i = 0; i < 1000; ++i) set.insert(PeerId::from_u64(i));
  EXPECT_EQ(set.size(), 1000u);
  EXPECT_TRUE(set.contains(PeerId::from_u64(999)));
}

}  // namespace
}  // namespace bb::wire

#include "bb/wire/keys.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>

namespace bb::wire {
namespace {

// libp2p/specs peer-ids test vectors.
constexpr std::string_view kEd25519Private =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be"
    "8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr std::string_view kEd25519Public =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr std::string_view kSecp256k1Public =
    "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99";

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bb-keys-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(Keys, SpecPrivateKeyDerivesSpecPublicKeyAndPeerId) {
  auto pair = Ed25519KeyPair::from_protobuf(hex(kEd25519Private));
  ASSERT_TRUE(pair) << pair.error().message();
  EXPECT_EQ(to_hex(pair->public_key().to_protobuf()), kEd25519Public);
  EXPECT_EQ(to_hex(pair->to_protobuf()), kEd25519Private);
  EXPECT_EQ(pair->peer_id().to_base58(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
  EXPECT_EQ(to_hex(pair->peer_id().bytes()),
            "0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
}

TEST(Keys, PublicKeyProtobufRoundTrip) {
  auto pub = Ed25519PublicKey::from_protobuf(hex(kEd25519Public));
  ASSERT_TRUE(pub);
  EXPECT_EQ(to_hex(pub->to_protobuf()), kEd25519Public);
  EXPECT_EQ(to_hex(pub->raw()), "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
}

TEST(Keys, SignAndVerify) {
  auto pair = Ed25519KeyPair::generate();
  const auto msg = as_bytes("noise-libp2p-static-key:abc");
  const auto sig = pair.sign(msg);
  EXPECT_TRUE(pair.public_key().verify(msg, sig));
  auto tampered = sig;
  tampered[10] ^= 1;
  EXPECT_FALSE(pair.public_key().verify(msg, tampered));
  EXPECT_FALSE(pair.public_key().verify(as_bytes("other"), sig));
  EXPECT_FALSE(pair.public_key().verify(msg, ByteView(sig).first(63)));
  EXPECT_FALSE(Ed25519KeyPair::generate().public_key().verify(msg, sig));
}

TEST(Keys, FromSeedIsDeterministic) {
  const Bytes seed(32, 7);
  auto a = Ed25519KeyPair::from_seed(seed).value();
  auto b = Ed25519KeyPair::from_seed(seed).value();
  EXPECT_EQ(a.public_key(), b.public_key());
  EXPECT_EQ(a.sign(as_bytes("x")), b.sign(as_bytes("x")));
  EXPECT_EQ(Ed25519KeyPair::from_seed(Bytes(31, 7)).error(), errc::key_wrong_length);
}

TEST(Keys, AcceptsLegacy96ByteFormWhenHalvesAgree) {
  Bytes legacy = hex(kEd25519Private);
  legacy[3] = 96;  // data length
  const Bytes pub(legacy.end() - 32, legacy.end());
  legacy.insert(legacy.end(), pub.begin(), pub.end());
  auto pair = Ed25519KeyPair::from_protobuf(legacy);
  ASSERT_TRUE(pair) << pair.error().message();
  EXPECT_EQ(pair->peer_id().to_base58(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");

  legacy.back() ^= 1;
  EXPECT_EQ(Ed25519KeyPair::from_protobuf(legacy).error(), errc::key_halves_disagree);
}

TEST(Keys, RejectsCorruptPrivateKeys) {
  Bytes wrong_pub = hex(kEd25519Private);
  wrong_pub.back() ^= 1;
  EXPECT_EQ(Ed25519KeyPair::from_protobuf(wrong_pub).error(), errc::key_halves_disagree);

  Bytes short_data = hex("0801121f");
  short_data.resize(4 + 31, 1);
  EXPECT_EQ(Ed25519KeyPair::from_protobuf(short_data).error(), errc::key_wrong_length);

  EXPECT_EQ(Ed25519KeyPair::from_protobuf(hex("0801")).error(), errc::key_malformed);
  EXPECT_EQ(Ed25519KeyPair::from_protobuf({}).error(), errc::key_malformed);
  EXPECT_EQ(Ed25519KeyPair::from_protobuf(hex("ffffffff")).error(), errc::key_malformed);
}

TEST(Keys, RejectsOtherKeyTypes) {
  EXPECT_EQ(Ed25519PublicKey::from_protobuf(hex(kSecp256k1Public)).error(),
            errc::key_unsupported_type);
  EXPECT_EQ(Ed25519PublicKey::from_raw(Bytes(33, 0)).error(), errc::key_wrong_length);
}

TEST(Keys, KeyFileIsWrittenWithMode0600AndReadBack) {
  TempDir dir;
  const auto path = dir.path() / "node.key";
  auto pair = Ed25519KeyPair::generate();
  ASSERT_TRUE(write_key_file(path, pair));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::filesystem::file_size(path), 68u);
  auto back = read_key_file(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->peer_id(), pair.peer_id());
}

TEST(Keys, KeyFileIsNotReplacedUnlessAsked) {
  TempDir dir;
  const auto path = dir.path() / "node.key";
  auto first = Ed25519KeyPair::generate();
  auto second = Ed25519KeyPair::generate();
  ASSERT_TRUE(write_key_file(path, first));
  auto again = write_key_file(path, second);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), boost::system::errc::file_exists);
  EXPECT_EQ(read_key_file(path)->peer_id(), first.peer_id());
  ASSERT_TRUE(write_key_file(path, second, /*overwrite=*/true));
  EXPECT_EQ(read_key_file(path)->peer_id(), second.peer_id());
}

TEST(Keys, ReadingAMissingOrBogusFileFails) {
  TempDir dir;
  EXPECT_EQ(read_key_file(dir.path() / "absent").error(),
            boost::system::errc::no_such_file_or_directory);
  const auto bogus = dir.path() / "bogus";
  std::ofstream(bogus) << "not a key";
  EXPECT_FALSE(read_key_file(bogus));
  const auto huge = dir.path() / "huge";
  std::ofstream(huge) << std::string(10000, 'x');
  EXPECT_EQ(read_key_file(huge).error(), errc::key_malformed);
}

}  // namespace
}  // namespace bb::wire

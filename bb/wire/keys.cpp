#include "bb/wire/keys.hpp"

#include "bb/proto/libp2p.pb.h"

#include <sodium.h>
#include <boost/system/system_error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>

namespace bb::wire {
namespace {

// A private key file is 68 bytes; anything much larger is not a key.
constexpr std::size_t kMaxKeyFileBytes = 4096;

template <class KeyMessage>
result<std::string> parse_key_data(ByteView encoded) {
  KeyMessage msg;
  if (!msg.ParseFromArray(encoded.data(), static_cast<int>(encoded.size()))) {
    return errc::key_malformed;
  }
  if (msg.type() != libp2p::Ed25519) return errc::key_unsupported_type;
  return std::move(*msg.mutable_data());
}

}  // namespace

void ensure_sodium() {
  static const int status = sodium_init();
  if (status < 0) throw boost::system::system_error(make_error_code(errc::crypto_failure));
}

result<Ed25519PublicKey> Ed25519PublicKey::from_raw(ByteView raw) {
  if (raw.size() != kSize) return errc::key_wrong_length;
  Ed25519PublicKey key;
  std::copy(raw.begin(), raw.end(), key.key_.begin());
  return key;
}

result<Ed25519PublicKey> Ed25519PublicKey::from_protobuf(ByteView encoded) {
  auto data = parse_key_data<libp2p::PublicKey>(encoded);
  if (!data) return data.error();
  return from_raw(as_bytes(*data));
}

bool Ed25519PublicKey::verify(ByteView message, ByteView signature) const noexcept {
  ensure_sodium();
  if (signature.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     key_.data()) == 0;
}

Bytes Ed25519PublicKey::to_protobuf() const {
  // Hand-written so the encoding is canonical regardless of the protobuf library's choices:
  // field 1 varint Ed25519, field 2 length-delimited key.
  Bytes out{0x08, 0x01, 0x12, static_cast<std::uint8_t>(kSize)};
  out.insert(out.end(), key_.begin(), key_.end());
  return out;
}

PeerId Ed25519PublicKey::peer_id() const {
  return PeerId::from_public_key_bytes(to_protobuf());
}

Ed25519KeyPair::~Ed25519KeyPair() {
  sodium_memzero(secret_.data(), secret_.size());
}

Ed25519KeyPair Ed25519KeyPair::generate() {
  ensure_sodium();
  std::array<std::uint8_t, kSeedSize> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto pair = from_seed(seed).value();
  sodium_memzero(seed.data(), seed.size());
  return pair;
}

result<Ed25519KeyPair> Ed25519KeyPair::from_seed(ByteView seed) {
  ensure_sodium();
  if (seed.size() != kSeedSize) return errc::key_wrong_length;
  Ed25519KeyPair pair;
  std::array<std::uint8_t, Ed25519PublicKey::kSize> pk{};
  crypto_sign_seed_keypair(pk.data(), pair.secret_.data(), seed.data());
  pair.public_ = Ed25519PublicKey::from_raw(pk).value();
  return pair;
}

result<Ed25519KeyPair> Ed25519KeyPair::from_protobuf(ByteView encoded) {
  auto data = parse_key_data<libp2p::PrivateKey>(encoded);
  if (!data) return data.error();
  const ByteView raw = as_bytes(*data);
  if (raw.size() != 64 && raw.size() != 96) return errc::key_wrong_length;
  if (raw.size() == 96 && !std::equal(raw.begin() + 32, raw.begin() + 64, raw.begin() + 64)) {
    return errc::key_halves_disagree;
  }
  auto pair = from_seed(raw.first(kSeedSize));
  if (!pair) return pair.error();
  // The stored public half must be the one the seed derives; anything else is a corrupt key.
  if (!std::equal(raw.begin() + 32, raw.begin() + 64, pair->public_.raw().begin())) {
    return errc::key_halves_disagree;
  }
  return pair;
}

Signature Ed25519KeyPair::sign(ByteView message) const noexcept {
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

Bytes Ed25519KeyPair::to_protobuf() const {
  Bytes out{0x08, 0x01, 0x12, 0x40};
  out.insert(out.end(), secret_.begin(), secret_.end());
  return out;
}

result<void> write_key_file(const std::filesystem::path& path, const Ed25519KeyPair& key,
                            bool overwrite) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return boost::system::error_code(errno, boost::system::system_category());
  // An existing file opened with O_TRUNC keeps its old mode: tighten it.
  ::fchmod(fd, 0600);
  Bytes bytes = key.to_protobuf();
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      sodium_memzero(bytes.data(), bytes.size());
      return boost::system::error_code(err, boost::system::system_category());
    }
    written += static_cast<std::size_t>(n);
  }
  sodium_memzero(bytes.data(), bytes.size());
  if (::close(fd) != 0) return boost::system::error_code(errno, boost::system::system_category());
  return {};
}

result<Ed25519KeyPair> read_key_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return boost::system::error_code(errno, boost::system::system_category());
  Bytes bytes(kMaxKeyFileBytes + 1);
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return boost::system::error_code(err, boost::system::system_category());
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  auto key = got > kMaxKeyFileBytes ? result<Ed25519KeyPair>(errc::key_malformed)
                                    : Ed25519KeyPair::from_protobuf(ByteView(bytes).first(got));
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

}  // namespace bb::wire

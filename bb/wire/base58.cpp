#include "bb/wire/base58.hpp"

#include <array>

namespace bb::wire {
namespace {

constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

constexpr std::array<std::int8_t, 256> make_index() {
  std::array<std::int8_t, 256> index{};
  index.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    index[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return index;
}
constexpr auto kIndex = make_index();

}  // namespace

std::string base58_encode(ByteView bytes) {
  std::size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  // log(256)/log(58) ~ 1.366: digits needed for the remaining bytes.
  std::vector<std::uint8_t> digits((bytes.size() - zeros) * 138 / 100 + 1, 0);
  std::size_t used = 0;  // significant digits, stored little-endian
  for (std::size_t i = zeros; i < bytes.size(); ++i) {
    unsigned carry = bytes[i];
    std::size_t j = 0;
    for (; j < used || carry != 0; ++j) {
      carry += 256u * digits[j];
      digits[j] = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    used = j;
  }
  std::string out(zeros, '1');
  out.reserve(zeros + used);
  for (std::size_t j = used; j-- > 0;) out.push_back(kAlphabet[digits[j]]);
  return out;
}

result<Bytes> base58_decode(std::string_view text) {
  if (text.size() > kMaxBase58Chars) return errc::text_too_long;
  std::size_t ones = 0;
  while (ones < text.size() && text[ones] == '1') ++ones;
  // log(58)/log(256) ~ 0.733: bytes needed for the remaining digits.
  std::vector<std::uint8_t> bytes((text.size() - ones) * 733 / 1000 + 1, 0);
  std::size_t used = 0;  // significant bytes, little-endian
  for (std::size_t i = ones; i < text.size(); ++i) {
    const int v = kIndex[static_cast<unsigned char>(text[i])];
    if (v < 0) return errc::base58_invalid_character;
    unsigned carry = static_cast<unsigned>(v);
    std::size_t j = 0;
    for (; j < used || carry != 0; ++j) {
      carry += 58u * bytes[j];
      bytes[j] = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    used = j;
  }
  Bytes out(ones, 0);
  out.reserve(ones + used);
  for (std::size_t j = used; j-- > 0;) out.push_back(bytes[j]);
  return out;
}

}  // namespace bb::wire

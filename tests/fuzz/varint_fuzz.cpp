// Varint decoding must never read past its input, and whatever decodes must re-encode to the
// same bytes (only minimal encodings are accepted).
#include "bb/wire/varint.hpp"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb::wire;
  auto d = decode_varint(ByteView(data, size));
  if (!d) return 0;
  if (d->size > kMaxVarintBytes || d->size > size || d->value > kMaxVarintValue) __builtin_trap();
  std::uint8_t buf[kMaxVarintBytes + 1];
  const std::size_t n = encode_varint(d->value, buf);
  if (n != d->size || std::memcmp(buf, data, n) != 0 || varint_size(d->value) != n) {
    __builtin_trap();
  }
  return 0;
}

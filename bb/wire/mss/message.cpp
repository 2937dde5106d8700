#include "bb/wire/mss/message.hpp"

#include "bb/wire/utf8.hpp"

#include "bb/wire/varint.hpp"

#include <algorithm>
#include <cstdint>

namespace bb::wire::mss {

void append_message(Bytes& out, std::string_view line) {
  append_varint(out, line.size() + 1);
  const ByteView body = as_bytes(line);
  out.insert(out.end(), body.begin(), body.end());
  out.push_back('\n');
}

result<std::optional<std::pair<std::string_view, std::size_t>>> decode_message(ByteView in) {
  // A prefix longer than the limit's encoding can only mean a longer message: say so without
  // waiting for (or looking at) its remaining bytes, so the verdict does not depend on splits.
  constexpr std::size_t kMaxPrefix = varint_size(kMaxMessageBytes);
  const std::size_t scan = std::min(in.size(), kMaxPrefix);
  bool terminated = false;
  for (std::size_t i = 0; i < scan && !terminated; ++i) terminated = (in[i] & 0x80) == 0;
  if (!terminated) {
    if (in.size() >= kMaxPrefix) return errc::mss_message_too_long;
    return std::nullopt;
  }
  const auto prefix = decode_varint(in);
  if (!prefix) return prefix.error();
  if (prefix->value > kMaxMessageBytes) return errc::mss_message_too_long;
  if (prefix->value == 0) return errc::mss_malformed_message;
  const auto length = static_cast<std::size_t>(prefix->value);
  if (in.size() - prefix->size < length) return std::nullopt;

  const ByteView body = in.subspan(prefix->size, length);
  if (body.back() != '\n') return errc::mss_malformed_message;
  const std::string_view line = as_chars(body.first(length - 1));
  if (line.find('\n') != std::string_view::npos || !is_valid_utf8(line)) {
    return errc::mss_malformed_message;
  }
  return std::optional{std::pair{line, prefix->size + length}};
}

}  // namespace bb::wire::mss

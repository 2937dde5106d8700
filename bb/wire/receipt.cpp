#include "bb/wire/receipt.hpp"

#include "bb/wire/frame.hpp"
#include "bb/wire/varint.hpp"

namespace bb::wire {

bool is_reason_label(std::string_view reason) noexcept {
  if (reason.empty() || reason.size() > kMaxReceiptReason) return false;
  for (const char c : reason) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
    if (!ok) return false;
  }
  return true;
}

void append_receipt(Bytes& out, std::uint64_t count, std::string_view reason) {
  if (!reason.empty() && !is_reason_label(reason)) reason = "refused";
  std::uint8_t body[kMaxReceiptBody];
  std::size_t n = encode_varint(count, body);
  for (const char c : reason) body[n++] = static_cast<std::uint8_t>(c);
  append_frame(out, ByteView(body, n));
}

result<Receipt> decode_receipt(ByteView body) {
  auto count = decode_varint(body);
  if (!count || count->value == 0) return make_error_code(errc::receipt_malformed);
  const ByteView rest = body.subspan(count->size);
  const std::string_view reason(reinterpret_cast<const char*>(rest.data()), rest.size());
  if (!reason.empty() && !is_reason_label(reason)) return make_error_code(errc::receipt_malformed);
  return Receipt{count->value, reason};
}

}  // namespace bb::wire

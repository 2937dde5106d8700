// Receipts from a peer: every body either decodes to a count ≥ 1 and a valid label (which
// re-encodes to the same bytes) or is receipt_malformed; nothing else happens.
#include "bb/wire/frame.hpp"
#include "bb/wire/receipt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb::wire;
  FrameReader reader(kMaxReceiptBody);
  reader.append(ByteView(data, size));
  while (true) {
    auto frame = reader.next();
    if (!frame || !*frame) break;
    const Bytes body((*frame)->begin(), (*frame)->end());
    auto r = decode_receipt(body);
    if (!r) {
      if (r.error() != make_error_code(errc::receipt_malformed)) __builtin_trap();
      continue;
    }
    if (r->count == 0 || (!r->reason.empty() && !is_reason_label(r->reason))) __builtin_trap();
    Bytes again;
    append_receipt(again, r->count, r->reason);
    FrameReader check(kMaxReceiptBody);
    check.append(again);
    auto body2 = check.next();
    if (!body2 || !*body2) __builtin_trap();
    auto r2 = decode_receipt(**body2);
    if (!r2 || r2->count != r->count || r2->reason != r->reason) __builtin_trap();
  }
  return 0;
}

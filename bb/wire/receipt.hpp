// Receipts: what the receiving end of a /bb/wire stream writes back on the same stream, so the
// sender learns the outcome of every message it wrote. Receipts cover messages in the order they
// were written (over /bb/wire/1.0.0 a message is an envelope; over 1.1.0 a fill of a batch);
// each is one frame (unsigned-varint length ‖ body) whose body is
//
//   varint count ‖ reason
//
// count ≥ 1 consecutive messages, accepted when `reason` is empty, else refused with that
// stable reason label (1..64 characters from [a-z0-9_:], e.g. "blocklisted", "duplicate").
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/error.hpp"

#include <cstdint>
#include <string_view>

namespace bb::wire {

inline constexpr std::size_t kMaxReceiptReason = 64;
inline constexpr std::size_t kMaxReceiptBody = 10 + kMaxReceiptReason;

struct Receipt {
  std::uint64_t count = 0;
  std::string_view reason;  // empty: accepted; views the decoded bytes
};

// Appends one receipt frame. `reason` must be a valid label (checked; invalid labels are sent as
// "refused").
void append_receipt(Bytes& out, std::uint64_t count, std::string_view reason = {});

// Decodes a receipt frame body: receipt_malformed for a zero count, trailing varint garbage, or
// a reason that is too long or not a label.
result<Receipt> decode_receipt(ByteView body);

bool is_reason_label(std::string_view reason) noexcept;

}  // namespace bb::wire

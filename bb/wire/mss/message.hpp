// multistream-select 1.0 messages (multiformats/multistream-select): uvarint(length) ‖ UTF-8
// line ‖ '\n', where the newline counts in the length. The length is checked against
// kMaxMessageBytes before any byte of the line is buffered.
#pragma once

#include "bb/wire/bytes.hpp"

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace bb::wire::mss {

inline constexpr std::string_view kHeader = "/multistream/1.0.0";
inline constexpr std::string_view kNa = "na";
inline constexpr std::string_view kLs = "ls";
// Largest accepted message, newline included (go-multistream uses the same bound).
inline constexpr std::size_t kMaxMessageBytes = 1024;

// Appends one message carrying `line` (which must not contain '\n').
void append_message(Bytes& out, std::string_view line);

// Decodes the message at the start of `in`: the line without its '\n' (a view into `in`) and
// the bytes consumed. nullopt while the message is incomplete. Errors are final for the
// stream: varint_non_minimal / varint_too_long for a bad length, mss_message_too_long for a
// length above kMaxMessageBytes (reported as soon as the prefix shows it), mss_malformed_message
// for an empty message, a last byte that is not '\n', a '\n' inside the line or invalid UTF-8.
result<std::optional<std::pair<std::string_view, std::size_t>>> decode_message(ByteView in);

}  // namespace bb::wire::mss

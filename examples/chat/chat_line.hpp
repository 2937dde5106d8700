// The two payloads bb-chat puts on the wire, and their limits:
//   channel "chat"        varint(name length) ‖ name ‖ text      (a line, flooded to everyone)
//   channel "chat.hello"  flags byte ‖ name                       (to one neighbour, not relayed)
// Names are 1..64 bytes without control characters; a text is at most 16 KiB. Decoding checks
// every length before it reads, so any byte string is safe to decode: bad payloads are
// reported with a specific code, never trusted.
#pragma once

#include "wire/bytes.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

namespace bb::chat {

inline constexpr std::string_view kLineChannel = "chat";
inline constexpr std::string_view kHelloChannel = "chat.hello";
inline constexpr std::size_t kMaxNameBytes = 64;
inline constexpr std::size_t kMaxTextBytes = 16 * 1024;

enum class errc {
  truncated = 1,       // the payload ends inside a field
  bad_name_length,     // the name length is not a minimal varint
  name_too_long,       // more than kMaxNameBytes
  empty_name,          // a name of zero bytes
  name_not_printable,  // a control character in the name
  text_too_long,       // more than kMaxTextBytes
  unknown_flags,       // hello flags other than kWantReply
};

const boost::system::error_category& chat_category() noexcept;
inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), chat_category()};
}

template <class T>
using result = boost::system::result<T>;

struct ChatLine {
  std::string name;
  std::string text;
};

struct Hello {
  std::string name;
  bool want_reply = false;  // the sender has not heard our name yet
};

// A name is valid when it decodes: 1..kMaxNameBytes bytes, none below 0x20 or 0x7f.
result<void> check_name(std::string_view name);

// Preconditions: check_name(name) holds and text.size() <= kMaxTextBytes.
wire::Bytes encode_line(std::string_view name, std::string_view text);
result<ChatLine> decode_line(wire::ByteView payload);

wire::Bytes encode_hello(std::string_view name, bool want_reply);
result<Hello> decode_hello(wire::ByteView payload);

// `text` for a terminal: control characters (other than tab) become '?', so a peer cannot move
// the cursor or clear the screen of the people reading it.
std::string printable(std::string_view text);

}  // namespace bb::chat

template <>
struct boost::system::is_error_code_enum<bb::chat::errc> : std::true_type {};

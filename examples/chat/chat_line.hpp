// What bb-chat publishes on its room's gossipsub topic: plain UTF-8 text, one pubsub message
// each, readable by any libp2p node subscribed to the topic (the topic is the room's name):
//   a line        "NAME: TEXT"        e.g. "alice: hello"
//   a join        "* NAME joined"     published when we meet the room, and to a newcomer
//   a leave       "* NAME left"       published when we quit
// Names are 1..64 bytes without control characters and without ':', so the two forms cannot be
// confused: a line always has a ':' (after its name), a join or leave never has one. A text is
// at most 16 KiB. Decoding checks every bound before it copies, so any byte string is safe to
// decode: bad payloads are reported with a specific code, never trusted.
#pragma once

#include "bb/wire/bytes.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace bb::chat {

inline constexpr std::string_view kDefaultRoom = "bb-chat";
inline constexpr std::size_t kMaxNameBytes = 64;
inline constexpr std::size_t kMaxTextBytes = 16 * 1024;

enum class errc {
  unrecognized = 1,    // neither "NAME: TEXT" nor "* NAME joined|left"
  name_too_long,       // more than kMaxNameBytes
  empty_name,          // a name of zero bytes
  name_not_printable,  // a control character in the name
  name_has_colon,      // ':' in the name (it ends the name of a line)
  text_too_long,       // more than kMaxTextBytes
};

const boost::system::error_category& chat_category() noexcept;
inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), chat_category()};
}

template <class T>
using result = boost::system::result<T>;

enum class Kind : std::uint8_t { line, joined, left };

struct ChatPayload {
  Kind kind = Kind::line;
  std::string name;
  std::string text;  // empty unless kind == line
};

// A name is valid when it decodes: 1..kMaxNameBytes bytes, no ':', none below 0x20 or 0x7f.
result<void> check_name(std::string_view name);

// Preconditions: check_name(name) holds and text.size() <= kMaxTextBytes.
wire::Bytes encode_line(std::string_view name, std::string_view text);
// Precondition: check_name(name) holds; kind is joined or left.
wire::Bytes encode_presence(std::string_view name, Kind kind);
result<ChatPayload> decode(wire::ByteView payload);

// `text` for a terminal: control characters (other than tab) become '?', so a peer cannot move
// the cursor or clear the screen of the people reading it.
std::string printable(std::string_view text);

}  // namespace bb::chat

template <>
struct boost::system::is_error_code_enum<bb::chat::errc> : std::true_type {};

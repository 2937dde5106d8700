// Yamux frame header (/yamux/1.0.0, hashicorp/yamux spec.md): version u8 (0), type u8,
// flags u16, stream id u32, length u32, all big-endian: 12 bytes. For Data frames `length` is
// the payload size; for WindowUpdate the window delta; for Ping an opaque value echoed back;
// for GoAway the error code.
#pragma once

#include "bb/wire/bytes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace bb::wire::yamux {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::uint8_t kVersion = 0;
// The window every stream starts with; both sides assume it without saying so.
inline constexpr std::uint32_t kDefaultWindow = 256 * 1024;

enum class FrameType : std::uint8_t { data = 0, window_update = 1, ping = 2, go_away = 3 };

// Flag bits.
inline constexpr std::uint16_t kSyn = 0x1;
inline constexpr std::uint16_t kAck = 0x2;
inline constexpr std::uint16_t kFin = 0x4;
inline constexpr std::uint16_t kRst = 0x8;

// GoAway codes.
inline constexpr std::uint32_t kGoAwayNormal = 0;
inline constexpr std::uint32_t kGoAwayProtocolError = 1;
inline constexpr std::uint32_t kGoAwayInternalError = 2;
// libp2p connection error codes (specs: error-codes), carried in GoAway so that a refused or
// closed peer learns why.
inline constexpr std::uint32_t kGoAwayResourceLimitExceeded = 0x1001;
inline constexpr std::uint32_t kGoAwayRateLimited = 0x1002;
inline constexpr std::uint32_t kGoAwayProtocolViolation = 0x1003;
inline constexpr std::uint32_t kGoAwayGarbageCollected = 0x1005;
inline constexpr std::uint32_t kGoAwayShutdown = 0x1006;
inline constexpr std::uint32_t kGoAwayGated = 0x1007;

// A decoded header. The version is implicit: 0 is the only one.
struct Header {
  FrameType type = FrameType::data;
  std::uint16_t flags = 0;
  std::uint32_t stream_id = 0;
  std::uint32_t length = 0;

  friend bool operator==(const Header&, const Header&) = default;
};

std::array<std::uint8_t, kHeaderSize> encode_header(const Header& h) noexcept;
void append_header(Bytes& out, const Header& h);

// Errors: yamux_bad_version, yamux_bad_type. Flags are checked by the Session, which knows the
// type's rules.
result<Header> decode_header(std::span<const std::uint8_t, kHeaderSize> in) noexcept;

}  // namespace bb::wire::yamux

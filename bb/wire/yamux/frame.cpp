#include "bb/wire/yamux/frame.hpp"

namespace bb::wire::yamux {
namespace {

void put_u16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

void put_u32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

std::uint16_t get_u16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint32_t get_u32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace

std::array<std::uint8_t, kHeaderSize> encode_header(const Header& h) noexcept {
  std::array<std::uint8_t, kHeaderSize> out{};
  out[0] = kVersion;
  out[1] = static_cast<std::uint8_t>(h.type);
  put_u16(&out[2], h.flags);
  put_u32(&out[4], h.stream_id);
  put_u32(&out[8], h.length);
  return out;
}

void append_header(Bytes& out, const Header& h) {
  const auto bytes = encode_header(h);
  out.insert(out.end(), bytes.begin(), bytes.end());
}

result<Header> decode_header(std::span<const std::uint8_t, kHeaderSize> in) noexcept {
  if (in[0] != kVersion) return errc::yamux_bad_version;
  if (in[1] > static_cast<std::uint8_t>(FrameType::go_away)) return errc::yamux_bad_type;
  Header h;
  h.type = static_cast<FrameType>(in[1]);
  h.flags = get_u16(&in[2]);
  h.stream_id = get_u32(&in[4]);
  h.length = get_u32(&in[8]);
  return h;
}

}  // namespace bb::wire::yamux

#include "bb/wire/multiaddr.hpp"

#include "bb/wire/utf8.hpp"
#include "bb/wire/varint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace bb::wire {
namespace {

enum class Kind : std::uint8_t { ip4, ip6, port, host, peer, u64, u32, name };

struct Protocol {
  std::uint64_t code;
  std::string_view name;
  Kind kind;
  std::size_t size;  // fixed value size in bytes; 0 means varint length prefix
};

constexpr std::array<Protocol, 11> kProtocols{{
    {protocol::ip4, "ip4", Kind::ip4, 4},
    {protocol::tcp, "tcp", Kind::port, 2},
    {protocol::udp, "udp", Kind::port, 2},
    {protocol::ip6, "ip6", Kind::ip6, 16},
    {protocol::dns, "dns", Kind::host, 0},
    {protocol::dns4, "dns4", Kind::host, 0},
    {protocol::dns6, "dns6", Kind::host, 0},
    {protocol::p2p, "p2p", Kind::peer, 0},
    {protocol::site, "site", Kind::u64, 8},
    {protocol::component, "component", Kind::u32, 4},
    {protocol::op, "op", Kind::name, 0},
}};

// DNS names cannot be longer; op names are identifiers and get the same bound.
constexpr std::size_t kMaxNameBytes = 255;

const Protocol* find_code(std::uint64_t code) noexcept {
  for (const Protocol& p : kProtocols) {
    if (p.code == code) return &p;
  }
  return nullptr;
}

const Protocol* find_name(std::string_view name) noexcept {
  if (name == "ipfs") name = "p2p";  // deprecated alias, still printed by old peers
  for (const Protocol& p : kProtocols) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// A varint that runs off the end means the component is cut short; other varint errors (not
// minimal, too long) are reported as they are.
boost::system::error_code truncated_or(boost::system::error_code ec) noexcept {
  if (ec == errc::varint_truncated) return errc::multiaddr_truncated;
  return ec;
}

// Strict decimal: digits only, no sign, no leading zero except "0" itself, at most `max`.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) noexcept {
  if (text.empty() || (text.size() > 1 && text.front() == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (max - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

void append_be(Bytes& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t read_be(ByteView in) noexcept {
  std::uint64_t v = 0;
  for (std::uint8_t b : in) v = (v << 8) | b;
  return v;
}

// Exactly four dot-separated decimals 0..255 without leading zeros. inet_pton's leniency
// varies between libcs, so the rule is spelled out here.
std::optional<std::array<std::uint8_t, 4>> parse_ip4(std::string_view text) noexcept {
  std::array<std::uint8_t, 4> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t dot = text.find('.');
    const bool last = i + 1 == out.size();
    if (last != (dot == std::string_view::npos)) return std::nullopt;
    auto octet = parse_decimal(text.substr(0, dot), 255);
    if (!octet) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(*octet);
    if (!last) text.remove_prefix(dot + 1);
  }
  return out;
}

// dns and op values sit between '/' in the text form, so they can never contain one; host
// names also exclude ASCII control characters.
bool valid_name(ByteView v, bool host) noexcept {
  if (v.empty() || v.size() > kMaxNameBytes || !is_valid_utf8(v)) return false;
  return std::none_of(v.begin(), v.end(), [host](std::uint8_t b) {
    return b == '/' || (host && (b < 0x20 || b == 0x7F));
  });
}

// PeerId::parse tries a 'b…' or 'z…' text as a CID first, so the base58 form of a multihash
// other than identity or sha2-256 ('1…', "Qm…") can read back as a different PeerId; such
// rare ids print as a CID, which always reads back.
std::string peer_text(const PeerId& peer) {
  std::string text = peer.to_base58();
  if (text.starts_with('1') || text.starts_with("Qm")) return text;
  if (auto back = PeerId::parse(text); back && *back == peer) return text;
  return peer.to_cid();
}

struct RawComponent {
  const Protocol* protocol;
  ByteView value;    // payload without the length prefix
  std::size_t size;  // bytes taken from the input, code and length prefix included
};

// Splits the first component off `in`, checking its code and framing but not its value.
result<RawComponent> read_component(ByteView in) noexcept {
  auto code = decode_varint(in);
  if (!code) return truncated_or(code.error());
  const Protocol* p = find_code(code->value);
  if (p == nullptr) return errc::multiaddr_unknown_code;
  std::size_t pos = code->size;
  std::size_t len = p->size;
  if (len == 0) {
    auto prefix = decode_varint(in.subspan(pos));
    if (!prefix) return truncated_or(prefix.error());
    pos += prefix->size;
    if (prefix->value > in.size() - pos) return errc::multiaddr_truncated;
    len = static_cast<std::size_t>(prefix->value);
  } else if (len > in.size() - pos) {
    return errc::multiaddr_truncated;
  }
  return RawComponent{p, in.subspan(pos, len), pos + len};
}

result<void> validate_value(const Protocol& p, ByteView value) {
  switch (p.kind) {
    case Kind::host:
    case Kind::name:
      if (!valid_name(value, p.kind == Kind::host)) return errc::multiaddr_invalid_value;
      return {};
    case Kind::peer: {
      auto peer = PeerId::from_bytes(value);
      if (!peer) return peer.error();
      return {};
    }
    default: return {};  // fixed-size values: every bit pattern is meaningful
  }
}

result<void> append_value(Bytes& out, const Protocol& p, std::string_view text) {
  switch (p.kind) {
    case Kind::ip4: {
      auto addr = parse_ip4(text);
      if (!addr) return errc::multiaddr_invalid_value;
      out.insert(out.end(), addr->begin(), addr->end());
      return {};
    }
    case Kind::ip6: {
      // inet_pton needs a NUL-terminated copy; the character check keeps embedded NULs and
      // zone ids ("%eth0") from being silently cut off.
      std::array<char, INET6_ADDRSTRLEN> buf{};
      const bool chars_ok = std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
               c == ':' || c == '.';
      });
      if (!chars_ok || text.size() >= buf.size()) return errc::multiaddr_invalid_value;
      std::memcpy(buf.data(), text.data(), text.size());
      std::array<std::uint8_t, 16> addr{};
      if (inet_pton(AF_INET6, buf.data(), addr.data()) != 1) {
        return errc::multiaddr_invalid_value;
      }
      out.insert(out.end(), addr.begin(), addr.end());
      return {};
    }
    case Kind::port:
    case Kind::u32:
    case Kind::u64: {
      const std::uint64_t max = p.kind == Kind::port  ? std::numeric_limits<std::uint16_t>::max()
                                : p.kind == Kind::u32 ? std::numeric_limits<std::uint32_t>::max()
                                                      : std::numeric_limits<std::uint64_t>::max();
      auto v = parse_decimal(text, max);
      if (!v) return errc::multiaddr_invalid_value;
      append_be(out, *v, p.size);
      return {};
    }
    case Kind::host:
    case Kind::name: {
      const ByteView value = as_bytes(text);
      if (!valid_name(value, p.kind == Kind::host)) return errc::multiaddr_invalid_value;
      append_varint(out, value.size());
      out.insert(out.end(), value.begin(), value.end());
      return {};
    }
    case Kind::peer: {
      auto peer = PeerId::parse(text);
      if (!peer) return peer.error();
      append_varint(out, peer->bytes().size());
      out.insert(out.end(), peer->bytes().begin(), peer->bytes().end());
      return {};
    }
  }
  return errc::multiaddr_invalid_value;
}

void append_text(std::string& out, const Protocol& p, ByteView value) {
  switch (p.kind) {
    case Kind::ip4:
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out.push_back('.');
        out += std::to_string(value[i]);
      }
      return;
    case Kind::ip6: {
      std::array<char, INET6_ADDRSTRLEN> buf{};
      if (inet_ntop(AF_INET6, value.data(), buf.data(), buf.size()) != nullptr) {
        out += buf.data();
      }
      return;
    }
    case Kind::port:
    case Kind::u32:
    case Kind::u64: out += std::to_string(read_be(value)); return;
    case Kind::host:
    case Kind::name: out += as_chars(value); return;
    case Kind::peer:
      if (auto peer = PeerId::from_bytes(value)) out += peer_text(*peer);
      return;
  }
}

// Calls `f(offset, component)` for each component of an address known to be valid.
template <class F>
void for_each_component(ByteView bytes, F&& f) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    auto c = read_component(bytes.subspan(pos));
    if (!c) return;  // unreachable for a valid address
    f(pos, *c);
    pos += c->size;
  }
}

// Splits off the text up to the next '/' (consumed, not returned).
std::string_view next_segment(std::string_view& text) noexcept {
  const std::size_t slash = text.find('/');
  const std::string_view segment = text.substr(0, slash);
  text.remove_prefix(slash == std::string_view::npos ? text.size() : slash + 1);
  return segment;
}

}  // namespace

result<Multiaddr> Multiaddr::parse(std::string_view text) {
  if (text.size() > kMaxStringChars) return errc::multiaddr_too_long;
  if (text.empty()) return errc::multiaddr_empty_string;
  if (text.front() != '/') return errc::multiaddr_missing_leading_slash;
  while (!text.empty() && text.back() == '/') text.remove_suffix(1);
  if (text.empty()) return errc::multiaddr_empty_string;
  text.remove_prefix(1);

  Bytes out;
  while (!text.empty()) {
    const Protocol* p = find_name(next_segment(text));
    if (p == nullptr) return errc::multiaddr_unknown_protocol;
    const std::string_view value = next_segment(text);
    if (value.empty()) return errc::multiaddr_missing_value;
    append_varint(out, p->code);
    if (auto ok = append_value(out, *p, value); !ok) return ok.error();
    if (out.size() > kMaxBytes) return errc::multiaddr_too_long;
  }
  return Multiaddr(std::move(out));
}

result<Multiaddr> Multiaddr::from_bytes(ByteView bytes) {
  if (bytes.size() > kMaxBytes) return errc::multiaddr_too_long;
  ByteView rest = bytes;
  while (!rest.empty()) {
    auto c = read_component(rest);
    if (!c) return c.error();
    if (auto ok = validate_value(*c->protocol, c->value); !ok) return ok.error();
    rest = rest.subspan(c->size);
  }
  return Multiaddr(Bytes(bytes.begin(), bytes.end()));
}

Multiaddr Multiaddr::from_peer_id(const PeerId& peer) {
  Bytes out;
  append_varint(out, protocol::p2p);
  append_varint(out, peer.bytes().size());
  out.insert(out.end(), peer.bytes().begin(), peer.bytes().end());
  return Multiaddr(std::move(out));
}

std::string Multiaddr::to_string() const {
  std::string out;
  for_each_component(bytes_, [&out](std::size_t, const RawComponent& c) {
    out.push_back('/');
    out += c.protocol->name;
    out.push_back('/');
    append_text(out, *c.protocol, c.value);
  });
  return out;
}

std::vector<MultiaddrComponent> Multiaddr::components() const {
  std::vector<MultiaddrComponent> out;
  for_each_component(bytes_, [&out](std::size_t, const RawComponent& c) {
    out.push_back({c.protocol->code, c.protocol->name, c.value});
  });
  return out;
}

Multiaddr Multiaddr::encapsulate(const Multiaddr& other) const {
  Bytes out;
  out.reserve(bytes_.size() + other.bytes_.size());
  out.insert(out.end(), bytes_.begin(), bytes_.end());
  out.insert(out.end(), other.bytes_.begin(), other.bytes_.end());
  return Multiaddr(std::move(out));
}

Multiaddr Multiaddr::decapsulate(const Multiaddr& suffix) const {
  if (suffix.empty()) return *this;
  const ByteView needle = suffix.bytes_;
  std::optional<std::size_t> found;
  // Components are self-delimiting, so a byte match that starts on a component boundary
  // covers whole components.
  for_each_component(bytes_, [&](std::size_t pos, const RawComponent&) {
    const ByteView rest = bytes().subspan(pos);
    if (rest.size() >= needle.size() && std::equal(needle.begin(), needle.end(), rest.begin())) {
      found = pos;
    }
  });
  if (!found) return *this;
  return Multiaddr(Bytes(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(*found)));
}

Multiaddr Multiaddr::decapsulate_code(std::uint64_t code) const {
  std::optional<std::size_t> found;
  for_each_component(bytes_, [&](std::size_t pos, const RawComponent& c) {
    if (c.protocol->code == code) found = pos;
  });
  if (!found) return *this;
  return Multiaddr(Bytes(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(*found)));
}

std::optional<PeerId> Multiaddr::peer_id() const {
  for (const MultiaddrComponent& c : components()) {
    if (c.code != protocol::p2p) continue;
    if (auto peer = PeerId::from_bytes(c.value)) return *peer;
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> Multiaddr::site_id() const {
  for (const MultiaddrComponent& c : components()) {
    if (c.code == protocol::site) return read_be(c.value);
  }
  return std::nullopt;
}

std::optional<std::uint32_t> Multiaddr::component_ref() const {
  for (const MultiaddrComponent& c : components()) {
    if (c.code == protocol::component) return static_cast<std::uint32_t>(read_be(c.value));
  }
  return std::nullopt;
}

std::optional<std::string> Multiaddr::op_name() const {
  for (const MultiaddrComponent& c : components()) {
    if (c.code == protocol::op) return std::string(as_chars(c.value));
  }
  return std::nullopt;
}

std::optional<std::uint16_t> Multiaddr::tcp_port() const {
  for (const MultiaddrComponent& c : components()) {
    if (c.code == protocol::tcp) return static_cast<std::uint16_t>(read_be(c.value));
  }
  return std::nullopt;
}

Multiaddr Multiaddr::with_peer_id(const PeerId& peer) const {
  const std::vector<MultiaddrComponent> parts = components();
  if (!parts.empty() && parts.back().code == protocol::p2p &&
      std::ranges::equal(parts.back().value, peer.bytes())) {
    return *this;
  }
  return encapsulate(from_peer_id(peer));
}

}  // namespace bb::wire

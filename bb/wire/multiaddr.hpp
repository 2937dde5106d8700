// Multiaddr (multiformats/multiaddr): self-describing network addresses, restricted to the
// protocols bb dials or routes on: ip4, ip6, tcp, udp, dns/dns4/dns6, p2p, plus the
// bytesandbrains segments site, component and op.
//
// A Multiaddr is an immutable value type holding its binary form; copies are independent, so
// concurrent reads from several threads are safe. Every Multiaddr obtained from parse(),
// from_bytes() or from_peer_id() (and any address composed from such values) holds bytes that
// from_bytes() accepts and text that parse() accepts, with one exception each:
//  - the empty address prints as "" and parse("") is an error, as in go-multiaddr;
//  - encapsulate() and with_peer_id() do not enforce kMaxBytes, which guards decoders only; a
//    composed address over the limit is refused when decoded again.
// Bad input is reported with a specific bb::wire::errc, never by throwing or aborting.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bb::wire {

namespace protocol {  // multicodec codes (multiformats/multiaddr protocols.csv, bytesandbrains)
inline constexpr std::uint64_t ip4 = 4, tcp = 6, dns = 53, dns4 = 54, dns6 = 55, ip6 = 41,
                               udp = 273, p2p = 421, site = 0xE2, component = 0xE3, op = 0xE4;
}  // namespace protocol

// One `(code, value)` pair of a Multiaddr. `name` is a static string; `value` views the
// address's bytes (the payload only: no length prefix for variable-size protocols) and is valid
// while that Multiaddr lives and is not assigned to.
struct MultiaddrComponent {
  std::uint64_t code;
  std::string_view name;
  ByteView value;
};

class Multiaddr {
 public:
  static constexpr std::size_t kMaxBytes = 1024;        // binary form limit
  static constexpr std::size_t kMaxStringChars = 4096;  // text form limit, checked first

  Multiaddr() = default;  // the empty address

  // Text form "/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…". Trailing '/' characters are ignored, as
  // go-multiaddr does; "", "/" are multiaddr_empty_string. /p2p/ accepts base58 and CID PeerIds
  // (and the deprecated name "ipfs"); PeerId errors are passed through.
  static result<Multiaddr> parse(std::string_view text);
  // Binary form `(varint code ‖ value)*`; validates every component.
  static result<Multiaddr> from_bytes(ByteView bytes);
  static Multiaddr from_peer_id(const PeerId& peer);  // "/p2p/<peer>"

  // Canonical text. /p2p/ values print in base58, except a PeerId whose base58 form
  // PeerId::parse would read back as another id (possible only for multihash codes other than
  // identity and sha2-256): that one prints as a CID, so the text always round-trips.
  std::string to_string() const;
  ByteView bytes() const noexcept { return bytes_; }
  bool empty() const noexcept { return bytes_.empty(); }
  std::vector<MultiaddrComponent> components() const;

  Multiaddr encapsulate(const Multiaddr& other) const;  // this ‖ other
  // Removes the LAST component-aligned occurrence of `suffix` and everything after it; returns
  // *this unchanged if there is none or `suffix` is empty (go-multiaddr semantics).
  Multiaddr decapsulate(const Multiaddr& suffix) const;
  // Removes the last component with this code and everything after it; *this if absent.
  Multiaddr decapsulate_code(std::uint64_t code) const;

  // The first component of each kind, nullopt if absent.
  std::optional<PeerId> peer_id() const;
  std::optional<std::uint64_t> site_id() const;
  std::optional<std::uint32_t> component_ref() const;
  std::optional<std::string> op_name() const;
  std::optional<std::uint16_t> tcp_port() const;

  // Appends /p2p/<peer> unless the address already ends in exactly that component.
  Multiaddr with_peer_id(const PeerId& peer) const;

  friend bool operator==(const Multiaddr&, const Multiaddr&) = default;
  friend auto operator<=>(const Multiaddr&, const Multiaddr&) = default;  // byte order

 private:
  explicit Multiaddr(Bytes bytes) noexcept : bytes_(std::move(bytes)) {}

  Bytes bytes_;
};

}  // namespace bb::wire

template <>
struct std::hash<bb::wire::Multiaddr> {
  std::size_t operator()(const bb::wire::Multiaddr& m) const noexcept {
    return std::hash<std::string_view>{}(bb::wire::as_chars(m.bytes()));
  }
};

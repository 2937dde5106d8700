// The /ipfs/kad/1.0.0 message (kad-dht spec), decoded with limits into plain values: what a
// stranger sends is checked (sizes, counts, PeerIds) before anything else looks at it.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/multiaddr.hpp"
#include "bb/wire/peer_id.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bb::dht {

inline constexpr std::string_view kProtocolId = "/ipfs/kad/1.0.0";

enum class MessageType : std::uint8_t {
  put_value = 0,
  get_value = 1,
  add_provider = 2,
  get_providers = 3,
  find_node = 4,
  ping = 5,
};
std::string_view to_string(MessageType type) noexcept;

enum class Connectedness : std::uint8_t {
  not_connected = 0,
  connected,
  can_connect,
  cannot_connect
};

struct PeerEntry {
  wire::PeerId id;
  std::vector<wire::Multiaddr> addrs;
  Connectedness connection = Connectedness::not_connected;
};

struct Record {
  wire::Bytes key;
  wire::Bytes value;
  std::string time_received;  // RFC 3339, set by the receiver
};

struct Message {
  MessageType type = MessageType::ping;
  wire::Bytes key;
  std::optional<Record> record;
  std::vector<PeerEntry> closer_peers;
  std::vector<PeerEntry> provider_peers;
};

struct MessageLimits {
  std::size_t max_message_bytes = 128 * 1024;  // one length-prefixed frame's body
  std::size_t max_key_bytes = 512;
  std::size_t max_value_bytes = 16 * 1024;
  std::size_t max_peers = 64;           // closerPeers and providerPeers, each
  std::size_t max_addrs_per_peer = 16;  // more are dropped, not fatal
};

// Errors: errc::message_too_large (over max_message_bytes), errc::bad_message (not a kad
// Message, unknown type), errc::message_limit (key, value or peer counts over the limits).
// Peer entries whose id is not a PeerId are skipped, as are addresses that do not parse.
wire::result<Message> decode_message(wire::ByteView body, const MessageLimits& limits = {});
wire::Bytes encode_message(const Message& message);  // the body, without its length prefix

}  // namespace bb::dht

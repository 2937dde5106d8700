#include "bb/wire/error.hpp"

#include <string>

namespace bb::wire {
namespace {

class WireCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.wire"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::varint_truncated: return "unsigned varint is truncated (more bytes needed)";
      case errc::varint_non_minimal: return "unsigned varint is not minimally encoded";
      case errc::varint_too_long: return "unsigned varint is longer than 9 bytes (63 bits)";
      case errc::base58_invalid_character: return "character outside the base58btc alphabet";
      case errc::base32_invalid_character: return "character outside the lowercase base32 alphabet";
      case errc::base32_invalid_length: return "base32 text has an impossible length";
      case errc::hex_invalid: return "hex text has an odd length or a non-hex character";
      case errc::text_too_long: return "text is longer than any valid value of its kind";
      case errc::multihash_truncated: return "multihash is shorter than its declared digest length";
      case errc::multihash_digest_too_long: return "multihash digest is longer than 64 bytes";
      case errc::multihash_trailing_bytes: return "multihash has bytes after its digest";
      case errc::key_malformed: return "key is not a valid libp2p protobuf key encoding";
      case errc::key_unsupported_type: return "key type is not supported (only Ed25519)";
      case errc::key_wrong_length: return "Ed25519 key material has the wrong length";
      case errc::key_halves_disagree:
        return "Ed25519 private key's public half does not match its seed";
      case errc::key_file_io: return "key file could not be read or written";
      case errc::signature_invalid: return "signature does not verify with the given public key";
      case errc::crypto_failure: return "libsodium could not be initialised";
      case errc::peer_id_empty: return "PeerId text is empty";
      case errc::peer_id_invalid_multibase:
        return "PeerId text is neither base58btc nor a base32 ('b') CID";
      case errc::peer_id_invalid_cid: return "CID is not a CIDv1 with the libp2p-key codec (0x72)";
      case errc::peer_id_not_u64: return "PeerId is not an identity multihash of 8 bytes";
      case errc::multiaddr_empty_string: return "multiaddr text is empty";
      case errc::multiaddr_missing_leading_slash: return "multiaddr text must start with '/'";
      case errc::multiaddr_unknown_protocol: return "multiaddr names an unknown protocol";
      case errc::multiaddr_missing_value: return "multiaddr protocol is missing its value";
      case errc::multiaddr_invalid_value: return "multiaddr protocol value is invalid";
      case errc::multiaddr_truncated: return "binary multiaddr ends inside a component";
      case errc::multiaddr_unknown_code: return "binary multiaddr has an unknown protocol code";
      case errc::multiaddr_too_long: return "multiaddr is longer than the 1024-byte limit";
      case errc::receipt_malformed:
        return "receipt is not a count of at least 1 with an optional reason label of at most 64 "
               "characters [a-z0-9_:]";
      case errc::frame_too_large: return "frame length exceeds the configured maximum";
      case errc::envelope_too_large: return "envelope exceeds max_total_bytes";
      case errc::envelope_malformed: return "envelope is not a valid WireEnvelope protobuf";
      case errc::envelope_version_mismatch:
        return "envelope schema_version is not 0 or 1 (sender speaks a newer schema)";
      case errc::envelope_too_many_fills: return "envelope has more slot fills than max_slot_fills";
      case errc::envelope_fill_payload_too_large:
        return "a slot fill's payload exceeds max_per_fill_bytes";
      case errc::envelope_fill_suffix_too_large:
        return "a slot fill's dest_suffix exceeds max_dest_suffix_bytes";
      case errc::envelope_too_many_src_addresses:
        return "envelope has more src_peer_addresses than max_src_peer_addresses";
      case errc::envelope_src_address_too_large:
        return "a src_peer_address exceeds max_src_peer_address_bytes";
      case errc::envelope_too_many_dest_addresses:
        return "envelope has more dest_peer_addresses than max_dest_peer_addresses";
      case errc::envelope_too_many_rtt_reports:
        return "envelope has more edge_rtt_reports than max_edge_rtt_reports";
      case errc::mss_message_too_long: return "multistream-select message is longer than the limit";
      case errc::mss_malformed_message:
        return "multistream-select message is not a newline-terminated line";
      case errc::mss_bad_header: return "peer did not open with /multistream/1.0.0";
      case errc::mss_protocol_not_supported: return "peer does not support the requested protocol";
      case errc::mss_unexpected_message: return "unexpected multistream-select message";
      case errc::noise_frame_too_large: return "Noise message is longer than 65535 bytes";
      case errc::noise_truncated: return "Noise message is shorter than its contents require";
      case errc::noise_decrypt_failed:
        return "Noise message failed authentication (corrupt, or the wrong key)";
      case errc::noise_unexpected_message: return "Noise message arrived out of turn";
      case errc::noise_nonce_exhausted:
        return "Noise nonce space exhausted: the connection must be closed";
      case errc::noise_payload_invalid:
        return "Noise handshake payload is not a valid libp2p payload";
      case errc::noise_peer_id_mismatch:
        return "remote proved a different PeerId than the one dialed";
      case errc::noise_bad_public_key: return "Noise static or ephemeral key is invalid";
      case errc::yamux_bad_version: return "yamux frame has an unsupported version";
      case errc::yamux_bad_type: return "yamux frame has an unknown type";
      case errc::yamux_bad_flags: return "yamux frame has flags invalid for its type";
      case errc::yamux_unknown_stream: return "yamux frame names a stream that does not exist";
      case errc::yamux_duplicate_stream: return "yamux SYN for a stream id already in use";
      case errc::yamux_window_exceeded: return "yamux peer sent more data than the window allows";
      case errc::yamux_frame_too_large: return "yamux frame length exceeds the limit";
      case errc::yamux_too_many_streams: return "yamux stream limit reached";
      case errc::yamux_stream_closed: return "yamux stream is closed for writing";
      case errc::yamux_stream_reset: return "yamux stream was reset";
      case errc::yamux_session_closed: return "yamux session is closed";
      case errc::yamux_go_away: return "yamux peer sent go-away";
      case errc::handshake_timeout: return "connection handshake did not finish in time";
      case errc::peer_unreachable: return "peer could not be reached at any of its addresses";
      case errc::connection_limit: return "connection limit reached";
      case errc::ping_mismatch: return "ping reply does not echo the payload sent";
      case errc::identify_invalid: return "identify message is malformed or too large";
      case errc::identify_key_mismatch:
        return "identify public key does not match the connection's PeerId";
      case errc::perf_short_transfer: return "perf transfer ended before the agreed byte count";
      case errc::perf_request_too_large: return "perf download request exceeds the server's limit";
      case errc::resource_memory_limit: return "memory limit of a resource scope reached";
      case errc::resource_stream_limit: return "stream limit of a resource scope reached";
      case errc::resource_connection_limit: return "connection limit of a resource scope reached";
      case errc::resource_fd_limit: return "file descriptor limit reached";
      case errc::ip_connection_limit: return "too many connections from this IP address";
      case errc::pending_connection_limit: return "too many handshakes in progress";
      case errc::pending_connection_evicted:
        return "handshake evicted to make room for a newer one (its address had the most pending)";
      case errc::connection_trimmed:
        return "connection closed by the connection manager (over the high-water mark, idle)";
      case errc::dial_limit: return "too many outbound dials in progress";
      case errc::output_backlog_exceeded:
        return "the peer does not read what it asks for: output backlog over its bound";
      case errc::origin_signature_missing:
        return "message relayed for another origin carries no origin signature";
      case errc::origin_signature_invalid:
        return "origin signature does not verify with the origin's key";
    }
    return "unknown bb.wire error " + std::to_string(ev);
  }
};

}  // namespace

std::string error_text(const std::exception& e) {
  std::string text = e.what();
  if (!text.empty() && text.back() == ']') {
    if (auto at = text.rfind(" ["); at != std::string::npos) text.resize(at);
  }
  return text;
}

const boost::system::error_category& wire_category() noexcept {
  static const WireCategory category;
  return category;
}

}  // namespace bb::wire

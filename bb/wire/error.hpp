// Error codes of bb::wire. Decoders of remote input return these as values
// (boost::system::result / error_code); nothing in wire/ aborts or throws on bad input. Callers
// at a connection boundary close only the offending stream or connection.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <exception>
#include <string>
#include <type_traits>

namespace bb::wire {

enum class errc {
  // 1..: unsigned varint
  varint_truncated = 1,
  varint_non_minimal,
  varint_too_long,
  // base58 / base32 / hex
  base58_invalid_character,
  base32_invalid_character,
  base32_invalid_length,
  hex_invalid,
  text_too_long,
  // multihash
  multihash_truncated,
  multihash_digest_too_long,
  multihash_trailing_bytes,
  // keys
  key_malformed,
  key_unsupported_type,
  key_wrong_length,
  key_halves_disagree,
  key_file_io,
  signature_invalid,
  crypto_failure,
  // PeerId
  peer_id_empty,
  peer_id_invalid_multibase,
  peer_id_invalid_cid,
  peer_id_not_u64,
  // multiaddr
  multiaddr_empty_string,
  multiaddr_missing_leading_slash,
  multiaddr_unknown_protocol,
  multiaddr_missing_value,
  multiaddr_invalid_value,
  multiaddr_truncated,
  multiaddr_unknown_code,
  multiaddr_too_long,
  // framing
  frame_too_large,
  // envelope
  envelope_too_large,
  envelope_malformed,
  envelope_version_mismatch,
  envelope_too_many_fills,
  envelope_fill_payload_too_large,
  envelope_fill_suffix_too_large,
  envelope_too_many_src_addresses,
  envelope_src_address_too_large,
  envelope_too_many_dest_addresses,
  envelope_too_many_rtt_reports,
  // receipts on /bb/wire/1.0.0
  receipt_malformed,
  // multistream-select
  mss_message_too_long,
  mss_malformed_message,
  mss_bad_header,
  mss_protocol_not_supported,
  mss_unexpected_message,
  // noise
  noise_frame_too_large,
  noise_truncated,
  noise_decrypt_failed,
  noise_unexpected_message,
  noise_nonce_exhausted,
  noise_payload_invalid,
  noise_peer_id_mismatch,
  noise_bad_public_key,
  // yamux
  yamux_bad_version,
  yamux_bad_type,
  yamux_bad_flags,
  yamux_unknown_stream,
  yamux_duplicate_stream,
  yamux_window_exceeded,
  yamux_frame_too_large,
  yamux_too_many_streams,
  yamux_stream_closed,
  yamux_stream_reset,
  yamux_session_closed,
  yamux_go_away,
  // connections
  handshake_timeout,
  peer_unreachable,
  connection_limit,
  // protocols
  ping_mismatch,
  identify_invalid,
  identify_key_mismatch,
  perf_short_transfer,
  perf_request_too_large,
  // resources (wire/resource_manager.hpp): a scope refused to grow
  resource_memory_limit,
  resource_stream_limit,
  resource_connection_limit,
  resource_fd_limit,
  // connection manager (wire/host.hpp)
  ip_connection_limit,
  pending_connection_limit,
  pending_connection_evicted,
  connection_trimmed,
  dial_limit,
  output_backlog_exceeded,
  // authenticated origins
  origin_signature_missing,
  origin_signature_invalid,
};

const boost::system::error_category& wire_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), wire_category()};
}

template <class T>
using result = boost::system::result<T>;

// An exception's text for people: Boost's system_error appends " [category:value at
// file:line ...]" to what(), which helps a debugger, not a user; that suffix is dropped.
std::string error_text(const std::exception& e);

}  // namespace bb::wire

template <>
struct boost::system::is_error_code_enum<bb::wire::errc> : std::true_type {};

// Error codes of bb::dht: why a peer's DHT stream is closed, why a record or a provider is
// refused, and why a lookup ends without an answer. A stream closed for one of these loses only
// that stream; the connection and the peer's other protocols live on.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace bb::dht {

enum class errc {
  bad_message = 1,    // the frame is not a protobuf kad Message
  message_too_large,  // a frame's length prefix is over KademliaOptions::max_message_bytes
  message_truncated,  // the stream ended inside a message
  message_limit,      // a message holds more peers, addresses or bytes than allowed
  bad_key,            // a key that is empty, too long, or not of the kind the type needs
  bad_record,         // a record its namespace's validator refuses
  unknown_namespace,  // a record key outside the namespaces we validate (/pk/, /bb/)
  bad_provider,       // ADD_PROVIDER naming a provider other than the sender
  peer_query_limit,   // the peer has too many requests running here at once
  store_full,         // a store refused the entry (its own bound or the peer's share)
  not_found,          // the lookup ended without the value, the peer or a provider
  timeout,            // the lookup's time ran out
  no_peers,           // the routing table is empty: nobody to ask
  stopped,            // the DHT stopped
  bad_response,       // a response of the wrong type, or one that answers another key
};

const boost::system::error_category& dht_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), dht_category()};
}

}  // namespace bb::dht

template <>
struct boost::system::is_error_code_enum<bb::dht::errc> : std::true_type {};

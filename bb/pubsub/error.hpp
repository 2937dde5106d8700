// Error codes of bb::pubsub: what a peer's pubsub stream is closed for, and why a publish fails.
// A stream closed for one of these loses only that stream; the connection and the peer's other
// protocols live on.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace bb::pubsub {

enum class errc {
  bad_rpc = 1,        // the frame is not a protobuf RPC
  rpc_limit,          // an RPC holds more subscriptions, messages or control ids than allowed
  rpc_too_large,      // a frame's length prefix is over GossipsubConfig::max_rpc_bytes
  rpc_truncated,      // the stream ended inside a frame
  topic_limit,        // the peer subscribed to more topics than max_topics_per_peer
  not_subscribed,     // publish/await on a topic we have not joined where that is required
  no_peers,           // publish found no peer subscribed to the topic
  message_too_large,  // publish of data over max_message_bytes
  stopped,            // the pubsub service stopped
};

const boost::system::error_category& pubsub_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), pubsub_category()};
}

}  // namespace bb::pubsub

template <>
struct boost::system::is_error_code_enum<bb::pubsub::errc> : std::true_type {};

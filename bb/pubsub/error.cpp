#include "bb/pubsub/error.hpp"

#include <string>

namespace bb::pubsub {
namespace {

class PubsubCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.pubsub"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::bad_rpc: return "pubsub RPC is not a valid protobuf message";
      case errc::rpc_limit: return "pubsub RPC holds more entries than allowed";
      case errc::rpc_too_large: return "pubsub RPC is larger than max_rpc_bytes";
      case errc::rpc_truncated: return "pubsub stream ended inside an RPC";
      case errc::topic_limit: return "peer subscribed to more topics than max_topics_per_peer";
      case errc::not_subscribed: return "not subscribed to the topic";
      case errc::no_peers: return "no connected peer is subscribed to the topic";
      case errc::message_too_large: return "message data is larger than max_message_bytes";
      case errc::stopped: return "pubsub service stopped";
    }
    return "unknown bb.pubsub error " + std::to_string(ev);
  }
};

}  // namespace

const boost::system::error_category& pubsub_category() noexcept {
  static const PubsubCategory category;
  return category;
}

}  // namespace bb::pubsub

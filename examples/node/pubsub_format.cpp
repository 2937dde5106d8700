#include "examples/node/pubsub_format.hpp"

#include "examples/node/output_format.hpp"

namespace bb::cli {

nlohmann::json to_json(const pubsub::PubsubMessage& m) {
  nlohmann::json j = {{"event", "pubsub"},
                      {"topic", m.topic()},
                      {"from", m.author() ? m.author()->to_base58() : std::string()},
                      {"seqno", m.seqno()}};
  put_payload(j, wire::as_chars(m.data()), "data");
  j["received_from"] = m.received_from.to_base58();
  return j;
}

nlohmann::json to_json(const pubsub::PubsubEvent& e) {
  return std::visit(
      [](const auto& ev) -> nlohmann::json {
        using E = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<E, pubsub::PeerSubscribed> ||
                      std::is_same_v<E, pubsub::PeerUnsubscribed>) {
          return {{"event", "topic_peer"},
                  {"topic", ev.topic},
                  {"peer", ev.peer.to_base58()},
                  {"subscribed", std::is_same_v<E, pubsub::PeerSubscribed>}};
        } else {
          return {{"event", "mesh_peer"},
                  {"topic", ev.topic},
                  {"peer", ev.peer.to_base58()},
                  {"joined", std::is_same_v<E, pubsub::MeshJoined>}};
        }
      },
      e);
}

}  // namespace bb::cli

// How bb-node prints gossipsub: a message on a topic, and a peer joining or leaving one.
#pragma once

#include "bb/pubsub/gossipsub.hpp"

#include <nlohmann/json.hpp>

namespace bb::cli {

// {"event":"pubsub","topic":T,"from":AUTHOR,"seqno":N,"data":TEXT,"received_from":PEER}; data
// as put_payload() writes it (with "encoding":"base64" when it is not UTF-8). "from" is empty
// for a message without an author (StrictNoSign).
nlohmann::json to_json(const pubsub::PubsubMessage& m);

// {"event":"topic_peer","topic":T,"peer":P,"subscribed":true|false} and
// {"event":"mesh_peer","topic":T,"peer":P,"joined":true|false}.
nlohmann::json to_json(const pubsub::PubsubEvent& e);

}  // namespace bb::cli

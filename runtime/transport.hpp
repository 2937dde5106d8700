// The seam between pipelines and the network. A send op hands the message to a Transport; the
// wire layer implements it over libp2p connections, tests implement it in memory.
#pragma once

#include "runtime/message.hpp"

#include <boost/asio/awaitable.hpp>

namespace bb::runtime {

// Thread rule: called on the owning Node's executor. send() completes when the transport has
// taken responsibility for the message (queued for writing, or written); a Denial with kind
// execution_failed and a reason such as "peer_unreachable" or "queue_full" otherwise.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual boost::asio::awaitable<Verdict> send(const Message& msg) = 0;
};

}  // namespace bb::runtime

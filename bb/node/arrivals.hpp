// The Node's way in: each envelope /bb/wire/1.1.0 or 1.0.0 hands over. A BackoffNotice is taken
// by the tables; every other fill has its origin authenticated (a relayed fill needs its
// author's signature, and travels alone) before any gate sees it, then runs the receive
// pipeline, which ends in the inbox. Over 1.1.0 each fill is a message with its own id and
// outcome; over 1.0.0 the envelope is one message, refused by its first refusal. The clock is
// read, the peer's heartbeat taken and its addresses learnt once per envelope.
// Thread rule: the Node's executor.
#pragma once

#include "bb/node/detail/core.hpp"
#include "bb/runtime/pipeline.hpp"
#include "bb/wire/protocols/bb_wire.hpp"

#include <memory>
#include <optional>
#include <string>

namespace bb::core {
class WireEnvelope;
}

namespace bb::node::detail {

class Arrivals {
 public:
  explicit Arrivals(Core& core) : core_(core) {}

  void set_pipeline(const runtime::Pipeline* rx) { rx_ = rx; }

  // The bb_wire::EnvelopeHandler: the refused fills, with their reasons.
  boost::asio::awaitable<wire::bb_wire::Refusals> on_envelope(
      wire::PeerId peer, std::shared_ptr<const core::WireEnvelope> env, std::size_t frame_bytes,
      bool batched);

 private:
  static std::optional<std::string> check_origin(const wire::PeerId& origin,
                                                 const core::WireEnvelope& env, int i,
                                                 std::uint64_t message_id, bool relayed);
  void learn_addresses(const wire::PeerId& peer, const core::WireEnvelope& env);

  Core& core_;
  const runtime::Pipeline* rx_ = nullptr;
};

}  // namespace bb::node::detail

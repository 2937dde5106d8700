// The Node's way in: each envelope /bb/wire/1.0.0 hands over. A BackoffNotice is taken by the
// tables; every other fill has its origin authenticated (a relayed fill needs its author's
// signature, and travels alone) before any gate sees it, then runs the receive pipeline, which
// ends in the inbox. The envelope's outcome, for its receipt, is the first refusal's reason.
// Thread rule: the Node's executor.
#pragma once

#include "bb/node/detail/core.hpp"
#include "bb/runtime/pipeline.hpp"

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

  // The bb_wire::EnvelopeHandler: "" when every fill was taken, else the first refusal's label.
  boost::asio::awaitable<std::string_view> on_envelope(
      wire::PeerId peer, std::shared_ptr<const core::WireEnvelope> env, std::size_t frame_bytes);

 private:
  static std::optional<std::string> check_origin(const wire::PeerId& origin,
                                                 const core::WireEnvelope& env, int i,
                                                 bool relayed);
  void learn_addresses(const wire::PeerId& peer, const core::WireEnvelope& env);

  Core& core_;
  const runtime::Pipeline* rx_ = nullptr;
};

}  // namespace bb::node::detail

// wire.Send: the last stage of the send pipeline. It turns the message into a one-fill
// WireEnvelope for its destination peer and hands it to the Node's WireTransport, which dials on
// demand and queues it on the peer's bounded outbound queue.
//   - unknown peer (not connected, no address): denied with `peer_resolve_failed`, as the
//     original's PeerResolveFailed;
//   - correlation: the message id (never 0; a Node mints 64 random bits, so ids cannot be
//     guessed ahead and a restarted node does not reuse them; relays keep them) as REQUEST, the
//     original's rule for a non-zero token;
//   - origin: src_peer_bytes only when the author is someone else (a forward), and the
//     author's origin signature in the fill whenever the message carries one;
//   - remaining deadline, the original's rule: a message that carries a budget (a forward, or an
//     explicit one) sends budget − elapsed (an exhausted budget is denied with
//     `deadline_exceeded` rather than sent without one); else the `deadline_ns` attribute as a
//     relative budget; else the peer's RTT estimate (SRTT + 4·RTTVAR), else 100 ms, raised to
//     the `min_budget_ns` attribute (default 1 s): on loopback the RTT rule alone gives a hop
//     well under a millisecond, which a busy receiver or a full queue outlasts.
#include "async/clock.hpp"
#include "runtime/wire_transport.hpp"
#include "syscalls/detail/gate_common.hpp"

#include <algorithm>

namespace bb::syscalls {

const OpId kWireSend{kWireDomain, "Send"};

namespace {

using namespace runtime;

constexpr std::uint64_t kDefaultMinBudgetNs = 1'000'000'000;
constexpr std::uint32_t kCorrelationNone = 0;
constexpr std::uint32_t kCorrelationRequest = 1;

class WireSend final : public Stage {
 public:
  WireSend(const onnx::NodeProto& node, const StageContext& ctx)
      : Stage(stage_name(node)), wire_(ctx.wire), peers_(ctx.peers), clock_(ctx.clock) {
    if (wire_ == nullptr) {
      throw_attribute_error(node, "(context)",
                            "wire.Send needs a WireTransport: build it inside a bb::runtime::Node");
    }
    deadline_ns_ = uint_attribute(node, "deadline_ns").value_or(0);
    min_budget_ns_ = uint_attribute(node, "min_budget_ns").value_or(kDefaultMinBudgetNs);
  }

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    if (!wire_->resolvable(msg.peer)) {
      co_return detail::deny(DenyKind::execution_failed, reason::peer_resolve_failed,
                             "no connection to and no address for peer " + msg.peer.to_base58());
    }
    std::uint64_t budget = 0;
    if (msg.budget_ns != 0) {
      const std::uint64_t elapsed = clock_.now_ns() - std::min(msg.start_ns, clock_.now_ns());
      if (elapsed >= msg.budget_ns) {
        co_return detail::deny(
            DenyKind::timeout, reason::deadline_exceeded,
            "the message's budget of " + detail::ms(msg.budget_ns) + " ran out before it was sent");
      }
      budget = msg.budget_ns - elapsed;
    } else {
      const auto rtt = peers_.rtt().estimate(msg.peer);
      budget = hop_budget_ns(rtt ? &*rtt : nullptr, deadline_ns_, min_budget_ns_);
    }
    wire::SingleFillEnvelope env;
    env.dest_suffix = msg.dest_suffix;
    env.payload = msg.payload;
    env.trigger_only = msg.trigger_only;
    env.type_hash = msg.type_hash;
    env.correlation_kind = msg.message_id != 0 ? kCorrelationRequest : kCorrelationNone;
    env.wire_req_id = msg.message_id;
    env.remaining_deadline_ns = budget;
    // The author travels only with relayed messages; a receiver takes the connection's
    // authenticated peer as the origin otherwise.
    if (msg.origin != wire_->local_peer()) env.src_peer = msg.origin.bytes();
    env.origin_signature = msg.origin_signature;
    env.src_addresses = wire_->local_addresses(msg.peer);
    co_return co_await wire_->send(msg, env);
  }

 private:
  WireTransport* wire_;
  PeerTables& peers_;
  async::Clock& clock_;
  std::uint64_t deadline_ns_ = 0;
  std::uint64_t min_budget_ns_ = kDefaultMinBudgetNs;
};

std::unique_ptr<Stage> make(const onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<WireSend>(node, ctx);
}

}  // namespace

BB_REGISTER_OP(wire_send, kWireSend.domain, kWireSend.op_type, &make);

}  // namespace bb::syscalls

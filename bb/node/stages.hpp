// The Node's own last stages, appended to the gates it builds from the op registry:
//
//   SendStage    (named "wire.Send"): the message becomes a one-fill WireEnvelope for its
//                destination and goes to the peer's outbound link;
//   DeliverStage (named "wire.Recv"): a fill that passed the receive gates goes to the inbox.
//
// They are not registered ops: they need the Node's rooms, which an op built from a NodeProto
// could only reach through a back door. Thread rule: the Node's executor.
#pragma once

#include "bb/node/detail/core.hpp"
#include "bb/node/outbound.hpp"
#include "bb/runtime/stage.hpp"

#include <memory>
#include <unordered_map>
#include <variant>

namespace bb::node::detail {

class Inbox;
class Requests;

// The rules of wire.Send:
//   - unknown peer (not connected, no address): denied with `peer_resolve_failed`, as the
//     original's PeerResolveFailed;
//   - correlation: the message id (never 0; a Node mints 64 random bits, so ids cannot be
//     guessed ahead and a restarted node does not reuse them; relays keep them), as REQUEST
//     unless the message says RESPONSE;
//   - origin: src_peer_bytes only when the author is someone else (a forward), and the
//     author's origin signature in the fill whenever the message carries one;
//   - remaining deadline, the original's rule: a message that carries a budget (a forward, or an
//     explicit one) sends budget − elapsed (an exhausted budget is denied with
//     `deadline_exceeded` rather than sent without one); else `deadline_ns` as a relative
//     budget; else the peer's RTT estimate (SRTT + 4·RTTVAR), else 100 ms, raised to
//     `min_budget_ns`: on loopback the RTT rule alone gives a hop well under a millisecond,
//     which a busy receiver or a full queue outlasts.
class SendStage final : public runtime::Stage {
 public:
  SendStage(Core& core, Outbound& outbound, std::uint64_t deadline_ns, std::uint64_t min_budget_ns);

  boost::asio::awaitable<runtime::Verdict> invoke(runtime::Message& msg) override;
  // Queued at once when the link is open and has room; everything else is invoke()'s.
  bool try_invoke(runtime::Message& msg, runtime::Verdict& verdict) override;

  // The send() running `msg` awaits its receipt through `waiter`.
  void expect_receipt(const runtime::Message& msg, std::shared_ptr<Outbound::Waiter> waiter) {
    waiters_[&msg] = std::move(waiter);
  }
  void forget(const runtime::Message& msg) { waiters_.erase(&msg); }

 private:
  // The envelope for `msg` and its deadline, or the denial of a message whose budget ran out.
  struct Prepared {
    wire::SingleFillEnvelope env;
    std::uint64_t deadline_ns = 0;
  };
  std::variant<Prepared, runtime::Denial> prepare(const runtime::Message& msg) const;
  std::shared_ptr<Outbound::Waiter> waiter_for(const runtime::Message& msg) const;

  Core& core_;
  Outbound& outbound_;
  std::uint64_t deadline_ns_;
  std::uint64_t min_budget_ns_;
  std::unordered_map<const runtime::Message*, std::shared_ptr<Outbound::Waiter>> waiters_;
};

// A trigger-only fill is delivered as a trigger: no payload, the flag set, whatever bytes the
// sender put in it. RESPONSE fills, and fills at a service suffix (/component/0/...), go to the
// Requests room instead: never to a channel.
class DeliverStage final : public runtime::Stage {
 public:
  DeliverStage(Inbox& inbox, Requests& requests);
  boost::asio::awaitable<runtime::Verdict> invoke(runtime::Message& msg) override;
  // Queued at once in a channel with room; everything else is invoke()'s.
  bool try_invoke(runtime::Message& msg, runtime::Verdict& verdict) override;

 private:
  Inbox& inbox_;
  Requests& requests_;
};

}  // namespace bb::node::detail

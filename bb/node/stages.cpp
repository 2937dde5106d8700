#include "bb/node/stages.hpp"

#include "bb/node/inbox.hpp"
#include "bb/node/requests.hpp"
#include "bb/runtime/rtt_tracker.hpp"

#include <algorithm>
#include <cstdio>

namespace bb::node::detail {

namespace asio = boost::asio;
using runtime::DenyKind;
using runtime::Message;
using runtime::Verdict;
namespace reason = runtime::reason;

namespace {

constexpr std::uint32_t kCorrelationNone = 0;
constexpr std::uint32_t kCorrelationRequest = 1;
constexpr std::uint32_t kCorrelationResponse = 2;

std::string ms(std::uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(ns) / 1e6);
  return buf;
}

}  // namespace

SendStage::SendStage(Core& core, Outbound& outbound, std::uint64_t deadline_ns,
                     std::uint64_t min_budget_ns)
    : Stage("wire.Send"),
      core_(core),
      outbound_(outbound),
      deadline_ns_(deadline_ns),
      min_budget_ns_(min_budget_ns) {}

std::variant<SendStage::Prepared, runtime::Denial> SendStage::prepare(const Message& msg) const {
  const std::uint64_t now = core_.clock.now_ns();
  std::uint64_t budget = 0;
  if (msg.budget_ns != 0) {
    const std::uint64_t elapsed = now - std::min(msg.start_ns, now);
    if (elapsed >= msg.budget_ns) {
      return runtime::Denial{
          DenyKind::timeout,
          reason::deadline_exceeded,
          "the message's budget of " + ms(msg.budget_ns) + " ran out before it was sent",
          {}};
    }
    budget = msg.budget_ns - elapsed;
  } else {
    const auto rtt = core_.tables.rtt().estimate(msg.peer);
    budget = runtime::hop_budget_ns(rtt ? &*rtt : nullptr, deadline_ns_, min_budget_ns_);
  }
  Prepared p;
  wire::SingleFillEnvelope& env = p.env;
  env.dest_suffix = msg.dest_suffix;
  env.payload = msg.payload;
  env.trigger_only = msg.trigger_only;
  env.type_hash = msg.type_hash;
  env.correlation_kind = msg.message_id == 0 ? kCorrelationNone
                         : msg.response      ? kCorrelationResponse
                                             : kCorrelationRequest;
  env.wire_req_id = msg.message_id;
  env.remaining_deadline_ns = budget;
  // The author travels only with relayed messages; a receiver takes the connection's
  // authenticated peer as the origin otherwise.
  if (msg.origin != core_.self) env.src_peer = msg.origin.bytes();
  env.origin_signature = msg.origin_signature;
  env.src_addresses = outbound_.local_addresses(msg.peer);
  p.deadline_ns = async::saturating_add(now, budget);
  return p;
}

std::shared_ptr<Outbound::Waiter> SendStage::waiter_for(const Message& msg) const {
  if (waiters_.empty()) return nullptr;
  auto it = waiters_.find(&msg);
  return it == waiters_.end() ? nullptr : it->second;
}

bool SendStage::try_invoke(Message& msg, Verdict& verdict) {
  auto prepared = prepare(msg);
  auto* p = std::get_if<Prepared>(&prepared);
  if (p == nullptr || !outbound_.try_send(msg.peer, msg.message_id, p->env, waiter_for(msg))) {
    return false;
  }
  verdict.reset();
  return true;
}

asio::awaitable<Verdict> SendStage::invoke(Message& msg) {
  if (!outbound_.resolvable(msg.peer)) {
    co_return runtime::Denial{DenyKind::execution_failed,
                              reason::peer_resolve_failed,
                              "no connection to and no address for peer " + msg.peer.to_base58(),
                              {}};
  }
  auto prepared = prepare(msg);
  if (auto* denial = std::get_if<runtime::Denial>(&prepared)) co_return std::move(*denial);
  const Prepared& p = std::get<Prepared>(prepared);
  co_return co_await outbound_.send(msg.peer, msg.message_id, p.env, p.deadline_ns,
                                    waiter_for(msg));
}

DeliverStage::DeliverStage(Inbox& inbox, Requests& requests)
    : Stage("wire.Recv"), inbox_(inbox), requests_(requests) {}

bool DeliverStage::try_invoke(Message& msg, Verdict& verdict) {
  if (msg.dest_suffix.empty() || msg.response || requests_.is_service(msg.dest_suffix)) {
    return false;
  }
  if (msg.trigger_only) msg.payload = {};  // synthesized trigger
  if (!inbox_.try_deliver(msg)) return false;
  verdict.reset();
  return true;
}

asio::awaitable<Verdict> DeliverStage::invoke(Message& msg) {
  if (msg.dest_suffix.empty()) {
    co_return runtime::Denial{DenyKind::bad_input,
                              reason::no_subscriber,
                              "fill " + std::to_string(msg.fill_index) + " from " +
                                  msg.peer.to_base58() + " has no dest_suffix",
                              {}};
  }
  if (msg.response) co_return requests_.on_response(msg);
  if (requests_.is_service(msg.dest_suffix)) co_return co_await requests_.on_request(msg);
  if (msg.trigger_only) msg.payload = {};  // synthesized trigger
  co_return co_await inbox_.deliver(msg);
}

}  // namespace bb::node::detail

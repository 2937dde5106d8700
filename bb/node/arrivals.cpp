#include "bb/node/arrivals.hpp"

#include "bb/node/inbox.hpp"
#include "bb/proto/bb_core.pb.h"
#include "bb/runtime/backpressure.hpp"
#include "bb/wire/envelope.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace bb::node::detail {

namespace asio = boost::asio;
namespace reason = runtime::reason;

namespace {
constexpr std::uint32_t kCorrelationResponse = 2;
}

asio::awaitable<std::string_view> Arrivals::on_envelope(
    wire::PeerId peer, std::shared_ptr<const core::WireEnvelope> env, std::size_t frame_bytes) {
  core_.metrics.bytes_in += frame_bytes;
  core_.tables.on_heartbeat(peer);
  if (env->fills_size() > 0 && env->fills(0).type_hash() == kBackoffNoticeTypeHash) {
    const auto& p = env->fills(0).payload();
    auto notice = runtime::BackoffNotice::decode(
        wire::ByteView(reinterpret_cast<const std::uint8_t*>(p.data()), p.size()));
    if (!notice) co_return std::string_view("bad_backoff_notice");
    ++core_.metrics.backoff_notices_received;
    core_.tables.on_backoff_notice(peer, notice->min_backoff_ns);
    co_return std::string_view{};
  }
  wire::PeerId origin = peer;
  if (!env->src_peer_bytes().empty() &&
      !std::ranges::equal(as_view(env->src_peer_bytes()), peer.bytes())) {
    auto parsed = wire::PeerId::from_bytes(as_view(env->src_peer_bytes()));
    if (!parsed) co_return std::string_view("bad_src_peer");
    origin = *parsed;
  }
  const bool relayed = origin != peer;
  if (!relayed) learn_addresses(peer, *env);
  std::string_view refusal;
  const auto now = core_.clock.now_ns();
  for (int i = 0; i < env->fills_size(); ++i) {
    const auto& fill = env->fills(i);
    // Authenticated origins, before any gate (DedupGateRx above all) sees the fill.
    const wire::ByteView signature = as_view(fill.origin_signature());
    if (relayed || !signature.empty()) {
      if (auto forged = check_origin(origin, *env, i, relayed)) {
        ++core_.metrics.drops["rx:" + std::string(reason::forged_origin)];
        if (refusal.empty()) refusal = reason::forged_origin;
        spdlog::debug("refused fill {} of message {} from {} claiming origin {}: {}", i,
                      env->correlation().wire_req_id(), peer.to_base58(), origin.to_base58(),
                      *forged);
        continue;
      }
    }
    runtime::Message m;
    m.direction = runtime::Direction::rx;
    m.peer = peer;
    m.origin = origin;
    m.message_id = env->correlation().wire_req_id();
    m.response = env->correlation().kind() == kCorrelationResponse;
    m.fill_index = static_cast<std::uint32_t>(i);
    m.dest_suffix = as_view(fill.dest_suffix());
    m.payload = as_view(fill.payload());
    m.trigger_only = fill.trigger_only();
    m.type_hash = fill.type_hash();
    m.origin_signature = signature;
    m.start_ns = now;
    m.budget_ns = env->remaining_deadline_ns();
    m.storage = env;  // the inbox shares the envelope rather than copy out of it
    auto verdict = co_await rx_->run(m);
    if (verdict) {
      ++core_.metrics.drops["rx:" + std::string(verdict->reason)];
      if (refusal.empty()) refusal = verdict->reason;
      spdlog::debug("refused fill {} of message {} from {}: {}", i, m.message_id, peer.to_base58(),
                    verdict->detail);
    } else {
      ++core_.metrics.messages_in;
    }
  }
  co_return refusal;
}

// Why fill `i` of `env` cannot be taken as `origin`'s words; nullopt when it can. A relayed
// fill (origin not the connection's peer) needs the origin's signature and must travel alone:
// the signature does not cover the fill's index, which DedupGateRx keys on, so a second fill
// would replay the first under another key. A signature on a fill from its author is checked
// too, so what Received::origin_signature holds always verifies.
std::optional<std::string> Arrivals::check_origin(const wire::PeerId& origin,
                                                  const core::WireEnvelope& env, int i,
                                                  bool relayed) {
  if (relayed && env.fills_size() != 1) {
    return "a message relayed for another origin travels alone, not in an envelope of " +
           std::to_string(env.fills_size()) + " fills";
  }
  const auto& fill = env.fills(i);
  wire::OriginFields fields;
  fields.message_id = env.correlation().wire_req_id();
  fields.dest_suffix = as_view(fill.dest_suffix());
  fields.payload = as_view(fill.payload());
  fields.trigger_only = fill.trigger_only();
  fields.type_hash = fill.type_hash();
  if (auto ec = wire::verify_origin(origin, fields, as_view(fill.origin_signature()))) {
    return ec.message();
  }
  return std::nullopt;
}

void Arrivals::learn_addresses(const wire::PeerId& peer, const core::WireEnvelope& env) {
  // At most the peer store's bound per peer are kept; a link sends them once.
  int n = 0;
  for (const auto& bytes : env.src_peer_addresses()) {
    if (++n > 32) break;
    if (auto addr = wire::Multiaddr::from_bytes(as_view(bytes))) {
      core_.peers.add_address(peer, *addr, AddressSource::envelope);
    }
  }
}

}  // namespace bb::node::detail

#include "bb/node/arrivals.hpp"

#include "bb/node/inbox.hpp"
#include "bb/proto/bb_core.pb.h"
#include "bb/runtime/backpressure.hpp"
#include "bb/wire/envelope.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace bb::node::detail {

namespace asio = boost::asio;
namespace reason = runtime::reason;

namespace {
constexpr std::uint32_t kCorrelationResponse = 2;
}

asio::awaitable<wire::bb_wire::Refusals> Arrivals::on_envelope(
    wire::PeerId peer, std::shared_ptr<const core::WireEnvelope> env, std::size_t frame_bytes,
    bool batched) {
  wire::bb_wire::Refusals refused;
  auto refuse = [&refused](int i, std::string_view why) {
    refused.push_back({static_cast<std::uint32_t>(i), why});
  };
  core_.metrics.bytes_in += frame_bytes;
  ++core_.metrics.envelopes_in;
  core_.tables.on_heartbeat(peer);
  // A BackoffNotice travels alone (the sender never batches control envelopes); over 1.0.0 its
  // envelope is the notice.
  if (env->fills_size() > 0 && env->fills(0).type_hash() == kBackoffNoticeTypeHash &&
      (!batched || env->fills_size() == 1)) {
    const auto& p = env->fills(0).payload();
    auto notice = runtime::BackoffNotice::decode(
        wire::ByteView(reinterpret_cast<const std::uint8_t*>(p.data()), p.size()));
    if (!notice) {
      refuse(0, "bad_backoff_notice");
      co_return refused;
    }
    ++core_.metrics.backoff_notices_received;
    core_.tables.on_backoff_notice(peer, notice->min_backoff_ns);
    co_return refused;
  }
  wire::PeerId origin = peer;
  if (!env->src_peer_bytes().empty() &&
      !std::ranges::equal(as_view(env->src_peer_bytes()), peer.bytes())) {
    auto parsed = wire::PeerId::from_bytes(as_view(env->src_peer_bytes()));
    if (!parsed) {
      for (int i = 0; i < std::max(env->fills_size(), 1); ++i) refuse(i, "bad_src_peer");
      co_return refused;
    }
    origin = *parsed;
  }
  const bool relayed = origin != peer;
  if (!relayed) learn_addresses(peer, *env);
  const auto now = core_.clock.now_ns();
  // The small messages of a batch share one block for their bytes (one allocation per batch,
  // not one per message); the envelope itself is then free to be reused for the next frame.
  std::shared_ptr<std::uint8_t[]> block;
  std::size_t block_at = 0;
  if (batched && env->fills_size() > 1) {
    std::size_t total = 0;
    for (const auto& fill : env->fills()) {
      if (fill.payload().size() < kSharedPayloadBytes) {
        total += fill.dest_suffix().size() + fill.payload().size() + fill.origin_signature().size();
      }
    }
    if (total > 0) block = std::make_shared_for_overwrite<std::uint8_t[]>(total);
  }
  auto into_block = [&block, &block_at](const std::string& bytes) {
    if (!bytes.empty()) std::memcpy(block.get() + block_at, bytes.data(), bytes.size());
    const wire::ByteView view(block.get() + block_at, bytes.size());
    block_at += bytes.size();
    return view;
  };
  for (int i = 0; i < env->fills_size(); ++i) {
    const auto& fill = env->fills(i);
    // Over 1.1.0 a fill with its own correlation is a message of its own; one without takes
    // the envelope's (a one-fill envelope is written as under 1.0.0).
    const bool own = batched && fill.has_wire_req_id();
    const std::uint64_t message_id = own ? fill.wire_req_id() : env->correlation().wire_req_id();
    const auto kind = own ? fill.correlation_kind() : env->correlation().kind();
    // Authenticated origins, before any gate (DedupGateRx above all) sees the fill.
    const wire::ByteView signature = as_view(fill.origin_signature());
    if (relayed || !signature.empty()) {
      if (auto forged = check_origin(origin, *env, i, message_id, relayed)) {
        ++core_.metrics.drops["rx:" + std::string(reason::forged_origin)];
        refuse(i, reason::forged_origin);
        spdlog::debug("refused fill {} of message {} from {} claiming origin {}: {}", i, message_id,
                      peer.to_base58(), origin.to_base58(), *forged);
        continue;
      }
    }
    runtime::Message m;
    m.direction = runtime::Direction::rx;
    m.peer = peer;
    m.origin = origin;
    m.message_id = message_id;
    m.response = kind == kCorrelationResponse;
    // Over 1.1.0 each message is the only fill of its own; DedupGateRx keys on (id, index).
    m.fill_index = batched ? 0 : static_cast<std::uint32_t>(i);
    m.dest_suffix = as_view(fill.dest_suffix());
    m.payload = as_view(fill.payload());
    m.trigger_only = fill.trigger_only();
    m.type_hash = fill.type_hash();
    m.origin_signature = signature;
    m.start_ns = now;
    m.budget_ns = own ? fill.remaining_deadline_ns() : env->remaining_deadline_ns();
    if (block && fill.payload().size() < kSharedPayloadBytes) {
      m.dest_suffix = into_block(fill.dest_suffix());
      m.payload = into_block(fill.payload());
      m.origin_signature = into_block(fill.origin_signature());
      m.storage = block;
      m.storage_is_compact = true;
    } else {
      m.storage = env;  // the inbox shares the envelope rather than copy out of it
    }
    runtime::Verdict verdict;
    std::size_t next = 0;
    if (!rx_->try_run(m, verdict, next)) verdict = co_await rx_->resume(m, next);
    if (verdict) {
      ++core_.metrics.drops["rx:" + std::string(verdict->reason)];
      refuse(i, verdict->reason);
      spdlog::debug("refused fill {} of message {} from {}: {}", i, m.message_id, peer.to_base58(),
                    verdict->detail);
    } else {
      ++core_.metrics.messages_in;
    }
  }
  co_return refused;
}

// Why fill `i` of `env` cannot be taken as `origin`'s words; nullopt when it can. A relayed
// fill (origin not the connection's peer) needs the origin's signature and must travel alone:
// the signature does not cover the fill's index, which DedupGateRx keys on, so a second fill
// would replay the first under another key. A signature on a fill from its author is checked
// too, so what Received::origin_signature holds always verifies.
std::optional<std::string> Arrivals::check_origin(const wire::PeerId& origin,
                                                  const core::WireEnvelope& env, int i,
                                                  std::uint64_t message_id, bool relayed) {
  if (relayed && env.fills_size() != 1) {
    return "a message relayed for another origin travels alone, not in an envelope of " +
           std::to_string(env.fills_size()) + " fills";
  }
  const auto& fill = env.fills(i);
  wire::OriginFields fields;
  fields.message_id = message_id;
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

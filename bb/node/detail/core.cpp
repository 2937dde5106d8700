#include "bb/node/detail/core.hpp"

#include "bb/wire/envelope.hpp"
#include "bb/wire/error.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>

namespace bb::node::detail {

void share_bytes(Received& r, wire::ByteView suffix, wire::ByteView payload,
                 std::shared_ptr<const void> storage, bool compact) {
  if (!storage || (!compact && payload.size() < kSharedPayloadBytes)) {
    // One allocation for both: cheaper than keeping a whole envelope per small message.
    const std::size_t n = suffix.size() + payload.size();
    std::shared_ptr<std::uint8_t[]> own = std::make_shared_for_overwrite<std::uint8_t[]>(n);
    std::copy(suffix.begin(), suffix.end(), own.get());
    std::copy(payload.begin(), payload.end(), own.get() + suffix.size());
    suffix = wire::ByteView(own.get(), suffix.size());
    payload = wire::ByteView(own.get() + suffix.size(), payload.size());
    storage = std::move(own);
  }
  r.suffix = suffix;
  r.payload = payload;
  r.storage = std::move(storage);
}

Received received_from(const runtime::Message& msg, std::string channel) {
  Received r;
  r.from = msg.peer;
  r.origin = msg.origin;
  r.channel = std::move(channel);
  share_bytes(r, msg.dest_suffix, msg.payload, msg.storage, msg.storage_is_compact);
  r.message_id = msg.message_id;
  r.trigger_only = msg.trigger_only;
  r.type_hash = msg.type_hash;
  r.arrival_ns = msg.start_ns;
  r.budget_ns = msg.budget_ns;
  if (msg.origin_signature.size() == wire::kOriginSignatureSize) {
    r.origin_signature.emplace();
    std::copy(msg.origin_signature.begin(), msg.origin_signature.end(),
              r.origin_signature->begin());
  }
  return r;
}

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using runtime::Denial;
using runtime::DenyKind;
namespace reason = runtime::reason;

StopAwareClock::StopAwareClock(async::Clock& inner, const asio::any_io_executor& ex)
    : inner_(inner), stop_(ex) {}

asio::awaitable<bool> StopAwareClock::sleep_until(std::uint64_t deadline_ns) {
  if (stopped_) co_return false;
  auto slept = co_await (inner_.sleep_until(deadline_ns) || stop_.wait());
  co_return slept.index() == 0 && std::get<0>(slept);
}

void StopAwareClock::stop() {
  stopped_ = true;
  stop_.set();
}

namespace {

// Request tokens travel as the envelope's wire_req_id, which the receivers' DedupGateRx keys on
// (origin, id): tokens from 1 at every node would make a node's response ids (our tokens) and its
// own requests' ids collide, and a restarted node's requests look like replays. So a Node starts
// its tokens at a random point unless the configuration chose one (first_token > 1).
NodeConfig with_random_first_token(NodeConfig config) {
  if (config.tables.requests.first_token <= 1) {
    config.tables.requests.first_token = wire::random_message_id();
  }
  return config;
}

}  // namespace

Core::Core(const asio::any_io_executor& executor, NodeConfig cfg)
    : ex(executor),
      config(with_random_first_token(std::move(cfg))),
      clock(config.clock != nullptr ? *config.clock : steady),
      stage_clock(clock, executor),
      tables(clock, events, config.tables),
      host(executor,
           config.identity ? std::move(*config.identity) : wire::Ed25519KeyPair::generate(),
           config.host),
      peers(config.peer_store, clock),
      tasks(executor) {
  config.identity.reset();
}

Denial deny(std::string_view why, std::string detail, std::string stage) {
  const auto kind =
      why == reason::queue_full || why == reason::peer_unreachable || why == reason::connection_lost
          ? DenyKind::execution_failed
          : DenyKind::other;
  return Denial{kind, why, std::move(detail), std::move(stage)};
}

std::string_view intern_reason(std::string_view text) {
  static constexpr std::string_view known[] = {
      reason::blocklisted,    reason::not_allowlisted,     reason::cooldown,
      reason::peer_down,      reason::duplicate,           reason::deadline_exceeded,
      reason::cancelled,      reason::peer_resolve_failed, reason::peer_unreachable,
      reason::queue_full,     reason::connection_lost,     reason::no_subscriber,
      reason::stopped,        reason::forged_origin,       reason::unsigned_origin,
      reason::resource_limit, reason::no_service,          reason::unknown_request,
      reason::timeout};
  for (auto k : known) {
    if (k == text) return k;
  }
  constexpr std::size_t kMaxInterned = 64;
  static std::mutex mutex;
  static std::set<std::string, std::less<>> interned;
  const std::lock_guard lock(mutex);
  if (auto it = interned.find(text); it != interned.end()) return *it;
  if (interned.size() >= kMaxInterned) return "refused";
  return *interned.emplace(text).first;
}

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return wire::error_text(e);
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace bb::node::detail

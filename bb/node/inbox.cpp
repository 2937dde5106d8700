#include "bb/node/inbox.hpp"

#include "bb/node/outbound.hpp"
#include "bb/runtime/backpressure.hpp"
#include "bb/wire/envelope.hpp"

#include <algorithm>

namespace bb::node::detail {

namespace asio = boost::asio;
using runtime::Denial;
using runtime::DenyKind;
namespace reason = runtime::reason;

namespace {

constexpr std::uint64_t fnv1a64(std::string_view text) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// What a queued message costs besides its payload and names: the Received, its deque slots and
// the allocations' headers, about.
constexpr std::size_t kQueuedMessageOverhead = 256;

// Senders with nothing waiting whose entry in waiting_from_ is kept.
constexpr std::size_t kIdleSendersKept = 256;

std::string suffix_text(wire::ByteView suffix) {
  if (auto addr = wire::Multiaddr::from_bytes(suffix)) return addr->to_string();
  return "0x" + wire::to_hex(suffix);
}

}  // namespace

const std::uint64_t kBackoffNoticeTypeHash =
    fnv1a64("ai.bytesandbrains.backpressure.BackoffNotice");

}  // namespace bb::node::detail

namespace bb::node {

wire::Multiaddr channel_suffix(std::string_view channel) {
  auto addr = wire::Multiaddr::parse("/site/" + std::to_string(detail::fnv1a64(channel)));
  return *addr;  // a /site/<u64> always parses
}

}  // namespace bb::node

namespace bb::node::detail {

Inbox::Inbox(Core& core, Outbound& outbound)
    : core_(core), outbound_(outbound), any_arrival_(core.ex), room_(core.ex) {}

asio::awaitable<runtime::Verdict> Inbox::deliver(const runtime::Message& msg) {
  if (core_.stopping) co_return deny(reason::stopped, "the node is stopping", "wire.Recv");
  const std::string key(reinterpret_cast<const char*>(msg.dest_suffix.data()),
                        msg.dest_suffix.size());
  auto it = channels_.find(key);
  if (it == channels_.end()) {
    if (unsubscribed_ >= core_.config.max_unsubscribed_channels) {
      co_return Denial{DenyKind::bad_input, reason::no_subscriber,
                       "no subscriber for " + suffix_text(msg.dest_suffix) + " and already " +
                           std::to_string(unsubscribed_) + " channels nobody subscribed to",
                       "wire.Recv"};
    }
    auto ch = std::make_shared<Channel>(core_.ex);
    ch->name = suffix_text(msg.dest_suffix);
    ++unsubscribed_;
    it = channels_.emplace(key, std::move(ch)).first;
  }
  auto ch = it->second;  // alive across suspension
  // Room in the channel, then the message's memory, charged to its sender in the Host's
  // resource manager. A sender with config.inbox_bytes_per_peer waiting to be read waits, as
  // for a full channel (its stream stops being read; nothing is lost, others go on); so does
  // one over its resource limit with anything waiting. With nothing of its waiting, a refusal
  // (the node as a whole is full) refuses the message.
  const std::size_t cost = cost_of(msg);
  wire::PeerMemory held;
  while (true) {
    if (core_.stopping) co_return deny(reason::stopped, "the node is stopping", "wire.Recv");
    if (ch->queue.size() >= core_.config.inbox_capacity) {
      co_await ch->changed.wait();
      continue;
    }
    const auto waiting = waiting_from_.find(msg.peer);
    const std::size_t queued = waiting == waiting_from_.end() ? 0 : waiting->second;
    if (queued > 0 && queued + cost > core_.config.inbox_bytes_per_peer) {
      ++core_.metrics.inbox_memory_waits;
      co_await room_.wait();
      continue;
    }
    auto reserved = core_.host.resources().hold_peer_memory(msg.peer, cost);
    if (reserved) {
      held = std::move(*reserved);
      break;
    }
    if (queued == 0) {
      co_return Denial{DenyKind::other, reason::resource_limit,
                       "a " + std::to_string(cost) + "-byte message from " + msg.peer.to_base58() +
                           " refused: " + core_.host.resources().last_refusal(),
                       "wire.Recv"};
    }
    ++core_.metrics.inbox_memory_waits;
    co_await room_.wait();
  }
  enqueue(ch, msg, std::move(held));
  co_return std::nullopt;
}

bool Inbox::try_deliver(const runtime::Message& msg) {
  if (core_.stopping) return false;
  const std::string key(reinterpret_cast<const char*>(msg.dest_suffix.data()),
                        msg.dest_suffix.size());
  auto it = channels_.find(key);
  if (it == channels_.end() || it->second->queue.size() >= core_.config.inbox_capacity) {
    return false;
  }
  const std::size_t cost = cost_of(msg);
  const auto waiting = waiting_from_.find(msg.peer);
  const std::size_t queued = waiting == waiting_from_.end() ? 0 : waiting->second;
  if (queued > 0 && queued + cost > core_.config.inbox_bytes_per_peer) return false;
  auto reserved = core_.host.resources().hold_peer_memory(msg.peer, cost);
  if (!reserved) return false;
  enqueue(it->second, msg, std::move(*reserved));
  return true;
}

std::size_t Inbox::cost_of(const runtime::Message& msg) {
  return kQueuedMessageOverhead + msg.payload.size() + 2 * msg.dest_suffix.size() +
         msg.origin.bytes().size();
}

void Inbox::enqueue(const std::shared_ptr<Channel>& ch, const runtime::Message& msg,
                    wire::PeerMemory held) {
  Received r = received_from(msg, ch->name);
  ch->queue.push_back(std::move(r));
  ch->arrivals.push_back(++arrival_counter_);
  waiting_from_[msg.peer] += held.size();
  ch->held.push_back(std::move(held));
  ch->changed.notify();
  any_arrival_.notify();
  maybe_notice(msg.peer, ch->queue.size());
}

// Receiver-side backpressure: past the high-water mark of a channel, the sender gets a
// BackoffNotice (at most one per min interval, K before going quiet), which puts it in
// cooldown. Unlike the original nothing is dropped here: a full channel stops reading the
// stream instead, so a message the sender was told is queued is never lost.
void Inbox::maybe_notice(const wire::PeerId& peer, std::size_t depth) {
  auto& bp = core_.tables.backpressure();
  if (!bp.overloaded(depth, core_.config.inbox_capacity)) return;
  const auto action =
      bp.observe_overload(peer, runtime::BackpressureCause::queue_full, 0, core_.clock.now_ns());
  if (action.kind != runtime::BackpressureAction::Kind::emit_notice) return;
  runtime::BackoffNotice notice;
  notice.min_backoff_ns = action.min_backoff_ns;
  ++core_.metrics.backoff_notices_sent;
  core_.tasks.spawn(send_notice(peer, notice), "backoff notice");
}

asio::awaitable<void> Inbox::send_notice(wire::PeerId peer, runtime::BackoffNotice notice) {
  const auto payload = notice.encode();
  const auto self_suffix = wire::Multiaddr::from_peer_id(core_.self);
  wire::SingleFillEnvelope env;
  env.dest_suffix = self_suffix.bytes();
  env.payload = wire::ByteView(payload.data(), payload.size());
  env.type_hash = kBackoffNoticeTypeHash;
  env.src_peer = core_.self.bytes();
  co_await outbound_.send_control(peer, env);
}

const wire::Bytes& Inbox::suffix_for(std::string_view channel) {
  auto it = suffixes_.find(channel);
  if (it == suffixes_.end()) {
    if (suffixes_.size() >= 4096) suffixes_.clear();  // a cache, not a registry
    const auto addr = channel_suffix(channel);
    it = suffixes_
             .emplace(std::string(channel), wire::Bytes(addr.bytes().begin(), addr.bytes().end()))
             .first;
  }
  return it->second;
}

std::shared_ptr<Inbox::Channel> Inbox::channel(std::string_view name) {
  const auto& suffix = suffix_for(name);
  const std::string key(reinterpret_cast<const char*>(suffix.data()), suffix.size());
  auto& slot = channels_[key];
  if (!slot) slot = std::make_shared<Channel>(core_.ex);
  if (!slot->subscribed) {
    if (!slot->name.empty()) --unsubscribed_;  // messages were waiting for a subscriber
    slot->subscribed = true;
    slot->name = std::string(name);
    for (auto& m : slot->queue) m.channel = slot->name;
  }
  return slot;
}

void Inbox::subscribe(std::string_view name) {
  (void)channel(name);
}

Received Inbox::pop(const std::shared_ptr<Channel>& ch) {
  Received r = std::move(ch->queue.front());
  ch->queue.pop_front();
  ch->arrivals.pop_front();
  if (auto it = waiting_from_.find(r.from); it != waiting_from_.end()) {
    it->second -= std::min(it->second, ch->held.front().size());
    // A sender whose messages were all taken keeps its entry (no allocation per message when
    // the queue keeps draining), unless many senders have come and gone.
    if (it->second == 0 && waiting_from_.size() > kIdleSendersKept) waiting_from_.erase(it);
  }
  ch->held.pop_front();
  ch->changed.notify();
  room_.notify();
  (void)core_.tables.backpressure().observe_relief(ch->queue.size(), core_.config.inbox_capacity);
  return r;
}

std::shared_ptr<Inbox::Channel> Inbox::oldest_waiting() const {
  std::shared_ptr<Channel> best;
  for (const auto& [key, ch] : channels_) {
    if (!ch->arrivals.empty() && (!best || ch->arrivals.front() < best->arrivals.front())) {
      best = ch;
    }
  }
  return best;
}

asio::awaitable<std::optional<Received>> Inbox::receive(std::string_view name) {
  auto ch = channel(name);
  while (ch->queue.empty()) {
    if (core_.stopping) co_return std::nullopt;
    co_await ch->changed.wait();
  }
  co_return pop(ch);
}

std::optional<Received> Inbox::try_receive(std::string_view name) {
  auto ch = channel(name);
  if (ch->queue.empty()) return std::nullopt;
  return pop(ch);
}

asio::awaitable<std::optional<Received>> Inbox::receive_any() {
  while (true) {
    if (auto ch = oldest_waiting()) co_return pop(ch);
    if (core_.stopping) co_return std::nullopt;
    co_await any_arrival_.wait();
  }
}

void Inbox::wake_all() {
  for (auto& [key, ch] : channels_) ch->changed.notify();
  any_arrival_.notify();
  room_.notify();
}

}  // namespace bb::node::detail

#include "runtime/node.hpp"

#include "proto/bb_core.pb.h"
#include "proto/onnx.pb.h"
#include "runtime/node_builder.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/wire_transport.hpp"
#include "async/event.hpp"
#include "async/event.hpp"
#include "async/task_group.hpp"
#include "wire/frame.hpp"
#include "wire/protocols/ping.hpp"
#include "wire/receipt.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace bb::runtime {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;

namespace {

constexpr std::uint64_t fnv1a64(std::string_view text) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The first fill of a BackoffNotice envelope carries this type hash; the receiving Node takes
// the notice before routing (bytesandbrains §2.7), and no subscriber ever sees it.
constexpr std::uint64_t kBackoffNoticeTypeHash =
    fnv1a64("ai.bytesandbrains.backpressure.BackoffNotice");
constexpr std::size_t kMaxAddressesPerPeer = 8;
// What a queued message costs besides its payload and names: the Received, its deque slots and
// the allocations' headers, about.
constexpr std::size_t kQueuedMessageOverhead = 256;
constexpr std::size_t kMaxInternedReasons = 64;

std::uint64_t to_ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

std::string_view known_reason(std::string_view text) {
  static constexpr std::string_view known[] = {
      reason::blocklisted,   reason::not_allowlisted,     reason::cooldown,
      reason::peer_down,     reason::duplicate,           reason::deadline_exceeded,
      reason::cancelled,     reason::peer_resolve_failed, reason::peer_unreachable,
      reason::queue_full,    reason::connection_lost,     reason::no_subscriber,
      reason::stopped,       reason::forged_origin,       reason::unsigned_origin,
      reason::resource_limit};
  for (auto k : known) {
    if (k == text) return k;
  }
  return {};
}

std::vector<onnx::NodeProto> default_gates(std::initializer_list<std::string_view> ops) {
  std::vector<onnx::NodeProto> out;
  for (auto op : ops) out.push_back(make_node("ai.bytesandbrains.syscall", op));
  return out;
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

// The async::Clock the Node's pipeline stages sleep on: the Node's own, except that every sleep ends
// (returning false, as a cancelled sleep does) once the Node stops, so that a gate waiting out a
// cooldown does not hold a send, or its caller, past stop().
class StopAwareClock final : public async::Clock {
 public:
  StopAwareClock(async::Clock& inner, const asio::any_io_executor& ex) : inner_(inner), stop_(ex) {}

  std::uint64_t now_ns() const noexcept override { return inner_.now_ns(); }

  asio::awaitable<bool> sleep_until(std::uint64_t deadline_ns) override {
    if (stopped_) co_return false;
    auto slept = co_await (inner_.sleep_until(deadline_ns) || stop_.wait());
    co_return slept.index() == 0 && std::get<0>(slept);
  }

  void stop() {
    stopped_ = true;
    stop_.notify();
  }

 private:
  async::Clock& inner_;
  async::Event stop_;
  bool stopped_ = false;
};

}  // namespace

wire::HostOptions default_host_options() {
  wire::HostOptions options;
  options.connection.stream_window = kNodeStreamWindow;
  return options;
}

wire::Multiaddr channel_suffix(std::string_view channel) {
  auto addr = wire::Multiaddr::parse("/site/" + std::to_string(fnv1a64(channel)));
  return *addr;  // a /site/<u64> always parses
}

std::uint64_t NodeMetrics::dropped(std::string_view reason) const {
  auto it = drops.find(reason);
  return it == drops.end() ? 0 : it->second;
}

std::uint64_t NodeMetrics::failed_sends() const {
  std::uint64_t n = 0;
  for (const auto& [reason, count] : drops) {
    if (!reason.starts_with("rx:")) n += count;
  }
  return n;
}

struct Node::Impl final : WireTransport, Inbox {
  // A send() that waits for its receipt.
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : signal(ex) {}
    async::Event signal;
    Verdict verdict;
    bool done = false;
  };

  struct Entry {
    std::uint64_t message_id = 0;
    std::size_t bytes = 0;
    std::shared_ptr<Waiter> waiter;  // null unless the sender awaits the receipt
    bool control = false;            // a BackoffNotice: not a send, not counted
  };

  // The outbound /bb/wire/1.0.0 stream to one peer, with its bounded queue. Frames are encoded
  // straight into `pending`; the writer swaps the whole buffer out and writes it at once.
  struct Link {
    enum class State : std::uint8_t { connecting, open, closed };
    Link(const asio::any_io_executor& ex, wire::PeerId p)
        : peer(std::move(p)), changed(ex), work(ex) {}
    wire::PeerId peer;
    State state = State::connecting;
    std::optional<wire::Stream> stream;
    wire::Bytes pending;
    std::deque<Entry> queued;  // entries of `pending`, in order
    std::size_t writing = 0;   // bytes taken by the writer, not yet written
    std::deque<Entry> in_flight;
    async::Event changed;  // state changes and freed room
    async::Event work;        // wakes the writer
    std::string_view failure = reason::peer_unreachable;
    std::string failure_detail;
    bool addresses_sent = false;  // our listen addresses went out on this link
  };

  struct Channel {
    explicit Channel(const asio::any_io_executor& ex) : changed(ex) {}
    std::string name;
    bool subscribed = false;
    std::deque<Received> queue;
    std::deque<std::uint64_t> arrivals;  // arrival number of each queued message
    std::deque<wire::PeerMemory> held;   // each queued message's memory, charged to its sender
    async::Event changed;     // a message arrived or room was made
  };

  Impl(const asio::any_io_executor& executor, NodeConfig cfg)
      : ex(executor),
        config(std::move(cfg)),
        clock(config.clock != nullptr ? *config.clock : steady),
        tables(clock, events, config.tables),
        host(executor,
             config.identity ? std::move(*config.identity) : wire::Ed25519KeyPair::generate(),
             config.host),
        tasks(executor) {
    config.identity.reset();
  }

  // ---- WireTransport ----

  bool resolvable(const wire::PeerId& peer) const override {
    return links.contains(peer) || host.connection(peer).has_value() || addresses.contains(peer);
  }

  const wire::PeerId& local_peer() const override { return self; }

  // Once per outbound link: the receiver remembers them.
  std::span<const wire::Bytes> local_addresses(const wire::PeerId& peer) const override {
    auto it = links.find(peer);
    if (it != links.end() && it->second->addresses_sent) return {};
    return local_addrs;
  }

  asio::awaitable<Verdict> send(const Message& msg, const wire::SingleFillEnvelope& env) override {
    if (stopping) co_return deny(reason::stopped, "the node is stopping");
    auto link = link_for(msg.peer);
    while (link->state == Link::State::connecting) co_await link->changed.wait();
    if (link->state == Link::State::closed) co_return deny(link->failure, link->failure_detail);

    const std::size_t size = wire::envelope_frame_size(env);
    const std::uint64_t deadline = async::saturating_add(clock.now_ns(), env.remaining_deadline_ns);
    while (!has_room(*link, size)) {
      if (link->state == Link::State::closed) {
        co_return deny(link->failure, link->failure_detail);
      }
      if (clock.now_ns() >= deadline) {
        co_return deny(reason::queue_full,
                       "the queue to " + msg.peer.to_base58() + " stayed full (" +
                           std::to_string(link->queued.size()) + " messages, " +
                           std::to_string(link->pending.size() + link->writing) +
                           " bytes) until the message's deadline");
      }
      co_await (link->changed.wait() || clock.sleep_until(deadline));
    }
    wire::append_envelope_frame(link->pending, env);
    if (!env.src_addresses.empty()) link->addresses_sent = true;
    Entry entry{msg.message_id, size, nullptr, false};
    if (msg.transport_context != nullptr) {
      entry.waiter = *static_cast<std::shared_ptr<Waiter>*>(msg.transport_context);
    }
    link->queued.push_back(std::move(entry));
    link->work.notify();
    co_return std::nullopt;
  }

  bool has_room(const Link& link, std::size_t size) const {
    if (link.queued.empty() && link.writing == 0) return true;  // one message always fits
    return link.queued.size() < config.max_queued_messages &&
           link.pending.size() + link.writing + size <= config.max_queued_bytes;
  }

  static Denial deny(std::string_view why, std::string detail) {
    const auto kind = why == reason::queue_full || why == reason::peer_unreachable ||
                              why == reason::connection_lost
                          ? DenyKind::execution_failed
                          : DenyKind::other;
    return Denial{kind, why, std::move(detail), "wire.Send"};
  }

  std::shared_ptr<Link> link_for(const wire::PeerId& peer) {
    touched = true;
    auto& slot = links[peer];
    if (!slot) {
      slot = std::make_shared<Link>(ex, peer);
      tasks.spawn(run_link(slot), "link " + peer.to_base58());
    }
    return slot;
  }

  asio::awaitable<wire::Connection> dial(const wire::PeerId& peer) {
    if (auto conn = host.connection(peer)) co_return *conn;
    auto it = addresses.find(peer);
    if (it == addresses.end() || it->second.empty()) {
      throw system_error(make_error_code(wire::errc::peer_unreachable),
                         "no address known for " + peer.to_base58());
    }
    const auto candidates = it->second;  // the book may change while we dial
    std::exception_ptr last;
    for (const auto& addr : candidates) {
      try {
        co_return co_await host.connect(addr);
      } catch (const system_error&) {
        last = std::current_exception();
      }
    }
    std::rethrow_exception(last);
  }

  asio::awaitable<void> run_link(std::shared_ptr<Link> link) {
    try {
      auto conn = co_await dial(link->peer);
      std::vector<std::string> protocols{std::string(wire::kBbWireProtocol)};
      link->stream.emplace(co_await conn.open_stream(std::move(protocols)));
    } catch (const system_error& e) {
      if (link->state == Link::State::closed) co_return;  // failed by stop()
      tables.on_unreachable(link->peer);
      fail_link(*link, reason::peer_unreachable,
                "cannot reach " + link->peer.to_base58() + ": " + wire::error_text(e));
      co_return;
    }
    if (link->state == Link::State::closed) co_return;
    link->state = Link::State::open;
    link->changed.notify();
    std::string detail;
    try {
      co_await (write_loop(*link) && read_receipts(*link));
    } catch (const asio::multiple_exceptions& e) {
      detail = describe(e.first_exception());
    } catch (const std::exception& e) {
      detail = wire::error_text(e);
    }
    if (link->state != Link::State::closed) {
      fail_link(*link, reason::connection_lost,
                "connection to " + link->peer.to_base58() + " lost: " + detail);
    }
  }

  asio::awaitable<void> write_loop(Link& link) {
    wire::Bytes buffer;
    while (true) {
      while (link.pending.empty() || link.in_flight.size() >= config.max_awaiting_receipt) {
        co_await link.work.wait();
      }
      buffer.swap(link.pending);
      link.pending.clear();
      std::size_t count = 0;
      for (const auto& e : link.queued) count += e.control ? 0 : 1;
      link.writing = buffer.size();
      for (auto& e : link.queued) link.in_flight.push_back(std::move(e));
      link.queued.clear();
      co_await link.stream->write(buffer);
      metrics.messages_out += count;
      metrics.bytes_out += buffer.size();
      link.writing = 0;
      buffer.clear();
      link.changed.notify();
    }
  }

  asio::awaitable<void> read_receipts(Link& link) {
    wire::FrameReader reader(wire::kMaxReceiptBody);
    while (true) {
      const std::size_t n = co_await link.stream->read_some(reader.prepare(4096));
      if (n == 0) {
        throw system_error(make_error_code(wire::errc::yamux_stream_closed),
                           "the peer closed its /bb/wire/1.0.0 stream");
      }
      reader.commit(n);
      tables.on_heartbeat(link.peer);  // receipts are traffic from the peer, as envelopes are
      bool accepted_any = false;
      while (true) {
        auto frame = reader.next();
        if (!frame) throw system_error(frame.error(), "bad receipt");
        if (!*frame) break;
        auto receipt = wire::decode_receipt(**frame);
        if (!receipt) throw system_error(receipt.error(), "bad receipt");
        if (receipt->count > link.in_flight.size()) {
          throw system_error(make_error_code(wire::errc::receipt_malformed),
                             "receipt for " + std::to_string(receipt->count) +
                                 " envelopes with only " + std::to_string(link.in_flight.size()) +
                                 " written");
        }
        const std::string_view why =
            receipt->reason.empty() ? std::string_view{} : intern(receipt->reason);
        for (std::uint64_t i = 0; i < receipt->count; ++i) {
          Entry e = std::move(link.in_flight.front());
          link.in_flight.pop_front();
          if (why.empty()) {
            accepted_any = true;
            if (!e.control) ++metrics.receipts_accepted;
            if (e.waiter) complete(*e.waiter, std::nullopt);
          } else {
            fail_entry(link.peer, e, why,
                       "peer " + link.peer.to_base58() + " refused message " +
                           std::to_string(e.message_id) + ": " + std::string(why));
          }
        }
      }
      if (accepted_any) tables.on_send_succeeded(link.peer);
      link.work.notify();  // the writer may be waiting for receipts
    }
  }

  std::string_view intern(std::string_view text) {
    if (auto k = known_reason(text); !k.empty()) return k;
    if (auto it = interned.find(text); it != interned.end()) return *it;
    if (interned.size() >= kMaxInternedReasons) return "refused";
    return *interned.emplace(text).first;
  }

  static void complete(Waiter& w, Verdict v) {
    w.verdict = std::move(v);
    w.done = true;
    w.signal.notify();
  }

  // One message that will not be delivered, counted and reported once: to its waiter when its
  // send() awaits the outcome, else as a SendFailed event (or, for `unsent`, left to the
  // caller's OutboundDropped). Returns whether the caller still has it to report.
  bool fail_entry(const wire::PeerId& peer, Entry& e, std::string_view why, std::string detail,
                  bool unsent = false) {
    if (e.control) return false;
    ++metrics.drops[std::string(why)];
    if (e.waiter) {
      complete(*e.waiter, deny(why, std::move(detail)));
      return false;
    }
    if (unsent) return true;
    events.emit(SendFailed{peer, why, std::move(detail), e.message_id});
    return false;
  }

  // Messages written and awaiting their receipt fail one by one (each may have arrived);
  // messages never written, and awaited by nobody, are one OutboundDropped.
  void fail_link(Link& link, std::string_view why, std::string detail) {
    link.state = Link::State::closed;
    link.failure = why;
    link.failure_detail = detail;
    for (auto& e : link.in_flight) fail_entry(link.peer, e, why, detail);
    std::size_t unsent = 0;
    for (auto& e : link.queued) unsent += fail_entry(link.peer, e, why, detail, true) ? 1 : 0;
    tables.on_outbound_dropped(link.peer, unsent, why);
    link.in_flight.clear();
    link.queued.clear();
    link.pending.clear();
    link.pending.shrink_to_fit();
    if (link.stream) link.stream->reset();
    if (auto it = links.find(link.peer); it != links.end() && it->second.get() == &link) {
      links.erase(it);
    }
    link.changed.notify();
    link.work.notify();
  }

  // ---- Inbox ----

  asio::awaitable<Verdict> deliver(const Message& msg) override {
    if (stopping) co_return deny(reason::stopped, "the node is stopping");
    const std::string key(reinterpret_cast<const char*>(msg.dest_suffix.data()),
                          msg.dest_suffix.size());
    auto it = channels.find(key);
    if (it == channels.end()) {
      if (unsubscribed >= config.max_unsubscribed_channels) {
        co_return Denial{DenyKind::bad_input, reason::no_subscriber,
                         "no subscriber for " + suffix_text(msg.dest_suffix) + " and already " +
                             std::to_string(unsubscribed) + " channels nobody subscribed to",
                         "wire.Recv"};
      }
      auto ch = std::make_shared<Channel>(ex);
      ch->name = suffix_text(msg.dest_suffix);
      ++unsubscribed;
      it = channels.emplace(key, std::move(ch)).first;
    }
    auto ch = it->second;  // alive across suspension
    // Room in the channel, then the message's memory, charged to its sender in the Host's
    // resource manager. A sender with config.inbox_bytes_per_peer waiting to be read waits, as
    // for a full channel (its stream stops being read; nothing is lost, others go on); so does
    // one over its resource limit with anything waiting. With nothing of its waiting, a refusal
    // (the node as a whole is full) refuses the message.
    const std::size_t cost = kQueuedMessageOverhead + msg.payload.size() +
                             2 * msg.dest_suffix.size() + msg.origin.bytes().size();
    wire::PeerMemory held;
    while (true) {
      if (stopping) co_return deny(reason::stopped, "the node is stopping");
      if (ch->queue.size() >= config.inbox_capacity) {
        co_await ch->changed.wait();
        continue;
      }
      const auto waiting = waiting_from.find(msg.peer);
      const std::size_t queued = waiting == waiting_from.end() ? 0 : waiting->second;
      if (queued > 0 && queued + cost > config.inbox_bytes_per_peer) {
        ++metrics.inbox_memory_waits;
        co_await room.wait();
        continue;
      }
      auto reserved = host.resources().hold_peer_memory(msg.peer, cost);
      if (reserved) {
        held = std::move(*reserved);
        break;
      }
      if (queued == 0) {
        co_return Denial{DenyKind::other, reason::resource_limit,
                         "a " + std::to_string(cost) + "-byte message from " +
                             msg.peer.to_base58() + " refused: " + host.resources().last_refusal(),
                         "wire.Recv"};
      }
      ++metrics.inbox_memory_waits;
      co_await room.wait();
    }
    Received r;
    r.from = msg.peer;
    r.origin = msg.origin;
    r.channel = ch->name;
    r.suffix.assign(msg.dest_suffix.begin(), msg.dest_suffix.end());
    r.payload.assign(msg.payload.begin(), msg.payload.end());
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
    ch->queue.push_back(std::move(r));
    ch->arrivals.push_back(++arrival_counter);
    waiting_from[msg.peer] += held.size();
    ch->held.push_back(std::move(held));
    ch->changed.notify();
    any_arrival.notify();
    maybe_notice(msg.peer, ch->queue.size());
    co_return std::nullopt;
  }

  static std::string suffix_text(wire::ByteView suffix) {
    if (auto addr = wire::Multiaddr::from_bytes(suffix)) return addr->to_string();
    return "0x" + wire::to_hex(suffix);
  }

  // Receiver-side backpressure: past the high-water mark of a channel, the sender gets a
  // BackoffNotice (at most one per min interval, K before going quiet), which puts it in
  // cooldown. Unlike the original nothing is dropped here: a full channel stops reading the
  // stream instead, so a message the sender was told is queued is never lost.
  void maybe_notice(const wire::PeerId& peer, std::size_t depth) {
    auto& bp = tables.backpressure();
    if (!bp.overloaded(depth, config.inbox_capacity)) return;
    const auto action = bp.observe_overload(peer, BackpressureCause::queue_full, 0, clock.now_ns());
    if (action.kind != BackpressureAction::Kind::emit_notice) return;
    BackoffNotice notice;
    notice.min_backoff_ns = action.min_backoff_ns;
    ++metrics.backoff_notices_sent;
    tasks.spawn(send_notice(peer, notice), "backoff notice");
  }

  asio::awaitable<void> send_notice(wire::PeerId peer, BackoffNotice notice) {
    auto link = link_for(peer);
    while (link->state == Link::State::connecting) co_await link->changed.wait();
    if (link->state == Link::State::closed) co_return;
    const auto payload = notice.encode();
    const auto self_suffix = wire::Multiaddr::from_peer_id(self);
    wire::SingleFillEnvelope env;
    env.dest_suffix = self_suffix.bytes();
    env.payload = wire::ByteView(payload.data(), payload.size());
    env.type_hash = kBackoffNoticeTypeHash;
    env.src_peer = self.bytes();
    const std::size_t size = wire::envelope_frame_size(env);
    wire::append_envelope_frame(link->pending, env);
    link->queued.push_back(Entry{0, size, nullptr, true});
    link->work.notify();
  }

  // ---- inbound envelopes (Host's handler) ----

  asio::awaitable<std::string_view> on_envelope(wire::PeerId peer,
                                                std::shared_ptr<const core::WireEnvelope> env,
                                                std::size_t frame_bytes) {
    metrics.bytes_in += frame_bytes;
    tables.on_heartbeat(peer);
    if (env->fills_size() > 0 && env->fills(0).type_hash() == kBackoffNoticeTypeHash) {
      const auto& p = env->fills(0).payload();
      auto notice = BackoffNotice::decode(
          wire::ByteView(reinterpret_cast<const std::uint8_t*>(p.data()), p.size()));
      if (!notice) co_return std::string_view("bad_backoff_notice");
      ++metrics.backoff_notices_received;
      tables.on_backoff_notice(peer, notice->min_backoff_ns);
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
    const auto now = clock.now_ns();
    for (int i = 0; i < env->fills_size(); ++i) {
      const auto& fill = env->fills(i);
      // Authenticated origins, before any gate (DedupGateRx above all) sees the fill.
      const wire::ByteView signature = as_view(fill.origin_signature());
      if (relayed || !signature.empty()) {
        if (auto forged = check_origin(origin, *env, i, relayed)) {
          ++metrics.drops["rx:" + std::string(reason::forged_origin)];
          if (refusal.empty()) refusal = reason::forged_origin;
          spdlog::debug("refused fill {} of message {} from {} claiming origin {}: {}", i,
                        env->correlation().wire_req_id(), peer.to_base58(), origin.to_base58(),
                        *forged);
          continue;
        }
      }
      Message m;
      m.direction = Direction::rx;
      m.peer = peer;
      m.origin = origin;
      m.message_id = env->correlation().wire_req_id();
      m.fill_index = static_cast<std::uint32_t>(i);
      m.dest_suffix = as_view(fill.dest_suffix());
      m.payload = as_view(fill.payload());
      m.trigger_only = fill.trigger_only();
      m.type_hash = fill.type_hash();
      m.origin_signature = signature;
      m.start_ns = now;
      m.budget_ns = env->remaining_deadline_ns();
      auto verdict = co_await rx->run(m);
      if (verdict) {
        ++metrics.drops["rx:" + std::string(verdict->reason)];
        if (refusal.empty()) refusal = verdict->reason;
        spdlog::debug("refused fill {} of message {} from {}: {}", i, m.message_id,
                      peer.to_base58(), verdict->detail);
      } else {
        ++metrics.messages_in;
      }
    }
    co_return refusal;
  }

  // Why fill `i` of `env` cannot be taken as `origin`'s words; nullopt when it can. A relayed
  // fill (origin not the connection's peer) needs the origin's signature and must travel alone:
  // the signature does not cover the fill's index, which DedupGateRx keys on, so a second fill
  // would replay the first under another key. A signature on a fill from its author is
  // checked too, so what Received::origin_signature holds always verifies.
  static std::optional<std::string> check_origin(const wire::PeerId& origin,
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

  static wire::ByteView as_view(const std::string& s) {
    return wire::ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }

  void learn_addresses(const wire::PeerId& peer, const core::WireEnvelope& env) {
    if (addresses.contains(peer) || env.src_peer_addresses_size() == 0) return;
    for (const auto& bytes : env.src_peer_addresses()) {
      if (auto addr = wire::Multiaddr::from_bytes(as_view(bytes))) remember(peer, *addr);
    }
  }

  // The address book: kMaxAddressesPerPeer per peer. Peers the application named (connect(),
  // add_address()) stay; peers learned from the network (identify, envelopes, their dials) are
  // at most config.address_book_capacity, the longest known going first.
  void remember(const wire::PeerId& peer, const wire::Multiaddr& addr, bool named = false) {
    if (!addr.tcp_port()) return;  // only dialable transport addresses
    if (auto other = addr.peer_id(); other && *other != peer) return;
    auto full = addr.with_peer_id(peer);
    if (named) {
      named_peers.insert(peer);
    } else if (!addresses.contains(peer) && !named_peers.contains(peer)) {
      while (learned_order.size() >= std::max<std::size_t>(config.address_book_capacity, 1)) {
        const wire::PeerId oldest = std::move(learned_order.front());
        learned_order.pop_front();
        if (!named_peers.contains(oldest)) addresses.erase(oldest);
      }
      learned_order.push_back(peer);
    }
    auto& list = addresses[peer];
    for (const auto& a : list) {
      if (a == full) return;
    }
    if (list.size() >= kMaxAddressesPerPeer) list.erase(list.begin());
    list.push_back(std::move(full));
  }

  // ---- node tasks ----

  asio::awaitable<void> pump_host_events() {
    while (auto event = co_await host.next_event()) {
      if (config.host_observer) config.host_observer(*event);
      if (auto* e = std::get_if<wire::PeerConnected>(&*event)) {
        ++metrics.connections_opened;
        tables.on_connected(e->peer);
        if (e->direction == wire::Direction::outbound) remember(e->peer, e->addr);
        if (auto conn = host.connection(e->peer)) {
          tasks.spawn(ping_loop(*conn), "ping " + e->peer.to_base58());
        }
      } else if (auto* d = std::get_if<wire::PeerDisconnected>(&*event)) {
        ++metrics.connections_closed;
        if (!stopping) tables.on_connection_lost(d->peer);
      } else if (auto* id = std::get_if<wire::PeerIdentified>(&*event)) {
        for (const auto& addr : id->info.listen_addrs) remember(id->peer, addr);
      } else if (auto* f = std::get_if<wire::StreamFailed>(&*event)) {
        spdlog::debug("stream {} from {} failed: {}", f->protocol, f->peer.to_base58(), f->detail);
      }
    }
  }

  // Liveness: a ping per interval feeds the RTT estimate and the failure detector.
  asio::awaitable<void> ping_loop(wire::Connection conn) {
    const auto interval = to_ns(config.ping_interval);
    const auto timeout = std::max(config.ping_interval, std::chrono::milliseconds(1000));
    while (conn.is_open() && !stopping) {
      if (!co_await clock.sleep_for(interval)) co_return;
      if (!conn.is_open() || stopping) co_return;
      try {
        const auto rtt = co_await wire::ping::ping(conn, timeout);
        tables.on_round_trip(conn.remote_peer(), static_cast<std::uint64_t>(rtt.count()));
      } catch (const system_error& e) {
        if (e.code() == asio::error::operation_aborted) co_return;
        spdlog::debug("ping to {} failed: {}", conn.remote_peer().to_base58(), wire::error_text(e));
      }
    }
  }

  asio::awaitable<void> tick_loop() {
    const auto interval = to_ns(config.tick_interval);
    while (!stopping) {
      if (!co_await clock.sleep_for(interval)) co_return;
      tables.tick();
      (void)tables.backpressure().sweep(clock.now_ns());  // silent periods that ran out
    }
  }

  // ---- sends ----

  asio::awaitable<Verdict> run_send(Message& msg, const SendOptions& options) {
    ++metrics.sends;
    if (stopping) {
      const Denial stopped_denial = deny(reason::stopped, "the node is stopping");
      ++metrics.drops[std::string(stopped_denial.reason)];
      co_return stopped_denial;  // reported by the return value alone
    }
    // A message without a budget gets its hop's now, so that the gates that wait (a cooldown,
    // a down peer's probe) wait no longer than wire.Send would give it.
    if (msg.budget_ns == 0) {
      const auto rtt = tables.rtt().estimate(msg.peer);
      msg.start_ns = clock.now_ns();
      msg.budget_ns = hop_budget_ns(rtt ? &*rtt : nullptr, config.default_deadline_ns,
                                    config.min_hop_budget_ns);
    }
    std::shared_ptr<Waiter> waiter;
    if (options.await_receipt) {
      waiter = std::make_shared<Waiter>(ex);
      msg.transport_context = &waiter;
    }
    auto verdict = co_await tx->run(msg);
    if (verdict && stopping && verdict->reason == reason::cancelled) {
      verdict = deny(reason::stopped, "the node stopped while " + verdict->stage + " waited");
    }
    if (verdict) {
      ++metrics.drops[std::string(verdict->reason)];
      co_return verdict;  // reported by the return value alone
    }
    if (!waiter) co_return std::nullopt;
    while (!waiter->done) co_await waiter->signal.wait();
    co_return waiter->verdict;
  }

  // A send denied before the pipeline runs: counted and returned like a gate's denial.
  Verdict refuse_send(Denial denial) {
    ++metrics.sends;
    ++metrics.drops[std::string(denial.reason)];
    return denial;
  }

  // Our signature over our own message `msg` (origin = self).
  wire::Signature sign(const Message& msg) const {
    wire::OriginFields fields;
    fields.message_id = msg.message_id;
    fields.dest_suffix = msg.dest_suffix;
    fields.payload = msg.payload;
    fields.trigger_only = msg.trigger_only;
    fields.type_hash = msg.type_hash;
    return wire::sign_origin(host.identity(), fields);
  }

  // Our own message to `peer`, not yet signed (a fresh id unless options.message_id is set).
  Message own_message(const wire::PeerId& peer, std::string_view channel, wire::ByteView payload,
                      const SendOptions& options) {
    Message msg;
    msg.direction = Direction::tx;
    msg.peer = peer;
    msg.origin = self;
    msg.message_id = options.message_id != 0 ? options.message_id : wire::random_message_id();
    msg.dest_suffix = suffix_for(channel);
    msg.trigger_only = options.trigger_only;
    msg.payload = options.trigger_only ? wire::ByteView{} : payload;
    msg.start_ns = clock.now_ns();
    msg.budget_ns = options.budget_ns;
    return msg;
  }

  // send() of our own message to one peer: signed with `signature` when it is given (the
  // fan-out's one signature), else signed here when options.relayable asks for it.
  asio::awaitable<Verdict> send_own(const wire::PeerId& peer, std::string_view channel,
                                    wire::ByteView payload, const SendOptions& options,
                                    const wire::Signature* signature) {
    Message msg = own_message(peer, channel, payload, options);
    wire::Signature own;
    if (signature == nullptr && options.relayable) {
      own = sign(msg);
      signature = &own;
    }
    if (signature != nullptr) msg.origin_signature = wire::ByteView(*signature);
    co_return co_await run_send(msg, options);
  }

  const wire::Bytes& suffix_for(std::string_view channel) {
    auto it = suffixes.find(channel);
    if (it == suffixes.end()) {
      if (suffixes.size() >= 4096) suffixes.clear();  // a cache, not a registry
      const auto addr = channel_suffix(channel);
      it = suffixes
               .emplace(std::string(channel), wire::Bytes(addr.bytes().begin(), addr.bytes().end()))
               .first;
    }
    return it->second;
  }

  std::shared_ptr<Channel> subscribe(std::string_view name) {
    const auto suffix = suffix_for(name);
    const std::string key(reinterpret_cast<const char*>(suffix.data()), suffix.size());
    auto& slot = channels[key];
    if (!slot) slot = std::make_shared<Channel>(ex);
    if (!slot->subscribed) {
      if (!slot->name.empty()) --unsubscribed;  // messages were waiting for a subscriber
      slot->subscribed = true;
      slot->name = std::string(name);
      for (auto& m : slot->queue) m.channel = slot->name;
    }
    return slot;
  }

  Received pop(const std::shared_ptr<Channel>& ch) {
    Received r = std::move(ch->queue.front());
    ch->queue.pop_front();
    ch->arrivals.pop_front();
    if (auto it = waiting_from.find(r.from); it != waiting_from.end()) {
      it->second -= std::min(it->second, ch->held.front().size());
      if (it->second == 0) waiting_from.erase(it);
    }
    ch->held.pop_front();
    relieve(ch);
    return r;
  }

  std::shared_ptr<Channel> oldest_waiting() const {
    std::shared_ptr<Channel> best;
    for (const auto& [key, ch] : channels) {
      if (!ch->arrivals.empty() && (!best || ch->arrivals.front() < best->arrivals.front())) {
        best = ch;
      }
    }
    return best;
  }

  void relieve(const std::shared_ptr<Channel>& ch) {
    ch->changed.notify();
    room.notify();
    (void)tables.backpressure().observe_relief(ch->queue.size(), config.inbox_capacity);
  }

  asio::any_io_executor ex;
  NodeConfig config;
  async::SteadyClock steady;
  async::Clock& clock;
  StopAwareClock stage_clock{clock, ex};  // what the pipeline stages sleep on
  EventQueue events;
  PeerTables tables;
  wire::Host host;
  wire::PeerId self = host.peer_id();
  std::optional<Pipeline> tx;
  std::optional<Pipeline> rx;
  std::unordered_map<wire::PeerId, std::shared_ptr<Link>> links;
  std::unordered_map<wire::PeerId, std::vector<wire::Multiaddr>> addresses;
  std::unordered_set<wire::PeerId> named_peers;  // the application's: never evicted
  std::deque<wire::PeerId> learned_order;        // the others, oldest first
  std::vector<wire::Bytes> local_addrs;
  std::unordered_map<std::string, std::shared_ptr<Channel>> channels;
  std::size_t unsubscribed = 0;
  std::uint64_t arrival_counter = 0;
  std::unordered_map<wire::PeerId, std::size_t> waiting_from;  // queued bytes per sender
  async::Event any_arrival{ex};
  async::Event room{ex};  // a queued message was taken: its memory went back
  async::Event stop_done{ex};
  std::map<std::string, wire::Bytes, std::less<>> suffixes;
  std::set<std::string, std::less<>> interned;
  NodeMetrics metrics;
  bool started = false;
  bool touched = false;  // connect() or a send ran: the Host may have tasks even unstarted
  bool stopping = false;
  bool finishing = false;  // finish_stop() is under way
  bool stopped = false;
  async::TaskGroup tasks;  // last: destroyed first

  // ---- stopping ----

  // What stop() does at once: no new work, every pending send failed (`stopped`), waiters
  // woken. The rest (closing the Host, ending the tasks) is finish_stop().
  void begin_stop() {
    stopping = true;
    std::vector<std::shared_ptr<Link>> open;
    for (auto& [peer, link] : links) open.push_back(link);
    for (auto& link : open) fail_link(*link, reason::stopped, "the node stopped");
    for (auto& [key, ch] : channels) ch->changed.notify();
    any_arrival.notify();
    room.notify();
    stage_clock.stop();  // gates waiting out a cooldown give up
  }

  asio::awaitable<void> finish_stop() {
    finishing = true;
    co_await host.stop();
    tasks.cancel_all();
    co_await tasks.join();
    stopped = true;
    stop_done.notify();
    events.close();
    for (auto& [key, ch] : channels) ch->changed.notify();
    any_arrival.notify();
  }

  asio::awaitable<void> stop() {
    if (finishing) {  // another stop() is under way: wait for it to finish
      while (!stopped) co_await stop_done.wait();
      co_return;
    }
    if (!stopping) begin_stop();  // (~Node may have begun it)
    co_await finish_stop();
  }

  // Whether destroying the Node now would leave tasks (its own or its Host's) behind.
  bool needs_stop() const { return !stopped && (started || touched || stopping); }

  // ~Node without stop(): the Impl outlives the Node until its tasks have ended.
  static inline std::atomic<std::size_t> orphans{0};
  struct OrphanCount {
    OrphanCount() noexcept { ++orphans; }
    ~OrphanCount() { --orphans; }
    OrphanCount(const OrphanCount&) = delete;
    OrphanCount& operator=(const OrphanCount&) = delete;
  };
  // (count first: parameters go in reverse order, so the Impl goes before the count does even
  // when the executor is destroyed with this unfinished.)
  static asio::awaitable<void> stop_orphaned(std::shared_ptr<OrphanCount> count,
                                             std::shared_ptr<Impl> self) {
    try {
      co_await self->stop();
      // Coroutines woken by the stop (receive(), next_event(), senders waiting for room) run
      // before the memory they look at goes.
      co_await asio::post(self->ex, asio::use_awaitable);
    } catch (const std::exception& e) {
      spdlog::warn("stopping a destroyed node: {}", wire::error_text(e));
    }
    self.reset();  // the Impl goes before the count does
    count.reset();
  }
};

Node::Node(const asio::any_io_executor& executor, NodeConfig config)
    : impl_(std::make_unique<Impl>(executor, std::move(config))) {}

// Destroying a started Node without stop() (a connect() that threw on the way out of a scope,
// say) must not leave its tasks running on freed memory: the destructor does at once what stop()
// does at once, and the executor runs the rest with the Impl kept alive until every task ended.
Node::~Node() {
  if (!impl_ || !impl_->needs_stop()) return;
  std::shared_ptr<Impl> impl(std::move(impl_));
  if (!impl->stopping) impl->begin_stop();
  const asio::any_io_executor ex = impl->ex;
  auto count = std::make_shared<Impl::OrphanCount>();
  asio::co_spawn(ex, Impl::stop_orphaned(std::move(count), std::move(impl)), asio::detached);
}

std::size_t Node::detached_stops() noexcept {
  return Impl::orphans.load();
}

asio::awaitable<void> Node::start() {
  auto& impl = *impl_;
  if (impl.started) co_return;
  impl.touched = true;  // listeners bound before a failure have tasks
  StageContext ctx{impl.stage_clock, impl.tables, nullptr, &impl, &impl};
  auto tx_nodes =
      impl.config.tx_gates.value_or(default_gates({"PeerHealthGateTx", "BackoffGateTx"}));
  auto& send = tx_nodes.emplace_back(make_node("ai.bytesandbrains.wire", "Send"));
  if (impl.config.default_deadline_ns != 0) {
    set_attribute(send, "deadline_ns", static_cast<std::int64_t>(impl.config.default_deadline_ns));
  }
  set_attribute(send, "min_budget_ns", static_cast<std::int64_t>(impl.config.min_hop_budget_ns));
  auto rx_nodes = impl.config.rx_gates.value_or(
      default_gates({"DedupGateRx", "PeerHealthGateRx", "BackoffGateRx"}));
  rx_nodes.push_back(make_node("ai.bytesandbrains.wire", "Recv"));
  impl.tx.emplace(Pipeline::build(tx_nodes, ctx));
  impl.rx.emplace(Pipeline::build(rx_nodes, ctx));

  impl.host.set_envelope_handler([&impl](const wire::PeerId& peer,
                                         std::shared_ptr<const core::WireEnvelope> env,
                                         std::size_t frame_bytes) {
    return impl.on_envelope(peer, std::move(env), frame_bytes);
  });
  for (const auto& addr : impl.config.listen) {
    const auto bound = impl.host.listen(addr);
    if (impl.local_addrs.size() < 8)
      impl.local_addrs.emplace_back(bound.bytes().begin(), bound.bytes().end());
  }
  impl.started = true;
  impl.tasks.spawn(impl.pump_host_events(), "host events");
  impl.tasks.spawn(impl.tick_loop(), "tables tick");
}

asio::awaitable<void> Node::stop() {
  co_await impl_->stop();
}

asio::awaitable<wire::PeerId> Node::connect(const wire::Multiaddr& addr) {
  impl_->touched = true;
  auto conn = co_await impl_->host.connect(addr);
  const auto peer = conn.remote_peer();
  impl_->remember(peer, addr, /*named=*/true);
  co_return peer;
}

void Node::add_address(const wire::PeerId& peer, const wire::Multiaddr& addr) {
  impl_->remember(peer, addr, /*named=*/true);
}

asio::awaitable<Verdict> Node::send(const wire::PeerId& peer, std::string_view channel,
                                    wire::ByteView payload, SendOptions options) {
  co_return co_await impl_->send_own(peer, channel, payload, options, nullptr);
}

asio::awaitable<std::vector<Verdict>> Node::send(std::span<const wire::PeerId> peers,
                                                 std::string_view channel, wire::ByteView payload,
                                                 SendOptions options) {
  auto& impl = *impl_;
  if (options.message_id == 0) options.message_id = mint_message_id();
  // One message, one signature: every copy carries the same one.
  std::optional<wire::Signature> signature;
  if (options.relayable && !peers.empty()) {
    signature = impl.sign(impl.own_message(peers.front(), channel, payload, options));
  }
  std::vector<Verdict> verdicts;
  verdicts.reserve(peers.size());
  for (const auto& peer : peers) {
    verdicts.push_back(
        co_await impl.send_own(peer, channel, payload, options, signature ? &*signature : nullptr));
  }
  co_return verdicts;
}

std::uint64_t Node::mint_message_id() {
  return wire::random_message_id();
}

Received Node::compose(std::string_view channel, wire::ByteView payload, SendOptions options) {
  auto& impl = *impl_;
  const Message msg = impl.own_message(impl.self, channel, payload, options);
  Received r;
  r.from = impl.self;
  r.origin = impl.self;
  r.channel = std::string(channel);
  r.suffix.assign(msg.dest_suffix.begin(), msg.dest_suffix.end());
  r.payload.assign(msg.payload.begin(), msg.payload.end());
  r.message_id = msg.message_id;
  r.trigger_only = msg.trigger_only;
  r.arrival_ns = msg.start_ns;
  r.budget_ns = options.budget_ns;
  if (options.relayable) r.origin_signature = impl.sign(msg);
  return r;
}

asio::awaitable<Verdict> Node::forward(const wire::PeerId& peer, const Received& message,
                                       SendOptions options) {
  auto& impl = *impl_;
  Message msg;
  msg.direction = Direction::tx;
  msg.peer = peer;
  msg.origin = message.origin;
  msg.message_id = message.message_id;
  msg.dest_suffix = message.suffix;
  msg.payload = message.payload;
  msg.trigger_only = message.trigger_only;
  msg.type_hash = message.type_hash;
  if (message.origin_signature) msg.origin_signature = wire::ByteView(*message.origin_signature);
  if (msg.origin != impl.self && msg.origin_signature.empty()) {
    co_return impl.refuse_send(
        Denial{DenyKind::bad_input, reason::unsigned_origin,
               "message " + std::to_string(msg.message_id) + " of " + msg.origin.to_base58() +
                   " carries no origin signature (its author did not send it relayable), "
                   "so " +
                   peer.to_base58() + " would refuse it as forged",
               "Node.forward"});
  }
  if (options.budget_ns != 0) {
    msg.start_ns = impl.clock.now_ns();
    msg.budget_ns = options.budget_ns;
  } else {
    msg.start_ns = message.arrival_ns;
    msg.budget_ns = message.budget_ns;
  }
  co_return co_await impl.run_send(msg, options);
}

void Node::subscribe(std::string_view channel) {
  (void)impl_->subscribe(channel);
}

asio::awaitable<std::optional<Received>> Node::receive(std::string_view channel) {
  auto& impl = *impl_;
  auto ch = impl.subscribe(channel);
  while (ch->queue.empty()) {
    if (impl.stopping) co_return std::nullopt;
    co_await ch->changed.wait();
  }
  co_return impl.pop(ch);
}

asio::awaitable<std::optional<Received>> Node::receive_any() {
  auto& impl = *impl_;
  while (true) {
    if (auto ch = impl.oldest_waiting()) co_return impl.pop(ch);
    if (impl.stopping) co_return std::nullopt;
    co_await impl.any_arrival.wait();
  }
}

std::optional<Received> Node::try_receive(std::string_view channel) {
  auto& impl = *impl_;
  auto ch = impl.subscribe(channel);
  if (ch->queue.empty()) return std::nullopt;
  return impl.pop(ch);
}

asio::awaitable<std::optional<Event>> Node::next_event() {
  co_return co_await impl_->events.next();
}

std::optional<Event> Node::try_next_event() {
  return impl_->events.try_next();
}

void Node::block(const wire::PeerId& peer) {
  impl_->tables.block(peer);
}
void Node::unblock(const wire::PeerId& peer) {
  impl_->tables.unblock(peer);
}
void Node::allow(const wire::PeerId& peer) {
  (void)impl_->tables.governor().allow(peer);
}
void Node::clear_allowlist() {
  impl_->tables.governor().clear_allowlist();
}

PeerStatus Node::peer_status(const wire::PeerId& peer) const {
  const auto& impl = *impl_;
  PeerStatus s;
  s.connected = impl.host.connection(peer).has_value();
  s.blocked = impl.tables.governor().is_blocked(peer);
  s.down = impl.tables.governor().is_down(peer);
  s.health = impl.tables.governor().health(peer);
  s.backoff = impl.tables.backoff().state(peer);
  const auto now = impl.clock.now_ns();
  if (!impl.tables.backoff().should_retry(peer, now))
    s.retry_at_ns = impl.tables.backoff().retry_at(peer);
  s.rtt = impl_->tables.rtt().estimate(peer);
  s.phi = impl.tables.phi().phi(peer, now);
  if (auto it = impl.links.find(peer); it != impl.links.end()) {
    s.queued_messages = it->second->queued.size();
    s.queued_bytes = it->second->pending.size() + it->second->writing;
    s.awaiting_receipt = it->second->in_flight.size();
  }
  if (auto it = impl.addresses.find(peer); it != impl.addresses.end()) s.addresses = it->second;
  return s;
}

NodeMetrics Node::metrics() const {
  NodeMetrics m = impl_->metrics;
  m.connections = impl_->host.connection_count();
  m.resources = impl_->host.resources().stats();
  return m;
}

std::vector<wire::PeerId> Node::connected_peers() const {
  std::vector<wire::PeerId> out;
  for (const auto& peer : impl_->host.connected_peers()) out.push_back(peer);
  return out;
}

const wire::PeerId& Node::peer_id() const noexcept {
  return impl_->self;
}

std::vector<wire::Multiaddr> Node::listen_addrs() const {
  std::vector<wire::Multiaddr> out;
  for (const auto& a : impl_->host.listen_addrs()) out.push_back(a.with_peer_id(impl_->self));
  return out;
}

const asio::any_io_executor& Node::executor() const noexcept {
  return impl_->ex;
}
async::Clock& Node::clock() const noexcept {
  return impl_->clock;
}
PeerTables& Node::tables() noexcept {
  return impl_->tables;
}
wire::Host& Node::host() noexcept {
  impl_->touched = true;  // whatever is done with it, stop it before it goes
  return impl_->host;
}

}  // namespace bb::runtime

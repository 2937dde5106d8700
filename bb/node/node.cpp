#include "bb/node/node.hpp"

#include "bb/node/arrivals.hpp"
#include "bb/node/detail/core.hpp"
#include "bb/node/inbox.hpp"
#include "bb/node/outbound.hpp"
#include "bb/node/peer_upkeep.hpp"
#include "bb/node/requests.hpp"
#include "bb/node/stages.hpp"
#include "bb/runtime/node_builder.hpp"
#include "bb/runtime/pipeline.hpp"
#include "bb/syscalls/ops.hpp"
#include "bb/wire/protocols/bb_wire.hpp"
#include "bb/wire/protocols/ping.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>

namespace bb::node {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;
using runtime::Denial;
using runtime::DenyKind;
using runtime::Message;
using runtime::Verdict;
namespace reason = runtime::reason;

namespace {

std::uint64_t to_ns(std::chrono::milliseconds d) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

}  // namespace

wire::HostOptions default_host_options() {
  wire::HostOptions options;
  options.connection.stream_window = kNodeStreamWindow;
  return options;
}

struct Node::Impl final : detail::SendPath {
  Impl(const asio::any_io_executor& executor, NodeConfig cfg)
      : core(executor, std::move(cfg)),
        outbound(core),
        inbox(core, outbound),
        arrivals(core),
        upkeep(core),
        requests(core, *this),
        server(std::make_shared<wire::bb_wire::ServerStats>(executor)),
        stop_done(executor) {}

  detail::Core core;
  detail::Outbound outbound;
  detail::Inbox inbox;
  detail::Arrivals arrivals;
  detail::PeerUpkeep upkeep;
  detail::Requests requests;
  std::shared_ptr<wire::bb_wire::ServerStats> server;
  std::optional<runtime::Pipeline> tx;
  std::optional<runtime::Pipeline> rx;
  detail::SendStage* send_stage = nullptr;  // tx's last stage
  async::Event stop_done;
  bool started = false;
  bool finishing = false;  // finish_stop() is under way
  bool stopped = false;

  void build_pipelines() {
    runtime::StageContext ctx{core.stage_clock, core.tables};
    auto tx_nodes = core.config.tx_gates.value_or(syscalls::default_tx_gates());
    auto rx_nodes = core.config.rx_gates.value_or(syscalls::default_rx_gates());
    auto send = std::make_unique<detail::SendStage>(core, outbound, core.config.default_deadline_ns,
                                                    core.config.min_hop_budget_ns);
    send_stage = send.get();
    tx.emplace(runtime::Pipeline::build(tx_nodes, ctx, std::move(send)));
    rx.emplace(runtime::Pipeline::build(rx_nodes, ctx,
                                        std::make_unique<detail::DeliverStage>(inbox, requests)));
    arrivals.set_pipeline(&*rx);
  }

  // ---- upkeep ----

  asio::awaitable<void> pump_host_events() {
    while (auto event = co_await core.host.next_event()) {
      if (core.config.host_observer) core.config.host_observer(*event);
      for (const auto& observe : core.host_observers) observe(*event);
      upkeep.on_host_event(*event);
      if (auto* e = std::get_if<wire::PeerConnected>(&*event)) {
        ++core.metrics.connections_opened;
        core.tables.on_connected(e->peer);
        if (upkeep.wants_ping_loop(e->peer)) {
          core.tasks.spawn(upkeep.ping_loop(e->peer), "ping " + e->peer.to_base58());
        }
      } else if (auto* d = std::get_if<wire::PeerDisconnected>(&*event)) {
        ++core.metrics.connections_closed;
        if (!core.stopping) core.tables.on_connection_lost(d->peer);
        // A response comes back on the connection the request went out on: without it, the
        // requests to that peer end now rather than at their timeouts.
        requests.fail_peer(d->peer, reason::connection_lost,
                           "the connection to " + d->peer.to_base58() + " closed");
      } else if (auto* f = std::get_if<wire::StreamFailed>(&*event)) {
        spdlog::debug("stream {} from {} failed: {}", f->protocol, f->peer.to_base58(), f->detail);
      }
    }
  }

  // ---- sends ----

  // The start of every send: counted; refused at once by a stopping node (true, `verdict`
  // set); else given its hop's budget when it has none, so that the gates that wait (a
  // cooldown, a down peer's probe) wait no longer than wire.Send would give it.
  bool begin_send(Message& msg, Verdict& verdict) {
    ++core.metrics.sends;
    if (core.stopping || (core.draining && !msg.response)) {
      verdict = detail::deny(reason::stopped, "the node is stopping");
      ++core.metrics.drops[std::string(verdict->reason)];
      return true;  // reported by the return value alone
    }
    if (msg.budget_ns == 0) {
      const auto rtt = core.tables.rtt().estimate(msg.peer);
      msg.start_ns = core.clock.now_ns();
      msg.budget_ns = runtime::hop_budget_ns(rtt ? &*rtt : nullptr, core.config.default_deadline_ns,
                                             core.config.min_hop_budget_ns);
    }
    return false;
  }

  // The pipeline's verdict, as send() reports it: a denial counted (and reported by the return
  // value alone), a wait cancelled by stop() called `stopped`.
  Verdict end_send(Verdict verdict) {
    if (verdict && core.stopping && verdict->reason == reason::cancelled) {
      verdict =
          detail::deny(reason::stopped, "the node stopped while " + verdict->stage + " waited");
    }
    if (verdict) ++core.metrics.drops[std::string(verdict->reason)];
    return verdict;
  }

  asio::awaitable<Verdict> run_send(Message& msg, const SendOptions& options) {
    Verdict refused;
    if (begin_send(msg, refused)) co_return refused;
    std::shared_ptr<detail::Outbound::Waiter> waiter;
    if (options.await_receipt) {
      waiter = std::make_shared<detail::Outbound::Waiter>(core.ex);
      send_stage->expect_receipt(msg, waiter);
    }
    struct Forget {
      detail::SendStage* stage;
      const Message& msg;
      bool armed;
      ~Forget() {
        if (armed) stage->forget(msg);
      }
    } forget{send_stage, msg, waiter != nullptr};
    Verdict verdict;
    std::size_t next = 0;
    if (!tx->try_run(msg, verdict, next)) verdict = co_await tx->resume(msg, next);
    verdict = end_send(std::move(verdict));
    if (verdict) co_return verdict;
    if (!waiter) co_return std::nullopt;
    while (!waiter->done) co_await waiter->done_event.wait();
    co_return waiter->verdict;
  }

  asio::awaitable<Verdict> send_message(Message& msg, bool await_receipt) override {
    SendOptions options;
    options.await_receipt = await_receipt;
    co_return co_await run_send(msg, options);
  }

  // A send denied before the pipeline runs: counted and returned like a gate's denial.
  Verdict refuse_send(Denial denial) {
    ++core.metrics.sends;
    ++core.metrics.drops[std::string(denial.reason)];
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
    return wire::sign_origin(core.host.identity(), fields);
  }

  // Our own message to `peer`, not yet signed (a fresh id unless options.message_id is set).
  Message own_message(const wire::PeerId& peer, std::string_view channel, wire::ByteView payload,
                      const SendOptions& options) {
    Message msg;
    msg.direction = runtime::Direction::tx;
    msg.peer = peer;
    msg.origin = core.self;
    msg.message_id = options.message_id != 0 ? options.message_id : wire::random_message_id();
    msg.dest_suffix = inbox.suffix_for(channel);
    msg.trigger_only = options.trigger_only;
    msg.payload = options.trigger_only ? wire::ByteView{} : payload;
    msg.start_ns = core.clock.now_ns();
    msg.budget_ns = options.budget_ns;
    return msg;
  }

  // send() of our own message to one peer: signed with `signature` when it is given (the
  // fan-out's one signature), else signed here when options.relayable asks for it.
  asio::awaitable<Verdict> send_own(const wire::PeerId& peer, std::string_view channel,
                                    wire::ByteView payload, SendOptions options,
                                    const wire::Signature* signature) {
    Message msg = own_message(peer, channel, payload, options);
    wire::Signature own;
    if (signature == nullptr && options.relayable) {
      own = sign(msg);
      signature = &own;
    }
    if (signature != nullptr) msg.origin_signature = wire::ByteView(*signature);
    if (options.await_receipt) co_return co_await run_send(msg, options);
    // run_send() inline: no second frame when every stage decides at once.
    Verdict verdict;
    if (begin_send(msg, verdict)) co_return verdict;
    std::size_t next = 0;
    if (!tx->try_run(msg, verdict, next)) verdict = co_await tx->resume(msg, next);
    co_return end_send(std::move(verdict));
  }

  // ---- stopping ----

  // Graceful: no new sends; what is queued goes out and its receipts come back, and what we
  // took is answered, for up to config.drain_timeout on the Node's clock.
  asio::awaitable<void> drain() {
    core.draining = true;
    const auto deadline =
        async::saturating_add(core.clock.now_ns(), to_ns(core.config.drain_timeout));
    while (!core.stopping &&
           (!outbound.idle() || server->unanswered() > 0 || requests.serving() > 0)) {
      if (core.clock.now_ns() >= deadline) break;
      auto woke = co_await (outbound.wait_change() || server->answered().wait() ||
                            requests.handler_ended().wait() || core.clock.sleep_until(deadline));
      (void)woke;
    }
  }

  // What stop() does at once: no new work, every pending send failed (`stopped`), waiters
  // woken. The rest (closing the Host, ending the tasks) is finish_stop().
  void begin_stop() {
    core.stopping = true;
    outbound.fail_all(reason::stopped, "the node stopped");
    requests.fail_all(reason::stopped, "the node stopped");
    inbox.wake_all();
    core.stage_clock.stop();  // gates waiting out a cooldown give up
  }

  asio::awaitable<void> finish_stop() {
    finishing = true;
    if (started) upkeep.save();
    co_await core.host.stop();
    core.tasks.cancel_all();
    co_await core.tasks.join();
    stopped = true;
    stop_done.set();
    core.events.close();
    inbox.wake_all();
  }

  asio::awaitable<void> stop() {
    if (finishing || core.draining) {  // another stop() is under way: wait for it to finish
      while (!stopped) co_await stop_done.wait();
      co_return;
    }
    if (!core.stopping) {
      if (started) co_await drain();
      if (finishing) {  // (a stop() that began while this one drained)
        while (!stopped) co_await stop_done.wait();
        co_return;
      }
      if (!core.stopping) begin_stop();  // (~Node may have begun it)
    }
    co_await finish_stop();
  }

  // Whether destroying the Node now would leave tasks (its own or its Host's) behind.
  bool needs_stop() const { return !stopped && (started || core.touched || core.stopping); }

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
      co_await asio::post(self->core.ex, asio::use_awaitable);
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
  if (!impl->core.stopping) impl->begin_stop();
  const asio::any_io_executor ex = impl->core.ex;
  auto count = std::make_shared<Impl::OrphanCount>();
  asio::co_spawn(ex, Impl::stop_orphaned(std::move(count), std::move(impl)), asio::detached);
}

std::size_t Node::detached_stops() noexcept {
  return Impl::orphans.load();
}

asio::awaitable<void> Node::start() {
  auto& impl = *impl_;
  if (impl.started) co_return;
  impl.core.touched = true;  // listeners bound before a failure have tasks
  impl.build_pipelines();
  impl.upkeep.load();
  auto* arrivals = &impl.arrivals;
  wire::bb_wire::register_server(
      impl.core.host,
      [arrivals](const wire::PeerId& peer, std::shared_ptr<const core::WireEnvelope> env,
                 std::size_t frame_bytes, bool batched) {
        return arrivals->on_envelope(peer, std::move(env), frame_bytes, batched);
      },
      impl.core.config.envelope_caps, impl.server);
  std::vector<wire::Bytes> local;
  for (const auto& addr : impl.core.config.listen) {
    const auto bound = impl.core.host.listen(addr);
    if (local.size() < 8) local.emplace_back(bound.bytes().begin(), bound.bytes().end());
  }
  impl.outbound.set_local_addresses(std::move(local));
  impl.started = true;
  impl.core.tasks.spawn(impl.pump_host_events(), "host events");
  impl.core.tasks.spawn(impl.upkeep.tick_loop(), "tables tick");
  impl.upkeep.start();
}

asio::awaitable<void> Node::stop() {
  co_await impl_->stop();
}

asio::awaitable<wire::PeerId> Node::connect(const wire::Multiaddr& addr) {
  impl_->core.touched = true;
  auto conn = co_await impl_->core.host.connect(addr);
  const auto peer = conn.remote_peer();
  impl_->core.peers.add_address(peer, addr, AddressSource::named);
  co_return peer;
}

void Node::add_address(const wire::PeerId& peer, const wire::Multiaddr& addr) {
  impl_->core.peers.add_address(peer, addr, AddressSource::named);
}

PeerStore& Node::peer_store() noexcept {
  return impl_->core.peers;
}
const PeerStore& Node::peer_store() const noexcept {
  return impl_->core.peers;
}
void Node::set_peer_router(PeerRouter router) {
  impl_->core.router = std::move(router);
}

asio::awaitable<Verdict> Node::send(const wire::PeerId& peer, std::string_view channel,
                                    wire::ByteView payload, SendOptions options) {
  // Not a coroutine: send_own's is the one frame of a send that no stage suspends.
  return impl_->send_own(peer, channel, payload, std::move(options), nullptr);
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
  const Message msg = impl.own_message(impl.core.self, channel, payload, options);
  Received r;
  r.from = impl.core.self;
  r.origin = impl.core.self;
  r.channel = std::string(channel);
  detail::share_bytes(r, msg.dest_suffix, msg.payload, nullptr);
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
  msg.direction = runtime::Direction::tx;
  msg.peer = peer;
  msg.origin = message.origin;
  msg.message_id = message.message_id;
  msg.dest_suffix = message.suffix;
  msg.payload = message.payload;
  msg.trigger_only = message.trigger_only;
  msg.type_hash = message.type_hash;
  if (message.origin_signature) msg.origin_signature = wire::ByteView(*message.origin_signature);
  if (msg.origin != impl.core.self && msg.origin_signature.empty()) {
    co_return impl.refuse_send(
        Denial{DenyKind::bad_input, reason::unsigned_origin,
               "message " + std::to_string(msg.message_id) + " of " + msg.origin.to_base58() +
                   " carries no origin signature (its author did not send it relayable), "
                   "so " +
                   peer.to_base58() + " would refuse it as forged",
               "Node.forward"});
  }
  if (options.budget_ns != 0) {
    msg.start_ns = impl.core.clock.now_ns();
    msg.budget_ns = options.budget_ns;
  } else {
    msg.start_ns = message.arrival_ns;
    msg.budget_ns = message.budget_ns;
  }
  co_return co_await impl.run_send(msg, options);
}

asio::awaitable<RequestResult> Node::request(const wire::PeerId& peer, std::string_view service,
                                             wire::ByteView payload, RequestOptions options) {
  impl_->core.touched = true;
  co_return co_await impl_->requests.request(peer, service, payload, options);
}

void Node::serve(std::string service, ServiceHandler handler) {
  impl_->requests.serve(std::move(service), std::move(handler));
}

void Node::subscribe(std::string_view channel) {
  impl_->inbox.subscribe(channel);
}

asio::awaitable<std::optional<Received>> Node::receive(std::string_view channel) {
  co_return co_await impl_->inbox.receive(channel);
}

asio::awaitable<std::optional<Received>> Node::receive_any() {
  co_return co_await impl_->inbox.receive_any();
}

std::optional<Received> Node::try_receive(std::string_view channel) {
  return impl_->inbox.try_receive(channel);
}

asio::awaitable<std::optional<runtime::Event>> Node::next_event() {
  co_return co_await impl_->core.events.next();
}

std::optional<runtime::Event> Node::try_next_event() {
  return impl_->core.events.try_next();
}

void Node::block(const wire::PeerId& peer) {
  impl_->core.tables.block(peer);
}
void Node::unblock(const wire::PeerId& peer) {
  impl_->core.tables.unblock(peer);
}
void Node::allow(const wire::PeerId& peer) {
  (void)impl_->core.tables.governor().allow(peer);
}
void Node::clear_allowlist() {
  impl_->core.tables.governor().clear_allowlist();
}

PeerStatus Node::peer_status(const wire::PeerId& peer) const {
  const auto& core = impl_->core;
  PeerStatus s;
  s.connected = core.host.connection(peer).has_value();
  s.blocked = core.tables.governor().is_blocked(peer);
  s.down = core.tables.governor().is_down(peer);
  s.health = core.tables.governor().health(peer);
  s.backoff = core.tables.backoff().state(peer);
  const auto now = core.clock.now_ns();
  if (!core.tables.backoff().should_retry(peer, now))
    s.retry_at_ns = core.tables.backoff().retry_at(peer);
  s.rtt = impl_->core.tables.rtt().estimate(peer);
  s.phi = core.tables.phi().phi(peer, now);
  if (auto link = impl_->outbound.status(peer)) {
    s.queued_messages = link->queued;
    s.queued_bytes = link->queued_bytes;
    s.awaiting_receipt = link->awaiting_receipt;
  }
  s.addresses = impl_->core.peers.addresses(peer);
  return s;
}

NodeMetrics Node::metrics() const {
  NodeMetrics m = impl_->core.metrics;
  const auto& host = impl_->core.host;
  m.connections = host.connection_count();
  for (const auto& peer : host.connected_peers()) {
    const auto conn = host.connection(peer);
    if (conn)
      ++(conn->direction() == wire::Direction::inbound ? m.connections_inbound
                                                       : m.connections_outbound);
  }
  m.resources = host.resources().stats();
  m.connection_manager = host.connection_stats();
  m.handshake_times = host.handshake_times();
  return m;
}

std::vector<PeerQueue> Node::outbound_queues() const {
  return impl_->outbound.queues();
}

std::vector<wire::PeerId> Node::connected_peers() const {
  return impl_->core.host.connected_peers();
}

const wire::PeerId& Node::peer_id() const noexcept {
  return impl_->core.self;
}

std::vector<wire::Multiaddr> Node::listen_addrs() const {
  std::vector<wire::Multiaddr> out;
  for (const auto& a : impl_->core.host.listen_addrs())
    out.push_back(a.with_peer_id(impl_->core.self));
  return out;
}

const asio::any_io_executor& Node::executor() const noexcept {
  return impl_->core.ex;
}
async::Clock& Node::clock() const noexcept {
  return impl_->core.clock;
}
void Node::observe_host(std::function<void(const wire::HostEvent&)> observer) {
  impl_->core.host_observers.push_back(std::move(observer));
}
runtime::PeerTables& Node::tables() noexcept {
  return impl_->core.tables;
}
wire::Host& Node::host() noexcept {
  impl_->core.touched = true;  // whatever is done with it, stop it before it goes
  return impl_->core.host;
}

}  // namespace bb::node

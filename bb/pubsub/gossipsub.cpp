#include "bb/pubsub/gossipsub.hpp"

#include "bb/pubsub/detail/service.hpp"
#include "bb/syscalls/ops.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <chrono>
#include <random>

namespace bb::pubsub {
namespace asio = boost::asio;

namespace {

std::uint64_t first_seqno(std::uint64_t configured) {
  if (configured != 0) return configured;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::uint64_t seed(std::uint64_t configured) {
  return configured != 0 ? configured : std::random_device{}();
}

// The IP a connection comes from, as text ("" when its address has none): P6 counts peers per IP.
std::string ip_of(const wire::Connection& conn) {
  const std::string addr = conn.remote_addr().to_string();  // /ip4/1.2.3.4/tcp/5
  if (addr.rfind("/ip4/", 0) != 0 && addr.rfind("/ip6/", 0) != 0) return {};
  const auto end = addr.find('/', 5);
  return addr.substr(5, end == std::string::npos ? std::string::npos : end - 5);
}

// The receive gates of the default pipeline that judge a peer rather than a message.
std::vector<bb::onnx::NodeProto> peer_rx_gates() {
  std::vector<bb::onnx::NodeProto> out;
  for (auto& node : syscalls::default_rx_gates()) {
    if (node.op_type() == syscalls::kPeerHealthGateRx.op_type ||
        node.op_type() == syscalls::kBackoffGateRx.op_type) {
      out.push_back(std::move(node));
    }
  }
  return out;
}

}  // namespace

// Holds the service for as long as it serves the stream, so that the stream may outlive the
// Gossipsub object; null once the service is gone (the stream is dropped, reset).
asio::awaitable<void> Gossipsub::Impl::serve_stream(std::shared_ptr<Impl> impl,
                                                    wire::Connection conn, wire::Stream stream) {
  if (!impl) co_return;
  co_await impl->serve(std::move(conn), std::move(stream));
}

Gossipsub::Impl::Impl(node::Node& n, GossipsubOptions o)
    : node(n),
      options(std::move(o)),
      ex(n.executor()),
      router(n.host().identity(), options.router, n.clock(), first_seqno(options.first_seqno),
             seed(options.rng_seed)),
      event_ready(ex),
      subscribers_changed(ex),
      written(ex),
      serve_done(ex),
      tasks(ex) {}

Gossipsub::Gossipsub(node::Node& node, GossipsubOptions options)
    : impl_(std::make_shared<Impl>(node, std::move(options))) {}

Gossipsub::~Gossipsub() {
  if (impl_->started && !impl_->stopped) {
    for (const auto& p : impl_->options.protocols) impl_->node.host().remove_handler(p);
    impl_->tasks.cancel_all();
  }
}

void Gossipsub::Impl::add_router_peer(const wire::PeerId& peer, PeerKind kind,
                                      const wire::Connection& conn) {
  router.add_peer(peer, kind, conn.direction() == wire::Direction::outbound, ip_of(conn));
}

void Gossipsub::Impl::ensure_link(const wire::PeerId& peer) {
  if (stopped) return;
  // A link that ended without forgetting the peer (our stream was refused while the peer's
  // stream to us lives) is tried again when the peer opens another stream to us.
  if (const auto it = links.find(peer); it != links.end() && !it->second->gone) return;
  auto link = std::make_shared<Link>(ex);
  links.insert_or_assign(peer, link);
  tasks.spawn(run_link(peer, link), "pubsub link " + peer.to_base58());
}

void Gossipsub::Impl::drop_peer(const wire::PeerId& peer) {
  if (const auto it = links.find(peer); it != links.end()) {
    it->second->gone = true;
    it->second->wake.notify();
    links.erase(it);
  }
  router.remove_peer(peer);
  pump();
  written.notify();
}

void Gossipsub::Impl::on_host_event(const wire::HostEvent& event) {
  if (!started || stopped) return;
  if (const auto* c = std::get_if<wire::PeerConnected>(&event)) {
    ensure_link(c->peer);
  } else if (const auto* d = std::get_if<wire::PeerDisconnected>(&event)) {
    drop_peer(d->peer);
  }
}

Gossipsub::Impl::TopicQueue& Gossipsub::Impl::topic_queue(const TopicId& topic) {
  auto& q = inbox[topic];
  if (!q) q = std::make_unique<TopicQueue>(ex);
  return *q;
}

void Gossipsub::Impl::pump() {
  for (auto& [peer, frames] : router.take_outgoing()) enqueue(peer, std::move(frames));
  for (auto& [msg, from] : router.take_deliveries()) {
    if (!router.subscribed(msg->topic())) continue;
    auto& q = topic_queue(msg->topic());
    if (q.messages.size() >= options.topic_queue) {
      q.messages.pop_front();
      ++counters.deliveries_dropped;
    }
    q.messages.push_back(PubsubMessage{std::move(msg), from});
    q.ready.notify();
  }
  for (auto& e : router.take_events()) {
    if (std::holds_alternative<PeerSubscribed>(e)) subscribers_changed.notify();
    if (events.size() >= options.event_queue) events.pop_front();
    events.push_back(std::move(e));
    event_ready.notify();
  }
}

bool Gossipsub::Impl::idle() const {
  return std::all_of(links.begin(), links.end(), [](const auto& l) {
    const auto& link = *l.second;
    return link.gone || (link.queue.empty() && !link.writing);  // an opening stream counts
  });
}

asio::awaitable<void> Gossipsub::Impl::heartbeat_loop() {
  const auto interval = static_cast<std::uint64_t>(options.router.heartbeat_interval.count());
  auto& clock = node.clock();
  std::uint64_t next = clock.now_ns() + interval;
  while (!stopped) {
    if (!co_await clock.sleep_until(next)) co_return;
    if (stopped) co_return;
    router.heartbeat();
    pump();
    // On time, without drift; after a long stall, the next beat is a whole interval away.
    next = std::max(next + interval, clock.now_ns() + interval / 2);
  }
}

void Gossipsub::start() {
  auto& s = *impl_;
  if (s.started) return;
  s.started = true;
  runtime::StageContext ctx{s.node.clock(), s.node.tables()};
  s.tx_gates.emplace(runtime::Pipeline::build(syscalls::dropping_tx_gates(), ctx));
  s.rx_gates.emplace(runtime::Pipeline::build(peer_rx_gates(), ctx));
  auto& governor = s.node.tables().governor();
  s.router.set_peer_filter(
      [&governor](const wire::PeerId& peer) { return governor.check_inbound(peer).allowed(); });
  for (const auto& protocol : s.options.protocols) {
    s.node.host().set_handler(
        protocol, [weak = std::weak_ptr<Impl>(impl_)](wire::Connection conn, wire::Stream stream) {
          return Impl::serve_stream(weak.lock(), std::move(conn), std::move(stream));
        });
  }
  // The Node keeps its observers: this one outlives us, and then does nothing.
  s.node.observe_host([weak = std::weak_ptr<Impl>(impl_)](const wire::HostEvent& e) {
    if (auto impl = weak.lock()) impl->on_host_event(e);
  });
  for (const auto& peer : s.node.connected_peers()) s.ensure_link(peer);
  s.tasks.spawn(s.heartbeat_loop(), "pubsub heartbeat");
}

asio::awaitable<void> Gossipsub::stop() {
  auto& s = *impl_;
  if (s.stopped) co_return;
  s.stopped = true;
  if (s.started) {
    for (const auto& p : s.options.protocols) s.node.host().remove_handler(p);
  }
  // Our streams end with a FIN after what was written, and stay open until the Node closes
  // the connections: a stream destroyed now would be reset, and a reset stream's unread data
  // is lost at the peer (the last publish of a short-lived publisher).
  for (auto& [peer, link] : s.links) {
    link->gone = true;
    link->wake.notify();
    if (link->out) link->out->close_write();
    s.retired.push_back(link);
  }
  // The peers' streams we read end now; their coroutines (the Host's) finish before we return.
  for (auto* stream : s.serving) stream->reset();
  while (!s.serving.empty()) co_await s.serve_done.wait();
  s.tasks.cancel_all();
  co_await s.tasks.join();
  s.links.clear();
  for (auto& [topic, q] : s.inbox) q->ready.notify();
  s.event_ready.notify();
  s.subscribers_changed.notify();
}

void Gossipsub::subscribe(const TopicId& topic) {
  impl_->router.subscribe(topic);
  impl_->topic_queue(topic);
  impl_->pump();
}

void Gossipsub::unsubscribe(const TopicId& topic) {
  impl_->router.unsubscribe(topic);
  if (auto it = impl_->inbox.find(topic); it != impl_->inbox.end()) it->second->ready.notify();
  impl_->pump();
}

void Gossipsub::set_validators(const TopicId& topic,
                               const std::vector<bb::onnx::NodeProto>& nodes) {
  auto& s = *impl_;
  if (nodes.empty()) {
    s.validators.erase(topic);
    return;
  }
  runtime::StageContext ctx{s.node.clock(), s.node.tables()};
  s.validators.insert_or_assign(topic, runtime::Pipeline::build(nodes, ctx));
}

boost::system::result<Gossipsub::Published> Gossipsub::publish(const TopicId& topic,
                                                               wire::ByteView data) {
  auto& s = *impl_;
  if (s.stopped) return make_error_code(errc::stopped);
  Published out;
  boost::system::error_code error;
  const auto msg = s.router.publish(topic, data, out.recipients, error);
  if (!msg) return error;
  out.seqno = msg->seqno;
  out.id = msg->id;
  s.pump();
  return out;
}

asio::awaitable<std::optional<PubsubMessage>> Gossipsub::next_message(const TopicId& topic) {
  auto& s = *impl_;
  for (;;) {
    if (s.stopped) co_return std::nullopt;
    auto& q = s.topic_queue(topic);
    if (!q.messages.empty()) {
      PubsubMessage m = std::move(q.messages.front());
      q.messages.pop_front();
      co_return m;
    }
    if (!s.router.subscribed(topic)) co_return std::nullopt;
    co_await q.ready.wait();
  }
}

std::optional<PubsubMessage> Gossipsub::try_next_message(const TopicId& topic) {
  auto& q = impl_->topic_queue(topic);
  if (q.messages.empty()) return std::nullopt;
  PubsubMessage m = std::move(q.messages.front());
  q.messages.pop_front();
  return m;
}

asio::awaitable<std::optional<PubsubEvent>> Gossipsub::next_event() {
  auto& s = *impl_;
  for (;;) {
    if (auto e = try_next_event()) co_return e;
    if (s.stopped) co_return std::nullopt;
    co_await s.event_ready.wait();
  }
}

std::optional<PubsubEvent> Gossipsub::try_next_event() {
  auto& s = *impl_;
  if (s.events.empty()) return std::nullopt;
  PubsubEvent e = std::move(s.events.front());
  s.events.pop_front();
  return e;
}

namespace {
// Waits for `event` or the deadline on `clock`; false once the deadline has passed.
asio::awaitable<bool> wait_until(async::Event& event, async::Clock& clock, std::uint64_t deadline) {
  using namespace asio::experimental::awaitable_operators;
  if (clock.now_ns() >= deadline) co_return false;
  co_await (event.wait() || clock.sleep_until(deadline));
  co_return clock.now_ns() < deadline;
}
}  // namespace

asio::awaitable<bool> Gossipsub::wait_for_peers(const TopicId& topic, std::size_t count,
                                                std::chrono::nanoseconds timeout) {
  auto& s = *impl_;
  auto& clock = s.node.clock();
  const std::uint64_t deadline = clock.now_ns() + static_cast<std::uint64_t>(timeout.count());
  for (;;) {
    if (s.router.topic_peers(topic).size() >= count) co_return true;
    if (s.stopped) co_return false;
    const bool in_time = co_await wait_until(s.subscribers_changed, clock, deadline);
    if (!in_time) co_return s.router.topic_peers(topic).size() >= count;
  }
}

asio::awaitable<bool> Gossipsub::flush(std::chrono::nanoseconds timeout) {
  auto& s = *impl_;
  auto& clock = s.node.clock();
  for (;;) {
    if (s.idle()) co_return true;
    // Re-armed after every write: a slow peer that keeps reading is waited for.
    const std::uint64_t deadline = clock.now_ns() + static_cast<std::uint64_t>(timeout.count());
    const bool in_time = co_await wait_until(s.written, clock, deadline);
    if (!in_time) co_return s.idle();
  }
}

const Router& Gossipsub::router() const noexcept {
  return impl_->router;
}

GossipsubStats Gossipsub::stats() const {
  GossipsubStats out = impl_->counters;
  out.router = impl_->router.stats();
  out.peers = impl_->links.size();
  return out;
}

}  // namespace bb::pubsub

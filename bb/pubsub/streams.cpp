// The RPC streams of gossipsub: each peer's inbound stream read frame by frame (a uvarint length,
// then the protobuf RPC), and our outbound stream to it written from a bounded queue.
#include "bb/pubsub/detail/service.hpp"

#include "bb/runtime/message.hpp"
#include "bb/wire/varint.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

namespace bb::pubsub {
namespace asio = boost::asio;

namespace {

// How long a batch held by the send gates (peer down, cooling off) waits before it is tried again.
constexpr std::uint64_t kGateRetryNs = 100'000'000;

[[noreturn]] void fail(errc code, const std::string& what) {
  throw boost::system::system_error(make_error_code(code), what);
}

}  // namespace

void Gossipsub::Impl::enqueue(const wire::PeerId& peer, std::string frames) {
  const auto it = links.find(peer);
  if (it == links.end() || it->second->gone) return;
  auto& link = *it->second;
  const std::size_t want = link.queued + frames.size();
  // Room under the per-peer bound and, once the stream is open, in its resource scope.
  if (want > options.max_queued_bytes || (link.memory && link.memory->resize(want))) {
    ++counters.rpcs_dropped_out;
    return;
  }
  link.queued = want;
  link.queue.push_back(std::move(frames));
  link.wake.notify();
}

// Our stream to the peer, opened on the connection the Host holds for it. When simultaneous
// dials leave the Host another connection than the one the stream went out on (the first is
// closed, with no event), the stream breaks while the peer is still connected: the link moves
// to the new connection, with the router's state of the peer and what was queued for it kept.
asio::awaitable<void> Gossipsub::Impl::run_link(wire::PeerId peer, std::shared_ptr<Link> link) {
  struct Done {
    Link& link;
    ~Done() { link.done.set(); }
  } done{*link};
  for (bool first = true;; first = false) {
    try {
      auto conn = node.host().connection(peer);
      if (!conn) {
        throw boost::system::system_error(make_error_code(wire::errc::peer_unreachable),
                                          "no connection to " + peer.to_base58());
      }
      link->on = *conn;
      auto protocols = options.protocols;
      auto stream = co_await conn->open_stream(std::move(protocols));
      if (link->gone) co_return;
      const auto kind = peer_kind(stream.protocol());
      if (!kind) {
        link->gone = true;
        written.notify();
        co_return;
      }
      link->out.emplace(std::move(stream));
      link->memory.emplace(*link->out);
      tasks.spawn(watch_connection(*conn, link), "pubsub link watch " + peer.to_base58());
      if (!first) ++counters.links_moved;
      if (link->memory->resize(link->queued)) {
        link->queue.clear();
        link->queued = 0;
      }
      const bool known = router.has_peer(peer);
      add_router_peer(peer, *kind, *conn);  // (a known peer: its connection's direction now)
      if (!first && known) router.announce_subscriptions(peer);
      pump();
    } catch (const boost::system::system_error&) {
      if (!link->gone && !stopped && link_moved(peer, *link)) continue;
      // The peer speaks none of our protocols, or went away: it is no pubsub peer of ours,
      // unless it opened a stream to us (then it stays, and hears nothing until its next stream
      // to us or its next connection brings a new link: ensure_link).
      if (!link->gone && !router.has_peer(peer)) drop_peer(peer);
      link->gone = true;
      written.notify();
      co_return;
    }
    const bool broke = co_await write_loop(peer, link);
    if (!broke || stopped || !link_moved(peer, *link)) break;
    link->memory.reset();
    link->out.reset();
  }
  if (link->out) link->out->close_write();
  if (!stopped && links.contains(peer) && links[peer] == link) {
    // Our stream to it broke (or its connection closed) and the Host holds no other connection
    // to it: the peer cannot hear us any more. A new connection brings a new link.
    router.remove_peer(peer);
    links.erase(peer);
    pump();
  }
  written.notify();
}

asio::awaitable<void> Gossipsub::Impl::watch_connection(wire::Connection conn,
                                                        std::shared_ptr<Link> link) {
  using namespace asio::experimental::awaitable_operators;
  co_await (conn.wait_closed() || link->done.wait());
  link->wake.notify();
}

bool Gossipsub::Impl::link_moved(const wire::PeerId& peer, const Link& link) const {
  const auto now = node.host().connection(peer);
  return now && now->is_open() && link.on && !(*now == *link.on);
}

asio::awaitable<bool> Gossipsub::Impl::write_loop(wire::PeerId peer, std::shared_ptr<Link> link) {
  std::string batch;
  while (!link->gone && !stopped) {
    if (link->queue.empty()) {
      // Idle on a connection that closed: when simultaneous dials replaced it, what we last
      // wrote there (our subscriptions) may never have been read, and nothing else would make
      // us write again. The link moves now (run_link), not at its next write.
      if (link->on && !link->on->is_open()) co_return true;
      co_await link->wake.wait();
      continue;
    }
    batch.clear();
    for (auto& frames : link->queue) batch += frames;
    link->queue.clear();
    link->writing = true;
    // The send gates, once per batch: a peer blocked or not allowed since it was queued gets
    // nothing; one that is down or cooling off gets it later (what waits stays within
    // max_queued_bytes), so a false suspicion of a busy peer loses no message.
    runtime::Message gate;
    gate.direction = runtime::Direction::tx;
    gate.peer = peer;
    gate.origin = node.peer_id();
    const runtime::Verdict verdict = co_await tx_gates->run(gate);
    if (verdict && verdict->kind != runtime::DenyKind::blocked) {
      ++counters.rpcs_held_out;
      link->queue.push_front(std::move(batch));
      batch = std::string();
      link->writing = false;
      (void)co_await node.clock().sleep_for(kGateRetryNs);
      continue;
    }
    if (!verdict) {
      bool broke = false;
      try {
        co_await link->out->write(wire::as_bytes(batch));
      } catch (const boost::system::system_error&) {
        broke = true;
      }
      if (broke) {
        // Still counted in link->queued: it goes again if the link moves to a new connection
        // (the peer drops what it already had as duplicates).
        link->queue.push_front(std::move(batch));
        batch = std::string();
        link->writing = false;
        written.notify();
        co_return true;
      }
    } else {
      ++counters.rpcs_gated_out;
    }
    link->writing = false;
    link->queued -= std::min(link->queued, batch.size());
    if (link->memory) (void)link->memory->resize(link->queued);
    written.notify();
  }
  co_return false;
}

asio::awaitable<void> Gossipsub::Impl::serve(wire::Connection conn, wire::Stream stream) {
  const wire::PeerId peer = stream.remote_peer();
  const auto kind = peer_kind(stream.protocol());
  if (stopped || !kind) co_return;
  // stop() resets what is being served and waits for it to end.
  serving.insert(&stream);
  struct Done {
    Impl& impl;
    wire::Stream* stream;
    ~Done() {
      impl.serving.erase(stream);
      impl.serve_done.notify();
    }
  } done{*this, &stream};
  ensure_link(peer);
  if (!router.has_peer(peer)) {
    add_router_peer(peer, *kind, conn);
    pump();
  }
  // We never write on the peer's stream: closing our half now lets the stream end cleanly
  // (no reset) when the peer closes its half.
  stream.close_write();
  const std::size_t max_rpc = options.router.max_rpc_bytes;
  wire::StreamMemory memory(stream);
  wire::Bytes buf;
  std::size_t start = 0, end = 0;
  try {
    for (;;) {
      // Every whole frame in the buffer first.
      for (;;) {
        const wire::ByteView have(buf.data() + start, end - start);
        auto len = wire::decode_varint(have);
        if (!len) {
          if (len.error() != wire::errc::varint_truncated)
            fail(errc::bad_rpc, "bad RPC length prefix");
          break;
        }
        if (len->value > max_rpc) {
          fail(errc::rpc_too_large, "an RPC of " + std::to_string(len->value) + " bytes (at most " +
                                        std::to_string(max_rpc) + ")");
        }
        const std::size_t total = len->size + static_cast<std::size_t>(len->value);
        if (have.size() < total) break;
        // A peer that wrote and left at once: its connection may be reported closed (and the
        // peer forgotten) before its last RPCs are read. They are still its RPCs.
        if (!router.has_peer(peer)) add_router_peer(peer, *kind, conn);
        co_await handle_frame(peer, have.subspan(len->size, static_cast<std::size_t>(len->value)));
        if (stopped) co_return;
        start += total;
      }
      // Room for at least the rest of the frame being read, reserved before it grows.
      if (start == end) start = end = 0;
      if (start > 0 && (buf.size() - end < 4096)) {
        std::copy(buf.begin() + static_cast<std::ptrdiff_t>(start),
                  buf.begin() + static_cast<std::ptrdiff_t>(end), buf.begin());
        end -= start;
        start = 0;
      }
      std::size_t need = end + 4096;
      if (auto len = wire::decode_varint(wire::ByteView(buf.data(), end)); len) {
        need = std::max(need, len->size + static_cast<std::size_t>(len->value));
      }
      need = std::min(std::max(need, std::size_t{16} << 10), max_rpc + wire::kMaxVarintBytes);
      if (buf.size() < need) {
        memory.resize_or_reset(need, "pubsub RPC buffer refused");
        buf.resize(need);
      }
      const std::size_t n =
          co_await stream.read_some(std::span(buf.data() + end, buf.size() - end));
      if (n == 0) {
        if (end != start) fail(errc::rpc_truncated, "the stream ended inside an RPC");
        break;
      }
      end += n;
    }
  } catch (const boost::system::system_error& e) {
    // Bad input closes the stream with its reason (StreamFailed); a stream or connection that
    // simply ended is no failure of the peer's.
    if (e.code().category() != pubsub_category() && e.code() != wire::errc::resource_memory_limit) {
      forget_if_gone(peer);
      co_return;
    }
    ++counters.streams_closed;
    throw;
  }
  forget_if_gone(peer);
}

void Gossipsub::Impl::forget_if_gone(const wire::PeerId& peer) {
  if (!stopped && !node.host().connection(peer)) drop_peer(peer);
}

asio::awaitable<void> Gossipsub::Impl::handle_frame(const wire::PeerId& peer,
                                                    wire::ByteView frame) {
  std::string detail;
  auto rpc = decode_rpc(frame, options.router.rpc, &detail);
  if (!rpc)
    fail(static_cast<errc>(rpc.error().value()), detail.empty() ? rpc.error().message() : detail);
  // The receive gates, once per RPC: nothing from a blocked or unwelcome peer is heard. A peer
  // we are backing off from is heard after its window: its stream waits (and with it, through
  // the stream's window, the peer), so nothing is lost to a backoff.
  runtime::Message gate;
  gate.direction = runtime::Direction::rx;
  gate.peer = peer;
  gate.origin = peer;
  for (;;) {
    const runtime::Verdict verdict = co_await rx_gates->run(gate);
    if (!verdict) break;
    if (verdict->kind == runtime::DenyKind::blocked || stopped) {
      ++counters.rpcs_gated_in;
      co_return;
    }
    ++counters.rpcs_held_in;
    (void)co_await node.clock().sleep_for(kGateRetryNs);
    if (stopped) co_return;
  }
  // An RPC is traffic from the peer: the failure detector hears it as it hears a ping, so a
  // peer that talks gossip between pings is never suspected (and its batches never held).
  node.tables().on_heartbeat(peer);
  auto pending = router.handle_rpc(peer, std::move(*rpc));
  for (const auto& p : pending) {
    const Acceptance acceptance = co_await validate(p);
    if (stopped) co_return;
    router.validated(p, acceptance);
  }
  pump();
}

asio::awaitable<Acceptance> Gossipsub::Impl::validate(const PendingValidation& pending) {
  const auto it = validators.find(pending.msg->topic());
  if (it == validators.end()) co_return Acceptance::accept;
  runtime::Message m;
  m.direction = runtime::Direction::rx;
  m.peer = pending.from;
  m.origin = pending.msg->author.value_or(pending.from);
  m.message_id = pending.msg->seqno;
  m.dest_suffix = wire::as_bytes(pending.msg->topic());
  m.payload = wire::as_bytes(pending.msg->fields.data());
  m.origin_signature = wire::as_bytes(pending.msg->fields.signature());
  m.storage = pending.msg;
  const runtime::Verdict verdict = co_await it->second.run(m);
  if (!verdict) co_return Acceptance::accept;
  co_return verdict->kind == runtime::DenyKind::bad_input ? Acceptance::reject : Acceptance::ignore;
}

}  // namespace bb::pubsub

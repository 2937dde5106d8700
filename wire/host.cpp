#include "wire/host.hpp"

#include "proto/bb_core.pb.h"
#include "wire/detail/broadcast.hpp"
#include "wire/detail/signal.hpp"
#include "wire/detail/task_group.hpp"
#include "wire/frame.hpp"
#include "wire/protocols/identify.hpp"
#include "wire/protocols/perf.hpp"
#include "wire/protocols/ping.hpp"
#include "wire/receipt.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <deque>
#include <list>
#include <unordered_map>

namespace bb::wire {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;

std::string_view bb_version() noexcept {
  return "0.1.0";
}

namespace detail {

void log_task_failure(const std::string& name, std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const system_error& e) {
    if (e.code() == asio::error::operation_aborted) return;  // cancelled by stop(): expected
    spdlog::warn("{} ended: {}", name, error_text(e));
  } catch (const std::exception& e) {
    spdlog::error("{} failed: {}", name, error_text(e));
  } catch (...) {
    spdlog::error("{} failed with a non-standard exception", name);
  }
}

}  // namespace detail

namespace {

constexpr std::size_t kEventQueueBound = 4096;

std::string describe(const std::exception_ptr& error, error_code& code) {
  try {
    std::rethrow_exception(error);
  } catch (const system_error& e) {
    code = e.code();
    return error_text(e);
  } catch (const std::exception& e) {
    code = make_error_code(asio::error::fault);
    return error_text(e);
  }
}

}  // namespace

struct Host::Impl {
  struct PendingDial {
    explicit PendingDial(const asio::any_io_executor& ex) : done(ex) {}
    detail::Broadcast done;
    std::optional<Connection> connection;
    std::exception_ptr error;
  };
  Impl(const asio::any_io_executor& executor, Ed25519KeyPair id, HostOptions opts)
      : ex(executor),
        identity(std::move(id)),
        self(identity.peer_id()),
        options(std::move(opts)),
        event_signal(executor),
        tasks(executor) {
    if (options.agent_version.empty()) options.agent_version = "bb/" + std::string(bb_version());
  }

  void emit(HostEvent event) {
    if (events.size() >= kEventQueueBound) events.pop_front();
    events.push_back(std::move(event));
    event_signal.notify();
  }

  std::vector<std::string> supported() const {
    std::vector<std::string> out{std::string(ping::kProtocolId), std::string(identify::kProtocolId),
                                 std::string(kBbWireProtocol)};
    if (options.serve_perf) out.emplace_back(perf::kProtocolId);
    return out;
  }

  identify::Info local_info() const {
    identify::Info info;
    info.protocol_version = std::string(identify::kProtocolVersion);
    info.agent_version = options.agent_version;
    info.public_key = identity.public_key().to_protobuf();
    info.listen_addrs = listen_addrs;
    info.protocols = supported();
    return info;
  }

  // Registers an established connection, keeping one per peer. When two connections to the
  // same peer exist (simultaneous dials), both ends keep the one dialed by the smaller PeerId,
  // so they agree without talking about it.
  Connection add_connection(Connection conn) {
    const PeerId peer = conn.remote_peer();
    if (stopping) {
      conn.close();
      throw system_error(make_error_code(asio::error::operation_aborted), "host is stopping");
    }
    if (auto it = connections.find(peer); it != connections.end() && it->second.is_open()) {
      auto dialer = [&](const Connection& c) -> const PeerId& {
        return c.direction() == Direction::outbound ? self : peer;
      };
      if (dialer(conn) < dialer(it->second)) {
        Connection old = std::exchange(it->second, conn);
        old.close();  // its identify exchange, if any, dies with it: ask again on the new one
        tasks.spawn(serve_connection(conn), "connection " + peer.to_base58());
        if (options.identify_peers)
          tasks.spawn(identify_peer(conn), "identify " + peer.to_base58());
        return conn;
      }
      conn.close();
      return it->second;
    }
    if (connections.size() >= options.max_connections) {
      conn.close();
      throw system_error(make_error_code(errc::connection_limit),
                         "at most " + std::to_string(options.max_connections) + " connections");
    }
    connections.insert_or_assign(peer, conn);
    emit(PeerConnected{peer, conn.remote_addr(), conn.direction()});
    tasks.spawn(serve_connection(conn), "connection " + peer.to_base58());
    if (options.identify_peers) tasks.spawn(identify_peer(conn), "identify " + peer.to_base58());
    return conn;
  }

  asio::awaitable<void> serve_connection(Connection conn) {
    co_await (conn.run() && accept_streams(conn));
    const PeerId peer = conn.remote_peer();
    if (auto it = connections.find(peer); it != connections.end() && it->second == conn) {
      connections.erase(it);
      emit(PeerDisconnected{peer, conn.close_reason()});
    }
  }

  asio::awaitable<void> accept_streams(Connection conn) {
    while (auto stream = co_await conn.accept_stream()) {
      tasks.spawn(handle_stream(conn, std::move(*stream)), "stream");
    }
  }

  asio::awaitable<void> handle_stream(Connection conn, Stream stream) {
    std::string protocol;
    try {
      co_await conn.negotiate_inbound(stream, supported());
      protocol = stream.protocol();
      if (protocol == ping::kProtocolId) {
        co_await ping::serve(std::move(stream));
      } else if (protocol == identify::kProtocolId) {
        co_await identify::serve(std::move(stream), local_info());
      } else if (protocol == perf::kProtocolId) {
        co_await perf::serve(std::move(stream));
      } else if (protocol == kBbWireProtocol) {
        co_await serve_bb_wire(conn.remote_peer(), std::move(stream));
      }
    } catch (const system_error& e) {
      if (e.code() != asio::error::operation_aborted && conn.is_open()) {
        emit(StreamFailed{conn.remote_peer(), protocol, e.code(), error_text(e)});
      }
    }
  }

  // Reads envelopes and answers each with a receipt (wire/receipt.hpp). Receipts for one read's
  // worth of envelopes go out in one write; runs of equal outcomes share one receipt.
  asio::awaitable<void> serve_bb_wire(PeerId peer, Stream stream) {
    FrameReader reader(options.envelope_caps.max_total_bytes);
    Bytes receipts;
    // Reused while the handler keeps no reference: parsing into it keeps its string buffers.
    auto env = std::make_shared<core::WireEnvelope>();
    std::uint64_t run = 0;
    std::string_view run_reason;
    while (true) {
      const std::size_t n = co_await stream.read_some(reader.prepare(64 * 1024));
      if (n == 0) break;
      reader.commit(n);
      while (true) {
        auto frame = reader.next();
        if (!frame) {
          stream.reset();
          throw system_error(frame.error(), "bad frame on /bb/wire/1.0.0");
        }
        if (!*frame) break;
        const std::size_t frame_bytes = varint_size((*frame)->size()) + (*frame)->size();
        if (env.use_count() != 1) env = std::make_shared<core::WireEnvelope>();
        if (auto ec = decode_envelope(**frame, options.envelope_caps, *env)) {
          stream.reset();
          throw system_error(ec, "bad envelope on /bb/wire/1.0.0");
        }
        std::string_view reason;
        if (envelope_handler) {
          reason = co_await envelope_handler(peer, env, frame_bytes);
        } else {
          emit(EnvelopeReceived{peer, env});
        }
        if (run > 0 && reason != run_reason) {
          append_receipt(receipts, run, run_reason);
          run = 0;
        }
        run_reason = reason;
        ++run;
      }
      if (run > 0) {
        append_receipt(receipts, run, run_reason);
        run = 0;
      }
      if (!receipts.empty()) {
        co_await stream.write(receipts);
        receipts.clear();
      }
    }
    stream.close_write();
  }

  asio::awaitable<void> identify_peer(Connection conn) {
    try {
      auto info = co_await identify::request(conn, options.protocol_timeout);
      emit(PeerIdentified{conn.remote_peer(), std::move(info)});
    } catch (const system_error& e) {
      if (e.code() != asio::error::operation_aborted && conn.is_open()) {
        emit(StreamFailed{conn.remote_peer(), std::string(identify::kProtocolId), e.code(),
                          error_text(e)});
      }
    }
  }

  asio::awaitable<void> accept_loop(TcpListener& listener) {
    while (!stopping) {
      tcp::socket socket(ex);
      try {
        socket = co_await listener.accept();
      } catch (const system_error& e) {
        if (stopping || e.code() == asio::error::operation_aborted) co_return;
        spdlog::warn("accept failed: {}", error_text(e));
        continue;
      }
      if (pending_inbound >= options.max_pending_inbound ||
          connections.size() >= options.max_connections) {
        error_code ignored;
        const auto from = socket.remote_endpoint(ignored);
        socket.close(ignored);
        emit(InboundFailed{to_multiaddr(from), make_error_code(errc::connection_limit),
                           "too many connections or handshakes in progress"});
        continue;
      }
      ++pending_inbound;
      tasks.spawn(inbound_handshake(std::move(socket)), "inbound handshake");
    }
  }

  asio::awaitable<void> inbound_handshake(tcp::socket socket) {
    struct Done {
      std::size_t& pending;
      ~Done() { --pending; }
    } done{pending_inbound};
    error_code ignored;
    const Multiaddr from = to_multiaddr(socket.remote_endpoint(ignored));
    std::exception_ptr failure;
    try {
      auto conn = co_await Connection::upgrade(std::move(socket), Direction::inbound, identity, {},
                                               options.connection);
      add_connection(std::move(conn));
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      error_code code;
      std::string detail = describe(failure, code);
      if (code != asio::error::operation_aborted)
        emit(InboundFailed{from, code, std::move(detail)});
    }
  }

  asio::awaitable<Connection> dial(Multiaddr addr, std::optional<PeerId> peer) {
    try {
      auto socket = co_await tcp_connect(addr.decapsulate_code(protocol::p2p),
                                         options.connection.handshake_timeout);
      auto conn = co_await Connection::upgrade(std::move(socket), Direction::outbound, identity,
                                               peer, options.connection);
      co_return add_connection(std::move(conn));
    } catch (const system_error& e) {
      emit(DialFailed{addr, e.code(), error_text(e)});
      throw;
    }
  }

  asio::any_io_executor ex;
  Ed25519KeyPair identity;
  PeerId self;
  HostOptions options;
  std::list<TcpListener> listeners;
  std::vector<Multiaddr> listen_addrs;
  std::unordered_map<PeerId, Connection> connections;
  std::unordered_map<PeerId, std::shared_ptr<PendingDial>> dials;
  std::deque<HostEvent> events;
  detail::Signal event_signal;
  EnvelopeHandler envelope_handler;
  std::size_t pending_inbound = 0;
  bool stopping = false;
  bool stopped = false;
  detail::TaskGroup tasks;  // last: destroyed first, after stop() joined it
};

Host::Host(const asio::any_io_executor& executor, Ed25519KeyPair identity, HostOptions options)
    : impl_(std::make_unique<Impl>(executor, std::move(identity), std::move(options))) {}

Host::~Host() = default;

Multiaddr Host::listen(const Multiaddr& addr) {
  auto& listener = impl_->listeners.emplace_back(TcpListener::listen(impl_->ex, addr));
  Multiaddr bound = listener.local_addr();
  impl_->listen_addrs.push_back(bound);
  impl_->tasks.spawn(impl_->accept_loop(listener), "listener " + bound.to_string());
  return bound;
}

asio::awaitable<Connection> Host::connect(const Multiaddr& addr) {
  auto& impl = *impl_;
  const std::optional<PeerId> peer = addr.peer_id();
  if (!peer) co_return co_await impl.dial(addr, std::nullopt);
  if (*peer == impl.self) {
    const auto ec = make_error_code(errc::peer_unreachable);
    impl.emit(DialFailed{addr, ec, "refusing to dial ourselves"});
    throw system_error(ec, "refusing to dial ourselves");
  }
  if (auto existing = connection(*peer)) co_return *existing;
  if (auto it = impl.dials.find(*peer); it != impl.dials.end()) {
    auto pending = it->second;  // keep it alive while waiting
    co_await pending->done.wait();
    if (pending->error) std::rethrow_exception(pending->error);
    co_return *pending->connection;
  }
  auto pending = std::make_shared<Impl::PendingDial>(impl.ex);
  impl.dials.emplace(*peer, pending);
  std::exception_ptr error;
  try {
    pending->connection = co_await impl.dial(addr, peer);
  } catch (...) {
    error = std::current_exception();
  }
  pending->error = error;
  impl.dials.erase(*peer);
  pending->done.set();
  if (error) std::rethrow_exception(error);
  co_return *pending->connection;
}

std::optional<Connection> Host::connection(const PeerId& peer) const {
  auto it = impl_->connections.find(peer);
  if (it == impl_->connections.end() || !it->second.is_open()) return std::nullopt;
  return it->second;
}

void Host::set_envelope_handler(EnvelopeHandler handler) {
  impl_->envelope_handler = std::move(handler);
}

asio::awaitable<std::optional<HostEvent>> Host::next_event() {
  auto& impl = *impl_;
  while (impl.events.empty()) {
    if (impl.stopped) co_return std::nullopt;
    co_await impl.event_signal.wait();
  }
  co_return try_next_event();
}

std::optional<HostEvent> Host::try_next_event() {
  auto& events = impl_->events;
  if (events.empty()) return std::nullopt;
  HostEvent e = std::move(events.front());
  events.pop_front();
  return e;
}

asio::awaitable<void> Host::stop() {
  auto& impl = *impl_;
  impl.stopping = true;
  for (auto& l : impl.listeners) l.close();
  for (auto& [peer, conn] : impl.connections) conn.close();
  impl.tasks.cancel_all();
  co_await impl.tasks.join();
  impl.stopped = true;
  impl.event_signal.notify();
}

const PeerId& Host::peer_id() const noexcept {
  return impl_->self;
}
const Ed25519KeyPair& Host::identity() const noexcept {
  return impl_->identity;
}
std::vector<Multiaddr> Host::listen_addrs() const {
  return impl_->listen_addrs;
}
std::vector<std::string> Host::protocols() const {
  return impl_->supported();
}
std::size_t Host::connection_count() const noexcept {
  return impl_->connections.size();
}
std::vector<PeerId> Host::connected_peers() const {
  std::vector<PeerId> out;
  for (const auto& [peer, conn] : impl_->connections) {
    if (conn.is_open()) out.push_back(peer);
  }
  return out;
}
identify::Info Host::local_info() const {
  return impl_->local_info();
}

}  // namespace bb::wire

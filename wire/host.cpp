#include "wire/host.hpp"

#include "async/event.hpp"
#include "async/task_group.hpp"
#include "async/timeout.hpp"
#include "wire/mss/message.hpp"
#include "wire/protocols/identify.hpp"
#include "wire/protocols/perf.hpp"
#include "wire/protocols/ping.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <list>
#include <map>
#include <unordered_map>

namespace bb::wire {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;

std::string_view bb_version() noexcept {
  return "0.1.0";
}


namespace {

constexpr std::size_t kEventQueueBound = 4096;

// Accept errors back off from the first to the last value, doubling; one warning at most per
// kAcceptWarningInterval.
constexpr std::chrono::milliseconds kAcceptBackoffFirst{10};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1'000};
constexpr std::chrono::milliseconds kAcceptWarningInterval{1'000};

// A refused socket is told "na", half-closed, and kept until the dialer closes (so our close
// cannot turn into a reset that overtakes the "na") or kRefusalLinger passes; at most
// kMaxLingering at once, beyond which they are closed at once.
constexpr std::chrono::milliseconds kRefusalLinger{500};
constexpr std::size_t kMaxLingering = 64;

// The first multistream-select message: uvarint(19) "/multistream/1.0.0\n".
constexpr std::size_t kFirstMessageBytes = 1 + mss::kHeader.size() + 1;

FdBudget fit_options(HostOptions& options) {
  const FdBudget budget =
      fit_to_fd_limit(raise_fd_limit(), options.max_connections, options.max_pending_inbound,
                      options.connection_manager.max_outbound_dials);
  if (budget.clamped) {
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
      spdlog::warn(
          "file descriptor limit {}: at most {} connections (was {}), {} pending handshakes "
          "(was {}), {} dials in flight (was {}); raise the hard limit (ulimit -Hn) for more",
          budget.fd_limit, budget.max_connections, options.max_connections,
          budget.max_pending_inbound, options.max_pending_inbound, budget.max_outbound_dials,
          options.connection_manager.max_outbound_dials);
    }
    options.max_connections = budget.max_connections;
    options.max_pending_inbound = budget.max_pending_inbound;
    options.connection_manager.max_outbound_dials = budget.max_outbound_dials;
  }
  // The resource manager's descriptor limits, too: never above what the process may open.
  if (budget.fd_limit > 0) {
    auto& limits = options.resources;
    limits.system.fds = std::min(limits.system.fds, budget.fd_limit);
    limits.transient.fds = std::min(limits.transient.fds, budget.fd_limit);
  }
  return budget;
}

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
    async::Event done;
    std::optional<Connection> connection;
    std::exception_ptr error;
  };
  // One inbound socket from accept to registration. Made at admission, before its coroutine
  // runs, so that a promotion or an eviction decided in between is not lost.
  struct Handshake {
    explicit Handshake(const asio::any_io_executor& ex) : wake(ex) {}
    async::Event wake;  // promoted to a running slot, or evicted
    bool evicted = false;
  };
  using HandshakeId = ConnectionManager::HandshakeId;

  Impl(const asio::any_io_executor& executor, Ed25519KeyPair id, HostOptions opts)
      : ex(executor),
        identity(std::move(id)),
        self(identity.peer_id()),
        options(std::move(opts)),
        fds(fit_options(options)),
        cm(options.connection_manager, options.max_connections, options.max_pending_inbound),
        resources(options.resources),
        event_signal(executor),
        accept_room(executor),
        tasks(executor) {
    if (options.agent_version.empty()) options.agent_version = "bb/" + std::string(bb_version());
    register_builtin_protocols();
  }

  static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }

  // The periodic work (activity samples, trimming) starts with the first listen or connect, as
  // every other task of the Host does: a Host never used needs no stop().
  void start_ticking() {
    if (ticking) return;
    ticking = true;
    tasks.spawn(tick_loop(), "connection manager");
  }

  asio::awaitable<void> tick_loop() {
    asio::steady_timer timer(ex);
    while (!stopping) {
      timer.expires_after(options.connection_manager.tick_interval);
      co_await timer.async_wait(asio::use_awaitable);
      if (stopping) break;
      tick(now());
    }
  }

  void tick(std::chrono::steady_clock::time_point at) {
    for (const auto& [peer, conn] : connections) {
      if (conn.is_open()) cm.sample(peer, conn.bytes_received(), at);
    }
    for (const PeerId& peer : cm.trim(at)) {
      if (auto it = connections.find(peer); it != connections.end()) {
        // Connection::close() tells the peer in a GoAway: 0x1005, garbage collected.
        it->second.close(make_error_code(errc::connection_trimmed));
      }
    }
  }

  void emit(HostEvent event) {
    if (events.size() >= kEventQueueBound) events.pop_front();
    events.push_back(std::move(event));
    event_signal.notify();
  }

  std::vector<std::string> supported() const {
    std::vector<std::string> out;
    out.reserve(handlers.size());
    for (const auto& [protocol, handler] : handlers) out.push_back(protocol);
    return out;
  }

  void register_builtin_protocols() {
    handlers.emplace(ping::kProtocolId,
                     [](Connection, Stream stream) { return ping::serve(std::move(stream)); });
    handlers.emplace(identify::kProtocolId, [this](Connection, Stream stream) {
      return identify::serve(std::move(stream), local_info());
    });
    if (options.serve_perf) {
      handlers.emplace(perf::kProtocolId,
                       [](Connection, Stream stream) { return perf::serve(std::move(stream)); });
    }
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
  // `inbound_from`: the remote IP of an inbound connection (per-IP counts).
  Connection add_connection(Connection conn, std::optional<asio::ip::address> inbound_from) {
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
        cm.reassign(peer, inbound_from);
        tasks.spawn(serve_connection(conn), "connection " + peer.to_base58());
        if (options.identify_peers)
          tasks.spawn(identify_peer(conn), "identify " + peer.to_base58());
        return conn;
      }
      conn.close();
      return it->second;
    }
    auto placement = cm.place(peer, inbound_from, now());
    if (!placement.admitted) {
      conn.close(placement.error);  // the GoAway says 0x1001, resource limit exceeded
      throw system_error(placement.error, placement.detail);
    }
    if (placement.displaced) {
      if (auto it = connections.find(*placement.displaced); it != connections.end()) {
        it->second.close(make_error_code(errc::connection_trimmed));
      }
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
      cm.closed(peer);
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
      auto it = handlers.find(protocol);
      if (it != handlers.end()) {
        const StreamHandler handler = it->second;  // alive while it runs, even if replaced
        co_await handler(conn, std::move(stream));
      }
    } catch (const system_error& e) {
      if (e.code() != asio::error::operation_aborted && conn.is_open()) {
        emit(StreamFailed{conn.remote_peer(), protocol, e.code(), error_text(e)});
      }
    }
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

  // Accept errors (EMFILE and the like) are retried after a backoff, never at once: the
  // pending connection stays in the backlog and would fail again immediately.
  asio::awaitable<void> accept_loop(TcpListener& listener) {
    std::chrono::milliseconds backoff{0};
    std::chrono::steady_clock::time_point last_warning{};
    std::uint64_t unreported = 0;
    asio::steady_timer timer(ex);
    while (!stopping) {
      while (!cm.accepting() && !stopping) co_await accept_room.wait();
      if (stopping) co_return;
      tcp::socket socket(ex);
      error_code error;
      try {
        socket = co_await listener.accept();
      } catch (const system_error& e) {
        error = e.code();
      }
      if (stopping || error == asio::error::operation_aborted) co_return;
      if (error) {
        ++accept_failures;
        ++unreported;
        backoff =
            backoff.count() == 0 ? kAcceptBackoffFirst : std::min(2 * backoff, kAcceptBackoffMax);
        if (now() - last_warning >= kAcceptWarningInterval) {
          spdlog::warn("accepting on {} failed {} time(s): {}{}; retrying after {} ms",
                       listener.local_addr().to_string(), unreported, error.message(),
                       is_resource_exhaustion(error) ? " (out of file descriptors or memory)" : "",
                       backoff.count());
          last_warning = now();
          unreported = 0;
        }
        timer.expires_after(backoff);
        co_await timer.async_wait(asio::use_awaitable);
        continue;
      }
      backoff = std::chrono::milliseconds(0);
      on_accepted(std::move(socket));
    }
  }

  void on_accepted(tcp::socket socket) {
    error_code ec;
    const tcp::endpoint remote = socket.remote_endpoint(ec);
    if (ec) return;  // the dialer is gone already
    const Multiaddr from = to_multiaddr(remote);
    // The resource manager first: a refusal there must not cost a handshake its slot.
    auto scope = resources.open_connection(Dir::inbound);
    if (!scope) {
      refuse(std::move(socket), from, scope.error(), resources.last_refusal());
      return;
    }
    auto admission = cm.admit(remote.address(), now());
    using Verdict = ConnectionManager::Admission::Verdict;
    if (admission.verdict == Verdict::refuse) {
      refuse(std::move(socket), from, admission.error, std::move(admission.detail));
      return;
    }
    if (admission.evicted) evict(*admission.evicted);
    Handshake* hs = handshakes.insert_or_assign(admission.id, std::make_unique<Handshake>(ex))
                        .first->second.get();
    tasks.spawn(inbound_handshake(std::move(socket), std::move(*scope), from, remote.address(),
                                  admission.id, hs, admission.verdict == Verdict::wait),
                "inbound handshake");
  }

  // Tells a dialer we will not talk ("na" to its multistream-select header), then lets it go.
  // The event is the only report: a flood of refusals must not flood the log.
  void refuse(tcp::socket socket, const Multiaddr& from, error_code why, std::string detail) {
    emit(InboundFailed{from, why, std::move(detail)});
    Bytes answer;
    mss::append_message(answer, mss::kHeader);
    mss::append_message(answer, mss::kNa);
    error_code ignored;
    socket.non_blocking(true, ignored);
    (void)socket.write_some(asio::buffer(answer), ignored);  // a fresh socket has room for it
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    if (lingering < kMaxLingering && !stopping) {
      ++lingering;
      tasks.spawn(linger(std::move(socket)), "refused connection");
    } else {
      socket.close(ignored);
    }
  }

  asio::awaitable<void> linger(tcp::socket socket) {
    struct Done {
      std::size_t& count;
      ~Done() { --count; }
    } done{lingering};
    asio::steady_timer timer(ex, kRefusalLinger);
    std::array<std::uint8_t, 512> discard{};
    while (true) {
      auto outcome = co_await (
          socket.async_read_some(asio::buffer(discard), asio::as_tuple(asio::use_awaitable)) ||
          timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (outcome.index() == 1 || std::get<0>(std::get<0>(outcome))) break;
    }
    error_code ignored;
    socket.close(ignored);
  }

  // The connection manager gave this handshake's slot to a newcomer: its coroutine ends it.
  void evict(HandshakeId id) {
    if (auto it = handshakes.find(id); it != handshakes.end()) {
      it->second->evicted = true;
      it->second->wake.notify();
    }
  }

  // Ends a handshake's time in the connection manager and hands freed slots on. Idempotent.
  void handshake_finished(HandshakeId id) {
    if (handshakes.erase(id) == 0) return;
    cm.handshake_ended(id);
    for (HandshakeId next : cm.promote(now())) {
      if (auto it = handshakes.find(next); it != handshakes.end()) it->second->wake.notify();
    }
    accept_room.notify();
  }

  // `state` lives until handshake_finished(id).
  asio::awaitable<void> inbound_handshake(tcp::socket socket, ConnectionScope scope, Multiaddr from,
                                          asio::ip::address ip, HandshakeId id, Handshake* state,
                                          bool waiting) {
    Handshake& hs = *state;
    struct Finish {
      Impl& impl;
      HandshakeId id;
      ~Finish() { impl.handshake_finished(id); }
    } finish{*this, id};
    const auto& cmo = options.connection_manager;

    if (waiting) {  // no slot yet: read nothing until one frees
      asio::steady_timer timer(ex, cmo.slot_wait);
      auto outcome =
          co_await (hs.wake.wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (stopping) co_return;
      if (outcome.index() == 1) {
        // No slot freed: a handshake that was too young to evict may be stuck by now.
        if (auto victim = cm.evict_for_waiting(id, now())) {
          evict(*victim);
          outcome.emplace<0>();
        }
      }
      if (outcome.index() == 1) {  // waiting handshakes are never evicted, only promoted
        const auto why = make_error_code(errc::pending_connection_limit);
        cm.count_refusal(why);
        refuse(std::move(socket), from, why,
               "no handshake slot free within " + std::to_string(cmo.slot_wait.count()) + " ms (" +
                   std::to_string(options.max_pending_inbound) + " handshakes in progress)");
        co_return;
      }
    }

    // The first multistream-select message, whole, within first_message_timeout. While what
    // arrived is a correct beginning of it, the socket is made to read as ready only once the
    // whole message is there (SO_RCVLOWAT), so a byte at a time does not keep the slot; anything
    // else (the message, garbage, the end) goes to the upgrade, which judges it at once.
    error_code ignored;
    {
      Bytes header;
      mss::append_message(header, mss::kHeader);
      asio::steady_timer timer(ex, cmo.first_message_timeout);
      bool watermark = false;
      while (true) {
        auto outcome = co_await (
            socket.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable)) ||
            timer.async_wait(asio::as_tuple(asio::use_awaitable)) || hs.wake.wait());
        if (stopping) co_return;
        if (hs.evicted) {
          refuse(std::move(socket), from, make_error_code(errc::pending_connection_evicted),
                 "handshake evicted to make room for a peer from a less busy address");
          co_return;
        }
        if (outcome.index() == 1) {
          const auto why = make_error_code(errc::handshake_timeout);
          cm.count_refusal(why);
          emit(InboundFailed{from, why,
                             "no multistream-select header within " +
                                 std::to_string(cmo.first_message_timeout.count()) + " ms"});
          co_return;  // the socket closes with the frame
        }
        std::array<std::uint8_t, kFirstMessageBytes> seen{};
        error_code ec;
        socket.non_blocking(true, ec);
        const std::size_t n =
            ec ? 0 : socket.receive(asio::buffer(seen), tcp::socket::message_peek, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
        // Ready with the watermark set but the message still short: the peer closed.
        if (ec || n == 0 || n == seen.size() || watermark ||
            !std::equal(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(n),
                        header.begin())) {
          break;
        }
        socket.set_option(
            asio::socket_base::receive_low_watermark(static_cast<int>(kFirstMessageBytes)),
            ignored);
        watermark = true;
      }
    }
    socket.set_option(asio::socket_base::receive_low_watermark(1), ignored);
    cm.first_message(id);

    std::exception_ptr failure;
    std::optional<Connection> conn;
    {
      auto outcome = co_await (
          async::capture(Connection::upgrade(std::move(socket), Direction::inbound, identity, {},
                                              options.connection, std::move(scope))) ||
          hs.wake.wait());
      if (stopping) co_return;
      if (outcome.index() == 1) {
        emit(InboundFailed{from, make_error_code(errc::pending_connection_evicted),
                           "handshake evicted to make room for a peer from a less busy address"});
        co_return;
      }
      auto& captured = std::get<0>(outcome);
      failure = captured.error;
      if (!failure) conn = std::move(*captured.value);
    }
    handshake_finished(id);  // its slot is free before the connection is placed
    if (conn) {
      try {
        add_connection(std::move(*conn), ip);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    if (failure) {
      error_code code;
      std::string detail = describe(failure, code);
      if (code != asio::error::operation_aborted)
        emit(InboundFailed{from, code, std::move(detail)});
    }
  }

  asio::awaitable<Connection> dial(Multiaddr addr, std::optional<PeerId> peer) {
    struct DialSlot {
      ConnectionManager& cm;
      bool held = false;
      ~DialSlot() {
        if (held) cm.end_dial();
      }
    } slot{cm};
    try {
      if (!cm.has_room(now())) {
        throw system_error(make_error_code(errc::connection_limit),
                           "at most " + std::to_string(options.max_connections) +
                               " connections, and none idle long enough to make room");
      }
      slot.held = cm.begin_dial();
      if (!slot.held) {
        throw system_error(make_error_code(errc::dial_limit),
                           std::to_string(options.connection_manager.max_outbound_dials) +
                               " dials in flight already");
      }
      auto scope = resources.open_connection(Dir::outbound);
      if (!scope) throw system_error(scope.error(), resources.last_refusal());
      auto socket = co_await tcp_connect(addr.decapsulate_code(protocol::p2p),
                                         options.connection.handshake_timeout);
      auto conn = co_await Connection::upgrade(std::move(socket), Direction::outbound, identity,
                                               peer, options.connection, std::move(*scope));
      co_return add_connection(std::move(conn), std::nullopt);
    } catch (const system_error& e) {
      emit(DialFailed{addr, e.code(), error_text(e)});
      throw;
    }
  }

  asio::any_io_executor ex;
  Ed25519KeyPair identity;
  PeerId self;
  HostOptions options;
  FdBudget fds;
  ConnectionManager cm;
  ResourceManager resources;
  std::list<TcpListener> listeners;
  std::vector<Multiaddr> listen_addrs;
  std::unordered_map<PeerId, Connection> connections;
  std::unordered_map<PeerId, std::shared_ptr<PendingDial>> dials;
  std::deque<HostEvent> events;
  async::Event event_signal;
  std::map<std::string, StreamHandler, std::less<>> handlers;  // the protocol registry
  std::unordered_map<HandshakeId, std::unique_ptr<Handshake>> handshakes;
  async::Event accept_room;  // a waiting handshake left: accepting may resume
  std::size_t lingering = 0;
  std::uint64_t accept_failures = 0;
  bool ticking = false;
  bool stopping = false;
  bool stopped = false;
  async::TaskGroup tasks;  // last: destroyed first, after stop() joined it
};

Host::Host(const asio::any_io_executor& executor, Ed25519KeyPair identity, HostOptions options)
    : impl_(std::make_unique<Impl>(executor, std::move(identity), std::move(options))) {}

Host::~Host() = default;

Multiaddr Host::listen(const Multiaddr& addr) {
  auto& listener = impl_->listeners.emplace_back(TcpListener::listen(impl_->ex, addr));
  impl_->start_ticking();
  Multiaddr bound = listener.local_addr();
  impl_->listen_addrs.push_back(bound);
  impl_->tasks.spawn(impl_->accept_loop(listener), "listener " + bound.to_string());
  return bound;
}

asio::awaitable<Connection> Host::connect(const Multiaddr& addr) {
  auto& impl = *impl_;
  impl.start_ticking();
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

void Host::set_handler(std::string protocol, StreamHandler handler) {
  impl_->handlers.insert_or_assign(std::move(protocol), std::move(handler));
}

void Host::remove_handler(std::string_view protocol) {
  if (auto it = impl_->handlers.find(protocol); it != impl_->handlers.end()) {
    impl_->handlers.erase(it);
  }
}

asio::awaitable<Stream> Host::open_stream(const PeerId& peer, std::vector<std::string> protocols) {
  auto conn = connection(peer);
  if (!conn) {
    throw system_error(make_error_code(errc::peer_unreachable),
                       "no connection to " + peer.to_base58());
  }
  co_return co_await conn->open_stream(std::move(protocols));
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
  impl.accept_room.notify();
  for (auto& l : impl.listeners) l.close();
  for (auto& [peer, conn] : impl.connections) conn.close();
  impl.tasks.cancel_all();
  co_await impl.tasks.join();
  impl.stopped = true;
  impl.event_signal.notify();
}

void Host::protect(const PeerId& peer, std::string_view tag) {
  impl_->cm.protect(peer, tag);
}
bool Host::unprotect(const PeerId& peer, std::string_view tag) {
  return impl_->cm.unprotect(peer, tag);
}
bool Host::is_protected(const PeerId& peer) const {
  return impl_->cm.is_protected(peer);
}
ConnManagerStats Host::connection_stats() const {
  ConnManagerStats out = impl_->cm.stats();
  out.accept_failures = impl_->accept_failures;
  return out;
}
const FdBudget& Host::fd_budget() const noexcept {
  return impl_->fds;
}
const ResourceManager& Host::resources() const noexcept {
  return impl_->resources;
}

ResourceManager& Host::resources() noexcept {
  return impl_->resources;
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

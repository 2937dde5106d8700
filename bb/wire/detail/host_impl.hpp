// Host::Impl, shared by wire/host.cpp (registration of connections, streams, dials, the public
// API) and wire/host_inbound.cpp (accepting: admission per IP before any crypto, waiting
// handshakes, refusals). Private to those two files.
#pragma once

#include "bb/wire/host.hpp"

#include "bb/async/event.hpp"
#include "bb/async/task_group.hpp"
#include "bb/async/timeout.hpp"
#include "bb/wire/address_scope.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/histogram.hpp"
#include "bb/wire/mss/message.hpp"
#include "bb/wire/observed_addrs.hpp"
#include "bb/wire/protocols/identify.hpp"
#include "bb/wire/protocols/perf.hpp"
#include "bb/wire/protocols/ping.hpp"
#include "bb/wire/tcp.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace bb::wire {

namespace host_detail {
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;

constexpr std::size_t kEventQueueBound = 4096;
// Host::stop's graceful close of every connection: written out, ended, and the peer's end read.
constexpr std::chrono::milliseconds kStopCloseBound{2'000};

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

inline FdBudget fit_options(HostOptions& options) {
  if (options.transport != nullptr) return {};  // no descriptors: the transport is the program's
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

inline std::string describe(const std::exception_ptr& error, error_code& code) {
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

}  // namespace host_detail

using namespace host_detail;  // NOLINT: private header of two files

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
        clock(options.clock != nullptr ? *options.clock : async::steady_clock()),
        fds(fit_options(options)),
        cm(options.connection_manager, options.max_connections, options.max_pending_inbound, clock),
        resources(options.resources),
        event_signal(executor),
        accept_room(executor),
        observed(options.observed_confirmations),
        push_wanted(executor),
        tasks(executor) {
    if (options.agent_version.empty()) options.agent_version = "bb/" + std::string(bb_version());
    // Every connection's deadlines and keep-alive run on the Host's clock unless told otherwise.
    if (options.connection.clock == nullptr) options.connection.clock = &clock;
    register_builtin_protocols();
  }
  ~Impl() { unlisten_transport(); }

  void unlisten_transport() noexcept {
    for (const auto& bound : transport_listens) options.transport->unlisten(bound);
    transport_listens.clear();
  }

  ConnectionManager::TimePoint now() const { return cm.now(); }
  static std::uint64_t ns(std::chrono::nanoseconds d) { return async::to_ns(d); }

  // The periodic work (activity samples, trimming) starts with the first listen or connect, as
  // every other task of the Host does: a Host never used needs no stop().
  void start_ticking() {
    if (ticking) return;
    ticking = true;
    tasks.spawn(tick_loop(), "connection manager");
    tasks.spawn(push_loop(), "identify push");
  }

  asio::awaitable<void> tick_loop() {
    while (!stopping) {
      const bool slept = co_await clock.sleep_for(ns(options.connection_manager.tick_interval));
      if (!slept || stopping) break;
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
    handlers.emplace(identify::kProtocolId, [this](Connection conn, Stream stream) {
      return identify::serve(std::move(stream), local_info_for(conn.remote_addr()));
    });
    if (options.serve_identify_push) {
      handlers.emplace(identify::kPushProtocolId, [this](Connection conn, Stream stream) {
        return serve_push(std::move(conn), std::move(stream));
      });
    }
    if (options.serve_perf) {
      handlers.emplace(perf::kProtocolId,
                       [](Connection, Stream stream) { return perf::serve(std::move(stream)); });
    }
  }

  // ---- identify (host_identify.cpp) ----

  // What we advertise: the bound listen addresses (wildcards expanded to the interfaces'), then
  // each confirmed observed IP with every TCP listen port of its family. At most kMaxAdvertised.
  std::vector<Multiaddr> advertised() const;
  identify::Info local_info() const;
  // local_info() with the addresses a peer at `remote` can use (shareable_with).
  identify::Info local_info_for(const Multiaddr& remote) const;
  asio::awaitable<void> identify_peer(Connection conn);
  asio::awaitable<void> serve_push(Connection conn, Stream stream);
  // What we would tell peers changed: push it to every connected peer, debounced.
  void schedule_push();
  asio::awaitable<void> push_loop();
  asio::awaitable<void> push_to(Connection conn);
  // An identify or a push from `peer`: merged into what we know of it, then PeerIdentified.
  void on_identified(const Connection& conn, identify::Info info, bool pushed);

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
      identified.erase(peer);
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

  // Accept errors (EMFILE and the like) are retried after a backoff, never at once: the
  // pending connection stays in the backlog and would fail again immediately.
  asio::awaitable<void> accept_loop(TcpListener& listener);

  void on_accepted(tcp::socket socket);
  // An inbound stream, accepted or handed in (Host::add_inbound): admission, then its handshake.
  void on_inbound(std::unique_ptr<ByteStream> stream);

  // Tells a dialer we will not talk ("na" to its multistream-select header), then lets it go.
  // The event is the only report: a flood of refusals must not flood the log.
  void refuse(std::unique_ptr<ByteStream> stream, const Multiaddr& from, error_code why,
              std::string detail);

  asio::awaitable<void> linger(std::unique_ptr<ByteStream> stream);

  // The connection manager gave this handshake's slot to a newcomer: its coroutine ends it.
  void evict(HandshakeId id);

  // Ends a handshake's time in the connection manager and hands freed slots on. Idempotent.
  void handshake_finished(HandshakeId id);

  // `state` lives until handshake_finished(id).
  asio::awaitable<void> inbound_handshake(std::unique_ptr<ByteStream> stream, ConnectionScope scope,
                                          Multiaddr from, asio::ip::address ip, HandshakeId id,
                                          Handshake* state, bool waiting);

  // A dial to `addr` over TCP, or over `over` when given (Host::connect_over).
  asio::awaitable<Connection> dial(Multiaddr addr, std::optional<PeerId> peer,
                                   std::unique_ptr<ByteStream> over = nullptr) {
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
      std::unique_ptr<ByteStream> stream = std::move(over);
      if (!stream) {
        if (options.transport != nullptr) {
          stream = co_await options.transport->dial(addr.decapsulate_code(protocol::p2p));
        } else {
          tcp::socket socket = co_await tcp_connect(addr.decapsulate_code(protocol::p2p),
                                                    options.connection.handshake_timeout, clock);
          stream = make_tcp_stream(std::move(socket));
        }
      }
      const std::uint64_t connected_ns = clock.now_ns();
      auto conn = co_await Connection::upgrade(std::move(stream), Direction::outbound, identity,
                                               peer, options.connection, std::move(*scope));
      handshake_durations.observe(clock.now_ns() - connected_ns);
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
  async::Clock& clock;
  FdBudget fds;
  ConnectionManager cm;
  ResourceManager resources;
  std::list<TcpListener> listeners;
  std::vector<Multiaddr> transport_listens;  // bound through options.transport
  std::vector<Multiaddr> listen_addrs;
  std::unordered_map<PeerId, Connection> connections;
  std::unordered_map<PeerId, std::shared_ptr<PendingDial>> dials;
  std::deque<HostEvent> events;
  async::Event event_signal;
  std::map<std::string, StreamHandler, std::less<>> handlers;  // the protocol registry
  std::unordered_map<HandshakeId, std::unique_ptr<Handshake>> handshakes;
  async::Event accept_room;  // a waiting handshake left: accepting may resume
  ObservedAddrs observed;    // what identified peers say our address is
  // The last identify of each connected peer (a push updates it); erased with the connection.
  std::unordered_map<PeerId, identify::Info> identified;
  async::Event push_wanted;  // schedule_push() was called
  bool push_pending = false;
  std::unordered_set<PeerId> pushing;  // peers with a push in flight
  std::size_t lingering = 0;
  std::uint64_t accept_failures = 0;
  // Successful upgrades, from TCP accept or connect to a secured, multiplexed connection.
  Histogram handshake_durations{handshake_buckets_ns()};
  bool ticking = false;
  bool stopping = false;
  bool stopped = false;
  async::TaskGroup tasks;  // last: destroyed first, after stop() joined it
};

}  // namespace bb::wire

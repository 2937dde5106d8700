// The resource manager: every buffer, stream and connection that a remote peer can make bb
// allocate is reserved here first, against a set of scopes, and refused when any of them is
// over its limit. A refusal names the scope and the resource ("peer 12D3KooW… memory: 16 MiB
// in use, limit 16 MiB, asked 64 KiB"), so the stream or connection that asked can be reset
// with that reason while everything else goes on.
//
// Scopes, and what a reservation in each is also charged to:
//
//   system       the whole node
//   transient    connections (and their streams) not yet authenticated: TCP accepted, Noise
//                not finished; charged to system
//   peer         everything of one remote PeerId, across its connections; charged to system
//   connection   one connection: Yamux buffers, read and seal buffers; charged to its peer
//                (transient before set_peer()) and system
//   protocol     everything served or used under one protocol id; charged to system
//   stream       one stream: the protocol's own buffers; charged to its connection (and so its
//                peer and system) and, once set_protocol() ran, to the protocol
//
// Thread rule: a ResourceManager and every scope handle it returns live on one executor (bb's
// rule for a Host); nothing here locks. Lifetime: handles share the manager's state, so any
// destruction order is safe; a handle releases everything it still holds when destroyed.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/peer_id.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bb::wire {

inline constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();

enum class ScopeKind : std::uint8_t { system, transient, peer, connection, protocol, stream };
std::string_view to_string(ScopeKind kind) noexcept;

// Limits of one scope. kUnlimited leaves a resource unchecked at that scope.
struct ScopeLimits {
  std::size_t memory = kUnlimited;  // bytes
  std::size_t streams_inbound = kUnlimited;
  std::size_t streams_outbound = kUnlimited;
  std::size_t streams = kUnlimited;  // both directions
  std::size_t connections_inbound = kUnlimited;
  std::size_t connections_outbound = kUnlimited;
  std::size_t connections = kUnlimited;
  std::size_t fds = kUnlimited;
};

// What the node allows. The defaults fit a small machine (a node on 2 cores and a few GiB
// serving a few hundred peers); bb-node exposes the main ones as flags.
struct ResourceLimits {
  ScopeLimits system;
  ScopeLimits transient;
  ScopeLimits peer;        // each peer
  ScopeLimits connection;  // each connection
  ScopeLimits stream;      // each stream
  ScopeLimits protocol;    // each protocol without an entry in `protocols`
  std::map<std::string, ScopeLimits, std::less<>> protocols;

  static ResourceLimits defaults();
  static ResourceLimits unlimited();  // every limit kUnlimited: tools and benchmarks
  // Scales the system scope to a memory budget and file descriptor count, keeping the ratios
  // of the defaults for the smaller scopes where they would exceed the system's.
  static ResourceLimits for_budget(std::size_t memory_bytes, std::size_t fds);
};

enum class ResourceKind : std::uint8_t { memory, streams, connections, fds };
std::string_view to_string(ResourceKind kind) noexcept;

// Usage and limits of one scope, for metrics and status.
struct ScopeStat {
  ScopeKind kind = ScopeKind::system;
  std::string name;  // "system", "transient", a PeerId, a protocol id, "conn 7", "stream 7/3"
  std::size_t memory = 0;
  std::size_t streams_inbound = 0;
  std::size_t streams_outbound = 0;
  std::size_t connections_inbound = 0;
  std::size_t connections_outbound = 0;
  std::size_t fds = 0;
  ScopeLimits limits;
};

struct ResourceStats {
  ScopeStat system;
  ScopeStat transient;
  std::vector<ScopeStat> protocols;  // protocols with anything in use
  std::size_t peers = 0;             // peer scopes alive
  std::size_t peak_memory = 0;       // of the system scope since construction
  // Refusals by "<scope kind>:<resource>", e.g. "peer:memory", "transient:connections".
  std::map<std::string, std::uint64_t, std::less<>> refusals;
};

enum class Dir : std::uint8_t { inbound, outbound };

namespace detail {
struct Scope;
struct ResourceState;
}  // namespace detail

class StreamScope;

// A connection's reservations. Created transient; set_peer() moves everything it holds (the
// connection slot, its fd, its memory, its streams) to the peer's scope, or refuses.
class ConnectionScope {
 public:
  ConnectionScope() = default;
  ConnectionScope(ConnectionScope&&) noexcept;
  ConnectionScope& operator=(ConnectionScope&&) noexcept;
  ~ConnectionScope();

  // Attaches the connection to `peer` once its identity is proven. Errors: resource_* when
  // the peer's scope cannot take what this connection holds.
  boost::system::error_code set_peer(const PeerId& peer);
  // Reserves `bytes` more for this connection. Errors: resource_memory_limit.
  boost::system::error_code reserve_memory(std::size_t bytes);
  void release_memory(std::size_t bytes) noexcept;
  // A stream of this connection: counted in the connection's peer (or transient) and system.
  // Errors: resource_stream_limit.
  result<StreamScope> open_stream(Dir dir);

  std::size_t memory() const noexcept;
  bool is_transient() const noexcept;
  explicit operator bool() const noexcept { return scope_ != nullptr; }
  // The text of the last refusal of this scope (what limit, at which scope); "" if none.
  std::string last_refusal() const;

 private:
  friend class ResourceManager;
  friend class StreamScope;
  ConnectionScope(std::shared_ptr<detail::ResourceState> state, detail::Scope* scope, Dir dir);
  void release_all() noexcept;

  std::shared_ptr<detail::ResourceState> state_;
  detail::Scope* scope_ = nullptr;
  Dir dir_ = Dir::inbound;
};

// A stream's reservations; set_protocol() adds the protocol's scope to what it is charged to.
class StreamScope {
 public:
  StreamScope() = default;
  StreamScope(StreamScope&&) noexcept;
  StreamScope& operator=(StreamScope&&) noexcept;
  ~StreamScope();

  // Errors: resource_stream_limit or resource_memory_limit at the protocol's scope.
  boost::system::error_code set_protocol(std::string_view protocol);
  boost::system::error_code reserve_memory(std::size_t bytes);
  void release_memory(std::size_t bytes) noexcept;

  std::size_t memory() const noexcept;
  explicit operator bool() const noexcept { return scope_ != nullptr; }
  std::string last_refusal() const;

 private:
  friend class ConnectionScope;
  StreamScope(std::shared_ptr<detail::ResourceState> state, detail::Scope* scope, Dir dir);
  void release_all() noexcept;

  std::shared_ptr<detail::ResourceState> state_;
  detail::Scope* scope_ = nullptr;
  Dir dir_ = Dir::inbound;
};

// Memory held in a connection or stream scope, grown and shrunk with the buffer it stands
// for; releases what it holds when destroyed. Keeps a pointer to its scope handle, which must
// outlive it.
class MemoryReservation {
 public:
  MemoryReservation() = default;
  explicit MemoryReservation(ConnectionScope& scope) : conn_(&scope) {}
  explicit MemoryReservation(StreamScope& scope) : stream_(&scope) {}
  MemoryReservation(MemoryReservation&& other) noexcept;
  MemoryReservation& operator=(MemoryReservation&& other) noexcept;
  ~MemoryReservation() { resize_down(0); }

  // Makes the reservation exactly `bytes`: growing may fail (resource_memory_limit, nothing
  // changed), shrinking never does.
  boost::system::error_code resize(std::size_t bytes);
  std::size_t size() const noexcept { return held_; }

 private:
  void resize_down(std::size_t bytes) noexcept;
  ConnectionScope* conn_ = nullptr;
  StreamScope* stream_ = nullptr;
  std::size_t held_ = 0;
};

// Memory of the node's own held for one peer (a message waiting in an inbox), charged to that
// peer and the system; released when destroyed. Shares the manager's state, so it may outlive
// the manager and the peer's connections.
class PeerMemory {
 public:
  PeerMemory() = default;
  PeerMemory(PeerMemory&& other) noexcept;
  PeerMemory& operator=(PeerMemory&& other) noexcept;
  PeerMemory(const PeerMemory&) = delete;
  PeerMemory& operator=(const PeerMemory&) = delete;
  ~PeerMemory() { release(); }

  std::size_t size() const noexcept { return bytes_; }
  void release() noexcept;

 private:
  friend class ResourceManager;
  PeerMemory(std::shared_ptr<detail::ResourceState> state, PeerId peer, std::size_t bytes);
  std::shared_ptr<detail::ResourceState> state_;
  std::optional<PeerId> peer_;
  std::size_t bytes_ = 0;
};

class ResourceManager {
 public:
  explicit ResourceManager(ResourceLimits limits = ResourceLimits::defaults());
  ~ResourceManager();
  ResourceManager(const ResourceManager&) = delete;
  ResourceManager& operator=(const ResourceManager&) = delete;

  // A new connection (one fd) in the transient scope. Errors: resource_connection_limit,
  // resource_fd_limit.
  result<ConnectionScope> open_connection(Dir dir);

  // Memory of the node's own, charged to a peer and the system (the Node's queues and inboxes,
  // the address book): reserve before growing, release after shrinking.
  boost::system::error_code reserve_peer_memory(const PeerId& peer, std::size_t bytes);
  void release_peer_memory(const PeerId& peer, std::size_t bytes) noexcept;
  // The same as a handle: the memory goes back when the PeerMemory is destroyed. Errors:
  // resource_memory_limit (last_refusal() says which scope).
  result<PeerMemory> hold_peer_memory(const PeerId& peer, std::size_t bytes);

  const ResourceLimits& limits() const noexcept;
  ResourceStats stats() const;
  std::optional<ScopeStat> peer_stat(const PeerId& peer) const;
  // Text of the most recent refusal anywhere; "" if none.
  std::string last_refusal() const;

 private:
  std::shared_ptr<detail::ResourceState> state_;
};

}  // namespace bb::wire

#include "wire/resource_manager.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <utility>

namespace bb::wire {

using boost::system::error_code;

std::string_view to_string(ScopeKind kind) noexcept {
  switch (kind) {
    case ScopeKind::system: return "system";
    case ScopeKind::transient: return "transient";
    case ScopeKind::peer: return "peer";
    case ScopeKind::connection: return "connection";
    case ScopeKind::protocol: return "protocol";
    case ScopeKind::stream: return "stream";
  }
  return "scope";
}

std::string_view to_string(ResourceKind kind) noexcept {
  switch (kind) {
    case ResourceKind::memory: return "memory";
    case ResourceKind::streams: return "streams";
    case ResourceKind::connections: return "connections";
    case ResourceKind::fds: return "fds";
  }
  return "resource";
}

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

std::string size_text(std::size_t n) {
  if (n == kUnlimited) return "unlimited";
  if (n >= MiB && n % MiB == 0) return std::to_string(n / MiB) + " MiB";
  if (n >= KiB && n % KiB == 0) return std::to_string(n / KiB) + " KiB";
  return std::to_string(n) + " B";
}

std::size_t scaled(std::size_t base, std::size_t num, std::size_t den) {
  if (base == kUnlimited) return kUnlimited;
  return std::max<std::size_t>(1, base / den * num);
}

}  // namespace

ResourceLimits ResourceLimits::defaults() {
  ResourceLimits l;
  // The whole node: 1 GiB, 16k streams, and connections as a backstop above the connection
  // manager's own limit (HostOptions::max_connections, 1,024, plus handshakes and dials in
  // progress), so that the manager, not this, decides who goes when the table is full.
  l.system.memory = 1024 * MiB;
  l.system.connections = 1536;
  l.system.connections_inbound = 1536;
  l.system.connections_outbound = 1536;
  l.system.streams = 16384;
  l.system.fds = 4096;
  // Not yet authenticated: cheap to make, so a small share.
  l.transient.memory = 64 * MiB;
  l.transient.connections = 256;
  l.transient.connections_inbound = 256;
  l.transient.connections_outbound = 256;
  l.transient.streams = 512;
  l.transient.fds = 256;
  // One peer: a few connections, a Node's 4 MiB stream windows on a handful of streams and a
  // full-size 16 MiB envelope in flight, with room to spare.
  l.peer.memory = 96 * MiB;
  l.peer.connections = 8;
  l.peer.streams = 1024;
  l.peer.streams_inbound = 512;
  l.peer.streams_outbound = 512;
  l.connection.memory = 80 * MiB;
  l.connection.streams = 512;
  // One stream: a 16 MiB envelope twice (its frame and the decoded message) plus the Yamux
  // window it arrives through.
  l.stream.memory = 40 * MiB;
  // /perf/1.0.0 exists for measurements: a handful of streams at a time.
  ScopeLimits perf;
  perf.memory = 32 * MiB;
  perf.streams = 64;
  perf.streams_inbound = 32;
  l.protocols.emplace("/perf/1.0.0", perf);
  return l;
}

ResourceLimits ResourceLimits::unlimited() {
  return ResourceLimits{};
}

ResourceLimits ResourceLimits::for_budget(std::size_t memory_bytes, std::size_t fds) {
  ResourceLimits l = defaults();
  const std::size_t base_memory = l.system.memory;
  l.system.memory = memory_bytes;
  l.system.fds = fds;
  auto fit = [&](std::size_t& v) {
    if (v == kUnlimited || memory_bytes >= base_memory) return;
    v = std::min(v, scaled(v, memory_bytes / KiB, base_memory / KiB));
  };
  fit(l.transient.memory);
  fit(l.peer.memory);
  fit(l.connection.memory);
  for (auto& [name, p] : l.protocols) fit(p.memory);
  // A stream must still hold one maximum envelope if the peer scope can; below that, follow it.
  l.stream.memory = std::min(l.stream.memory, l.peer.memory);
  l.connection.memory = std::min(l.connection.memory, l.peer.memory);
  auto clamp_count = [&](std::size_t& v) { v = std::min(v, fds); };
  clamp_count(l.system.connections);
  clamp_count(l.system.connections_inbound);
  clamp_count(l.system.connections_outbound);
  l.transient.fds = std::min(l.transient.fds, fds);
  return l;
}

namespace detail {

struct Usage {
  std::size_t memory = 0;
  std::size_t streams_in = 0;
  std::size_t streams_out = 0;
  std::size_t conns_in = 0;
  std::size_t conns_out = 0;
  std::size_t fds = 0;
};

struct Scope {
  ScopeKind kind = ScopeKind::system;
  std::string name;
  ScopeLimits limits;
  Usage usage;
  Scope* owner = nullptr;      // connection: its peer or the transient scope
  Scope* conn = nullptr;       // stream: its connection
  Scope* protocol = nullptr;   // stream: its protocol, once set
  std::optional<PeerId> peer;  // peer scope: whose
  std::size_t refs = 0;        // peer / protocol: connections or streams attached; connection:
                               // live streams
  std::size_t direct = 0;      // memory reserved on this scope itself (not through children)
  bool handle_gone = false;    // connection: its handle released; freed with its last stream
  std::string last_refusal;
};

struct ResourceState {
  explicit ResourceState(ResourceLimits l) : limits(std::move(l)) {
    system.kind = ScopeKind::system;
    system.name = "system";
    system.limits = limits.system;
    transient.kind = ScopeKind::transient;
    transient.name = "transient";
    transient.limits = limits.transient;
  }

  ResourceLimits limits;
  Scope system;
  Scope transient;
  std::unordered_map<PeerId, std::unique_ptr<Scope>> peers;
  std::map<std::string, std::unique_ptr<Scope>, std::less<>> protocols;
  std::size_t peak_memory = 0;
  std::map<std::string, std::uint64_t, std::less<>> refusals;
  std::string last_refusal;
  std::uint64_t next_conn = 1;

  // Every scope a reservation in `s` is charged to, `s` first; at most 5.
  struct Chain {
    std::array<Scope*, 5> scopes{};
    std::size_t size = 0;
    void add(Scope* s) {
      if (s != nullptr) scopes[size++] = s;
    }
    Scope** begin() { return scopes.data(); }
    Scope** end() { return scopes.data() + size; }
  };
  Chain chain(Scope& s) {
    Chain c;
    c.add(&s);
    switch (s.kind) {
      case ScopeKind::system: return c;
      case ScopeKind::connection: c.add(s.owner); break;
      case ScopeKind::stream:
        c.add(s.conn);
        if (s.conn != nullptr) c.add(s.conn->owner);
        c.add(s.protocol);
        break;
      default: break;
    }
    c.add(&system);
    return c;
  }

  error_code refuse(Scope& at, ResourceKind what, std::size_t used, std::size_t limit,
                    std::size_t asked, errc code) {
    std::string text = std::string(to_string(at.kind));
    if (at.kind != ScopeKind::system && at.kind != ScopeKind::transient) text += " " + at.name;
    text += " " + std::string(to_string(what)) + ": ";
    if (what == ResourceKind::memory) {
      text +=
          size_text(used) + " in use, limit " + size_text(limit) + ", asked " + size_text(asked);
    } else {
      text += std::to_string(used) + " in use, limit " + std::to_string(limit);
    }
    at.last_refusal = text;
    last_refusal = std::move(text);
    ++refusals[std::string(to_string(at.kind)) + ":" + std::string(to_string(what))];
    return make_error_code(code);
  }

  // Checks every scope of the chain, then charges them all: all or nothing.
  error_code reserve_memory(Scope& s, std::size_t n) {
    if (n == 0) return {};
    auto c = chain(s);
    for (Scope* x : c) {
      if (x->limits.memory != kUnlimited &&
          (x->usage.memory > x->limits.memory || n > x->limits.memory - x->usage.memory)) {
        const error_code ec = refuse(*x, ResourceKind::memory, x->usage.memory, x->limits.memory, n,
                                     errc::resource_memory_limit);
        if (x != &s) s.last_refusal = x->last_refusal;
        return ec;
      }
    }
    for (Scope* x : c) x->usage.memory += n;
    s.direct += n;
    peak_memory = std::max(peak_memory, system.usage.memory);
    return {};
  }

  void release_memory(Scope& s, std::size_t n) noexcept {
    if (n == 0) return;
    n = std::min(n, s.direct);
    s.direct -= n;
    for (Scope* x : chain(s)) x->usage.memory -= std::min(n, x->usage.memory);
  }

  static bool over(std::size_t used, std::size_t add, std::size_t limit) {
    return limit != kUnlimited && used + add > limit;
  }

  error_code check_streams(Scope& x, Dir dir, std::size_t n, Scope& origin) {
    const std::size_t in = x.usage.streams_in;
    const std::size_t out = x.usage.streams_out;
    const bool inbound = dir == Dir::inbound;
    if (over(in + out, n, x.limits.streams) || (inbound && over(in, n, x.limits.streams_inbound)) ||
        (!inbound && over(out, n, x.limits.streams_outbound))) {
      const std::size_t limit =
          over(in + out, n, x.limits.streams)
              ? x.limits.streams
              : (inbound ? x.limits.streams_inbound : x.limits.streams_outbound);
      const error_code ec = refuse(x, ResourceKind::streams, inbound ? in : out, limit, n,
                                   errc::resource_stream_limit);
      if (&x != &origin) origin.last_refusal = x.last_refusal;
      return ec;
    }
    return {};
  }

  static void add_streams(Scope& x, Dir dir, std::size_t n) {
    (dir == Dir::inbound ? x.usage.streams_in : x.usage.streams_out) += n;
  }
  static void sub_streams(Scope& x, Dir dir, std::size_t n) {
    auto& v = dir == Dir::inbound ? x.usage.streams_in : x.usage.streams_out;
    v -= std::min(v, n);
  }

  error_code check_connection(Scope& x, Dir dir, std::size_t fds, Scope& origin) {
    const std::size_t in = x.usage.conns_in;
    const std::size_t out = x.usage.conns_out;
    const bool inbound = dir == Dir::inbound;
    std::size_t limit = kUnlimited;
    if (over(in + out, 1, x.limits.connections)) {
      limit = x.limits.connections;
    } else if (inbound && over(in, 1, x.limits.connections_inbound)) {
      limit = x.limits.connections_inbound;
    } else if (!inbound && over(out, 1, x.limits.connections_outbound)) {
      limit = x.limits.connections_outbound;
    }
    error_code ec;
    if (limit != kUnlimited) {
      ec =
          refuse(x, ResourceKind::connections, in + out, limit, 1, errc::resource_connection_limit);
    } else if (over(x.usage.fds, fds, x.limits.fds)) {
      ec = refuse(x, ResourceKind::fds, x.usage.fds, x.limits.fds, fds, errc::resource_fd_limit);
    }
    if (ec && &x != &origin) origin.last_refusal = x.last_refusal;
    return ec;
  }

  static void add_connection(Scope& x, Dir dir, std::size_t fds) {
    (dir == Dir::inbound ? x.usage.conns_in : x.usage.conns_out) += 1;
    x.usage.fds += fds;
  }
  static void sub_connection(Scope& x, Dir dir, std::size_t fds) {
    auto& v = dir == Dir::inbound ? x.usage.conns_in : x.usage.conns_out;
    v -= std::min<std::size_t>(v, 1);
    x.usage.fds -= std::min(x.usage.fds, fds);
  }

  Scope& peer_scope(const PeerId& peer) {
    auto& slot = peers[peer];
    if (!slot) {
      slot = std::make_unique<Scope>();
      slot->kind = ScopeKind::peer;
      slot->name = peer.to_base58();
      slot->limits = limits.peer;
      slot->peer = peer;
    }
    return *slot;
  }

  void maybe_drop_peer(Scope& p) {
    if (p.refs == 0 && p.usage.memory == 0 && p.usage.streams_in == 0 && p.usage.streams_out == 0 &&
        p.usage.conns_in == 0 && p.usage.conns_out == 0) {
      peers.erase(*p.peer);
    }
  }

  // A connection scope lives while its handle or any of its streams does: streams charge it.
  void maybe_free_connection(Scope& c) {
    if (!c.handle_gone || c.refs > 0) return;
    Scope* owner = c.owner;
    delete &c;  // NOLINT(cppcoreguidelines-owning-memory): the last user frees it
    if (owner != nullptr && owner->kind == ScopeKind::peer) {
      --owner->refs;
      maybe_drop_peer(*owner);
    }
  }

  Scope& protocol_scope(std::string_view protocol) {
    auto it = protocols.find(protocol);
    if (it == protocols.end()) {
      auto s = std::make_unique<Scope>();
      s->kind = ScopeKind::protocol;
      s->name = std::string(protocol);
      auto l = limits.protocols.find(protocol);
      s->limits = l != limits.protocols.end() ? l->second : limits.protocol;
      it = protocols.emplace(std::string(protocol), std::move(s)).first;
    }
    return *it->second;
  }

  void maybe_drop_protocol(Scope& p) {
    if (p.refs == 0 && p.usage.memory == 0) protocols.erase(p.name);
  }

  static ScopeStat stat(const Scope& s) {
    ScopeStat st;
    st.kind = s.kind;
    st.name = s.name;
    st.memory = s.usage.memory;
    st.streams_inbound = s.usage.streams_in;
    st.streams_outbound = s.usage.streams_out;
    st.connections_inbound = s.usage.conns_in;
    st.connections_outbound = s.usage.conns_out;
    st.fds = s.usage.fds;
    st.limits = s.limits;
    return st;
  }
};

}  // namespace detail

// ---- ConnectionScope -----------------------------------------------------------------------

ConnectionScope::ConnectionScope(std::shared_ptr<detail::ResourceState> state, detail::Scope* scope,
                                 Dir dir)
    : state_(std::move(state)), scope_(scope), dir_(dir) {}

ConnectionScope::ConnectionScope(ConnectionScope&& other) noexcept
    : state_(std::move(other.state_)),
      scope_(std::exchange(other.scope_, nullptr)),
      dir_(other.dir_) {}

ConnectionScope& ConnectionScope::operator=(ConnectionScope&& other) noexcept {
  if (this != &other) {
    release_all();
    state_ = std::move(other.state_);
    scope_ = std::exchange(other.scope_, nullptr);
    dir_ = other.dir_;
  }
  return *this;
}

ConnectionScope::~ConnectionScope() {
  release_all();
}

void ConnectionScope::release_all() noexcept {
  if (scope_ == nullptr) return;
  auto& st = *state_;
  auto& s = *scope_;
  st.release_memory(s, s.direct);
  for (detail::Scope* x : {s.owner, &st.system}) {
    if (x != nullptr) st.sub_connection(*x, dir_, 1);
  }
  s.handle_gone = true;
  scope_ = nullptr;
  st.maybe_free_connection(s);
}

error_code ConnectionScope::set_peer(const PeerId& peer) {
  if (scope_ == nullptr) return {};
  auto& st = *state_;
  auto& s = *scope_;
  if (s.owner != nullptr && s.owner->kind == ScopeKind::peer) return {};
  auto& p = st.peer_scope(peer);
  // The peer must take everything the connection holds: its slot, memory and streams.
  error_code ec = st.check_connection(p, dir_, 1, s);
  if (!ec && p.limits.memory != kUnlimited && s.usage.memory > 0 &&
      p.usage.memory + s.usage.memory > p.limits.memory) {
    ec = st.refuse(p, ResourceKind::memory, p.usage.memory, p.limits.memory, s.usage.memory,
                   errc::resource_memory_limit);
    s.last_refusal = p.last_refusal;
  }
  if (!ec && s.usage.streams_in > 0) ec = st.check_streams(p, Dir::inbound, s.usage.streams_in, s);
  if (!ec && s.usage.streams_out > 0)
    ec = st.check_streams(p, Dir::outbound, s.usage.streams_out, s);
  if (ec) {
    st.maybe_drop_peer(p);
    return ec;
  }
  detail::Scope& t = *s.owner;
  t.usage.memory -= std::min(t.usage.memory, s.usage.memory);
  st.sub_connection(t, dir_, 1);
  st.sub_streams(t, Dir::inbound, s.usage.streams_in);
  st.sub_streams(t, Dir::outbound, s.usage.streams_out);
  p.usage.memory += s.usage.memory;
  st.add_connection(p, dir_, 1);
  st.add_streams(p, Dir::inbound, s.usage.streams_in);
  st.add_streams(p, Dir::outbound, s.usage.streams_out);
  ++p.refs;
  s.owner = &p;
  return {};
}

error_code ConnectionScope::reserve_memory(std::size_t bytes) {
  if (scope_ == nullptr) return {};
  return state_->reserve_memory(*scope_, bytes);
}

void ConnectionScope::release_memory(std::size_t bytes) noexcept {
  if (scope_ != nullptr) state_->release_memory(*scope_, bytes);
}

result<StreamScope> ConnectionScope::open_stream(Dir dir) {
  if (scope_ == nullptr) return StreamScope{};
  auto& st = *state_;
  auto& s = *scope_;
  auto* stream = new detail::Scope();  // NOLINT(cppcoreguidelines-owning-memory)
  stream->kind = ScopeKind::stream;
  stream->name = s.name + "/" + std::to_string(s.usage.streams_in + s.usage.streams_out + 1);
  stream->limits = st.limits.stream;
  stream->conn = &s;
  // Counted in the connection, its owner and the system (the stream scope itself holds one).
  for (detail::Scope* x : {&s, s.owner, &st.system}) {
    if (auto ec = st.check_streams(*x, dir, 1, s)) {
      delete stream;  // NOLINT(cppcoreguidelines-owning-memory)
      return ec;
    }
  }
  for (detail::Scope* x : {&s, s.owner, &st.system}) st.add_streams(*x, dir, 1);
  ++s.refs;
  return StreamScope(state_, stream, dir);
}

std::size_t ConnectionScope::memory() const noexcept {
  return scope_ != nullptr ? scope_->usage.memory : 0;
}

bool ConnectionScope::is_transient() const noexcept {
  return scope_ != nullptr && scope_->owner != nullptr &&
         scope_->owner->kind == ScopeKind::transient;
}

std::string ConnectionScope::last_refusal() const {
  return scope_ != nullptr ? scope_->last_refusal : std::string{};
}

// ---- StreamScope ---------------------------------------------------------------------------

StreamScope::StreamScope(std::shared_ptr<detail::ResourceState> state, detail::Scope* scope,
                         Dir dir)
    : state_(std::move(state)), scope_(scope), dir_(dir) {}

StreamScope::StreamScope(StreamScope&& other) noexcept
    : state_(std::move(other.state_)),
      scope_(std::exchange(other.scope_, nullptr)),
      dir_(other.dir_) {}

StreamScope& StreamScope::operator=(StreamScope&& other) noexcept {
  if (this != &other) {
    release_all();
    state_ = std::move(other.state_);
    scope_ = std::exchange(other.scope_, nullptr);
    dir_ = other.dir_;
  }
  return *this;
}

StreamScope::~StreamScope() {
  release_all();
}

void StreamScope::release_all() noexcept {
  if (scope_ == nullptr) return;
  auto& st = *state_;
  auto& s = *scope_;
  st.release_memory(s, s.direct);
  detail::Scope* conn = s.conn;
  for (detail::Scope* x : {conn, conn->owner, &st.system}) {
    if (x != nullptr) st.sub_streams(*x, dir_, 1);
  }
  if (s.protocol != nullptr) {
    st.sub_streams(*s.protocol, dir_, 1);
    --s.protocol->refs;
    st.maybe_drop_protocol(*s.protocol);
  }
  delete scope_;  // NOLINT(cppcoreguidelines-owning-memory)
  scope_ = nullptr;
  --conn->refs;
  st.maybe_free_connection(*conn);
}

error_code StreamScope::set_protocol(std::string_view protocol) {
  if (scope_ == nullptr) return {};
  auto& st = *state_;
  auto& s = *scope_;
  if (s.protocol != nullptr) return {};
  auto& p = st.protocol_scope(protocol);
  error_code ec = st.check_streams(p, dir_, 1, s);
  if (!ec && p.limits.memory != kUnlimited && s.usage.memory > 0 &&
      p.usage.memory + s.usage.memory > p.limits.memory) {
    ec = st.refuse(p, ResourceKind::memory, p.usage.memory, p.limits.memory, s.usage.memory,
                   errc::resource_memory_limit);
    s.last_refusal = p.last_refusal;
  }
  if (ec) {
    st.maybe_drop_protocol(p);
    return ec;
  }
  st.add_streams(p, dir_, 1);
  p.usage.memory += s.usage.memory;
  ++p.refs;
  s.protocol = &p;
  return {};
}

error_code StreamScope::reserve_memory(std::size_t bytes) {
  if (scope_ == nullptr) return {};
  return state_->reserve_memory(*scope_, bytes);
}

void StreamScope::release_memory(std::size_t bytes) noexcept {
  if (scope_ != nullptr) state_->release_memory(*scope_, bytes);
}

std::size_t StreamScope::memory() const noexcept {
  return scope_ != nullptr ? scope_->usage.memory : 0;
}

std::string StreamScope::last_refusal() const {
  return scope_ != nullptr ? scope_->last_refusal : std::string{};
}

// ---- MemoryReservation ---------------------------------------------------------------------

MemoryReservation::MemoryReservation(MemoryReservation&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      stream_(std::exchange(other.stream_, nullptr)),
      held_(std::exchange(other.held_, 0)) {}

MemoryReservation& MemoryReservation::operator=(MemoryReservation&& other) noexcept {
  if (this != &other) {
    resize_down(0);
    conn_ = std::exchange(other.conn_, nullptr);
    stream_ = std::exchange(other.stream_, nullptr);
    held_ = std::exchange(other.held_, 0);
  }
  return *this;
}

error_code MemoryReservation::resize(std::size_t bytes) {
  if (bytes <= held_) {
    resize_down(bytes);
    return {};
  }
  const std::size_t more = bytes - held_;
  error_code ec;
  if (conn_ != nullptr) {
    ec = conn_->reserve_memory(more);
  } else if (stream_ != nullptr) {
    ec = stream_->reserve_memory(more);
  }
  if (!ec) held_ = bytes;
  return ec;
}

void MemoryReservation::resize_down(std::size_t bytes) noexcept {
  if (bytes >= held_) return;
  const std::size_t less = held_ - bytes;
  if (conn_ != nullptr) conn_->release_memory(less);
  if (stream_ != nullptr) stream_->release_memory(less);
  held_ = bytes;
}

// ---- ResourceManager -----------------------------------------------------------------------

ResourceManager::ResourceManager(ResourceLimits limits)
    : state_(std::make_shared<detail::ResourceState>(std::move(limits))) {}

ResourceManager::~ResourceManager() = default;

result<ConnectionScope> ResourceManager::open_connection(Dir dir) {
  auto& st = *state_;
  auto* conn = new detail::Scope();  // NOLINT(cppcoreguidelines-owning-memory)
  conn->kind = ScopeKind::connection;
  conn->name = "conn " + std::to_string(st.next_conn++);
  conn->limits = st.limits.connection;
  conn->owner = &st.transient;
  for (detail::Scope* x : {&st.transient, &st.system}) {
    if (auto ec = st.check_connection(*x, dir, 1, *conn)) {
      delete conn;  // NOLINT(cppcoreguidelines-owning-memory)
      return ec;
    }
  }
  for (detail::Scope* x : {&st.transient, &st.system}) st.add_connection(*x, dir, 1);
  return ConnectionScope(state_, conn, dir);
}

error_code ResourceManager::reserve_peer_memory(const PeerId& peer, std::size_t bytes) {
  auto& st = *state_;
  auto& p = st.peer_scope(peer);
  auto ec = st.reserve_memory(p, bytes);
  if (ec) st.maybe_drop_peer(p);
  return ec;
}

void ResourceManager::release_peer_memory(const PeerId& peer, std::size_t bytes) noexcept {
  auto& st = *state_;
  auto it = st.peers.find(peer);
  if (it == st.peers.end()) return;
  st.release_memory(*it->second, bytes);
  st.maybe_drop_peer(*it->second);
}

result<PeerMemory> ResourceManager::hold_peer_memory(const PeerId& peer, std::size_t bytes) {
  if (auto ec = reserve_peer_memory(peer, bytes)) return ec;
  return PeerMemory(state_, peer, bytes);
}

PeerMemory::PeerMemory(std::shared_ptr<detail::ResourceState> state, PeerId peer, std::size_t bytes)
    : state_(std::move(state)), peer_(std::move(peer)), bytes_(bytes) {}

PeerMemory::PeerMemory(PeerMemory&& other) noexcept
    : state_(std::move(other.state_)),
      peer_(std::move(other.peer_)),
      bytes_(std::exchange(other.bytes_, 0)) {}

PeerMemory& PeerMemory::operator=(PeerMemory&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    peer_ = std::move(other.peer_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void PeerMemory::release() noexcept {
  if (state_ && peer_ && bytes_ > 0) {
    auto& st = *state_;
    if (auto it = st.peers.find(*peer_); it != st.peers.end()) {
      st.release_memory(*it->second, bytes_);
      st.maybe_drop_peer(*it->second);
    }
  }
  bytes_ = 0;
  state_.reset();
  peer_.reset();
}

const ResourceLimits& ResourceManager::limits() const noexcept {
  return state_->limits;
}

ResourceStats ResourceManager::stats() const {
  const auto& st = *state_;
  ResourceStats out;
  out.system = detail::ResourceState::stat(st.system);
  out.transient = detail::ResourceState::stat(st.transient);
  for (const auto& [name, p] : st.protocols) {
    out.protocols.push_back(detail::ResourceState::stat(*p));
  }
  out.peers = st.peers.size();
  out.peak_memory = st.peak_memory;
  out.refusals = st.refusals;
  return out;
}

std::optional<ScopeStat> ResourceManager::peer_stat(const PeerId& peer) const {
  auto it = state_->peers.find(peer);
  if (it == state_->peers.end()) return std::nullopt;
  return detail::ResourceState::stat(*it->second);
}

std::string ResourceManager::last_refusal() const {
  return state_->last_refusal;
}

}  // namespace bb::wire

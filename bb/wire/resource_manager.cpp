// The handles of the resource manager (ConnectionScope, StreamScope, MemoryReservation,
// PeerMemory) and the manager itself; the accounting they call is detail::ResourceState.
#include "bb/wire/resource_manager.hpp"

#include "bb/wire/detail/resource_state.hpp"

#include <algorithm>
#include <utility>

namespace bb::wire {

using boost::system::error_code;

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

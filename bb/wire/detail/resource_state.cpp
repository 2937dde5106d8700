#include "bb/wire/detail/resource_state.hpp"

#include <algorithm>
#include <utility>

namespace bb::wire::detail {

using boost::system::error_code;

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

std::string size_text(std::size_t n) {
  if (n == kUnlimited) return "unlimited";
  if (n >= MiB && n % MiB == 0) return std::to_string(n / MiB) + " MiB";
  if (n >= KiB && n % KiB == 0) return std::to_string(n / KiB) + " KiB";
  return std::to_string(n) + " B";
}

}  // namespace

ResourceState::ResourceState(ResourceLimits l) : limits(std::move(l)) {
  system.kind = ScopeKind::system;
  system.name = "system";
  system.limits = limits.system;
  transient.kind = ScopeKind::transient;
  transient.name = "transient";
  transient.limits = limits.transient;
}

ResourceState::Chain ResourceState::chain(Scope& s) {
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

error_code ResourceState::refuse(Scope& at, ResourceKind what, std::size_t used, std::size_t limit,
                                 std::size_t asked, errc code) {
  std::string text = std::string(to_string(at.kind));
  if (at.kind != ScopeKind::system && at.kind != ScopeKind::transient) text += " " + at.name;
  text += " " + std::string(to_string(what)) + ": ";
  if (what == ResourceKind::memory) {
    text += size_text(used) + " in use, limit " + size_text(limit) + ", asked " + size_text(asked);
  } else {
    text += std::to_string(used) + " in use, limit " + std::to_string(limit);
  }
  at.last_refusal = text;
  last_refusal = std::move(text);
  ++refusals[std::string(to_string(at.kind)) + ":" + std::string(to_string(what))];
  return make_error_code(code);
}

error_code ResourceState::reserve_memory(Scope& s, std::size_t n) {
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

void ResourceState::release_memory(Scope& s, std::size_t n) noexcept {
  if (n == 0) return;
  n = std::min(n, s.direct);
  s.direct -= n;
  for (Scope* x : chain(s)) x->usage.memory -= std::min(n, x->usage.memory);
}

error_code ResourceState::check_streams(Scope& x, Dir dir, std::size_t n, Scope& origin) {
  const std::size_t in = x.usage.streams_in;
  const std::size_t out = x.usage.streams_out;
  const bool inbound = dir == Dir::inbound;
  if (over(in + out, n, x.limits.streams) || (inbound && over(in, n, x.limits.streams_inbound)) ||
      (!inbound && over(out, n, x.limits.streams_outbound))) {
    const std::size_t limit =
        over(in + out, n, x.limits.streams)
            ? x.limits.streams
            : (inbound ? x.limits.streams_inbound : x.limits.streams_outbound);
    const error_code ec =
        refuse(x, ResourceKind::streams, inbound ? in : out, limit, n, errc::resource_stream_limit);
    if (&x != &origin) origin.last_refusal = x.last_refusal;
    return ec;
  }
  return {};
}

void ResourceState::add_streams(Scope& x, Dir dir, std::size_t n) {
  (dir == Dir::inbound ? x.usage.streams_in : x.usage.streams_out) += n;
}
void ResourceState::sub_streams(Scope& x, Dir dir, std::size_t n) {
  auto& v = dir == Dir::inbound ? x.usage.streams_in : x.usage.streams_out;
  v -= std::min(v, n);
}

error_code ResourceState::check_connection(Scope& x, Dir dir, std::size_t fds, Scope& origin) {
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
    ec = refuse(x, ResourceKind::connections, in + out, limit, 1, errc::resource_connection_limit);
  } else if (over(x.usage.fds, fds, x.limits.fds)) {
    ec = refuse(x, ResourceKind::fds, x.usage.fds, x.limits.fds, fds, errc::resource_fd_limit);
  }
  if (ec && &x != &origin) origin.last_refusal = x.last_refusal;
  return ec;
}

void ResourceState::add_connection(Scope& x, Dir dir, std::size_t fds) {
  (dir == Dir::inbound ? x.usage.conns_in : x.usage.conns_out) += 1;
  x.usage.fds += fds;
}
void ResourceState::sub_connection(Scope& x, Dir dir, std::size_t fds) {
  auto& v = dir == Dir::inbound ? x.usage.conns_in : x.usage.conns_out;
  v -= std::min<std::size_t>(v, 1);
  x.usage.fds -= std::min(x.usage.fds, fds);
}

Scope& ResourceState::peer_scope(const PeerId& peer) {
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

void ResourceState::maybe_drop_peer(Scope& p) {
  if (p.refs == 0 && p.usage.memory == 0 && p.usage.streams_in == 0 && p.usage.streams_out == 0 &&
      p.usage.conns_in == 0 && p.usage.conns_out == 0) {
    peers.erase(*p.peer);
  }
}

void ResourceState::maybe_free_connection(Scope& c) {
  if (!c.handle_gone || c.refs > 0) return;
  Scope* owner = c.owner;
  delete &c;  // NOLINT(cppcoreguidelines-owning-memory): the last user frees it
  if (owner != nullptr && owner->kind == ScopeKind::peer) {
    --owner->refs;
    maybe_drop_peer(*owner);
  }
}

Scope& ResourceState::protocol_scope(std::string_view protocol) {
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

void ResourceState::maybe_drop_protocol(Scope& p) {
  if (p.refs == 0 && p.usage.memory == 0) protocols.erase(p.name);
}

ScopeStat ResourceState::stat(const Scope& s) {
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

}  // namespace bb::wire::detail

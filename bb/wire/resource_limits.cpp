// The limits side of the resource manager: names of scopes and resources, and the default
// limits with their scaling to a memory budget. The accounting is in detail/resource_state.cpp,
// the handles in resource_manager.cpp.
#include "bb/wire/resource_manager.hpp"

#include <algorithm>

namespace bb::wire {

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

}  // namespace bb::wire

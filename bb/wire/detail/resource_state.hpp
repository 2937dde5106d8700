// The accounting behind the resource manager: scopes, what a reservation in each is charged to,
// and the all-or-nothing checks against their limits. Private to wire/resource_manager*.cpp;
// the handles in resource_manager.hpp are its only users. Thread rule: the manager's (one
// executor, no locks).
#pragma once

#include "bb/wire/resource_manager.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bb::wire::detail {

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
  explicit ResourceState(ResourceLimits l);

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
  Chain chain(Scope& s);

  // Records a refusal at `at` (its text, the counter) and returns `code`.
  boost::system::error_code refuse(Scope& at, ResourceKind what, std::size_t used,
                                   std::size_t limit, std::size_t asked, errc code);

  // Checks every scope of the chain, then charges them all: all or nothing.
  boost::system::error_code reserve_memory(Scope& s, std::size_t n);
  void release_memory(Scope& s, std::size_t n) noexcept;

  static bool over(std::size_t used, std::size_t add, std::size_t limit) {
    return limit != kUnlimited && used + add > limit;
  }

  // Checks one scope of a chain; a refusal is also noted on `origin`, the scope that asked.
  boost::system::error_code check_streams(Scope& x, Dir dir, std::size_t n, Scope& origin);
  static void add_streams(Scope& x, Dir dir, std::size_t n);
  static void sub_streams(Scope& x, Dir dir, std::size_t n);

  boost::system::error_code check_connection(Scope& x, Dir dir, std::size_t fds, Scope& origin);
  static void add_connection(Scope& x, Dir dir, std::size_t fds);
  static void sub_connection(Scope& x, Dir dir, std::size_t fds);

  Scope& peer_scope(const PeerId& peer);
  void maybe_drop_peer(Scope& p);
  // A connection scope lives while its handle or any of its streams does: streams charge it.
  void maybe_free_connection(Scope& c);

  Scope& protocol_scope(std::string_view protocol);
  void maybe_drop_protocol(Scope& p);

  static ScopeStat stat(const Scope& s);
};

}  // namespace bb::wire::detail

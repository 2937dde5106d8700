// The connection manager's policy, without I/O: who may start a handshake, who waits for a
// handshake slot, whose handshake is evicted, which established connection a newcomer may
// displace, which idle connections are trimmed, how many dials may be in flight. The Host
// (wire/host.hpp) feeds it accepted addresses, handshake outcomes, connections and their byte
// counters, and carries out what it decides. The time of each call is read from the manager's
// async::Clock (the Host's; a ManualClock in tests), or passed explicitly as a TimePoint; so
// every rule here is tested with made-up times, without sockets or sleeps.
//
// The rules, in the order admit() applies them to an accepted TCP connection (before any
// crypto):
//   1. per IP (an IPv4 address, or an IPv6 /64; addresses in `unlimited_addresses` skip this):
//      at most max_connections_per_ip inbound connections established or in handshake, and at
//      most max_pending_per_ip handshakes running or waiting: refused, ip_connection_limit;
//   2. max_connections established and none of them displaceable (see place()): refused,
//      connection_limit;
//   3. fewer than max_pending handshakes running: the handshake starts;
//   4. else, among the running handshakes that look stuck (without their first
//      multistream-select message after evictable_after, or running for longer than
//      first_message_timeout), the oldest of the address with the most running handshakes is
//      evicted (pending_connection_evicted) if that address has more of them than the
//      newcomer's, and the newcomer starts in its place. Handshakes under way are never
//      evicted, nor ones too young to have been read: a burst of real peers, each from its own
//      address, does not evict itself;
//   5. else the socket waits (nothing is read from it) for a slot, first come first served.
//      When none frees within `slot_wait`, rule 4 is tried once more for it (handshakes that
//      were too young may be stuck now), and failing that the Host refuses it
//      (pending_connection_limit). While max_pending sockets wait, the Host stops accepting:
//      the rest wait in the kernel's backlog, and a burst of peers is slowed, not refused.
//
// Thread rule: none of its own; the Host calls it from its executor. Lifetime: the Clock outlives
// the manager.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bb::wire {

// The connection manager's part of HostOptions. The defaults refuse nothing a correct peer
// does on a node with HostOptions' max_connections (1,024) and max_pending_inbound (64); see
// docs/host.md for the reasoning behind each.
struct ConnManagerOptions {
  // Handshakes (running or waiting for a slot) from one IP.
  std::size_t max_pending_per_ip = 8;
  // Inbound connections from one IP, established or in handshake. Outbound connections (ours)
  // do not count.
  std::size_t max_connections_per_ip = 32;
  // Addresses the per-IP limits do not apply to. The machine itself by default: a local
  // process can exhaust the node by other means anyway, and local tools, tests and proxies
  // (every peer behind an SSH tunnel or a Tor onion service comes from 127.0.0.1) open many
  // connections from it. Only the exact addresses: 127.0.0.2 and the rest of 127.0.0.0/8 are
  // limited like any other address. Empty: limit every address.
  std::vector<boost::asio::ip::address> unlimited_addresses{
      boost::asio::ip::address_v4::loopback(), boost::asio::ip::address_v6::loopback()};
  // From the start of a handshake to the first multistream-select message (the 20 bytes of
  // "/multistream/1.0.0"), which every dialer sends at once: a socket that says nothing, or
  // drips it a byte at a time, is closed (handshake_timeout) after this.
  std::chrono::milliseconds first_message_timeout{3'000};
  // How long an accepted socket may wait for a handshake slot before it is refused.
  std::chrono::milliseconds slot_wait{1'000};
  // A handshake still without its first message after this long may be evicted for a
  // newcomer; a younger one may just not have been read yet.
  std::chrono::milliseconds evictable_after{500};
  // Trimming: when more than high_water connections are established, idle unprotected ones
  // past their grace period are closed (connection_trimmed), the longest idle first, until
  // low_water remain or no more qualify. They are capped at 7/8 and 3/4 of max_connections
  // (which the defaults are for 1,024), so that a lowered max_connections still trims.
  std::size_t high_water = 896;
  std::size_t low_water = 768;
  // A new connection is not trimmed, nor displaced as idle, for this long.
  std::chrono::milliseconds grace_period{30'000};
  // A connection is idle once the peer sent nothing for this long (a new one counts from its
  // handshake); only idle connections are trimmed or displaced. Traffic is measured by
  // sampling the bytes received on the connection every tick_interval: a sample counts when
  // more than activity_bytes arrived since the previous one, which Yamux keep-alives alone
  // (30-byte frames, one per 15 s) never reach. Bytes we send do not count: a peer proves it
  // is useful by what it sends (answers, receipts, its own requests), not by what we push.
  std::chrono::milliseconds idle_after{30'000};
  std::uint64_t activity_bytes = 128;
  std::chrono::milliseconds tick_interval{1'000};
  // Outbound dials in flight (TCP connect plus upgrade); more fail with dial_limit. Concurrent
  // connect() calls to one peer share one dial.
  std::size_t max_outbound_dials = 128;
};

// Counters for metrics and tests; monotonic except the first four (current values).
struct ConnManagerStats {
  std::size_t connections = 0;            // established
  std::size_t handshakes_running = 0;     // inbound
  std::size_t handshakes_waiting = 0;     // inbound, waiting for a slot
  std::size_t dials = 0;                  // outbound in flight
  std::uint64_t refused_ip = 0;           // ip_connection_limit
  std::uint64_t refused_connections = 0;  // connection_limit (at accept, or after a handshake)
  std::uint64_t refused_pending = 0;      // pending_connection_limit (no slot within slot_wait)
  std::uint64_t evicted = 0;              // pending_connection_evicted
  std::uint64_t trimmed = 0;              // connection_trimmed, displaced ones included
  std::uint64_t refused_dials = 0;        // dial_limit
  std::uint64_t first_message_timeouts = 0;
  std::uint64_t accept_failures = 0;  // accept() errors (EMFILE and the like)
};

// The fd limit the Host sizes its limits against, and what it changed.
struct FdBudget {
  std::size_t fd_limit = 0;  // the soft RLIMIT_NOFILE
  std::size_t max_connections = 0;
  std::size_t max_pending_inbound = 0;
  std::size_t max_outbound_dials = 0;
  bool clamped = false;  // some limit was lowered to fit
};

// Fits the limits to `fd_limit` descriptors. A connection or a dial holds one descriptor, a
// handshake too, and as many sockets may wait for a handshake slot as may run one; a quarter
// of the limit (at least 32) stays for the rest of the process (listeners, files, other
// sockets). When the sum does not fit, pending and dials get at most an eighth of what is left
// each and connections the rest.
FdBudget fit_to_fd_limit(std::size_t fd_limit, std::size_t max_connections,
                         std::size_t max_pending_inbound, std::size_t max_outbound_dials);

class ConnectionManager {
 public:
  // A time on the manager's clock: Clock::now_ns() since the epoch of this type. For a
  // SteadyClock that is exactly std::chrono::steady_clock's time.
  using TimePoint = std::chrono::steady_clock::time_point;
  using HandshakeId = std::uint64_t;

  // `max_connections` and `max_pending` are HostOptions' max_connections and
  // max_pending_inbound. The calls below without a TimePoint read `clock`.
  ConnectionManager(ConnManagerOptions options, std::size_t max_connections,
                    std::size_t max_pending, async::Clock& clock = async::steady_clock());

  // The clock's current time.
  TimePoint now() const noexcept;
  static TimePoint time_point(std::uint64_t ns) noexcept;

  // ---- inbound handshakes ----

  struct Admission {
    enum class Verdict : std::uint8_t { start, wait, refuse };
    Verdict verdict = Verdict::refuse;
    HandshakeId id = 0;                  // start and wait: the handshake's id
    std::optional<HandshakeId> evicted;  // start: the running handshake to end first
    boost::system::error_code error;     // refuse: why
    std::string detail;                  // refuse: for people
  };
  // A TCP connection from `from` was accepted (rules 1 to 5 above).
  Admission admit(const boost::asio::ip::address& from, TimePoint now);
  // A waiting socket's slot_wait ran out: evicts a stuck handshake for it as admit() would
  // (rule 4) and makes it running; nullopt (nothing changed) when none qualifies.
  std::optional<HandshakeId> evict_for_waiting(HandshakeId waiting, TimePoint now);
  // False while as many sockets wait for a slot as handshakes may run: stop accepting.
  bool accepting() const noexcept;
  // Waiting handshakes that may start now, oldest first; they count as running from `now`.
  // Call after handshake_ended() freed a slot.
  std::vector<HandshakeId> promote(TimePoint now);
  // The handshake's first multistream-select message arrived: it is under way, not stuck.
  void first_message(HandshakeId id);
  // A handshake ended (success, failure, eviction, timeout); unknown ids are ignored.
  void handshake_ended(HandshakeId id);
  // Counts a refusal the Host made itself: pending_connection_limit for a socket whose
  // slot_wait ran out, handshake_timeout for a first-message timeout, connection_limit for a
  // handshake completed when no room was left; others are counted where they are decided.
  void count_refusal(boost::system::error_code why);

  // ---- established connections, one per peer ----

  struct Placement {
    bool admitted = false;
    std::optional<PeerId> displaced;  // admitted by displacing this one: close it (trimmed)
    boost::system::error_code error;  // not admitted: connection_limit
    std::string detail;
  };
  // A connection to `peer` completed its handshake (`inbound_from` its remote address when it
  // is inbound). Below max_connections it is admitted. At the limit it displaces, in this
  // order of preference:
  //   1. the connection idle the longest among those idle, unprotected and past their grace
  //      period;
  //   2. else an inbound, unprotected connection without traffic in the last idle_after (new
  //      ones included) from the address with the most inbound connections, if that address
  //      has more than one and more than the newcomer's (ours count as an address with none);
  //      the longest idle of that address goes. A flood of identities from a few addresses
  //      makes room for a peer from elsewhere at once;
  // and with neither, it is refused: connections that carry traffic or that the application
  // protects are kept over a newcomer of unknown worth.
  Placement place(const PeerId& peer, std::optional<boost::asio::ip::address> inbound_from,
                  TimePoint now);
  // The peer's connection was replaced by another one (simultaneous dials merged).
  void reassign(const PeerId& peer, std::optional<boost::asio::ip::address> inbound_from);
  // The peer's connection is gone; unknown peers are ignored.
  void closed(const PeerId& peer);
  // The peer's connection had received `bytes_received` bytes in all by `now`.
  void sample(const PeerId& peer, std::uint64_t bytes_received, TimePoint now);
  // Over high_water: the connections to close now (idle, unprotected, past their grace
  // period; longest idle first) to come down to low_water. They are forgotten at once.
  std::vector<PeerId> trim(TimePoint now);
  // Below max_connections, or some connection could be displaced for a newcomer from `from`
  // (nullopt: an outbound connection of ours).
  bool has_room(TimePoint now, std::optional<boost::asio::ip::address> from = std::nullopt) const;
  std::size_t high_water() const noexcept { return high_water_; }
  std::size_t low_water() const noexcept { return low_water_; }

  // ---- outbound dials ----
  // Reserves a dial slot; false (and counted) when max_outbound_dials are in flight.
  bool begin_dial();
  void end_dial();

  // ---- protection: protected peers are never trimmed or displaced ----
  void protect(const PeerId& peer, std::string_view tag);
  // True if the peer is still protected under another tag.
  bool unprotect(const PeerId& peer, std::string_view tag);
  bool is_protected(const PeerId& peer) const;

  ConnManagerStats stats() const;
  const ConnManagerOptions& options() const noexcept { return options_; }
  std::size_t max_connections() const noexcept { return max_connections_; }
  std::size_t max_pending() const noexcept { return max_pending_; }
  // Whether the per-IP limits apply to `address`, and the key they count it under.
  bool is_limited(const boost::asio::ip::address& address) const;
  static boost::asio::ip::address ip_key(const boost::asio::ip::address& address);

  // ---- the same, at the clock's time: f(args) is f(args, now()) ----
  Admission admit(const boost::asio::ip::address& from);
  std::optional<HandshakeId> evict_for_waiting(HandshakeId waiting);
  std::vector<HandshakeId> promote();
  Placement place(const PeerId& peer, std::optional<boost::asio::ip::address> inbound_from);
  void sample(const PeerId& peer, std::uint64_t bytes_received);
  std::vector<PeerId> trim();
  bool has_room(std::optional<boost::asio::ip::address> from = std::nullopt) const;

 private:
  struct Handshake {
    HandshakeId id;
    boost::asio::ip::address key;
    TimePoint started;  // running since (or waiting since)
    bool running;
    bool first_message = false;
  };
  struct Established {
    std::optional<boost::asio::ip::address> inbound_key;
    TimePoint since;
    std::optional<TimePoint> last_active;  // last sample with traffic; none yet
    std::uint64_t last_bytes = 0;
    TimePoint idle_since() const { return last_active.value_or(since); }
  };
  struct PerIp {
    std::size_t running = 0;
    std::size_t waiting = 0;
    std::size_t established = 0;  // inbound
    bool empty() const noexcept { return running == 0 && waiting == 0 && established == 0; }
  };

  std::optional<HandshakeId> evict_for(const boost::asio::ip::address& key,
                                       std::size_t newcomer_running, TimePoint now);
  bool displaceable(const PeerId& peer, const Established& c, TimePoint now) const;
  std::optional<PeerId> most_idle_displaceable(TimePoint now) const;
  std::optional<PeerId> crowded_victim(std::size_t newcomer_count, TimePoint now) const;
  std::optional<PeerId> victim_for(std::optional<boost::asio::ip::address> from,
                                   TimePoint now) const;
  std::size_t inbound_count(const boost::asio::ip::address& key) const;
  void forget_established(std::unordered_map<PeerId, Established>::iterator it);
  PerIp& per_ip(const boost::asio::ip::address& key) { return per_ip_[key]; }
  void release_ip(const boost::asio::ip::address& key);

  ConnManagerOptions options_;
  async::Clock* clock_;
  std::size_t max_connections_;
  std::size_t max_pending_;
  std::size_t high_water_;
  std::size_t low_water_;

  HandshakeId next_id_ = 1;
  std::list<Handshake> handshakes_;  // in accept order
  std::size_t running_ = 0;
  std::size_t waiting_ = 0;
  std::map<boost::asio::ip::address, PerIp> per_ip_;
  std::unordered_map<PeerId, Established> established_;
  std::unordered_map<PeerId, std::set<std::string, std::less<>>> protected_;
  std::size_t dials_ = 0;
  ConnManagerStats counters_;
};

}  // namespace bb::wire

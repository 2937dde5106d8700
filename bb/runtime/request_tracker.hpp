// RequestTracker: correlation tokens for requests in flight, their deadlines and their round-trip
// times (bytesandbrains §4.6). Tokens start at 1: 0 means "no correlation" on the wire.
#pragma once

#include "bb/wire/peer_id.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace bb::runtime {

inline constexpr std::size_t kDefaultMaxInFlight = 10'000;

struct RequestTrackerConfig {
  std::size_t max_in_flight = kDefaultMaxInFlight;  // ≥ 1
  // The first token mint() returns (0 is read as 1). (A Node does not use mint() for its message
  // ids: those are random, wire::random_message_id(), so nobody can claim them ahead.)
  std::uint64_t first_token = 1;
};

struct RequestCompletion {
  wire::PeerId peer;
  std::uint64_t rtt_ns;  // now − started, 0 if the clock went backwards
};

struct RequestTimeout {
  std::uint64_t token;
  wire::PeerId peer;
  std::uint64_t started_ns;
};

// Single-threaded: owned and touched by one Node executor only.
//
// Bound: at most max_in_flight requests (track() refuses more); the deadline heap holds at most
// 2·max_in_flight + 1 entries (completed entries are removed lazily and the heap is compacted
// when half of it is stale).
//
// Returns: complete() the peer and RTT of a tracked request; expire() the requests whose
// deadline is ≤ now, earliest deadline first (ties by token), each exactly once.
class RequestTracker {
 public:
  RequestTracker() : RequestTracker(RequestTrackerConfig{}) {}
  explicit RequestTracker(const RequestTrackerConfig& config);

  // 1, 2, 3, …; after 2^64 − 1 it wraps to 1, never 0.
  std::uint64_t mint() noexcept;
  // Deadline = now + max(ttl, 1), saturating. False (nothing tracked) for token 0, a token
  // already in flight, or when max_in_flight requests are in flight.
  bool track(std::uint64_t token, const wire::PeerId& peer, std::uint64_t now_ns,
             std::uint64_t ttl_ns);
  // Pops the request; nullopt if it is unknown (never tracked, completed or expired).
  std::optional<RequestCompletion> complete(std::uint64_t token, std::uint64_t now_ns);
  std::vector<RequestTimeout> expire(std::uint64_t now_ns);
  // The earliest deadline in flight, for arming a timer.
  std::optional<std::uint64_t> next_deadline() const noexcept;

  bool in_flight(std::uint64_t token) const { return entries_.contains(token); }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    wire::PeerId peer;
    std::uint64_t started_ns;
    std::uint64_t deadline_ns;
  };
  struct Deadline {
    std::uint64_t at_ns;
    std::uint64_t token;
  };

  bool live(const Deadline& d) const;
  void drop_stale_top();
  void compact_if_stale();

  RequestTrackerConfig config_;
  std::uint64_t next_token_ = 1;
  boost::unordered_flat_map<std::uint64_t, Entry> entries_;
  std::vector<Deadline> heap_;  // min-heap on (at_ns, token); its top is always live
};

}  // namespace bb::runtime

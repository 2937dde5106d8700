// One simulated TCP connection of bb-sim: a pair of wire::ByteStream ends over a link with a
// one-way latency, a bandwidth, a loss rate and a window, on the simulation's ManualClock.
//
// Each direction is a queue of chunks (one per write) with an arrival time:
//   start   = max(now, when the link finished sending the previous chunk)
//   arrival = start + bytes × 8 / bandwidth + latency (+ loss_delay when a packet of it is lost)
// and never before the previous chunk's arrival (a byte stream keeps its order: a lost packet
// holds back what follows, as TCP's retransmission does). A chunk of n bytes is lost with the
// probability that any of its ceil(n / 1448) packets is. A writer waits while `window_bytes`
// are written and not yet read by the other end (in flight or unread), so a flow gets at most
// window / RTT, as a TCP connection with that buffer does.
//
// While the two ends' hosts are partitioned (Path::reachable false), nothing arrives: chunks are
// held and leave again, each after the latency, once the partition heals. close() sends the end
// of the stream like any chunk; reset() (a host killed) breaks both ends at once.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/byte_stream.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <memory>
#include <random>

namespace bb::sim {

struct LinkParams {
  std::uint64_t latency_ns = 20'000'000;  // one way
  std::uint64_t bandwidth_bps = 0;        // 0: unlimited
  double loss = 0.0;                      // per 1448-byte packet
  std::uint64_t loss_delay_ns = 200'000'000;
  std::size_t window_bytes = 256 * 1024;
};

// What a link asks the network about its two hosts.
class Path {
 public:
  virtual ~Path() = default;
  virtual bool reachable(std::uint32_t from_ip, std::uint32_t to_ip) const = 0;
  // Completes after the next change of reachability (a partition or a heal).
  virtual boost::asio::awaitable<void> changed() = 0;
  // Bytes put on the wire by a host, for the reports.
  virtual void count(std::uint32_t from_ip, std::uint32_t to_ip, std::size_t bytes) = 0;
};

class Link {
 public:
  virtual ~Link() = default;
  // Both ends fail every pending and later operation with connection_reset.
  virtual void reset() = 0;
  virtual bool broken() const noexcept = 0;
};

struct LinkEnds {
  std::unique_ptr<wire::ByteStream> a;  // the dialer's end
  std::unique_ptr<wire::ByteStream> b;  // the listener's end
  std::shared_ptr<Link> link;
};

struct Endpoint {
  std::uint32_t ip = 0;
  std::uint16_t port = 0;
};

std::string ip_text(std::uint32_t ip);
wire::Multiaddr endpoint_addr(Endpoint e);

// `path` and `clock` must outlive the ends and every chunk in flight (the simulation's network
// and clock outlive its hosts); `rng_seed` draws the losses.
LinkEnds make_link(const boost::asio::any_io_executor& executor, async::Clock& clock, Path& path,
                   Endpoint a, Endpoint b, LinkParams params, std::uint64_t rng_seed);

}  // namespace bb::sim

#include "examples/sim/link.hpp"

#include "bb/async/event.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <vector>

namespace bb::sim {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t kPacketBytes = 1448;

struct Chunk {
  std::uint64_t arrive_ns = 0;
  std::vector<std::uint8_t> bytes;
  bool fin = false;
};

// One direction: what one end writes and the other reads.
struct Pipe {
  explicit Pipe(const asio::any_io_executor& ex) : readable(ex), writable(ex) {}
  Endpoint from, to;
  std::deque<Chunk> flight;
  std::vector<std::uint8_t> data;  // arrived: data[head, size) is unread
  std::size_t head = 0;
  std::size_t held = 0;  // written, not yet read: in flight or unread
  std::uint64_t wire_free_ns = 0;
  std::uint64_t last_arrival_ns = 0;
  bool fin_sent = false;
  bool fin_arrived = false;
  bool pumping = false;
  async::Event readable;
  async::Event writable;

  std::size_t unread() const noexcept { return data.size() - head; }
};

class SimLink final : public Link, public std::enable_shared_from_this<SimLink> {
 public:
  SimLink(const asio::any_io_executor& ex, async::Clock& c, Path& p, Endpoint a, Endpoint b,
          LinkParams lp, std::uint64_t seed)
      : executor(ex), clock(c), path(p), params(lp), rng(seed), pipes{Pipe(ex), Pipe(ex)} {
    pipes[0].from = a;
    pipes[0].to = b;
    pipes[1].from = b;
    pipes[1].to = a;
  }

  void reset() override {
    if (broken_) return;
    broken_ = make_error_code(asio::error::connection_reset);
    for (auto& p : pipes) {
      p.flight.clear();
      p.data.clear();
      p.head = 0;
      p.held = 0;
      p.readable.notify();
      p.writable.notify();
    }
  }
  bool broken() const noexcept override { return static_cast<bool>(broken_); }

  bool lost(std::size_t bytes) {
    if (params.loss <= 0.0) return false;
    const double packets = static_cast<double>((bytes + kPacketBytes - 1) / kPacketBytes);
    const double delivered = std::pow(1.0 - params.loss, packets);
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return u >= delivered;
  }

  // Puts a chunk on the wire of pipe i.
  void send(std::size_t i, Chunk chunk) {
    Pipe& p = pipes[i];
    const std::uint64_t now = clock.now_ns();
    const std::size_t n = chunk.bytes.size();
    const std::uint64_t serialise =
        params.bandwidth_bps == 0
            ? 0
            : static_cast<std::uint64_t>(static_cast<double>(n) * 8e9 /
                                         static_cast<double>(params.bandwidth_bps));
    const std::uint64_t start = std::max(now, p.wire_free_ns);
    p.wire_free_ns = start + serialise;
    std::uint64_t arrive = p.wire_free_ns + params.latency_ns;
    if (n > 0 && lost(n)) arrive += params.loss_delay_ns;
    arrive = std::max(arrive, p.last_arrival_ns);
    p.last_arrival_ns = arrive;
    chunk.arrive_ns = arrive;
    p.held += n;
    path.count(p.from.ip, p.to.ip, n);
    p.flight.push_back(std::move(chunk));
    if (!p.pumping) {
      p.pumping = true;
      asio::co_spawn(executor, pump(shared_from_this(), i), asio::detached);
    }
  }

  // Delivers pipe i's chunks as they arrive; ends when none is in flight.
  static asio::awaitable<void> pump(std::shared_ptr<SimLink> self, std::size_t i) {
    Pipe& p = self->pipes[i];
    while (!p.flight.empty() && !self->broken_) {
      Chunk& c = p.flight.front();
      if (c.arrive_ns > self->clock.now_ns()) {
        co_await self->clock.sleep_until(c.arrive_ns);
        continue;
      }
      if (!self->path.reachable(p.from.ip, p.to.ip)) {
        co_await self->path.changed();
        if (!self->path.reachable(p.from.ip, p.to.ip)) continue;
        // Healed: what was held leaves again now, each chunk after the latency.
        std::uint64_t at = self->clock.now_ns() + self->params.latency_ns;
        for (auto& held : p.flight) {
          held.arrive_ns = std::max(held.arrive_ns, at);
          at = held.arrive_ns;
        }
        p.last_arrival_ns = std::max(p.last_arrival_ns, at);
        continue;
      }
      const bool reader_gone = self->closed[1 - i];
      if (reader_gone) {
        p.held -= c.bytes.size();
        p.writable.notify();
      } else {
        if (p.head > 0 && p.head == p.data.size()) {
          p.data.clear();
          p.head = 0;
        }
        p.data.insert(p.data.end(), c.bytes.begin(), c.bytes.end());
      }
      if (c.fin) p.fin_arrived = true;
      p.flight.pop_front();
      p.readable.notify();
    }
    p.pumping = false;
  }

  asio::any_io_executor executor;
  async::Clock& clock;
  Path& path;
  LinkParams params;
  std::mt19937_64 rng;
  std::array<Pipe, 2> pipes;
  std::array<bool, 2> closed{false, false};      // close() called on end 0 / 1
  std::array<bool, 2> full_close{false, false};  // close(), not shutdown_write()
  error_code broken_;
};

class End final : public wire::ByteStream {
 public:
  End(std::shared_ptr<SimLink> link, std::size_t side) : link_(std::move(link)), side_(side) {}
  ~End() override { close(); }
  End(const End&) = delete;
  End& operator=(const End&) = delete;

  asio::any_io_executor get_executor() override { return link_->executor; }

  asio::awaitable<error_code> async_wait_readable() override {
    auto link = link_;
    while (true) {
      if (link->closed[side_]) co_return make_error_code(asio::error::operation_aborted);
      Pipe& in = link->pipes[1 - side_];
      if (in.unread() > 0 || in.fin_arrived || link->broken_) co_return error_code{};
      try {
        co_await in.readable.wait();
      } catch (const boost::system::system_error& e) {
        co_return e.code();
      }
    }
  }

  std::size_t read_some(std::span<std::uint8_t> out, error_code& ec) override {
    SimLink& link = *link_;
    if (!usable(link, ec)) return 0;
    Pipe& in = link.pipes[1 - side_];
    if (in.unread() > 0 && !out.empty()) {
      const std::size_t n = std::min(out.size(), in.unread());
      std::memcpy(out.data(), in.data.data() + in.head, n);
      in.head += n;
      in.held -= n;
      if (in.head == in.data.size()) {
        in.data.clear();
        in.head = 0;
      }
      in.writable.notify();
      return n;
    }
    ec = in.fin_arrived ? error_code(asio::error::eof) : error_code(asio::error::would_block);
    return 0;
  }

  asio::awaitable<std::pair<error_code, std::size_t>> async_write(wire::ByteView data) override {
    auto link = link_;
    std::size_t done = 0;
    while (done < data.size()) {
      error_code ec;
      done += write_now(*link, data.subspan(done), ec);
      if (ec == asio::error::would_block) {
        try {
          co_await link->pipes[side_].writable.wait();
        } catch (const boost::system::system_error& e) {
          co_return std::pair{e.code(), done};
        }
        continue;
      }
      if (ec) co_return std::pair{ec, done};
    }
    co_return std::pair{error_code{}, done};
  }

  std::size_t try_write(wire::ByteView data, error_code& ec) override {
    return write_now(*link_, data, ec);
  }

  void close() noexcept override {
    SimLink& link = *link_;
    if (link.closed[side_]) return;
    link.closed[side_] = true;
    link.full_close[side_] = true;
    finish_writing(link);
    Pipe& in = link.pipes[1 - side_];  // nobody reads what the peer sent us any more
    in.held -= in.unread();
    in.data.clear();
    in.head = 0;
    in.writable.notify();
    in.readable.notify();
    link.pipes[side_].writable.notify();
  }

  void shutdown_write() noexcept override {
    if (link_->closed[side_]) return;
    finish_writing(*link_);
  }

  bool is_open() const noexcept override { return !link_->closed[side_]; }

  wire::Multiaddr remote_addr() const override { return endpoint_addr(link_->pipes[side_].to); }
  wire::Multiaddr local_addr() const override { return endpoint_addr(link_->pipes[side_].from); }

 private:
  void finish_writing(SimLink& link) noexcept {
    Pipe& out = link.pipes[side_];
    if (out.fin_sent || link.broken_) return;
    out.fin_sent = true;
    try {
      link.send(side_, Chunk{0, {}, true});
    } catch (...) {  // out of memory: the peer sees the end when the link is reset
    }
  }

  // Clears `ec`, or sets it when this end is closed or the link broke (then false).
  bool usable(const SimLink& link, error_code& ec) const {
    ec = {};
    if (link.closed[side_]) {
      ec = asio::error::bad_descriptor;
    } else if (link.broken_) {
      ec = link.broken_;
    }
    return !ec;
  }

  std::size_t write_now(SimLink& link, wire::ByteView data, error_code& ec) {
    if (!usable(link, ec)) return 0;
    Pipe& out = link.pipes[side_];
    // The peer closed (not only its writing) and we know it: its end of stream arrived.
    if (out.fin_sent || (link.full_close[1 - side_] && link.pipes[1 - side_].fin_arrived)) {
      ec = asio::error::broken_pipe;
      return 0;
    }
    if (data.empty()) return 0;
    if (out.held >= link.params.window_bytes) {
      ec = asio::error::would_block;
      return 0;
    }
    const std::size_t n = std::min(data.size(), link.params.window_bytes - out.held);
    link.send(side_, Chunk{0,
                           std::vector<std::uint8_t>(data.begin(),
                                                     data.begin() + static_cast<std::ptrdiff_t>(n)),
                           false});
    return n;
  }

  std::shared_ptr<SimLink> link_;
  std::size_t side_;
};

}  // namespace

std::string ip_text(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

wire::Multiaddr endpoint_addr(Endpoint e) {
  return *wire::Multiaddr::parse("/ip4/" + ip_text(e.ip) + "/tcp/" + std::to_string(e.port));
}

LinkEnds make_link(const asio::any_io_executor& executor, async::Clock& clock, Path& path,
                   Endpoint a, Endpoint b, LinkParams params, std::uint64_t rng_seed) {
  auto link = std::make_shared<SimLink>(executor, clock, path, a, b, params, rng_seed);
  LinkEnds ends;
  ends.a = std::make_unique<End>(link, 0);
  ends.b = std::make_unique<End>(link, 1);
  ends.link = std::move(link);
  return ends;
}

}  // namespace bb::sim

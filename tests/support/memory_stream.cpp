#include "tests/support/memory_stream.hpp"

#include "bb/async/event.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

namespace bb::test {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

class MemoryStreamCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.test.memory_stream"; }
  std::string message(int value) const override {
    switch (static_cast<MemoryStreamErrc>(value)) {
      case MemoryStreamErrc::injected_fault:
        return "injected fault: the memory stream broke where the test asked (fail_at)";
    }
    return "unknown memory stream error";
  }
};

std::atomic<std::size_t> g_alive{0};

// One direction: bytes written by one end, read by the other.
struct Pipe {
  explicit Pipe(const asio::any_io_executor& ex) : readable(ex), writable(ex) {}
  std::vector<std::uint8_t> data;
  std::size_t head = 0;  // data[head, size) is unread
  bool writer_closed = false;
  async::Event readable;  // bytes arrived, or the end of the stream, or the link broke
  async::Event writable;  // room appeared, or the link broke

  std::size_t unread() const noexcept { return data.size() - head; }
  void drop() noexcept {
    data.clear();
    head = 0;
  }
};

class Link final : public MemoryLink {
 public:
  Link(const asio::any_io_executor& ex, MemoryStreamOptions o)
      : executor(ex), options(std::move(o)), pipes{Pipe(ex), Pipe(ex)} {
    ++g_alive;
  }
  ~Link() override { --g_alive; }

  void fail_at(std::uint64_t byte) override { fail_byte = byte; }
  void reset() override { break_link(make_error_code(asio::error::connection_reset), true); }
  std::uint64_t bytes_moved() const noexcept override { return moved; }
  error_code broken() const noexcept override { return broken_; }

  void wake_all() {
    for (auto& p : pipes) {
      p.readable.notify();
      p.writable.notify();
    }
  }

  void break_link(error_code why, bool drop_data) {
    if (broken_) return;
    broken_ = why;
    if (drop_data) {
      for (auto& p : pipes) p.drop();
    }
    wake_all();
  }

  // Appends what fits of `bytes` to pipe `i`, applying the fault; the bytes appended.
  std::size_t move(int i, wire::ByteView bytes, error_code& ec) {
    Pipe& p = pipes[i];
    std::size_t n = std::min(bytes.size(), options.buffer_bytes - p.unread());
    bool fault = false;
    if (fail_byte && moved + n > *fail_byte) {
      n = *fail_byte > moved ? static_cast<std::size_t>(*fail_byte - moved) : 0;
      fault = true;
    }
    if (p.head > 0 && p.head == p.data.size()) p.drop();
    p.data.insert(p.data.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    moved += n;
    if (n > 0) p.readable.notify();
    if (fault) {
      break_link(make_error_code(MemoryStreamErrc::injected_fault), false);
      ec = broken_;
    }
    return n;
  }

  asio::any_io_executor executor;
  MemoryStreamOptions options;
  std::array<Pipe, 2> pipes;
  std::array<bool, 2> closed{false, false};
  std::optional<std::uint64_t> fail_byte;
  std::uint64_t moved = 0;
  error_code broken_;
};

class End final : public wire::ByteStream {
 public:
  End(std::shared_ptr<Link> link, int side) : link_(std::move(link)), side_(side) {}
  ~End() override { close(); }
  End(const End&) = delete;
  End& operator=(const End&) = delete;

  asio::any_io_executor get_executor() override { return link_->executor; }

  asio::awaitable<error_code> async_wait_readable() override {
    auto link = link_;
    while (true) {
      if (link->closed[side_]) co_return make_error_code(asio::error::operation_aborted);
      Pipe& in = link->pipes[1 - side_];
      if (in.unread() > 0 || in.writer_closed || link->broken_) co_return error_code{};
      try {
        co_await in.readable.wait();
      } catch (const boost::system::system_error& e) {
        co_return e.code();
      }
    }
  }

  std::size_t read_some(std::span<std::uint8_t> out, error_code& ec) override {
    ec = {};
    Link& link = *link_;
    if (link.closed[side_]) {
      ec = asio::error::bad_descriptor;
      return 0;
    }
    Pipe& in = link.pipes[1 - side_];
    if (in.unread() > 0 && !out.empty()) {
      const std::size_t n = std::min(out.size(), in.unread());
      std::memcpy(out.data(), in.data.data() + in.head, n);
      in.head += n;
      if (in.head == in.data.size()) in.drop();
      in.writable.notify();
      return n;
    }
    if (link.broken_) {
      ec = link.broken_;
    } else if (in.writer_closed) {
      ec = asio::error::eof;
    } else {
      ec = asio::error::would_block;
    }
    return 0;
  }

  asio::awaitable<std::pair<error_code, std::size_t>> async_write(wire::ByteView data) override {
    auto link = link_;
    std::size_t done = 0;
    while (done < data.size()) {
      error_code ec;
      const std::size_t n = write_now(*link, data.subspan(done), ec);
      done += n;
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
    Link& link = *link_;
    if (link.closed[side_]) return;
    link.closed[side_] = true;
    link.pipes[side_].writer_closed = true;  // the peer reads the end after what was sent
    link.pipes[1 - side_].drop();            // nobody will read what the peer sent us
    link.wake_all();
  }

  // Half-close, as TCP's: the peer reads the end after what was sent; we go on reading.
  void shutdown_write() noexcept override {
    Pipe& out = link_->pipes[side_];
    if (out.writer_closed) return;
    out.writer_closed = true;
    out.readable.notify();
  }

  bool is_open() const noexcept override { return !link_->closed[side_]; }

  wire::Multiaddr remote_addr() const override {
    return side_ == 0 ? link_->options.b_addr : link_->options.a_addr;
  }
  wire::Multiaddr local_addr() const override {
    return side_ == 0 ? link_->options.a_addr : link_->options.b_addr;
  }

 private:
  std::size_t write_now(Link& link, wire::ByteView data, error_code& ec) {
    ec = {};
    if (link.closed[side_]) {
      ec = asio::error::bad_descriptor;
      return 0;
    }
    if (link.broken_) {
      ec = link.broken_;
      return 0;
    }
    if (link.closed[1 - side_] || link.pipes[side_].writer_closed) {
      ec = asio::error::broken_pipe;
      return 0;
    }
    if (data.empty()) return 0;
    if (link.pipes[side_].unread() >= link.options.buffer_bytes) {
      ec = asio::error::would_block;
      return 0;
    }
    return link.move(side_, data, ec);
  }

  std::shared_ptr<Link> link_;
  int side_;
};

}  // namespace

const boost::system::error_category& memory_stream_category() noexcept {
  static const MemoryStreamCategory category;
  return category;
}

std::size_t MemoryLink::alive() noexcept {
  return g_alive.load();
}

MemoryStreamPair make_memory_stream_pair(const asio::any_io_executor& executor,
                                         MemoryStreamOptions options) {
  auto link = std::make_shared<Link>(executor, std::move(options));
  MemoryStreamPair pair;
  pair.a = std::make_unique<End>(link, 0);
  pair.b = std::make_unique<End>(link, 1);
  pair.link = std::move(link);
  return pair;
}

}  // namespace bb::test

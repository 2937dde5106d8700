#include "examples/node/line_writer.hpp"

#include <poll.h>
#include <unistd.h>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace bb::cli {

namespace {

// Bytes gathered into one write(2).
constexpr std::size_t kWriteChunk = 64 * 1024;

// Writes all of `data`, waiting while the descriptor is not writable. False when it cannot be
// written to any more (the reader is gone).
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking descriptor: wait for room
      pollfd p{fd, POLLOUT, 0};
      (void)::poll(&p, 1, -1);
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

struct LineWriter::State {
  int fd = -1;
  std::function<std::string(std::uint64_t)> dropped_line;
  Options options;

  std::mutex mutex;
  std::condition_variable wake;  // lines queued, or closing
  std::condition_variable idle;  // the thread is done
  std::deque<std::string> lines;
  std::size_t bytes = 0;
  std::uint64_t dropped_pending = 0;  // not reported yet
  std::uint64_t dropped_total = 0;
  bool closing = false;
  bool done = false;
  bool broken = false;  // the descriptor failed: everything after is dropped

  void run() {
    std::deque<std::string> batch;
    std::string out;
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait(lock, [&] { return !lines.empty() || dropped_pending > 0 || closing; });
      if (lines.empty() && dropped_pending == 0) break;  // closing, and everything is written
      batch.swap(lines);
      bytes = 0;
      // Lines are dropped only while the queue is full, so every drop counted here came after
      // every line of this batch: the report goes after them.
      const std::uint64_t dropped = std::exchange(dropped_pending, 0);
      const bool failed = broken;
      lock.unlock();
      if (!failed) {
        bool ok = true;
        for (auto& line : batch) {
          out += line;
          out += '\n';
          if (out.size() >= kWriteChunk) {
            ok = ok && write_all(fd, out);
            out.clear();
          }
        }
        if (dropped > 0 && dropped_line) {
          out += dropped_line(dropped);
          out += '\n';
        }
        ok = ok && write_all(fd, out);
        out.clear();
        if (!ok) {
          lock.lock();
          broken = true;
          lock.unlock();
        }
      }
      batch.clear();
      lock.lock();
    }
    done = true;
    idle.notify_all();
  }
};

LineWriter::LineWriter(int fd, std::function<std::string(std::uint64_t)> dropped_line)
    : LineWriter(fd, std::move(dropped_line), Options()) {}

LineWriter::LineWriter(int fd, std::function<std::string(std::uint64_t)> dropped_line,
                       Options options)
    : state_(std::make_shared<State>()) {
  state_->fd = fd;
  state_->dropped_line = std::move(dropped_line);
  state_->options = options;
  // The thread shares the state, so it may outlive this object (see close()).
  std::thread([state = state_] { state->run(); }).detach();
}

LineWriter::~LineWriter() {
  close();
}

bool LineWriter::write(std::string line) {
  auto& s = *state_;
  {
    const std::lock_guard lock(s.mutex);
    if (s.closing || s.broken || s.lines.size() >= s.options.max_lines ||
        s.bytes + line.size() + 1 > s.options.max_bytes) {
      ++s.dropped_pending;
      ++s.dropped_total;
      if (s.closing || s.broken) s.dropped_pending = 0;  // nobody will read the report
      return false;
    }
    s.bytes += line.size() + 1;
    s.lines.push_back(std::move(line));
  }
  s.wake.notify_one();
  return true;
}

bool LineWriter::close() {
  if (closed_) return true;
  closed_ = true;
  auto& s = *state_;
  std::unique_lock lock(s.mutex);
  s.closing = true;
  s.wake.notify_one();
  return s.idle.wait_for(lock, s.options.close_wait, [&] { return s.done; });
}

std::uint64_t LineWriter::dropped() const {
  const std::lock_guard lock(state_->mutex);
  return state_->dropped_total;
}

}  // namespace bb::cli

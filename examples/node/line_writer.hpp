// Writes output lines to a file descriptor (stdout) from a thread of its own, so a reader that
// reads slowly, or not at all, never stalls the io thread that produces them. Lines wait in a
// bounded queue (in lines and in bytes); when it is full new lines are dropped and counted, and
// once the writer has caught up it writes one line saying how many (made by `dropped_line`).
// The writer writes whatever is queued in as few write(2) calls as it can and nothing is
// buffered past that, so each line reaches the reader as soon as the writer is idle: there is
// no flush per line, and none is missing.
//
// Thread rule: write() may be called from any thread; close() from one. Lifetime: close() (or
// the destructor) waits a bounded time for the queue to drain; a writer stuck on a reader that
// never reads is then left behind (it owns what it uses) and ends with the process.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace bb::cli {

class LineWriter {
 public:
  struct Options {
    std::size_t max_lines = 65'536;
    std::size_t max_bytes = std::size_t{32} << 20;
    // How long close() and the destructor wait for queued lines to be written.
    std::chrono::milliseconds close_wait{2'000};
  };

  // `dropped_line(n)` is the line (without newline) that reports n dropped lines.
  LineWriter(int fd, std::function<std::string(std::uint64_t)> dropped_line);
  LineWriter(int fd, std::function<std::string(std::uint64_t)> dropped_line, Options options);
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Queues `line` (a newline is added); never blocks. False when it was dropped.
  bool write(std::string line);
  // Writes what is queued, waiting at most Options::close_wait, and ends the thread. True when
  // everything was written. Later write() calls drop their line.
  bool close();

  std::uint64_t dropped() const;  // lines dropped so far

 private:
  struct State;
  std::shared_ptr<State> state_;
  bool closed_ = false;
};

}  // namespace bb::cli

// LineReader: lines from a file descriptor (stdin) for coroutines on one executor.
//
// A dedicated thread reads the descriptor, because Asio's stream_descriptor cannot wait on a
// regular file (stdin redirected from a file) and a terminal read cannot be cancelled. The
// thread polls the descriptor together with a wake-up pipe, so stop() can end it at any time.
// Lines are handed over through a bounded queue: when the coroutine side falls behind, the
// thread stops reading, and whoever writes to the pipe is held back instead of memory growing.
//
// Thread rule: next_line() and close() are called on `executor`; start() and stop() from the
// thread that owns the object (main). Lifetime: call stop() (or destroy the reader) after the
// executor's io_context has finished running; the reader must outlive every next_line() wait.
#pragma once

#include "bb/async/event.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace bb::chat {

struct InputLine {
  std::string text;        // the line without its '\n' (and '\r'), at most max_line_bytes
  std::size_t length = 0;  // the line's full length in bytes; > text.size() when cut
};

class LineReader {
 public:
  // Lines longer than max_line_bytes are cut to that size (length tells the caller); the rest
  // of such a line is read and discarded, never buffered.
  LineReader(const boost::asio::any_io_executor& executor, int fd, std::size_t max_line_bytes,
             std::size_t capacity = 1024);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  void start();
  // The next line; nullopt at end of input, on a read error (printed to stderr), after close()
  // or when the wait is cancelled.
  boost::asio::awaitable<std::optional<InputLine>> next_line();
  // Ends input early (e.g. on /quit): next_line() returns nullopt from now on and the thread
  // stops reading.
  void close();
  // close() and join the thread. Idempotent.
  void stop();

 private:
  void run();
  // Blocks while the queue is full; false once closed.
  bool push(InputLine line);
  void finish();
  void wake_consumer();  // holds mutex_

  boost::asio::any_io_executor executor_;
  int fd_;
  std::size_t max_line_bytes_;
  std::size_t capacity_;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable room_;
  std::deque<InputLine> lines_;
  bool ended_ = false;   // the thread has read its last line
  bool closed_ = false;  // close() was called
  bool consumer_waiting_ = false;

  // next_line() waits on it; the thread notifies it by posting to the executor.
  async::Event ready_;
};

}  // namespace bb::chat

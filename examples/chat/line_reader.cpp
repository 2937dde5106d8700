#include "examples/chat/line_reader.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <vector>

namespace bb::chat {

namespace asio = boost::asio;

LineReader::LineReader(const asio::any_io_executor& executor, int fd, std::size_t max_line_bytes,
                       std::size_t capacity)
    : executor_(executor),
      fd_(fd),
      max_line_bytes_(max_line_bytes),
      capacity_(capacity == 0 ? 1 : capacity),
      ready_(executor) {}

LineReader::~LineReader() {
  stop();
}

void LineReader::start() {
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot create the stdin wake pipe");
  }
  thread_ = std::thread(&LineReader::run, this);
}

asio::awaitable<std::optional<InputLine>> LineReader::next_line() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) co_return std::nullopt;
      if (!lines_.empty()) {
        InputLine line = std::move(lines_.front());
        lines_.pop_front();
        room_.notify_one();
        co_return line;
      }
      if (ended_) co_return std::nullopt;
      consumer_waiting_ = true;
    }
    // The thread posts a notify() after it queues a line or ends; one that lands before this
    // wait starts is kept by the Event, so it is never lost.
    bool cancelled = false;
    try {
      co_await ready_.wait();
    } catch (const boost::system::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
      cancelled = true;
    }
    if (cancelled) co_return std::nullopt;
  }
}

void LineReader::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    consumer_waiting_ = false;
  }
  room_.notify_all();
  if (wake_pipe_[1] >= 0) (void)!::write(wake_pipe_[1], "x", 1);
  ready_.notify();
}

void LineReader::stop() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  room_.notify_all();
  if (wake_pipe_[1] >= 0) (void)!::write(wake_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int& fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

void LineReader::wake_consumer() {
  if (!consumer_waiting_) return;
  consumer_waiting_ = false;
  asio::post(executor_, [this] { ready_.notify(); });
}

bool LineReader::push(InputLine line) {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [this] { return closed_ || lines_.size() < capacity_; });
  if (closed_) return false;
  lines_.push_back(std::move(line));
  wake_consumer();
  return true;
}

void LineReader::finish() {
  std::lock_guard lock(mutex_);
  ended_ = true;
  wake_consumer();
}

void LineReader::run() {
  // Signals belong to the io_context thread (asio::signal_set); this one only reads.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);

  std::vector<char> buffer(64 * 1024);
  InputLine line;
  bool more = true;
  bool at_eof = false;
  while (more) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::cerr << "bb-chat: cannot wait for input: " << std::strerror(errno) << std::endl;
      break;
    }
    if (fds[1].revents != 0) break;  // stop() or close()
    if (fds[0].revents == 0) continue;
    const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      std::cerr << "bb-chat: cannot read input: " << std::strerror(errno) << std::endl;
      break;
    }
    if (n == 0) {
      at_eof = true;
      break;
    }
    for (ssize_t i = 0; i < n && more; ++i) {
      const char ch = buffer[static_cast<std::size_t>(i)];
      if (ch != '\n') {
        if (line.text.size() < max_line_bytes_) line.text.push_back(ch);
        ++line.length;
        continue;
      }
      // A terminal or a file written on Windows may end lines with "\r\n".
      if (line.length == line.text.size() && !line.text.empty() && line.text.back() == '\r') {
        line.text.pop_back();
        --line.length;
      }
      more = push(std::move(line));
      line = InputLine{};
    }
  }
  if (at_eof && line.length > 0) (void)push(std::move(line));  // a last line without '\n'
  finish();
}

}  // namespace bb::chat

// ChildProcess: a real program started with pipes on its stdin and stdout, for tests that drive
// several processes. A thread reads the child's stdout into a list of lines as soon as it is
// written, so a child never blocks on a full pipe while the test waits on another one. Every
// wait is bounded in time and wakes on output (condition variable), never on a sleep. The
// child's stderr goes to the test's stderr, so its notes show up in the test log.
//
// Thread rule: one test thread drives the object; only the internal reader thread runs beside
// it. Destroying the object SIGKILLs a child that is still running and reaps it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bb::test {

using std::chrono::milliseconds;

class ChildProcess {
 public:
  // Starts `path` with `args` (argv[1..]). Its stdin is a pipe we write to, or the file
  // `stdin_file` when given. Throws std::system_error if it cannot start.
  ChildProcess(const std::string& path, const std::vector<std::string>& args,
               const std::optional<std::string>& stdin_file = std::nullopt);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // Writes all of `data` to the child's stdin, waiting for room up to `timeout`. False if the
  // time ran out or the child no longer reads (closed pipe).
  bool write(std::string_view data, milliseconds timeout = milliseconds(10'000));
  bool write_line(std::string_view line, milliseconds timeout = milliseconds(10'000)) {
    return write(std::string(line) + "\n", timeout);
  }
  void close_stdin();

  // Waits until `done(lines so far)` holds, the child's stdout ends, or `timeout` passes;
  // returns `done` on the lines at that moment.
  bool wait_until(const std::function<bool(const std::vector<std::string>&)>& done,
                  milliseconds timeout);
  // The first line starting with `prefix`, waiting up to `timeout` for it.
  std::optional<std::string> wait_for_prefix(std::string_view prefix, milliseconds timeout);
  // Waits until `line` appeared at least `count` times.
  bool wait_for_line(std::string_view line, milliseconds timeout, std::size_t count = 1);

  // Snapshots of the output so far.
  std::vector<std::string> lines() const;
  std::size_t count(std::string_view line) const;
  std::string transcript() const;  // every line, for failure messages

  void send_signal(int signal);
  // Waits for the child to exit, up to `timeout`. The exit status, or 128 + signal number if a
  // signal ended it; nullopt if it is still running. After it exited, lines() holds all of
  // its output.
  std::optional<int> wait_exit(milliseconds timeout);

 private:
  void read_output();

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::optional<int> exit_status_;
  std::thread reader_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  bool output_ended_ = false;
};

}  // namespace bb::test

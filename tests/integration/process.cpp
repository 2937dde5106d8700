#include "tests/integration/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <system_error>

extern char** environ;

namespace bb::test {
namespace {

using WallClock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what, int error = errno) {
  throw std::system_error(error, std::generic_category(), what);
}

int remaining_ms(WallClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - WallClock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1'000'000));
}

}  // namespace

ChildProcess::ChildProcess(const std::string& path, const std::vector<std::string>& args,
                           const std::optional<std::string>& stdin_file) {
  // A child that died must not kill the test when we write to it: EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  int in[2];
  int out[2];
  // Close-on-exec, so a child does not inherit the pipes of its siblings (which would keep
  // their stdin open after we close it).
  if (::pipe2(in, O_CLOEXEC) != 0) fail("pipe");
  if (::pipe2(out, O_CLOEXEC) != 0) fail("pipe");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_file) {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stdin_file->c_str(), O_RDONLY, 0);
  } else {
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  }
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<std::string> storage;
  storage.push_back(path);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  if (stdin_file) close_stdin();
  stdout_fd_ = out[0];
  if (rc != 0) {
    ::close(stdin_fd_);
    ::close(stdout_fd_);
    fail("posix_spawn", rc);
  }
  // Through syscall(2): glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd_ < 0) {
    const int error = errno;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    fail("pidfd_open", error);
  }
  ::fcntl(stdin_fd_, F_SETFL, ::fcntl(stdin_fd_, F_GETFL) | O_NONBLOCK);
  reader_ = std::thread(&ChildProcess::read_output, this);
}

ChildProcess::~ChildProcess() {
  if (!exit_status_) {
    ::kill(pid_, SIGKILL);
    (void)wait_exit(milliseconds(10'000));
  }
  close_stdin();
  if (reader_.joinable()) reader_.join();  // stdout ends once the child is gone
  ::close(stdout_fd_);
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool ChildProcess::write(std::string_view data, milliseconds timeout) {
  const auto deadline = WallClock::now() + timeout;
  while (!data.empty()) {
    if (stdin_fd_ < 0) return false;
    const ssize_t n = ::write(stdin_fd_, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;  // EPIPE: the child is gone
    pollfd p{stdin_fd_, POLLOUT, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready == 0) return false;  // timed out
    if (ready < 0 && errno != EINTR) return false;
  }
  return true;
}

void ChildProcess::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

void ChildProcess::read_output() {
  std::string partial;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::vector<std::string> complete;
    std::size_t start = 0;
    const std::string_view chunk(buffer, static_cast<std::size_t>(n));
    for (std::size_t nl = chunk.find('\n'); nl != std::string_view::npos;
         nl = chunk.find('\n', start)) {
      partial.append(chunk.substr(start, nl - start));
      complete.push_back(std::move(partial));
      partial.clear();
      start = nl + 1;
    }
    partial.append(chunk.substr(start));
    if (!complete.empty()) {
      std::lock_guard lock(mutex_);
      for (auto& line : complete) lines_.push_back(std::move(line));
      changed_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  if (!partial.empty()) lines_.push_back(std::move(partial));
  output_ended_ = true;
  changed_.notify_all();
}

bool ChildProcess::wait_until(const std::function<bool(const std::vector<std::string>&)>& done,
                              milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return output_ended_ || done(lines_); });
  return done(lines_);
}

std::optional<std::string> ChildProcess::wait_for_prefix(std::string_view prefix,
                                                         milliseconds timeout) {
  std::optional<std::string> found;
  (void)wait_until(
      [&](const std::vector<std::string>& lines) {
        for (const auto& line : lines) {
          if (line.starts_with(prefix)) {
            found = line;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

bool ChildProcess::wait_for_line(std::string_view line, milliseconds timeout, std::size_t count) {
  return wait_until(
      [&](const std::vector<std::string>& lines) {
        return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), line)) >= count;
      },
      timeout);
}

std::vector<std::string> ChildProcess::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::size_t ChildProcess::count(std::string_view line) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count(lines_.begin(), lines_.end(), line));
}

std::string ChildProcess::transcript() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& line : lines_) out += "  | " + line + "\n";
  return out;
}

void ChildProcess::send_signal(int signal) {
  if (!exit_status_) ::kill(pid_, signal);
}

std::optional<int> ChildProcess::wait_exit(milliseconds timeout) {
  if (exit_status_) return exit_status_;
  const auto deadline = WallClock::now() + timeout;
  for (;;) {
    // The pidfd becomes readable when the child exits: a bounded wait without polling.
    pollfd p{pidfd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    break;
  }
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // Its last output may still be in the pipe: once it is read, lines() is the whole output.
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [this] { return output_ended_; });
  return exit_status_;
}

}  // namespace bb::test

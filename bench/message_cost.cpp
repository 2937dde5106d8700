// The message path run a fixed number of times, for tools that count what it costs rather than
// time it (scripts/bench-callgrind: instructions per message; scripts/bench-syscalls: system
// calls per round trip). A plain program, not a Google Benchmark: each run does exactly the work
// asked, so two runs with different counts differ by that work alone.
//   bb_message_cost throughput --messages N [--size 64]
//       A sender Node on thread "bb-tx" (created first) and a receiver Node on thread "bb-rx"
//       (created second), each with its own io_context. Connect, send N messages of SIZE bytes
//       without awaiting receipts, then one more awaiting its receipt (receipts come back in
//       order); the receiver takes all N+1. The books must balance: sends = accepted = N+1, no
//       failures, messages_in = N+1, no drops.
//   bb_message_cost pingpong --round-trips N
//       64-byte request/response between two Nodes ("bb-ping", "bb-echo"), N round trips one
//       after the other, as BM_NodePingPongLatency does.
//   bb_message_cost asio-pingpong --round-trips N
//       The same 64-byte framed exchange over a plain Asio TCP socket pair on loopback
//       ("asio-ping", "asio-echo"), as BM_AsioPingPongLatency does: the reference.
// Every mode also takes --time-limit-s S (default 600): past it the program gives up, exit 1,
// whatever it was waiting for (a failed echo would leave the pinging side waiting for good).
// Prints one JSON line on stdout; exits 1 (with the reason on stderr) when the books do not
// balance or a run fails, 2 on bad arguments. Never run by CTest: nothing asserts on its costs.
#include "bb/node/node.hpp"
#include "bb/wire/frame.hpp"
#include "bb/wire/multiaddr.hpp"

#include <pthread.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

// Heap allocations made by each thread: malloc and its relatives are interposed here and count
// them (operator new, protobuf, Asio's aligned coroutine frames all end in one of them), so a
// run can say how many the message path makes per message on each side (throughput's JSON).
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t align, std::size_t size);
}

namespace {
thread_local std::uint64_t allocations = 0;
}  // namespace

extern "C" {
void* malloc(std::size_t size) {
  ++allocations;
  return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) {
  ++allocations;
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) {
  ++allocations;
  return __libc_realloc(p, size);
}
void* memalign(std::size_t align, std::size_t size) {
  ++allocations;
  return __libc_memalign(align, size);
}
void* aligned_alloc(std::size_t align, std::size_t size) {
  ++allocations;
  return __libc_memalign(align, size);
}
int posix_memalign(void** out, std::size_t align, std::size_t size) {
  ++allocations;
  void* p = __libc_memalign(align, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}

namespace {

namespace asio = boost::asio;
namespace nd = bb::node;
namespace rt = bb::runtime;
using bb::wire::Bytes;
using bb::wire::ByteView;
using bb::wire::Multiaddr;
using bb::wire::PeerId;
using tcp = asio::ip::tcp;
using WallClock = std::chrono::steady_clock;

constexpr std::string_view kChannel = "cost";
constexpr std::string_view kPingChannel = "ping";
constexpr std::string_view kPongChannel = "pong";
constexpr std::size_t kPingBytes = 64;
// Generous, so a message waits for queue room instead of failing on its deadline, also under
// valgrind, which runs the program some 50 times slower.
constexpr std::uint64_t kSendBudgetNs = 60'000'000'000;

// An io_context run by its own named thread until join(). Threads are numbered in the order
// they are constructed (valgrind's thread 1 is main), which scripts/bench-callgrind relies on.
class NamedIoThread {
 public:
  explicit NamedIoThread(const char* name)
      : guard_(io_.get_executor()), thread_([this, name] {
          pthread_setname_np(pthread_self(), name);
          io_.run();
        }) {}
  NamedIoThread(const NamedIoThread&) = delete;
  NamedIoThread& operator=(const NamedIoThread&) = delete;
  ~NamedIoThread() { join(); }

  asio::io_context& io() noexcept { return io_; }
  void join() {
    guard_.reset();
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// Runs `task` on `io`'s thread and waits for its result; rethrows what it threw.
template <class T>
T run_on(asio::io_context& io, asio::awaitable<T> task) {
  return asio::co_spawn(io, std::move(task), asio::use_future).get();
}

nd::SendOptions send_options(bool await_receipt) {
  nd::SendOptions options;
  options.budget_ns = kSendBudgetNs;
  options.await_receipt = await_receipt;
  return options;
}

std::string denial_text(const rt::Denial& denial) {
  return std::string(denial.reason) + " at " + denial.stage + ": " + denial.detail;
}

// As bench/messaging_bench.cpp's loopback_node_config(): an inbox above what can be in flight,
// so the receiver never sends BackoffNotices in a burst.
nd::NodeConfig loopback_node_config() {
  nd::NodeConfig config;
  config.listen = {Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value()};
  config.inbox_capacity = std::size_t{1} << 16;
  return config;
}

// A started Node on its own named thread, created, used, stopped and destroyed there.
class NodeThread {
 public:
  explicit NodeThread(const char* name) : thread_(name) { run(start()); }
  NodeThread(const NodeThread&) = delete;
  NodeThread& operator=(const NodeThread&) = delete;
  ~NodeThread() { shut_down(); }

  // Use only inside tasks run on io().
  nd::Node& node() noexcept { return *node_; }
  asio::io_context& io() noexcept { return thread_.io(); }
  template <class T>
  T run(asio::awaitable<T> task) {
    return run_on(io(), std::move(task));
  }

  // Stops and destroys the node, joins. Idempotent.
  void shut_down() {
    if (!node_) return;
    run(stop());
    thread_.join();
  }

 private:
  asio::awaitable<void> start() {
    node_ = std::make_unique<nd::Node>(co_await asio::this_coro::executor, loopback_node_config());
    co_await node_->start();
  }
  asio::awaitable<void> stop() {
    co_await node_->stop();
    node_.reset();
  }

  NamedIoThread thread_;
  std::unique_ptr<nd::Node> node_;
};

asio::awaitable<Multiaddr> listen_addr(nd::Node& node) {
  co_return node.listen_addrs().at(0);
}

// An optional: co_spawn's future needs a default-constructible result.
asio::awaitable<std::optional<PeerId>> connect_to(nd::Node& node, Multiaddr addr) {
  co_return co_await node.connect(addr);
}

asio::awaitable<void> subscribe(nd::Node& node, std::string_view channel) {
  node.subscribe(channel);
  co_return;
}

// A mode's exit status: 0, or 1 with `error` on stderr.
int exit_status(const std::string& error) {
  if (error.empty()) return 0;
  std::cerr << "bb_message_cost: " << error << "\n";
  return 1;
}

// ---- throughput -----------------------------------------------------------------------------

// Each side's thread's allocations so far, read on that thread once its messages are done.
std::uint64_t tx_allocations = 0;
std::uint64_t rx_allocations = 0;

// `count` messages without receipts, one more awaiting its receipt; then the sender's books.
// Returns what went wrong, empty when nothing did.
asio::awaitable<std::string> send_all(nd::Node& node, PeerId to, Bytes payload,
                                      std::uint64_t count) {
  const nd::SendOptions options = send_options(false);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (const rt::Verdict verdict = co_await node.send(to, kChannel, payload, options)) {
      co_return "send " + std::to_string(i) + " denied: " + denial_text(*verdict);
    }
  }
  if (const rt::Verdict verdict = co_await node.send(to, kChannel, payload, send_options(true))) {
    co_return "final send denied: " + denial_text(*verdict);
  }
  tx_allocations = allocations;
  const nd::NodeMetrics m = node.metrics();
  if (m.sends != count + 1 || m.receipts_accepted != count + 1 || m.failed_sends() != 0) {
    co_return "sender books: sends " + std::to_string(m.sends) + ", accepted " +
        std::to_string(m.receipts_accepted) + ", failed " + std::to_string(m.failed_sends()) +
        ", expected " + std::to_string(count + 1) + " accepted";
  }
  co_return std::string();
}

// Takes `count` messages of `size` bytes; ends early (with the reason) if the node stops.
asio::awaitable<std::string> take_all(nd::Node& node, std::uint64_t count, std::size_t size) {
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::optional<nd::Received> message = co_await node.receive(kChannel);
    if (!message) {
      co_return "receiver stopped after " + std::to_string(i) + " of " + std::to_string(count);
    }
    if (message->payload.size() != size) co_return "message of unexpected size";
  }
  co_return std::string();
}

asio::awaitable<std::string> receiver_books(nd::Node& node, std::uint64_t expected) {
  rx_allocations = allocations;
  const nd::NodeMetrics m = node.metrics();
  if (m.messages_in != expected || !m.drops.empty()) {
    co_return "receiver books: " + std::to_string(m.messages_in) + " delivered of " +
        std::to_string(expected) + ", " + std::to_string(m.drops.size()) + " drop reasons";
  }
  co_return std::string();
}

int throughput(std::uint64_t messages, std::size_t size) {
  NodeThread tx("bb-tx");
  NodeThread rx("bb-rx");
  const Multiaddr addr = rx.run(listen_addr(rx.node()));
  const PeerId to = *tx.run(connect_to(tx.node(), addr));
  auto taken = asio::co_spawn(rx.io(), take_all(rx.node(), messages + 1, size), asio::use_future);
  const auto start = WallClock::now();
  std::string error = tx.run(send_all(tx.node(), to, Bytes(size, 0x5a), messages));
  // A failed sender may leave the receiver waiting: stopping its node ends the wait.
  if (!error.empty()) rx.shut_down();
  const std::string receiver_error = taken.get();
  const std::chrono::duration<double> seconds = WallClock::now() - start;
  if (error.empty()) error = receiver_error;
  if (error.empty()) error = rx.run(receiver_books(rx.node(), messages + 1));
  tx.shut_down();
  rx.shut_down();
  std::cout << nlohmann::ordered_json{{"mode", "throughput"},
                                      {"messages", messages},
                                      {"size", size},
                                      {"books_ok", error.empty()},
                                      {"seconds", seconds.count()},
                                      {"tx_allocations", tx_allocations},
                                      {"rx_allocations", rx_allocations}}
                   .dump()
            << std::endl;
  return exit_status(error);
}

// ---- pingpong -------------------------------------------------------------------------------

// Sends every ping back to its sender on the pong channel, until the node stops.
asio::awaitable<std::string> echo_node(nd::Node& node) {
  const nd::SendOptions options = send_options(false);
  while (auto ping = co_await node.receive(kPingChannel)) {
    if (const rt::Verdict verdict =
            co_await node.send(ping->from, kPongChannel, ping->payload, options)) {
      co_return "echo denied: " + denial_text(*verdict);
    }
  }
  co_return std::string();
}

asio::awaitable<std::string> ping_node(nd::Node& node, PeerId to, std::uint64_t round_trips) {
  const Bytes request(kPingBytes, 0x5a);
  const nd::SendOptions options = send_options(false);
  for (std::uint64_t i = 0; i < round_trips; ++i) {
    if (const rt::Verdict verdict = co_await node.send(to, kPingChannel, request, options)) {
      co_return "ping denied: " + denial_text(*verdict);
    }
    const std::optional<nd::Received> reply = co_await node.receive(kPongChannel);
    if (!reply) co_return "no reply: the node stopped";
    if (reply->payload.size() != kPingBytes) co_return "reply of unexpected size";
  }
  co_return std::string();
}

int print_ping_result(const char* mode, std::uint64_t round_trips,
                      std::chrono::duration<double> seconds, const std::string& error) {
  std::cout << nlohmann::ordered_json{{"mode", mode},
                                      {"round_trips", round_trips},
                                      {"ok", error.empty()},
                                      {"seconds", seconds.count()},
                                      {"us_per_round_trip",
                                       round_trips == 0 ? 0.0
                                                        : seconds.count() * 1e6 /
                                                              static_cast<double>(round_trips)}}
                   .dump()
            << std::endl;
  return exit_status(error);
}

int pingpong(std::uint64_t round_trips) {
  NodeThread client("bb-ping");
  NodeThread server("bb-echo");
  const Multiaddr addr = server.run(listen_addr(server.node()));
  auto echoed = asio::co_spawn(server.io(), echo_node(server.node()), asio::use_future);
  const PeerId to = *client.run(connect_to(client.node(), addr));
  client.run(subscribe(client.node(), kPongChannel));
  const auto start = WallClock::now();
  std::string error = client.run(ping_node(client.node(), to, round_trips));
  const std::chrono::duration<double> seconds = WallClock::now() - start;
  client.shut_down();
  server.shut_down();  // ends echo_node
  if (error.empty()) error = echoed.get();
  return print_ping_result("pingpong", round_trips, seconds, error);
}

// ---- asio-pingpong --------------------------------------------------------------------------

// The next frame's body, valid until the reader is used again; nullopt at end of stream.
asio::awaitable<std::optional<ByteView>> read_frame(bb::wire::FrameReader& reader,
                                                    tcp::socket& socket) {
  for (;;) {
    auto frame = reader.next();
    if (!frame) throw boost::system::system_error(frame.error());
    if (*frame) co_return **frame;
    const auto space = reader.prepare(4096);
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(space.data(), space.size()),
                                                   asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::eof) co_return std::nullopt;
    if (ec) throw boost::system::system_error(ec);
    reader.commit(n);
  }
}

// Echoes every frame until the peer closes.
asio::awaitable<void> echo_socket(tcp::socket socket) {
  bb::wire::FrameReader reader;
  Bytes out;
  while (const auto body = co_await read_frame(reader, socket)) {
    out.clear();
    bb::wire::append_frame(out, *body);
    co_await asio::async_write(socket, asio::buffer(out), asio::use_awaitable);
  }
}

asio::awaitable<std::string> ping_socket(tcp::socket& socket, std::uint64_t round_trips) {
  Bytes request;
  bb::wire::append_frame(request, Bytes(kPingBytes, 0x5a));
  bb::wire::FrameReader reader;
  for (std::uint64_t i = 0; i < round_trips; ++i) {
    co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
    const auto reply = co_await read_frame(reader, socket);
    if (!reply) co_return "the echo side closed";
    if (reply->size() != kPingBytes) co_return "reply of unexpected size";
  }
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  co_return std::string();
}

int asio_pingpong(std::uint64_t round_trips) {
  NamedIoThread client_thread("asio-ping");
  NamedIoThread server_thread("asio-echo");
  tcp::acceptor acceptor(server_thread.io(), {asio::ip::make_address_v4("127.0.0.1"), 0});
  tcp::socket client(client_thread.io());
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  client.set_option(tcp::no_delay(true));  // as bb sets it
  server.set_option(tcp::no_delay(true));
  auto echoed =
      asio::co_spawn(server_thread.io(), echo_socket(std::move(server)), asio::use_future);
  const auto start = WallClock::now();
  std::string error = run_on(client_thread.io(), ping_socket(client, round_trips));
  const std::chrono::duration<double> seconds = WallClock::now() - start;
  try {
    echoed.get();
  } catch (const std::exception& e) {
    if (error.empty()) error = std::string("echo: ") + e.what();
  }
  client_thread.join();
  server_thread.join();
  return print_ping_result("asio-pingpong", round_trips, seconds, error);
}

// ---- arguments ------------------------------------------------------------------------------

extern "C" void on_time_limit(int /*signal*/) {
  constexpr char kMessage[] = "bb_message_cost: time limit reached, giving up\n";
  [[maybe_unused]] const auto written = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  _exit(1);
}

int usage() {
  std::cerr << "usage: bb_message_cost throughput --messages N [--size BYTES] [--time-limit-s S]\n"
               "       bb_message_cost pingpong --round-trips N [--time-limit-s S]\n"
               "       bb_message_cost asio-pingpong --round-trips N [--time-limit-s S]\n";
  return 2;
}

// The value of `--name`, or `fallback` when absent; nullopt when present but not a number.
std::optional<std::uint64_t> option(int argc, char** argv, std::string_view name,
                                    std::uint64_t fallback) {
  for (int i = 2; i < argc; ++i) {
    if (argv[i] != name) continue;
    if (i + 1 >= argc) return std::nullopt;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(argv[i + 1], &end, 10);
    if (end == argv[i + 1] || *end != '\0') return std::nullopt;
    return value;
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string_view mode = argv[1];
  const auto time_limit_s = option(argc, argv, "--time-limit-s", 600);
  if (!time_limit_s) return usage();
  std::signal(SIGALRM, on_time_limit);
  alarm(static_cast<unsigned>(*time_limit_s));
  try {
    if (mode == "throughput") {
      const auto messages = option(argc, argv, "--messages", 10'000);
      const auto size = option(argc, argv, "--size", 64);
      if (!messages || !size || *size == 0) return usage();
      return throughput(*messages, static_cast<std::size_t>(*size));
    }
    const auto round_trips = option(argc, argv, "--round-trips", 1'000);
    if (!round_trips) return usage();
    if (mode == "pingpong") return pingpong(*round_trips);
    if (mode == "asio-pingpong") return asio_pingpong(*round_trips);
  } catch (const std::exception& e) {
    std::cerr << "bb_message_cost: " << e.what() << "\n";
    return 1;
  }
  return usage();
}

// Messaging over loopback, every figure of the Node issue in one harness run:
//   BM_LibsodiumChaCha20Poly1305/<size>  libsodium's ChaCha20-Poly1305 (IETF, combined) on one
//                             core: the reference the Node's 1 MiB throughput is held against.
//   BM_NodeThroughput/<size>  bb Node -> bb Node, the full stack: TX gates, wire.Send, Noise,
//                             Yamux, RX gates, wire.Recv, receipts back. Each Node on its own
//                             io_context thread (one core per side, like the rows below).
//                             tx_cpu_util / rx_cpu_util: the share of the wall time each side's
//                             thread ran (near 1.0: that side is the limit).
//   BM_NodePairs/<pairs>      1 or 2 independent pairs (sender and receiver Node sharing one
//                             io_context thread per pair) moving 64 B messages: aggregate msg/s,
//                             whether the rate grows with cores.
//   BM_AsioFramed/<size>      bb's framing (varint length ‖ body) over plain Asio TCP, gathered
//                             writes; sender and receiver each on their own io_context thread.
//                             The ceiling for our framing.
//   BM_ZmqPushPull/<size>     libzmq PUSH/PULL, sender and receiver threads (only when built with
//                             libzmq: BB_HAVE_ZMQ).
//   BM_AsioPingPongLatency    64-byte framed request/response over plain Asio TCP: p50/p99 RTT.
//   BM_SecurePingPongLatency  the same over one stream of a bb Connection (Noise+Yamux).
//   BM_NodePingPongLatency    64-byte request/response between two bb Nodes (send, receive, send
//                             back, receive): p50/p99 RTT.
//   BM_HandshakeCryptoFloor   the X25519 and Ed25519 work of one Noise XX handshake, both ends:
//                             the handshakes/s the public-key crypto alone allows on one core.
//   BM_IdleSecureConnections  RSS per idle Connection and handshakes/s for 1000 pairs.
// Run: build/default/bench/bb_bench_messaging [--benchmark_out=FILE --benchmark_out_format=json];
// scripts/bench-messaging runs it and prints the ratios.
#include "bb/node/node.hpp"
#include "bb/wire/connection.hpp"
#include "bb/wire/frame.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/tcp.hpp"

#include <benchmark/benchmark.h>
#include <malloc.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#ifdef BB_HAVE_ZMQ
#include <zmq.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace bb::wire;
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using WallClock = std::chrono::steady_clock;

// Bounded work per iteration: 100k messages or 64 MiB, whichever is smaller.
constexpr std::size_t kMaxMessagesPerIteration = 100'000;
constexpr std::size_t kMaxBytesPerIteration = std::size_t{64} << 20;
// The sender gathers at most this many queued frames (or about this many bytes) per write.
constexpr std::size_t kMaxBatchFrames = 64;
constexpr std::size_t kMaxBatchBytes = std::size_t{1} << 20;
constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kPingBytes = 64;
constexpr std::string_view kEchoProtocol = "/bench/echo/1.0.0";

std::size_t messages_per_iteration(std::size_t size) {
  return std::min(kMaxMessagesPerIteration, kMaxBytesPerIteration / size);
}

void set_rates(benchmark::State& state, std::size_t size, std::size_t per_iteration) {
  const auto messages =
      static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(per_iteration);
  state.SetItemsProcessed(messages);
  state.SetBytesProcessed(messages * static_cast<std::int64_t>(size));
  state.counters["msgs_per_iter"] = static_cast<double>(per_iteration);
}

void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

// An io_context run by its own thread until join() (after its sockets were closed).
class IoThread {
 public:
  IoThread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;
  ~IoThread() { join(); }

  asio::io_context& io() noexcept { return io_; }
  // CPU time the thread has used so far (0 once joined): shows which side of a pair is busy.
  double cpu_seconds() {
    clockid_t clock{};
    timespec ts{};
    if (!thread_.joinable() || pthread_getcpuclockid(thread_.native_handle(), &clock) != 0 ||
        clock_gettime(clock, &ts) != 0) {
      return 0;
    }
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  void join() {
    guard_.reset();
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// A connected loopback pair with TCP_NODELAY (as bb sets it): first on `a`, second on `b`.
std::pair<tcp::socket, tcp::socket> connect_pair(asio::io_context& a, asio::io_context& b) {
  tcp::acceptor acceptor(b, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
  tcp::socket client(a);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  client.set_option(tcp::no_delay(true));
  server.set_option(tcp::no_delay(true));
  return {std::move(client), std::move(server)};
}

// Completion of one iteration's messages, signalled from the receiver's thread. A failure also
// signals, so the benchmark thread never waits forever.
struct Signal {
  std::counting_semaphore<> done{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::string error;

  void fail(std::string what) {
    {
      std::lock_guard lock(mutex);
      if (error.empty()) error = std::move(what);
    }
    failed = true;
    done.release();
  }
};

// ---- BM_LibsodiumChaCha20Poly1305 -----------------------------------------------------------

// One core encrypting `size`-byte buffers with the IETF AEAD (combined: ciphertext ‖ tag), the
// construction Noise uses; the 1 MiB row is the Node's throughput reference.
void BM_LibsodiumChaCha20Poly1305(benchmark::State& state) {
  ensure_sodium();
  const auto size = static_cast<std::size_t>(state.range(0));
  const Bytes plain(size, 0x5a);
  Bytes sealed(size + crypto_aead_chacha20poly1305_ietf_ABYTES);
  const Bytes key(crypto_aead_chacha20poly1305_ietf_KEYBYTES, 1);
  Bytes nonce(crypto_aead_chacha20poly1305_ietf_NPUBBYTES, 0);
  for (auto _ : state) {
    unsigned long long sealed_size = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(sealed.data(), &sealed_size, plain.data(),
                                              plain.size(), nullptr, 0, nullptr, nonce.data(),
                                              key.data());
    sodium_increment(nonce.data(), nonce.size());
    benchmark::DoNotOptimize(sealed.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
}
BENCHMARK(BM_LibsodiumChaCha20Poly1305)->Arg(1024 * 1024)->Unit(benchmark::kMicrosecond);

// ---- BM_AsioFramed --------------------------------------------------------------------------

// Sends `count` frames of `payload`, gathering up to kMaxBatchFrames header+body pairs per write.
asio::awaitable<void> send_frames(tcp::socket& socket, ByteView payload, std::size_t count) {
  std::vector<FrameHeader> headers;
  std::vector<asio::const_buffer> buffers;
  headers.reserve(kMaxBatchFrames);
  buffers.reserve(2 * kMaxBatchFrames);
  std::size_t sent = 0;
  while (sent < count) {
    headers.clear();
    buffers.clear();
    std::size_t batch_bytes = 0;
    while (sent < count && headers.size() < kMaxBatchFrames && batch_bytes < kMaxBatchBytes) {
      headers.push_back(frame_header(payload.size()));
      batch_bytes += headers.back().size + payload.size();
      ++sent;
    }
    for (const auto& h : headers) {
      buffers.emplace_back(h.bytes.data(), h.size);
      buffers.emplace_back(payload.data(), payload.size());
    }
    co_await asio::async_write(socket, buffers, asio::use_awaitable);
  }
}

// Counts frames until end of stream; releases `signal.done` after every `per_iteration` frames.
asio::awaitable<void> receive_frames(tcp::socket socket, std::size_t size,
                                     std::size_t per_iteration, Signal& signal) {
  FrameReader reader;
  std::size_t received = 0;
  for (;;) {
    auto space = reader.prepare(kReadChunk);
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(space.data(), space.size()),
                                                   asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted) signal.fail(ec.message());
      co_return;
    }
    reader.commit(n);
    for (;;) {
      auto frame = reader.next();
      if (!frame) {
        signal.fail(frame.error().message());
        co_return;
      }
      if (!*frame) break;
      if ((*frame)->size() != size) {
        signal.fail("frame of unexpected size");
        co_return;
      }
      benchmark::DoNotOptimize((*frame)->data());
      if (++received == per_iteration) {
        received = 0;
        signal.done.release();
      }
    }
  }
}

void BM_AsioFramed(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto per_iteration = messages_per_iteration(size);
  const Bytes payload(size, 0x5a);
  Signal signal;
  IoThread sender, receiver;
  auto [out, in] = connect_pair(sender.io(), receiver.io());
  asio::co_spawn(receiver.io(), receive_frames(std::move(in), size, per_iteration, signal),
                 [&signal](std::exception_ptr e) {
                   if (e) signal.fail("receiver threw");
                 });
  for (auto _ : state) {
    asio::co_spawn(sender.io(), send_frames(out, payload, per_iteration),
                   [&signal](std::exception_ptr e) {
                     if (e) signal.fail("sender threw");
                   });
    signal.done.acquire();
    if (signal.failed) {
      state.SkipWithError(signal.error.c_str());
      break;
    }
  }
  // Closing the sender's end lets the receiver read end of stream and return.
  asio::post(sender.io(), [&out] {
    boost::system::error_code ignored;
    out.shutdown(tcp::socket::shutdown_send, ignored);
    out.close(ignored);
  });
  sender.join();
  receiver.join();
  set_rates(state, size, per_iteration);
}
BENCHMARK(BM_AsioFramed)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(64 * 1024)
    ->Arg(1024 * 1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// ---- BM_ZmqPushPull -------------------------------------------------------------------------

#ifdef BB_HAVE_ZMQ
// One context per side, as two processes would have (each with its default single I/O thread).
void BM_ZmqPushPull(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto per_iteration = messages_per_iteration(size);
  const Bytes payload(size, 0x5a);
  void* pull_ctx = zmq_ctx_new();
  void* push_ctx = zmq_ctx_new();
  void* pull = zmq_socket(pull_ctx, ZMQ_PULL);
  void* push = zmq_socket(push_ctx, ZMQ_PUSH);
  // Bounds the end marker's send if the receiver has failed and stopped reading.
  const int send_timeout_ms = 10'000;
  zmq_setsockopt(push, ZMQ_SNDTIMEO, &send_timeout_ms, sizeof send_timeout_ms);
  char endpoint[256] = {};
  std::size_t endpoint_size = sizeof endpoint;
  if (zmq_bind(pull, "tcp://127.0.0.1:*") != 0 ||
      zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_size) != 0 ||
      zmq_connect(push, endpoint) != 0) {
    state.SkipWithError(zmq_strerror(zmq_errno()));
  }

  Signal signal;
  std::thread receiver([&] {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    std::size_t received = 0;
    for (;;) {
      if (zmq_msg_recv(&msg, pull, 0) < 0) {
        signal.fail(zmq_strerror(zmq_errno()));
        break;
      }
      const std::size_t n = zmq_msg_size(&msg);
      if (n == 0) break;  // the end marker
      if (n != size) {
        signal.fail("message of unexpected size");
        break;
      }
      benchmark::DoNotOptimize(zmq_msg_data(&msg));
      if (++received == per_iteration) {
        received = 0;
        signal.done.release();
      }
    }
    zmq_msg_close(&msg);
  });

  for (auto _ : state) {
    for (std::size_t i = 0; i < per_iteration; ++i) {
      if (zmq_send(push, payload.data(), size, 0) < 0) {
        signal.fail(zmq_strerror(zmq_errno()));
        break;
      }
    }
    signal.done.acquire();
    if (signal.failed) {
      state.SkipWithError(signal.error.c_str());
      break;
    }
  }
  zmq_send(push, nullptr, 0, 0);
  receiver.join();
  const int linger = 0;
  zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
  zmq_close(push);
  zmq_close(pull);
  zmq_ctx_term(push_ctx);
  zmq_ctx_term(pull_ctx);
  set_rates(state, size, per_iteration);
}
BENCHMARK(BM_ZmqPushPull)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(64 * 1024)
    ->Arg(1024 * 1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
#endif

// ---- BM_NodeThroughput ----------------------------------------------------------------------

namespace rt = bb::runtime;
namespace nd = bb::node;

constexpr std::string_view kNodeChannel = "bench";
constexpr std::string_view kPingChannel = "ping";
constexpr std::string_view kPongChannel = "pong";
// Generous, so a message waits for queue room instead of failing on its deadline.
constexpr std::uint64_t kSendBudgetNs = 10'000'000'000;

nd::SendOptions bench_send_options() {
  nd::SendOptions options;
  options.budget_ns = kSendBudgetNs;
  return options;
}

std::string denial_text(const rt::Denial& denial) {
  return std::string(denial.reason) + " at " + denial.stage + ": " + denial.detail;
}

// Runs `task` on `io`'s thread and waits for it; rethrows what it threw.
void run_on(asio::io_context& io, asio::awaitable<void> task) {
  asio::co_spawn(io, std::move(task), asio::use_future).get();
}

// The receiver's inbox is sized above what can be in flight (the sender's queue plus a 4 MiB
// Yamux window of small messages), so the flow control measured is Yamux's window and the
// sender's bounded queue. With the default 4096, a receiver that falls behind in a 64 B burst
// passes its high-water mark and sends a BackoffNotice, which (as in the original) holds the
// sender in cooldown for at least a second: right for a receiver that stays behind, not what a
// throughput figure should measure.
nd::NodeConfig loopback_node_config() {
  nd::NodeConfig config;
  config.listen = {Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value()};
  config.inbox_capacity = std::size_t{1} << 16;
  return config;
}

asio::awaitable<void> start_nodes(std::vector<std::unique_ptr<nd::Node>>& nodes,
                                  std::size_t count) {
  const auto executor = co_await asio::this_coro::executor;
  for (std::size_t i = 0; i < count; ++i) {
    nodes.push_back(std::make_unique<nd::Node>(executor, loopback_node_config()));
    co_await nodes.back()->start();
  }
}

asio::awaitable<void> stop_node(nd::Node& node) {
  co_await node.stop();
}

asio::awaitable<void> destroy_nodes(std::vector<std::unique_ptr<nd::Node>>& nodes) {
  nodes.clear();
  co_return;
}

asio::awaitable<void> first_listen_addr(nd::Node& node, Multiaddr& out) {
  out = node.listen_addrs().at(0);
  co_return;
}

asio::awaitable<void> connect_node(nd::Node& node, Multiaddr addr, std::optional<PeerId>& out) {
  out = co_await node.connect(addr);
}

// Started Nodes (one, or a sender and its receiver for BM_NodePairs) on one io_context thread.
// The Nodes are created, used, stopped and destroyed on that thread (their thread rule); the
// benchmark thread only waits there for results. Tasks given to spawn() must end once the nodes
// stop.
class NodeThread {
 public:
  explicit NodeThread(std::size_t nodes = 1) { run_on(thread_.io(), start_nodes(nodes_, nodes)); }
  NodeThread(const NodeThread&) = delete;
  NodeThread& operator=(const NodeThread&) = delete;
  ~NodeThread() { shut_down(); }

  asio::io_context& io() noexcept { return thread_.io(); }
  // Use only inside tasks run on io().
  nd::Node& node(std::size_t i = 0) noexcept { return *nodes_[i]; }
  double cpu_seconds() { return thread_.cpu_seconds(); }
  void run(asio::awaitable<void> task) { run_on(io(), std::move(task)); }
  void spawn(asio::awaitable<void> task) {
    tasks_.push_back(asio::co_spawn(io(), std::move(task), asio::use_future));
  }

  // Stops the nodes (in order), waits for the spawned tasks, destroys the nodes, joins.
  // Idempotent.
  void shut_down() {
    if (nodes_.empty()) return;
    for (auto& node : nodes_) run(stop_node(*node));
    for (auto& task : tasks_) task.wait();  // they report through their own Signal
    tasks_.clear();
    run(destroy_nodes(nodes_));
    thread_.join();
  }

 private:
  IoThread thread_;
  std::vector<std::unique_ptr<nd::Node>> nodes_;
  std::vector<std::future<void>> tasks_;
};

// Sends `count` messages as fast as send() takes them (it waits for room in the peer's queue).
asio::awaitable<void> send_messages(nd::Node& node, PeerId to, ByteView payload, std::size_t count,
                                    Signal& signal) {
  const nd::SendOptions options = bench_send_options();
  for (std::size_t i = 0; i < count; ++i) {
    const rt::Verdict verdict = co_await node.send(to, kNodeChannel, payload, options);
    if (verdict) {
      signal.fail("send denied: " + denial_text(*verdict));
      co_return;
    }
  }
}

// Receives until the node stops; releases `signal.done` after every `per_iteration` messages,
// each of the expected size and none repeated back to back (ids are random: no order to check).
asio::awaitable<void> receive_messages(nd::Node& node, std::size_t size, std::size_t per_iteration,
                                       Signal& signal) {
  std::size_t received = 0;
  std::uint64_t last_id = 0;
  while (auto message = co_await node.receive(kNodeChannel)) {
    if (message->payload.size() != size || message->payload.front() != 0x5a ||
        message->payload.back() != 0x5a) {
      signal.fail("message of unexpected size or content");
      co_return;
    }
    // Ids are random (unguessable), so they only tell a repeat, not the order.
    if (message->message_id == 0 || message->message_id == last_id) {
      signal.fail("message id " + std::to_string(message->message_id) + " after " +
                  std::to_string(last_id) + ": zero or repeated");
      co_return;
    }
    last_id = message->message_id;
    benchmark::DoNotOptimize(message->payload.data());
    if (++received == per_iteration) {
      received = 0;
      signal.done.release();
    }
  }
}

// One more message, awaiting its receipt: receipts come back in order, so once it is accepted
// every earlier message's receipt has been counted. Then the sender's books must balance.
asio::awaitable<void> confirm_sender(nd::Node& node, PeerId to, ByteView payload,
                                     std::uint64_t sent, std::string& error,
                                     double& wire_bytes_per_message) {
  nd::SendOptions options = bench_send_options();
  options.await_receipt = true;
  const rt::Verdict verdict = co_await node.send(to, kNodeChannel, payload, options);
  if (verdict) {
    error = "final send denied: " + denial_text(*verdict);
    co_return;
  }
  const nd::NodeMetrics m = node.metrics();
  if (m.sends != sent + 1 || m.receipts_accepted != sent + 1 || m.failed_sends() != 0) {
    error = "sender books: sends " + std::to_string(m.sends) + ", accepted " +
            std::to_string(m.receipts_accepted) + ", failed " + std::to_string(m.failed_sends()) +
            ", expected " + std::to_string(sent + 1) + " accepted";
  }
  if (m.messages_out != 0) {
    wire_bytes_per_message = static_cast<double>(m.bytes_out) / static_cast<double>(m.messages_out);
  }
}

// `per_envelope`: messages per envelope read (above 1 when batches formed).
asio::awaitable<void> confirm_receiver(nd::Node& node, std::uint64_t sent, std::string& error,
                                       double* per_envelope = nullptr) {
  const nd::NodeMetrics m = node.metrics();
  if (per_envelope != nullptr && m.envelopes_in != 0) {
    *per_envelope = static_cast<double>(m.messages_in) / static_cast<double>(m.envelopes_in);
  }
  if (m.messages_in != sent + 1 || !m.drops.empty()) {
    error = "receiver books: " + std::to_string(m.messages_in) + " delivered of " +
            std::to_string(sent + 1) + ", " + std::to_string(m.drops.size()) + " drop reasons";
  }
  co_return;
}

// bb Node -> bb Node, full stack, one channel. Each Node runs on its own io_context thread: one
// core per side, as BM_AsioFramed and BM_ZmqPushPull have. The clock stops when the receiving
// application has taken the iteration's last message; receipts flow back meanwhile.
void BM_NodeThroughput(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto per_iteration = messages_per_iteration(size);
  const Bytes payload(size, 0x5a);
  Signal signal;
  std::string error;
  double wire_bytes_per_message = 0;
  NodeThread sender, receiver;
  std::optional<PeerId> to;
  try {
    Multiaddr addr;
    receiver.run(first_listen_addr(receiver.node(), addr));
    sender.run(connect_node(sender.node(), addr, to));
  } catch (const std::exception& e) {
    error = std::string("connect: ") + e.what();
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  receiver.spawn(receive_messages(receiver.node(), size, per_iteration, signal));
  const double sender_cpu = sender.cpu_seconds();
  const double receiver_cpu = receiver.cpu_seconds();
  const auto start = WallClock::now();
  for (auto _ : state) {
    sender.spawn(send_messages(sender.node(), *to, payload, per_iteration, signal));
    signal.done.acquire();
    if (signal.failed) {
      state.SkipWithError(signal.error.c_str());
      break;
    }
  }
  if (signal.failed) return;  // the NodeThreads stop both nodes, which ends every task
  // Share of the timed wall time each side's thread was on a CPU (1.0: that side saturated).
  const std::chrono::duration<double> wall = WallClock::now() - start;
  state.counters["tx_cpu_util"] = (sender.cpu_seconds() - sender_cpu) / wall.count();
  state.counters["rx_cpu_util"] = (receiver.cpu_seconds() - receiver_cpu) / wall.count();
  const auto sent = static_cast<std::uint64_t>(state.iterations()) * per_iteration;
  sender.run(confirm_sender(sender.node(), *to, payload, sent, error, wire_bytes_per_message));
  double per_envelope = 0;
  if (error.empty()) receiver.run(confirm_receiver(receiver.node(), sent, error, &per_envelope));
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  set_rates(state, size, per_iteration);
  state.counters["wire_bytes_per_msg"] = wire_bytes_per_message;
  state.counters["msgs_per_envelope"] = per_envelope;
}
BENCHMARK(BM_NodeThroughput)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(64 * 1024)
    ->Arg(1024 * 1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// ---- BM_NodePairs ---------------------------------------------------------------------------

// A sender Node and its receiver Node sharing one io_context thread, sharing nothing with any
// other pair.
struct NodePair {
  NodeThread thread{2};
  Signal signal;
  std::optional<PeerId> to;

  nd::Node& sender() noexcept { return thread.node(0); }
  nd::Node& receiver() noexcept { return thread.node(1); }
};

// `pairs` independent pairs moving 64 B messages at once, each as BM_NodeThroughput does (same
// helpers, same books): whether the message rate grows with cores. items_per_second is the sum
// over pairs; cpu_util the pairs' threads' CPU time over the wall time (up to `pairs`: each
// pair had a core to itself).
void BM_NodePairs(benchmark::State& state) {
  constexpr std::size_t size = 64;
  const auto pairs = static_cast<std::size_t>(state.range(0));
  const auto per_iteration = messages_per_iteration(size);
  const Bytes payload(size, 0x5a);
  std::vector<std::unique_ptr<NodePair>> all;
  std::string error;
  try {
    for (std::size_t i = 0; i < pairs; ++i) {
      auto& pair = *all.emplace_back(std::make_unique<NodePair>());
      Multiaddr addr;
      pair.thread.run(first_listen_addr(pair.receiver(), addr));
      pair.thread.run(connect_node(pair.sender(), addr, pair.to));
    }
  } catch (const std::exception& e) {
    error = std::string("connect: ") + e.what();
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  double cpu_before = 0;
  for (auto& pair : all) {
    pair->thread.spawn(receive_messages(pair->receiver(), size, per_iteration, pair->signal));
    cpu_before += pair->thread.cpu_seconds();
  }
  const auto start = WallClock::now();
  bool failed = false;
  for (auto _ : state) {
    for (auto& pair : all) {
      pair->thread.spawn(
          send_messages(pair->sender(), *pair->to, payload, per_iteration, pair->signal));
    }
    for (auto& pair : all) {
      pair->signal.done.acquire();
      if (pair->signal.failed && !failed) {
        failed = true;
        state.SkipWithError(pair->signal.error.c_str());
      }
    }
    if (failed) break;
  }
  if (failed) return;  // the NodeThreads stop the nodes, which ends every task
  const std::chrono::duration<double> wall = WallClock::now() - start;
  double cpu_after = 0;
  for (auto& pair : all) cpu_after += pair->thread.cpu_seconds();
  const auto sent = static_cast<std::uint64_t>(state.iterations()) * per_iteration;
  double wire_bytes_per_message = 0;
  for (auto& pair : all) {
    pair->thread.run(
        confirm_sender(pair->sender(), *pair->to, payload, sent, error, wire_bytes_per_message));
    if (error.empty()) pair->thread.run(confirm_receiver(pair->receiver(), sent, error));
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
  }
  set_rates(state, size, pairs * per_iteration);
  state.counters["wire_bytes_per_msg"] = wire_bytes_per_message;
  state.counters["pairs"] = static_cast<double>(pairs);
  state.counters["cpu_util"] = (cpu_after - cpu_before) / wall.count();
}
BENCHMARK(BM_NodePairs)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- Ping-pong latency ----------------------------------------------------------------------

// The same framed exchange over a plain socket and over a bb Stream.
asio::awaitable<std::size_t> read_some(tcp::socket& socket, std::span<std::uint8_t> out) {
  co_return co_await socket.async_read_some(asio::buffer(out.data(), out.size()),
                                            asio::use_awaitable);
}
asio::awaitable<std::size_t> read_some(Stream& stream, std::span<std::uint8_t> out) {
  co_return co_await stream.read_some(out);
}
asio::awaitable<void> write_all(tcp::socket& socket, ByteView data) {
  co_await asio::async_write(socket, asio::buffer(data.data(), data.size()), asio::use_awaitable);
}
asio::awaitable<void> write_all(Stream& stream, ByteView data) {
  co_await stream.write(data);
}

// The next frame's body, valid until the reader is used again. Throws eof at end of stream.
template <class Transport>
asio::awaitable<ByteView> read_frame(FrameReader& reader, Transport& transport) {
  for (;;) {
    auto frame = reader.next();
    if (!frame) throw boost::system::system_error(frame.error());
    if (*frame) co_return **frame;
    const std::size_t n = co_await read_some(transport, reader.prepare(4096));
    if (n == 0) throw boost::system::system_error(asio::error::eof);
    reader.commit(n);
  }
}

// Echoes every frame until the peer closes (the exception that ends it is the expected end).
template <class Transport>
asio::awaitable<void> echo(Transport& transport) {
  FrameReader reader;
  Bytes out;
  try {
    for (;;) {
      const ByteView body = co_await read_frame(reader, transport);
      out.clear();
      append_frame(out, body);
      co_await write_all(transport, out);
    }
  } catch (const boost::system::system_error&) {
  }
}

// One timed round trip per benchmark iteration.
template <class Transport>
asio::awaitable<void> ping_pong(benchmark::State& state, Transport& transport,
                                std::vector<double>& rtt_us) {
  Bytes request;
  append_frame(request, Bytes(kPingBytes, 0x5a));
  FrameReader reader;
  for (auto _ : state) {
    const auto start = WallClock::now();
    co_await write_all(transport, request);
    const ByteView reply = co_await read_frame(reader, transport);
    const std::chrono::duration<double> elapsed = WallClock::now() - start;
    if (reply.size() != kPingBytes) throw boost::system::system_error(errc::frame_too_large);
    state.SetIterationTime(elapsed.count());
    rtt_us.push_back(elapsed.count() * 1e6);
  }
}

void report_latency(benchmark::State& state, std::vector<double> rtt_us) {
  if (rtt_us.empty()) return;
  std::sort(rtt_us.begin(), rtt_us.end());
  const auto at = [&](std::size_t per_mille) {
    return rtt_us[std::min(rtt_us.size() - 1, rtt_us.size() * per_mille / 1000)];
  };
  // The distribution, drawn by scripts/bench-charts.
  state.counters["min_us"] = rtt_us.front();
  state.counters["p10_us"] = at(100);
  state.counters["p25_us"] = at(250);
  state.counters["p50_us"] = at(500);
  state.counters["p75_us"] = at(750);
  state.counters["p90_us"] = at(900);
  state.counters["p99_us"] = at(990);
  state.counters["p999_us"] = at(999);
  state.counters["max_us"] = rtt_us.back();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

asio::awaitable<void> echo_socket(tcp::socket socket) {
  co_await echo(socket);
}

asio::awaitable<void> socket_client(benchmark::State& state, tcp::socket& socket,
                                    std::vector<double>& rtt_us) {
  co_await ping_pong(state, socket, rtt_us);
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
}

// Client on this thread, echo server on its own io_context thread (two peers, two cores).
void BM_AsioPingPongLatency(benchmark::State& state) {
  asio::io_context client_io(1);
  IoThread server;
  auto [client, server_socket] = connect_pair(client_io, server.io());
  std::exception_ptr server_error;
  asio::co_spawn(server.io(), echo_socket(std::move(server_socket)),
                 [&server_error](std::exception_ptr e) { server_error = e; });
  std::vector<double> rtt_us;
  asio::co_spawn(client_io, socket_client(state, client, rtt_us), rethrow);
  client_io.run();
  server.join();
  rethrow(server_error);
  report_latency(state, std::move(rtt_us));
}
BENCHMARK(BM_AsioPingPongLatency)->Unit(benchmark::kMicrosecond)->UseManualTime();

asio::awaitable<void> serve_echo_streams(Connection conn) {
  const std::vector<std::string> supported{std::string(kEchoProtocol)};
  while (auto stream = co_await conn.accept_stream()) {
    co_await conn.negotiate_inbound(*stream, supported);
    co_await echo(*stream);
  }
}

asio::awaitable<void> secure_echo_server(TcpListener listener, const Ed25519KeyPair& identity) {
  auto socket = co_await listener.accept();
  listener.close();
  auto conn = co_await Connection::upgrade(std::move(socket), Direction::inbound, identity, {}, {});
  co_await (conn.run() && serve_echo_streams(conn));
}

asio::awaitable<void> secure_ping_pong(benchmark::State& state, Connection conn,
                                       std::vector<double>& rtt_us) {
  // A named vector: GCC 12 rejects a braced temporary here inside a coroutine.
  std::vector<std::string> protocols{std::string(kEchoProtocol)};
  auto stream = co_await conn.open_stream(std::move(protocols));
  co_await ping_pong(state, stream, rtt_us);
  stream.close_write();
  conn.close();
}

asio::awaitable<void> secure_client(benchmark::State& state, Multiaddr addr,
                                    const Ed25519KeyPair& identity, PeerId expected,
                                    std::vector<double>& rtt_us) {
  auto socket = co_await tcp_connect(addr, 5s);
  auto conn =
      co_await Connection::upgrade(std::move(socket), Direction::outbound, identity, expected, {});
  co_await (conn.run() && secure_ping_pong(state, conn, rtt_us));
}

// Stands in for bb's Node until it exists: one Yamux stream, framed 64-byte ping-pong.
void BM_SecurePingPongLatency(benchmark::State& state) {
  const auto client_id = Ed25519KeyPair::generate();
  const auto server_id = Ed25519KeyPair::generate();
  asio::io_context client_io(1);
  IoThread server;
  auto listener = TcpListener::listen(server.io().get_executor(),
                                      Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  const Multiaddr addr = listener.local_addr();
  std::exception_ptr server_error;
  asio::co_spawn(server.io(), secure_echo_server(std::move(listener), server_id),
                 [&server_error](std::exception_ptr e) { server_error = e; });
  std::vector<double> rtt_us;
  asio::co_spawn(client_io, secure_client(state, addr, client_id, server_id.peer_id(), rtt_us),
                 rethrow);
  client_io.run();
  server.join();
  rethrow(server_error);
  report_latency(state, std::move(rtt_us));
}
BENCHMARK(BM_SecurePingPongLatency)->Unit(benchmark::kMicrosecond)->UseManualTime();

// How the server side of BM_NodePingPongLatency tells the client it failed: it stops the
// client's node (on the client's thread), which ends the client's wait for a reply.
struct EchoFailure {
  asio::io_context& client_io;
  nd::Node& client;
  std::mutex mutex;
  std::string error;
  // Client thread only. The client node is stopped once, by whichever side comes first: a
  // second stop() while the first is still under way never yields (runtime/node.cpp).
  bool client_stopping = false;

  void fail(std::string what) {
    {
      std::lock_guard lock(mutex);
      if (error.empty()) error = std::move(what);
    }
    asio::post(client_io, [this] {
      if (client_stopping) return;
      client_stopping = true;
      asio::co_spawn(client_io, client.stop(), asio::detached);
    });
  }
};

// Sends every ping back to its sender on the pong channel, until the node stops.
asio::awaitable<void> node_echo(nd::Node& node, EchoFailure& failure) {
  const nd::SendOptions options = bench_send_options();
  while (auto ping = co_await node.receive(kPingChannel)) {
    const rt::Verdict verdict =
        co_await node.send(ping->from, kPongChannel, ping->payload, options);
    if (verdict) {
      failure.fail("echo denied: " + denial_text(*verdict));
      co_return;
    }
  }
}

// One timed request/response per benchmark iteration: send() queues the ping, receive() returns
// once the pong has been through the receive pipeline.
asio::awaitable<void> node_ping_pong(benchmark::State& state, nd::Node& node, Multiaddr server,
                                     std::vector<double>& rtt_us, std::string& error) {
  const PeerId server_id = co_await node.connect(server);
  node.subscribe(kPongChannel);
  const Bytes request(kPingBytes, 0x5a);
  const nd::SendOptions options = bench_send_options();
  for (auto _ : state) {
    const auto start = WallClock::now();
    const rt::Verdict verdict = co_await node.send(server_id, kPingChannel, request, options);
    if (verdict) {
      error = "ping denied: " + denial_text(*verdict);
      break;
    }
    const std::optional<nd::Received> reply = co_await node.receive(kPongChannel);
    const std::chrono::duration<double> elapsed = WallClock::now() - start;
    if (!reply) {
      error = "no reply: the node stopped";
      break;
    }
    if (reply->payload.size() != kPingBytes) {
      error = "reply of unexpected size";
      break;
    }
    state.SetIterationTime(elapsed.count());
    rtt_us.push_back(elapsed.count() * 1e6);
  }
  if (!error.empty()) co_return;
  // One more ping awaiting its receipt: receipts come back in order, so then every ping's
  // outcome is in, and the client's books must balance (each send accepted, none failed).
  nd::SendOptions confirm = options;
  confirm.await_receipt = true;
  if (const rt::Verdict verdict = co_await node.send(server_id, kPingChannel, request, confirm)) {
    error = "final ping denied: " + denial_text(*verdict);
    co_return;
  }
  const nd::NodeMetrics m = node.metrics();
  if (m.sends != m.receipts_accepted || m.failed_sends() != 0) {
    error = "client books: sends " + std::to_string(m.sends) + ", accepted " +
            std::to_string(m.receipts_accepted) + ", failed " + std::to_string(m.failed_sends());
  }
}

// Runs the client and stops its node however the client ended.
asio::awaitable<void> node_ping_session(benchmark::State& state, nd::Node& node, Multiaddr server,
                                        std::vector<double>& rtt_us, std::string& error,
                                        EchoFailure& failure) {
  try {
    co_await node.start();
    co_await node_ping_pong(state, node, std::move(server), rtt_us, error);
  } catch (const std::exception& e) {
    error = std::string("client: ") + e.what();
  }
  if (failure.client_stopping) co_return;  // io_context::run() returns once that stop ended
  failure.client_stopping = true;
  co_await node.stop();
}

// bb Node -> bb Node request/response: the client on this thread, the echoing Node on its own
// io_context thread (two peers, two cores), as in BM_AsioPingPongLatency.
void BM_NodePingPongLatency(benchmark::State& state) {
  asio::io_context client_io(1);
  nd::Node client(client_io.get_executor(), loopback_node_config());
  EchoFailure failure{client_io, client, {}, {}, false};
  NodeThread server;
  Multiaddr addr;
  server.run(first_listen_addr(server.node(), addr));
  server.spawn(node_echo(server.node(), failure));
  std::vector<double> rtt_us;
  std::string error;
  asio::co_spawn(client_io, node_ping_session(state, client, addr, rtt_us, error, failure),
                 rethrow);
  client_io.run();
  server.shut_down();
  {
    std::lock_guard lock(failure.mutex);
    if (!failure.error.empty()) error = failure.error;
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  report_latency(state, std::move(rtt_us));
}
BENCHMARK(BM_NodePingPongLatency)->Unit(benchmark::kMicrosecond)->UseManualTime();

// ---- BM_HandshakeCryptoFloor ----------------------------------------------------------------

// The public-key crypto of one Noise XX handshake with libp2p's identity payload, both ends on
// this core: per side one X25519 key generation (the ephemeral), three X25519 DH (ee, es, se),
// one Ed25519 signature over "noise-libp2p-static-key:" ‖ its static key (56 bytes) and one
// verification of the peer's. The symmetric part (SHA-256 mixing, AEAD of the payloads) and
// everything else a handshake does are left out, so items_per_second is the handshakes/s that
// crypto alone allows: the floor BM_IdleSecureConnections is held against.
struct HandshakeSide {
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> identity_public{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> identity_secret{};
  std::array<std::uint8_t, crypto_scalarmult_BYTES> static_public{};
  std::array<std::uint8_t, crypto_scalarmult_SCALARBYTES> static_secret{};
  std::array<std::uint8_t, crypto_scalarmult_BYTES> ephemeral_public{};
  std::array<std::uint8_t, crypto_scalarmult_SCALARBYTES> ephemeral_secret{};
  Bytes signed_payload;
  std::array<std::uint8_t, crypto_sign_BYTES> signature{};

  HandshakeSide() {
    crypto_sign_keypair(identity_public.data(), identity_secret.data());
    randombytes_buf(static_secret.data(), static_secret.size());
    crypto_scalarmult_base(static_public.data(), static_secret.data());
    const std::string_view prefix = "noise-libp2p-static-key:";
    signed_payload.assign(prefix.begin(), prefix.end());
    signed_payload.insert(signed_payload.end(), static_public.begin(), static_public.end());
  }
  // One handshake's ephemeral key, as X25519KeyPair::generate() makes it.
  void generate_ephemeral() {
    randombytes_buf(ephemeral_secret.data(), ephemeral_secret.size());
    crypto_scalarmult_base(ephemeral_public.data(), ephemeral_secret.data());
  }
  void sign() {
    crypto_sign_detached(signature.data(), nullptr, signed_payload.data(), signed_payload.size(),
                         identity_secret.data());
  }
  bool verify(const HandshakeSide& peer) const {
    return crypto_sign_verify_detached(peer.signature.data(), peer.signed_payload.data(),
                                       peer.signed_payload.size(),
                                       peer.identity_public.data()) == 0;
  }
};

void BM_HandshakeCryptoFloor(benchmark::State& state) {
  ensure_sodium();
  HandshakeSide initiator, responder;
  std::array<std::uint8_t, crypto_scalarmult_BYTES> shared{};
  int failures = 0;
  const auto dh = [&](const auto& secret, const auto& remote_public) {
    failures += crypto_scalarmult(shared.data(), secret.data(), remote_public.data()) != 0;
    benchmark::DoNotOptimize(shared.data());
  };
  for (auto _ : state) {
    initiator.generate_ephemeral();
    responder.generate_ephemeral();
    // -> e; <- e, ee, s, es; -> s, se: each side computes the same three shared secrets.
    dh(responder.ephemeral_secret, initiator.ephemeral_public);  // ee
    dh(responder.static_secret, initiator.ephemeral_public);     // es
    responder.sign();
    dh(initiator.ephemeral_secret, responder.ephemeral_public);  // ee
    dh(initiator.ephemeral_secret, responder.static_public);     // es
    failures += !initiator.verify(responder);
    dh(initiator.static_secret, responder.ephemeral_public);  // se
    initiator.sign();
    dh(responder.ephemeral_secret, initiator.static_public);  // se
    failures += !responder.verify(initiator);
  }
  if (failures != 0) {
    state.SkipWithError("a DH or a signature check failed");
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_HandshakeCryptoFloor)->Unit(benchmark::kMicrosecond);

// ---- BM_IdleSecureConnections ---------------------------------------------------------------

constexpr std::size_t kIdlePairs = 1000;

std::size_t rss_bytes() {
  unsigned long size = 0, resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  const int fields = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (fields != 2) return 0;
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Raises the soft descriptor limit towards `wanted` (up to the hard limit); returns the result.
rlim_t raise_nofile(rlim_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

asio::awaitable<Connection> accept_one(TcpListener& listener, const Ed25519KeyPair& id) {
  auto socket = co_await listener.accept();
  co_return co_await Connection::upgrade(std::move(socket), Direction::inbound, id, {}, {});
}

asio::awaitable<Connection> dial_one(Multiaddr addr, const Ed25519KeyPair& id, PeerId expected) {
  auto socket = co_await tcp_connect(addr, 5s);
  co_return co_await Connection::upgrade(std::move(socket), Direction::outbound, id, expected, {});
}

// Owns its handle, so the connection's state outlives run().
asio::awaitable<void> run_connection(Connection conn) {
  co_await conn.run();
}

struct IdleResult {
  std::size_t rss_before = 0;
  std::size_t rss_after = 0;
  double handshake_seconds = 0;
};

asio::awaitable<void> idle_connections(IdleResult& result, std::size_t pairs) {
  const auto executor = co_await asio::this_coro::executor;
  const auto a = Ed25519KeyPair::generate();
  const auto b = Ed25519KeyPair::generate();
  auto listener = TcpListener::listen(executor, Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  const Multiaddr addr = listener.local_addr();
  std::vector<Connection> conns;
  conns.reserve(2 * pairs);
  // Hand memory freed by earlier benchmarks back to the system, so the connections' allocations
  // show up as growth instead of reusing it.
  malloc_trim(0);
  result.rss_before = rss_bytes();
  const auto start = WallClock::now();
  for (std::size_t i = 0; i < pairs; ++i) {
    auto [d, l] = co_await (dial_one(addr, a, b.peer_id()) && accept_one(listener, b));
    asio::co_spawn(executor, run_connection(d), asio::detached);
    asio::co_spawn(executor, run_connection(l), asio::detached);
    conns.push_back(std::move(d));
    conns.push_back(std::move(l));
  }
  result.handshake_seconds = std::chrono::duration<double>(WallClock::now() - start).count();
  // Let every run() reach its idle wait before measuring.
  for (int i = 0; i < 8; ++i) co_await asio::post(executor, asio::use_awaitable);
  result.rss_after = rss_bytes();
  listener.close();
  for (auto& conn : conns) conn.close();
}

// Both ends in this process on one thread: 2 endpoints (and 2 descriptors) per pair.
void BM_IdleSecureConnections(benchmark::State& state) {
  const rlim_t wanted = 2 * kIdlePairs + 64;
  const rlim_t limit = raise_nofile(wanted);
  if (limit < wanted) {
    const std::string why = "RLIMIT_NOFILE reaches only " + std::to_string(limit) + ", " +
                            std::to_string(wanted) + " needed for " + std::to_string(kIdlePairs) +
                            " pairs";
    state.SkipWithError(why.c_str());
    return;
  }
  IdleResult result;
  for (auto _ : state) {
    asio::io_context io(1);
    asio::co_spawn(io, idle_connections(result, kIdlePairs), rethrow);
    io.run();
    state.SetIterationTime(result.handshake_seconds);
  }
  const double grown =
      static_cast<double>(result.rss_after) - static_cast<double>(result.rss_before);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kIdlePairs));
  state.counters["pairs"] = static_cast<double>(kIdlePairs);
  state.counters["rss_before_KiB"] = static_cast<double>(result.rss_before) / 1024;
  state.counters["rss_after_KiB"] = static_cast<double>(result.rss_after) / 1024;
  state.counters["bytes_per_pair"] = grown / static_cast<double>(kIdlePairs);
  state.counters["bytes_per_endpoint"] = grown / static_cast<double>(2 * kIdlePairs);
}
// One repetition even under --benchmark_repetitions: a later one would reuse the first one's
// freed memory and show no growth.
BENCHMARK(BM_IdleSecureConnections)
    ->Iterations(1)
    ->Repetitions(1)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();

}  // namespace

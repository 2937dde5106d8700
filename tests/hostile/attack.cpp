#include "tests/hostile/attack.hpp"

#include "bb/async/task_group.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/peer_id.hpp"
#include "bb/wire/protocols/ping.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <optional>
#include <variant>

namespace bb::hostile {

using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
using boost::system::error_code;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::ip::address_v4 source_address(std::uint8_t block, std::uint32_t n) {
  // 127.block.x.y with y from 2 to 254: skips .0, .1 (the legitimate peer's 127.0.0.1) and .255.
  const std::uint32_t host = n % 253 + 2;
  const std::uint32_t mid = n / 253;
  return asio::ip::address_v4((127u << 24) | (std::uint32_t{block} << 16) | (mid << 8) | host);
}

struct Attack::State {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  async::TaskGroup tasks{io.get_executor()};
  AttackCounters counters;

  mutable std::mutex mutex;  // guards `reasons`; pairs with `changed`
  std::condition_variable changed;
  std::map<std::string, std::uint64_t> reasons;

  // Attack thread only.
  bool stopping = false;
  std::list<std::function<void()>> cancels;  // what stop() must close or cancel

  template <class Counter, class Delta>
  void bump(Counter& counter, Delta delta) {
    counter += delta;
    std::lock_guard lock(mutex);
    changed.notify_all();
  }
  void record(const std::string& reason) {
    std::lock_guard lock(mutex);
    ++reasons[reason];
    changed.notify_all();
  }
};

namespace {

using State = Attack::State;

// While alive, stop() calls `cancel` (closes a socket or connection, cancels a timer).
class Hold {
 public:
  Hold(State& state, std::function<void()> cancel)
      : state_(state), it_(state.cancels.insert(state.cancels.end(), std::move(cancel))) {}
  ~Hold() { state_.cancels.erase(it_); }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

 private:
  State& state_;
  std::list<std::function<void()>>::iterator it_;
};

// Pacing between an attacker's operations, cut short by stop().
asio::awaitable<void> pause(State& state, milliseconds duration) {
  asio::steady_timer timer(state.io, duration);
  Hold hold(state, [&timer] { timer.cancel(); });
  if (state.stopping) co_return;
  (void)co_await timer.async_wait(kTuple);
}

// Returns once stop() runs.
asio::awaitable<void> until_stopped(State& state) {
  co_await pause(state, std::chrono::hours(24));
}

// A socket bound to `source` and connected to `target`; nullopt if that failed or stop() ran.
asio::awaitable<std::optional<tcp::socket>> connect_from(State& state, tcp::endpoint target,
                                                         asio::ip::address_v4 source) {
  tcp::socket socket(state.io);
  Hold hold(state, [&socket] {
    error_code ignored;
    socket.close(ignored);
  });
  if (state.stopping) co_return std::nullopt;
  error_code ec;
  socket.open(tcp::v4(), ec);
  if (!ec) socket.set_option(tcp::socket::reuse_address(true), ec);
  if (!ec) socket.bind(tcp::endpoint(source, 0), ec);
  if (!ec) std::tie(ec) = co_await socket.async_connect(target, kTuple);
  if (ec || state.stopping) {
    if (!state.stopping) state.bump(state.counters.connect_failures, 1);
    co_return std::nullopt;
  }
  socket.set_option(tcp::no_delay(true), ec);
  state.bump(state.counters.connects, 1);
  co_return std::move(socket);
}

// Reads (and drops) whatever comes until the connection ends; true if the daemon ended it.
asio::awaitable<bool> read_until_closed(State& state, tcp::socket& socket) {
  std::array<char, 512> buffer;
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), kTuple);
    if (!ec) continue;
    co_return !state.stopping;
  }
}

// One multistream header and /noise proposal, as a dialer sends them (length-prefixed lines).
std::string multistream_opening() {
  std::string bytes;
  for (std::string_view line : {"/multistream/1.0.0\n", "/noise\n"}) {
    bytes.push_back(static_cast<char>(line.size()));  // < 128: a one-byte varint
    bytes.append(line);
  }
  return bytes;
}

asio::awaitable<void> idle_worker(State& state, tcp::endpoint target, asio::ip::address_v4 source,
                                  std::optional<milliseconds> step, milliseconds reopen_pause) {
  const std::string opening = multistream_opening();
  while (!state.stopping) {
    auto socket = co_await connect_from(state, target, source);
    if (!socket) {
      co_await pause(state, reopen_pause);
      continue;
    }
    Hold hold(state, [&socket] {
      error_code ignored;
      socket->close(ignored);
    });
    if (state.stopping) break;
    state.bump(state.counters.open, 1);
    bool closed_by_daemon = false;
    if (step) {
      // Slowloris: one byte per step; a write that fails means the daemon closed it.
      for (const char byte : opening) {
        auto [ec, n] = co_await asio::async_write(*socket, asio::buffer(&byte, 1), kTuple);
        if (ec) {
          closed_by_daemon = !state.stopping;
          break;
        }
        co_await pause(state, *step);
        if (state.stopping || !socket->is_open()) break;
      }
    }
    if (!closed_by_daemon && !state.stopping) {
      closed_by_daemon = co_await read_until_closed(state, *socket);
    }
    state.bump(state.counters.open, -1);
    if (closed_by_daemon) state.bump(state.counters.closed_by_daemon, 1);
    co_await pause(state, reopen_pause);
  }
}

// A refusal a dialer learns nothing from: the connection just ends, or never answers.
bool is_silent(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == asio::error::timed_out || ec == wire::errc::handshake_timeout;
}

struct Upgrade {
  std::optional<wire::Connection> connection;
  error_code error;
  std::string detail;
};

// Connection::upgrade as a value, so that `|| until_stopped()` does not wait out a failure.
asio::awaitable<Upgrade> try_upgrade(tcp::socket socket, wire::Ed25519KeyPair identity,
                                     wire::PeerId expected) {
  wire::ConnectionOptions options;
  options.handshake_timeout = std::chrono::seconds(10);
  Upgrade out;
  try {
    out.connection = co_await wire::Connection::upgrade(
        std::move(socket), wire::Direction::outbound, identity, expected, options);
  } catch (const boost::system::system_error& e) {
    out.error = e.code();
    out.detail = wire::error_text(e);
  }
  co_return out;
}

// Accepts the streams the daemon opens (identify) and resets them, until the connection ends.
asio::awaitable<void> drop_streams(wire::Connection conn) {
  while (auto stream = co_await conn.accept_stream()) stream->reset();
}

asio::awaitable<void> identity_worker(State& state, tcp::endpoint target, wire::PeerId expected,
                                      asio::ip::address_v4 source, bool reconnect,
                                      milliseconds reopen_pause) {
  do {
    auto socket = co_await connect_from(state, target, source);
    if (!socket) {
      co_await pause(state, reopen_pause);
      continue;
    }
    auto outcome =
        co_await (try_upgrade(std::move(*socket), wire::Ed25519KeyPair::generate(), expected) ||
                  until_stopped(state));
    if (outcome.index() == 1 || state.stopping) break;
    Upgrade upgrade = std::move(std::get<0>(outcome));
    if (!upgrade.connection) {
      state.record(upgrade.detail);
      state.bump(state.counters.refused, 1);
      if (is_silent(upgrade.error)) state.bump(state.counters.refused_silently, 1);
      co_await pause(state, reopen_pause);
      continue;
    }
    wire::Connection conn = std::move(*upgrade.connection);
    state.bump(state.counters.handshakes, 1);
    state.bump(state.counters.open, 1);
    {
      Hold hold(state, [conn]() mutable { conn.close(); });
      if (state.stopping) conn.close();
      co_await (conn.run() && drop_streams(conn));
    }
    state.bump(state.counters.open, -1);
    if (state.stopping) break;
    const auto reason = conn.close_reason();
    state.record("closed after the handshake: " + (reason ? reason.message() : "clean close"));
    state.bump(state.counters.closed_by_daemon, 1);
    if (!reason || is_silent(reason)) state.bump(state.counters.refused_silently, 1);
    co_await pause(state, reopen_pause);
  } while (reconnect && !state.stopping);
}

struct Burst {
  explicit Burst(asio::io_context& io) : all_pinged(io, asio::steady_timer::time_point::max()) {}
  asio::steady_timer all_pinged;  // cancelled when the last peer is done
  int waiting = 0;
  BurstResult result;

  void done(const std::string& failure) {
    if (!failure.empty()) ++result.failures[failure];
    if (--waiting == 0) all_pinged.cancel();
  }
};

asio::awaitable<void> ping_then_hold(Burst& burst, wire::Connection conn) {
  std::string failure;
  try {
    (void)co_await wire::ping::ping(conn, std::chrono::seconds(10));
    ++burst.result.pinged;
  } catch (const boost::system::system_error& e) {
    failure = "ping: " + wire::error_text(e);
  }
  burst.done(failure);
  if (burst.waiting > 0) (void)co_await burst.all_pinged.async_wait(kTuple);
  conn.close();
}

asio::awaitable<void> burst_peer(Burst& burst, tcp::endpoint target, wire::PeerId expected,
                                 asio::ip::address_v4 source) {
  tcp::socket socket(co_await asio::this_coro::executor);
  error_code ec;
  socket.open(tcp::v4(), ec);
  if (!ec) socket.bind(tcp::endpoint(source, 0), ec);
  if (!ec) std::tie(ec) = co_await socket.async_connect(target, kTuple);
  if (ec) {
    burst.done("connect: " + ec.message());
    co_return;
  }
  auto upgrade =
      co_await try_upgrade(std::move(socket), wire::Ed25519KeyPair::generate(), expected);
  if (!upgrade.connection) {
    burst.done("handshake: " + upgrade.detail);
    co_return;
  }
  ++burst.result.connected;
  wire::Connection conn = *upgrade.connection;
  co_await (conn.run() && drop_streams(conn) && ping_then_hold(burst, conn));
}

}  // namespace

std::string BurstResult::describe() const {
  std::string out = std::to_string(peers) + " peers: " + std::to_string(connected) +
                    " connected, " + std::to_string(pinged) + " pinged" +
                    (finished ? "" : " (did not finish in time)");
  for (const auto& [failure, n] : failures) out += "\n  " + std::to_string(n) + " x " + failure;
  return out;
}

BurstResult legitimate_burst(const tcp::endpoint& target, const std::string& peer_id, int peers,
                             std::uint8_t block, milliseconds limit) {
  asio::io_context io(1);
  const auto expected = wire::PeerId::parse(peer_id).value();
  Burst burst(io);
  burst.waiting = peers;
  burst.result.peers = peers;
  {
    async::TaskGroup tasks(io.get_executor());
    for (int i = 0; i < peers; ++i)
      tasks.spawn(
          burst_peer(burst, target, expected, source_address(block, static_cast<std::uint32_t>(i))),
          "legitimate peer");
    io.run_for(limit);
    burst.result.finished = tasks.running() == 0;
    if (!burst.result.finished) {
      // Give the stragglers a bounded moment to unwind after cancellation, then drop them
      // with the io_context.
      tasks.cancel_all();
      burst.all_pinged.cancel();
      io.restart();
      io.run_for(std::chrono::seconds(2));
    }
  }
  return burst.result;
}

asio::any_io_executor AttackControl::executor() const {
  return state_.io.get_executor();
}
bool AttackControl::stopping() const {
  return state_.stopping;
}
std::shared_ptr<void> AttackControl::on_stop(std::function<void()> cancel) {
  return std::make_shared<Hold>(state_, std::move(cancel));
}
void AttackControl::add(std::atomic<std::uint64_t>& counter, std::uint64_t delta) {
  state_.bump(counter, delta);
}
void AttackControl::add_open(std::int64_t delta) {
  state_.bump(state_.counters.open, delta);
}
AttackCounters& AttackControl::counters() {
  return state_.counters;
}
void AttackControl::record(const std::string& reason) {
  state_.record(reason);
}
asio::awaitable<void> AttackControl::pause(milliseconds duration) {
  co_await hostile::pause(state_, duration);
}

AttackControl& Attack::control() {
  return *control_;
}

Attack::Attack()
    : state_(std::make_unique<State>()), control_(std::make_unique<AttackControl>(*state_)) {
  std::promise<void> finished;
  finished_ = finished.get_future();
  thread_ = std::thread([state = state_.get(), finished = std::move(finished)]() mutable {
    state->io.run();
    finished.set_value();
  });
}

Attack::~Attack() {
  stop();
}

void Attack::spawn(asio::awaitable<void> worker) {
  asio::post(state_->io, [state = state_.get(), worker = std::move(worker)]() mutable {
    if (!state->stopping) state->tasks.spawn(std::move(worker), "attacker");
  });
}

void Attack::idle_sockets(const tcp::endpoint& target, asio::ip::address_v4 source, int count,
                          milliseconds reopen_pause) {
  for (int i = 0; i < count; ++i)
    spawn(idle_worker(*state_, target, source, std::nullopt, reopen_pause));
}

void Attack::slowloris(const tcp::endpoint& target, asio::ip::address_v4 source, int count,
                       milliseconds step, milliseconds reopen_pause) {
  for (int i = 0; i < count; ++i) spawn(idle_worker(*state_, target, source, step, reopen_pause));
}

void Attack::identities(const tcp::endpoint& target, const std::string& peer_id,
                        asio::ip::address_v4 source, int count, bool reconnect,
                        milliseconds reopen_pause) {
  const auto expected = wire::PeerId::parse(peer_id).value();
  for (int i = 0; i < count; ++i)
    spawn(identity_worker(*state_, target, expected, source, reconnect, reopen_pause));
}

bool Attack::wait_until(const std::function<bool(const AttackCounters&)>& done,
                        milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  state_->changed.wait_for(lock, timeout, [&] { return done(state_->counters); });
  return done(state_->counters);
}

const AttackCounters& Attack::counters() const {
  return state_->counters;
}

std::map<std::string, std::uint64_t> Attack::reasons() const {
  std::lock_guard lock(state_->mutex);
  return state_->reasons;
}

std::string Attack::describe() const {
  const auto& c = state_->counters;
  std::string out = "attack: " + std::to_string(c.connects) + " TCP connects (" +
                    std::to_string(c.connect_failures) + " failed), " +
                    std::to_string(c.handshakes) + " handshakes, " + std::to_string(c.refused) +
                    " refused (" + std::to_string(c.refused_silently) + " silently), " +
                    std::to_string(c.closed_by_daemon) + " closed by the daemon, " +
                    std::to_string(c.open) + " open now";
  for (const auto& [reason, n] : reasons()) out += "\n  " + std::to_string(n) + " x " + reason;
  return out;
}

void Attack::stop() {
  if (stopped_) return;
  stopped_ = true;
  asio::post(state_->io, [state = state_.get()] {
    state->stopping = true;
    // Each cancel only closes or cancels; completions run later, so the list stays valid.
    for (auto& cancel : state->cancels) cancel();
    state->guard.reset();
  });
  // Workers end within a few operations of the cancel; the bound only guards against a bug.
  if (finished_.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    state_->io.stop();
  }
  thread_.join();
}

}  // namespace bb::hostile

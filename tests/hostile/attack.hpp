// Attacks on a running daemon, each on its own thread and io_context so that the test thread
// can meanwhile drive the daemon and the legitimate peer (child processes) with plain bounded
// waits. An attack is a set of worker coroutines (one per socket or identity) that keep
// attacking until stop(); what they saw is counted for the test to read.
//
// Sources: attackers bind their sockets to 127.0.0.2 and up (all of 127/8 is on lo), the
// legitimate peer dials from 127.0.0.1, so the daemon's per-IP limits can tell them apart.
//
// Thread rule: the test thread calls the public members; the workers run on the attack's thread
// and share with the test only the atomic counters (and `reasons`, under its mutex). stop()
// closes every socket and connection the workers hold, cancels their pauses, and joins.
#pragma once

#include "bb/wire/connection.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace bb::hostile {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// 127.<b>.<c>.<d> for the n-th attacker address of block `b` (n from 0): 127.b.0.2, ...
asio::ip::address_v4 source_address(std::uint8_t block, std::uint32_t n);
inline const asio::ip::address_v4 kAttackerAddress = asio::ip::make_address_v4("127.0.0.2");
// The daemon's TCP endpoint (it listens on 127.0.0.1).
inline asio::ip::tcp::endpoint daemon_endpoint(std::uint16_t port) {
  return {asio::ip::make_address_v4("127.0.0.1"), port};
}

struct AttackCounters {
  std::atomic<std::uint64_t> connects{0};          // TCP connections established
  std::atomic<std::uint64_t> connect_failures{0};  // TCP connect refused or failed
  std::atomic<std::uint64_t> closed_by_daemon{0};  // held connections the daemon ended
  std::atomic<std::uint64_t> handshakes{0};        // libp2p connections fully upgraded
  std::atomic<std::uint64_t> refused{0};           // upgrades that failed, or were cut at once
  std::atomic<std::uint64_t> refused_silently{0};  // refused or closed with EOF / reset / timeout
  std::atomic<std::int64_t> open{0};               // held now
  std::atomic<std::uint64_t> milestones{0};        // steps a test's own worker reports
};

class AttackControl;

class Attack {
 public:
  Attack();
  ~Attack();  // stop()
  Attack(const Attack&) = delete;
  Attack& operator=(const Attack&) = delete;

  // Silent TCP connections from `source` (never a byte), each reopened `reopen_pause` after the
  // daemon closes it.
  void idle_sockets(const asio::ip::tcp::endpoint& target, asio::ip::address_v4 source, int count,
                    milliseconds reopen_pause = milliseconds(20));
  // Slowloris: each connection sends a valid multistream header and /noise proposal one byte
  // every `step`, then waits; reopened like idle_sockets.
  void slowloris(const asio::ip::tcp::endpoint& target, asio::ip::address_v4 source, int count,
                 milliseconds step, milliseconds reopen_pause = milliseconds(20));
  // Full libp2p connections (TCP, multistream, Noise, Yamux) from `source`, each with a fresh
  // Ed25519 identity, held open and idle. `reconnect`: a closed or refused one is replaced by a
  // new identity after `reopen_pause`, otherwise the worker ends.
  void identities(const asio::ip::tcp::endpoint& target, const std::string& peer_id,
                  asio::ip::address_v4 source, int count, bool reconnect,
                  milliseconds reopen_pause = milliseconds(100));

  // A worker written by a test (e.g. with test::HostilePeer): a named coroutine taking the
  // AttackControl& from control(), which it uses only on the attack's thread.
  AttackControl& control();
  void spawn(asio::awaitable<void> worker);

  // Waits until `done(counters)` holds or `timeout` passes; returns `done` at that moment.
  bool wait_until(const std::function<bool(const AttackCounters&)>& done, milliseconds timeout);
  const AttackCounters& counters() const;
  // How the refused attempts ended, by error text, e.g. {"End of file": 12}.
  std::map<std::string, std::uint64_t> reasons() const;
  std::string describe() const;

  // Ends the attack: closes everything the workers hold and waits for them.
  void stop();

  struct State;

 private:
  std::unique_ptr<State> state_;
  std::unique_ptr<AttackControl> control_;
  std::thread thread_;
  std::future<void> finished_;
  bool stopped_ = false;
};

// What a test's own worker sees of its attack (attack thread only).
class AttackControl {
 public:
  explicit AttackControl(Attack::State& state) : state_(state) {}
  asio::any_io_executor executor() const;
  bool stopping() const;
  // While the returned guard lives, stop() calls `cancel` (reset a socket, cancel a timer).
  std::shared_ptr<void> on_stop(std::function<void()> cancel);
  // Adds `delta` to `counter` and wakes the test thread's wait_until.
  void add(std::atomic<std::uint64_t>& counter, std::uint64_t delta = 1);
  void add_open(std::int64_t delta);
  AttackCounters& counters();
  void record(const std::string& reason);
  // Pacing between operations, cut short by stop().
  asio::awaitable<void> pause(milliseconds duration);

 private:
  Attack::State& state_;
};

// Legitimate peers arriving together: `peers` fresh identities, the n-th dialing from
// source_address(block, n), each connecting (full handshake), pinging once, then holding its
// connection until every one has pinged (so they are all connected at once), then closing.
// Runs on the calling thread, bounded by `limit`.
struct BurstResult {
  int peers = 0;
  int connected = 0;
  int pinged = 0;
  bool finished = false;                // false: `limit` passed first
  std::map<std::string, int> failures;  // error text -> how many peers
  std::string describe() const;
};
BurstResult legitimate_burst(const asio::ip::tcp::endpoint& target, const std::string& peer_id,
                             int peers, std::uint8_t block, milliseconds limit);

}  // namespace bb::hostile

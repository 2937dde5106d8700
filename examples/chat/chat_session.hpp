// ChatSession: one bb-chat participant in a flooding mesh.
//
// A typed line goes to every connected neighbour on channel "chat"; a neighbour prints what it
// receives and forwards it to its other neighbours, keeping the author (origin) and message id,
// so the receive pipeline's DedupGateRx drops a copy that arrives by a second path and every
// node prints each line once. Names travel in "chat.hello" messages between neighbours (a hello
// is never relayed), which also produce the `* NAME joined` lines; `* NAME left` follows the
// loss of the connection (PeerDown).
//
// What the session prints on stdout, one line each:
//   listening <multiaddr>/p2p/<peer id>     first, once per listen address
//   NAME: TEXT                              a line from someone else (never our own)
//   * NAME joined / * NAME left / * …       presence and command output
//   ! …                                     something did not work (bad address, unreachable
//                                           peer, refused or undelivered line); the chat goes on
// Malformed payloads from peers are ignored with a note on stderr. A neighbour that refuses our
// messages as `blocklisted` is told about once and then left alone until it reconnects; lines
// whose author we block (--block) are neither shown nor relayed.
//
// Thread rule: everything runs on the Node's executor. Lifetime: the Node and the LineReader
// outlive run().
#pragma once

#include "async/event.hpp"
#include "async/task_group.hpp"
#include "examples/chat/line_reader.hpp"
#include "node/node.hpp"
#include "proto/onnx.pb.h"  // NodeConfig holds NodeProtos; node.hpp only declares the class

#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace bb::chat {

struct ChatOptions {
  std::string name;  // must pass check_name()
  std::vector<wire::Multiaddr> connect;
  // Problems found while parsing the command line that should not stop the chat (e.g. an
  // unparsable --connect address); printed right after the `listening` line.
  std::vector<std::string> notices;
  std::vector<wire::PeerId> block;
  // How long a line (ours or relayed) may wait for room in a neighbour's queue or for a
  // cooldown to pass before it is reported as not delivered.
  std::chrono::nanoseconds send_budget = std::chrono::seconds(30);
  // Addresses we dialled are dialled again while their peer is away, every redial_interval,
  // for up to redial_period after the connection was lost.
  std::chrono::milliseconds redial_interval{500};
  std::chrono::milliseconds redial_period{30'000};
  // On end of input, queued lines get this long to reach the neighbours before the node stops.
  std::chrono::milliseconds drain_limit{3'000};
};

class ChatSession {
 public:
  ChatSession(node::Node& node, LineReader& input, ChatOptions options);
  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;

  // Starts the node (throws std::runtime_error saying why if it cannot, e.g. cannot listen), prints
  // the `listening` lines, dials the --connect addresses and chats until /quit, end of input,
  // SIGINT or SIGTERM. Then stops the node and returns once every task it started has ended.
  boost::asio::awaitable<void> run();
  // Starts run() on the node's executor (run the io_context afterwards); failure() then tells
  // why it ended with an exception, if it did.
  void spawn();
  std::exception_ptr failure() const noexcept { return failure_; }

 private:
  struct Neighbour {
    std::string name;         // empty until its hello arrived
    bool present = false;     // `joined` printed and `left` not yet
    bool refuses_us = false;  // it denied a message as blocklisted: we are on its blocklist
    std::uint64_t hello_sent_ns = 0;
  };
  struct Dialed {
    wire::Multiaddr addr;
    std::optional<wire::PeerId> peer;  // known after the first successful dial
    bool dialing = false;
    bool gave_up = false;
    std::uint64_t away_since_ns = 0;  // 0: connected (or never tried)
  };

  boost::asio::awaitable<void> input_loop();
  boost::asio::awaitable<void> line_loop();
  boost::asio::awaitable<void> hello_loop();
  boost::asio::awaitable<void> event_loop();
  boost::asio::awaitable<void> upkeep_loop();
  boost::asio::awaitable<void> signal_loop();
  boost::asio::awaitable<void> stop_when_asked();

  // false when the session should end (/quit).
  boost::asio::awaitable<bool> command(std::string_view text);
  boost::asio::awaitable<void> broadcast(std::string text);
  boost::asio::awaitable<void> drain();
  // quiet: no message when it fails (redials); initial: one of the --connect addresses.
  boost::asio::awaitable<void> dial(std::size_t index, bool quiet, bool initial);
  boost::asio::awaitable<void> send_hello(wire::PeerId peer, bool want_reply);
  // forward() within the line's budget (the gates wait out a neighbour's cooldown).
  boost::asio::awaitable<runtime::Verdict> deliver(const wire::PeerId& peer,
                                                   const node::Received& message);

  // A message of ours, made once for every neighbour (one id; a line is signed once, as
  // relayable, so that the neighbours can forward it).
  node::Received own_message(std::string_view channel, wire::ByteView payload, bool relayable);
  void add_dial(const wire::Multiaddr& addr, bool initial = false);
  void greet(const wire::PeerId& peer);
  void check_departures();
  void redial();
  void shutdown();
  // Lines go to a neighbour unless we block it or it refused us.
  bool reachable(const wire::PeerId& peer) const;
  std::string name_of(const wire::PeerId& peer) const;
  void report_undelivered(const wire::PeerId& peer, std::string_view reason,
                          std::string_view detail);

  node::Node& node_;
  LineReader& input_;
  ChatOptions options_;
  std::uint64_t budget_ns_;
  bool stopping_ = false;
  std::exception_ptr failure_;
  boost::asio::signal_set signals_;
  async::Event stop_requested_;      // set by shutdown()
  std::size_t initial_dials_ = 0;    // --connect dials not yet ended
  async::Event initial_dials_done_;  // notified when that count reaches zero, and on shutdown()
  async::TaskGroup tasks_;           // dials and hellos; run() joins it before it returns
  std::unordered_map<wire::PeerId, Neighbour> neighbours_;
  std::unordered_set<wire::PeerId> blocked_;
  std::vector<Dialed> dialed_;
};

}  // namespace bb::chat

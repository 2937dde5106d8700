#include "examples/chat/chat_session.hpp"

#include "examples/chat/chat_line.hpp"
#include "wire/error.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <csignal>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <type_traits>

namespace bb::chat {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using node::Received;
using runtime::Verdict;

namespace {

constexpr std::uint64_t kMsNs = 1'000'000;
// Hellos are re-sent to a connected neighbour that has not answered after this long.
constexpr std::uint64_t kHelloRetryNs = 2'000 * kMsNs;

// Every line goes to stdout as one write, flushed, so a reader of a pipe sees it at once.
void say(std::string_view line) {
  std::cout << line << '\n' << std::flush;
}

std::uint64_t to_ns(std::chrono::nanoseconds d) {
  return static_cast<std::uint64_t>(std::max<std::chrono::nanoseconds::rep>(d.count(), 0));
}

}  // namespace

ChatSession::ChatSession(node::Node& node, LineReader& input, ChatOptions options)
    : node_(node),
      input_(input),
      options_(std::move(options)),
      budget_ns_(to_ns(options_.send_budget)),
      signals_(node.executor(), SIGINT, SIGTERM),
      stop_requested_(node.executor()),
      initial_dials_done_(node.executor()),
      tasks_(node.executor()) {}

asio::awaitable<void> ChatSession::run() {
  // Blocked before the node listens, so nothing a blocked peer sends is ever accepted.
  for (const auto& peer : options_.block) {
    node_.block(peer);
    blocked_.insert(peer);
  }
  node_.subscribe(kLineChannel);
  node_.subscribe(kHelloChannel);
  std::string problem;
  try {
    co_await node_.start();
  } catch (const std::exception& e) {
    problem = wire::error_text(e);
  }
  if (!problem.empty()) throw std::runtime_error("cannot start the node: " + problem);
  for (const auto& addr : node_.listen_addrs()) say("listening " + addr.to_string());
  for (const auto& notice : options_.notices) say(notice);
  for (const auto& addr : options_.connect) add_dial(addr, true);

  std::exception_ptr failure;
  try {
    co_await (input_loop() && line_loop() && hello_loop() && event_loop() && upkeep_loop() &&
              signal_loop() && stop_when_asked());
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    shutdown();
    co_await node_.stop();
  }
  co_await tasks_.join();
  if (failure) std::rethrow_exception(failure);
}

void ChatSession::spawn() {
  asio::co_spawn(node_.executor(), run(),
                 [this](std::exception_ptr error) { failure_ = std::move(error); });
}

// --- the loops ------------------------------------------------------------------------------

asio::awaitable<void> ChatSession::input_loop() {
  // Lines piped in (`echo hi | bb-chat --connect …`) are there at once: hold them until the
  // --connect dials have ended, so they go to the peers instead of to nobody.
  while (initial_dials_ > 0 && !stopping_) co_await initial_dials_done_.wait();
  while (auto line = co_await input_.next_line()) {
    if (line->length > kMaxTextBytes) {
      say("! line of " + std::to_string(line->length) + " bytes exceeds the " +
          std::to_string(kMaxTextBytes) + "-byte limit; not sent");
      continue;
    }
    std::string text = std::move(line->text);
    if (text.empty()) continue;
    if (text.starts_with("//")) {
      text.erase(0, 1);  // "//x" sends "/x"
    } else if (text.starts_with('/')) {
      if (!co_await command(text)) break;
      continue;
    }
    co_await broadcast(std::move(text));
  }
  if (!stopping_) co_await drain();
  shutdown();
}

asio::awaitable<void> ChatSession::line_loop() {
  while (auto message = co_await node_.receive(kLineChannel)) {
    // Our own lines come back through the mesh; dedup drops most, this drops the rest.
    if (message->origin == node_.peer_id()) continue;
    // The node's gates check the neighbour that delivered a message; the author is ours to
    // check, so a blocked peer's lines stay hidden when someone else relays them.
    if (blocked_.contains(message->origin)) continue;
    auto line = decode_line(message->payload);
    if (!line) {
      std::cerr << "bb-chat: ignored a chat message from " << message->from.to_base58()
                << " (author " << message->origin.to_base58() << "): " << line.error().message()
                << std::endl;
      continue;
    }
    say(printable(line->name) + ": " + printable(line->text));
    const auto peers = node_.connected_peers();
    for (const auto& peer : peers) {
      if (peer == message->from || peer == message->origin || !reachable(peer)) continue;
      if (auto denial = co_await deliver(peer, *message)) {
        report_undelivered(peer, denial->reason, denial->detail);
      }
    }
  }
}

asio::awaitable<void> ChatSession::hello_loop() {
  while (auto message = co_await node_.receive(kHelloChannel)) {
    if (blocked_.contains(message->from)) continue;
    auto hello = decode_hello(message->payload);
    if (!hello) {
      std::cerr << "bb-chat: ignored a hello from " << message->from.to_base58() << ": "
                << hello.error().message() << std::endl;
      continue;
    }
    auto& neighbour = neighbours_[message->from];
    neighbour.name = std::move(hello->name);
    if (!neighbour.present) {
      neighbour.present = true;
      say("* " + printable(neighbour.name) + " joined");
    }
    if (hello->want_reply && !stopping_) {
      tasks_.spawn(send_hello(message->from, false), "hello");
    }
  }
}

asio::awaitable<void> ChatSession::event_loop() {
  while (auto event = co_await node_.next_event()) {
    if (const auto* up = std::get_if<runtime::PeerUp>(&*event)) {
      greet(up->peer);
    } else if (std::holds_alternative<runtime::PeerDown>(*event)) {
      check_departures();
    } else if (const auto* failed = std::get_if<runtime::SendFailed>(&*event)) {
      // A copy that reached a neighbour by another path first is the mesh working, not a loss.
      if (failed->reason == runtime::reason::duplicate) continue;
      if (failed->reason == runtime::reason::blocklisted ||
          failed->reason == runtime::reason::not_allowlisted) {
        // Said once; we stop greeting it and sending it lines until it reconnects.
        auto& neighbour = neighbours_[failed->peer];
        if (!neighbour.refuses_us && !stopping_) {
          say("! " + name_of(failed->peer) + " refuses our messages (" +
              std::string(failed->reason) + ")");
        }
        neighbour.refuses_us = true;
        continue;
      }
      report_undelivered(failed->peer, failed->reason, failed->detail);
    } else if (const auto* dropped = std::get_if<runtime::OutboundDropped>(&*event)) {
      report_undelivered(dropped->peer, dropped->reason,
                         std::to_string(dropped->count) + " messages dropped from its queue");
    }
  }
}

asio::awaitable<void> ChatSession::upkeep_loop() {
  const std::uint64_t interval_ns = to_ns(options_.redial_interval);
  while (!stopping_) {
    // shutdown() sets stop_requested_, which ends the sleep early.
    (void)co_await (node_.clock().sleep_for(interval_ns) || stop_requested_.wait());
    if (stopping_) break;
    // Events can be missed (a PeerDown while the detector already had the peer down, a new
    // inbound connection without PeerUp): the connection list is the truth, checked here.
    check_departures();
    for (const auto& peer : node_.connected_peers()) greet(peer);
    redial();
  }
}

asio::awaitable<void> ChatSession::signal_loop() {
  if (stopping_) co_return;  // shutdown() came first and already cleared the signal set
  auto [error, signal] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
  (void)signal;
  if (!error) shutdown();
}

asio::awaitable<void> ChatSession::stop_when_asked() {
  if (!stopping_) co_await stop_requested_.wait();
  // Ends the receive loops (nullopt) and fails sends still waiting for room (`stopped`).
  co_await node_.stop();
}

// --- input ----------------------------------------------------------------------------------

asio::awaitable<bool> ChatSession::command(std::string_view text) {
  const auto space = text.find(' ');
  const std::string_view verb = text.substr(0, space);
  std::string_view arg = space == std::string_view::npos ? "" : text.substr(space + 1);
  while (arg.starts_with(' ')) arg.remove_prefix(1);
  while (arg.ends_with(' ')) arg.remove_suffix(1);

  if (verb == "/quit") co_return false;
  if (verb == "/peers") {
    const auto peers = node_.connected_peers();
    say("* " + std::to_string(peers.size()) + (peers.size() == 1 ? " peer" : " peers") +
        " connected");
    for (const auto& peer : peers) {
      const auto it = neighbours_.find(peer);
      const std::string name =
          it != neighbours_.end() && !it->second.name.empty() ? it->second.name : "(no name yet)";
      say("*   " + printable(name) + " " + peer.to_base58());
    }
    co_return true;
  }
  if (verb == "/connect") {
    auto addr = wire::Multiaddr::parse(arg);
    if (arg.empty()) {
      say("! usage: /connect MULTIADDR");
    } else if (!addr) {
      say("! cannot connect to " + std::string(arg) +
          ": not a multiaddr: " + addr.error().message());
    } else {
      add_dial(*addr);
    }
    co_return true;
  }
  say("! unknown command " + std::string(verb) +
      " (commands: /peers, /connect MULTIADDR, /quit; start a line with // to send a /)");
  co_return true;
}

asio::awaitable<void> ChatSession::broadcast(std::string text) {
  // Relayable: the neighbours flood it on with forward(), which needs our signature.
  const Received message =
      own_message(kLineChannel, encode_line(options_.name, text), /*relayable=*/true);
  const auto peers = node_.connected_peers();
  std::size_t sent_to = 0;
  for (const auto& peer : peers) {
    if (!reachable(peer)) continue;
    ++sent_to;
    if (auto denial = co_await deliver(peer, message)) {
      report_undelivered(peer, denial->reason, denial->detail);
    }
  }
  if (sent_to == 0) say("! nobody is connected; line not sent");
}

asio::awaitable<void> ChatSession::drain() {
  // End of input right after a line (`echo hi | bb-chat …`) must not lose that line: wait,
  // within a bound, until the neighbours have taken everything queued for them.
  const std::uint64_t until = node_.clock().now_ns() + to_ns(options_.drain_limit);
  while (node_.clock().now_ns() < until) {
    bool pending = false;
    for (const auto& peer : node_.connected_peers()) {
      const auto status = node_.peer_status(peer);
      pending = pending || status.queued_messages > 0 || status.awaiting_receipt > 0;
    }
    if (!pending) co_return;
    (void)co_await node_.clock().sleep_for(10 * kMsNs);
  }
}

// --- peers ----------------------------------------------------------------------------------

asio::awaitable<void> ChatSession::dial(std::size_t index, bool quiet, bool initial) {
  // dialed_ may grow while this task waits, so it is indexed, never held by reference.
  const wire::Multiaddr addr = dialed_[index].addr;
  dialed_[index].dialing = true;
  std::string problem;
  std::optional<wire::PeerId> peer;
  try {
    peer = co_await node_.connect(addr);
  } catch (const std::exception& e) {
    problem = wire::error_text(e);
  }
  dialed_[index].dialing = false;
  if (peer) {
    dialed_[index].peer = *peer;
    dialed_[index].away_since_ns = 0;
    dialed_[index].gave_up = false;
    greet(*peer);
  } else if (!quiet && !stopping_) {
    say("! cannot connect to " + addr.to_string() + ": " + problem);
  }
  if (initial && --initial_dials_ == 0) initial_dials_done_.notify();
}

asio::awaitable<void> ChatSession::send_hello(wire::PeerId peer, bool want_reply) {
  // For the neighbour alone: not relayed, not signed.
  const Received message =
      own_message(kHelloChannel, encode_hello(options_.name, want_reply), /*relayable=*/false);
  if (auto denial = co_await deliver(peer, message); denial && !stopping_) {
    // Not fatal: the upkeep loop greets again while the neighbour stays nameless.
    std::cerr << "bb-chat: hello to " << peer.to_base58() << " not sent: " << denial->reason
              << std::endl;
  }
}

asio::awaitable<Verdict> ChatSession::deliver(const wire::PeerId& peer, const Received& message) {
  // The Node's gates wait out a neighbour's cooldown within the line's budget (counted from when
  // the line was typed or arrived): a burst slows down instead of losing lines.
  node::SendOptions options;
  const std::uint64_t give_up_at = message.arrival_ns + budget_ns_;
  options.budget_ns = give_up_at - std::min(give_up_at, node_.clock().now_ns());
  if (options.budget_ns == 0) options.budget_ns = 1;
  // Our own messages (made by Node::compose) and relayed ones alike keep their author, id and
  // origin signature: one signature per line, however many neighbours.
  const Verdict verdict = co_await node_.forward(peer, message, options);
  co_return verdict;  // a denial here is not also an event (node.hpp's one-report rule)
}

Received ChatSession::own_message(std::string_view channel, wire::ByteView payload,
                                  bool relayable) {
  // One id for every neighbour: the same (origin, id) for one line, so a copy arriving by a
  // second path is a duplicate.
  node::SendOptions options;
  options.budget_ns = budget_ns_;
  options.relayable = relayable;
  return node_.compose(channel, payload, options);
}

void ChatSession::add_dial(const wire::Multiaddr& addr, bool initial) {
  if (auto peer = addr.peer_id(); peer && blocked_.contains(*peer)) {
    say("! not connecting to " + addr.to_string() + ": that peer is on the blocklist");
    return;
  }
  if (auto peer = addr.peer_id(); peer && *peer == node_.peer_id()) {
    say("! not connecting to " + addr.to_string() + ": that is this node");
    return;
  }
  const auto known =
      std::find_if(dialed_.begin(), dialed_.end(), [&](const Dialed& d) { return d.addr == addr; });
  std::size_t index = static_cast<std::size_t>(known - dialed_.begin());
  if (known == dialed_.end()) {
    dialed_.push_back(Dialed{addr, std::nullopt, false, false, 0});
  } else if (known->dialing) {
    return;
  }
  dialed_[index].gave_up = false;
  if (initial) ++initial_dials_;
  tasks_.spawn(dial(index, false, initial), "dial " + addr.to_string());
}

void ChatSession::greet(const wire::PeerId& peer) {
  if (stopping_ || blocked_.contains(peer)) return;
  auto& neighbour = neighbours_[peer];
  if (neighbour.present || neighbour.refuses_us) return;
  const std::uint64_t now = node_.clock().now_ns();
  if (neighbour.hello_sent_ns != 0 && now - neighbour.hello_sent_ns < kHelloRetryNs) return;
  neighbour.hello_sent_ns = now;
  tasks_.spawn(send_hello(peer, true), "hello");
}

void ChatSession::check_departures() {
  const auto connected = node_.connected_peers();
  for (auto& [peer, neighbour] : neighbours_) {
    if (std::find(connected.begin(), connected.end(), peer) != connected.end()) continue;
    neighbour.refuses_us = false;  // a new connection gets a new chance
    if (!neighbour.present) continue;
    neighbour.present = false;
    neighbour.hello_sent_ns = 0;
    say("* " + printable(neighbour.name) + " left");
  }
}

void ChatSession::redial() {
  const auto connected = node_.connected_peers();
  const std::uint64_t now = node_.clock().now_ns();
  const std::uint64_t period = to_ns(options_.redial_period);
  for (std::size_t i = 0; i < dialed_.size(); ++i) {
    Dialed& d = dialed_[i];
    if (d.dialing || d.gave_up) continue;
    if (d.peer && std::find(connected.begin(), connected.end(), *d.peer) != connected.end()) {
      d.away_since_ns = 0;
      continue;
    }
    if (d.away_since_ns == 0) d.away_since_ns = now;
    if (now - d.away_since_ns > period) {
      d.gave_up = true;
      say((d.peer ? "! gave up reconnecting to " + name_of(*d.peer) + " at "
                  : std::string("! gave up connecting to ")) +
          d.addr.to_string() + " (use /connect to try again)");
      continue;
    }
    tasks_.spawn(dial(i, true, false), "redial " + d.addr.to_string());
  }
}

void ChatSession::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  input_.close();
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  signals_.clear(ignored);  // a second Ctrl-C gets the default action: terminate
  initial_dials_done_.notify();
  stop_requested_.set();
}

bool ChatSession::reachable(const wire::PeerId& peer) const {
  if (blocked_.contains(peer)) return false;
  const auto it = neighbours_.find(peer);
  return it == neighbours_.end() || !it->second.refuses_us;
}

std::string ChatSession::name_of(const wire::PeerId& peer) const {
  const auto it = neighbours_.find(peer);
  if (it != neighbours_.end() && !it->second.name.empty()) return printable(it->second.name);
  return peer.to_base58();
}

void ChatSession::report_undelivered(const wire::PeerId& peer, std::string_view reason,
                                     std::string_view detail) {
  if (stopping_) return;  // everything still queued fails with `stopped` then: expected
  std::string line = "! not delivered to " + name_of(peer) + ": " + std::string(reason);
  if (!detail.empty()) line += " (" + std::string(detail) + ")";
  say(line);
}

}  // namespace bb::chat

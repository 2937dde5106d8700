#include "examples/chat/chat_session.hpp"

#include "bb/runtime/node_builder.hpp"
#include "bb/wire/error.hpp"
#include "examples/chat/author_gate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <csignal>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <type_traits>

namespace bb::chat {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

// Authors remembered for their names and presence; beyond it, those not present are forgotten.
constexpr std::size_t kMaxMembers = 4096;

// Every line goes to stdout as one write, flushed, so a reader of a pipe sees it at once.
void say(std::string_view line) {
  std::cout << line << '\n' << std::flush;
}

std::uint64_t to_ns(std::chrono::nanoseconds d) {
  return static_cast<std::uint64_t>(std::max<std::chrono::nanoseconds::rep>(d.count(), 0));
}

}  // namespace

dht::Cid room_cid(std::string_view room) {
  const std::string text = "bb-chat/room/" + std::string(room);
  return dht::Cid::of(wire::as_bytes(text));
}

ChatSession::ChatSession(node::Node& node, LineReader& input, ChatOptions options)
    : node_(node),
      input_(input),
      options_(std::move(options)),
      signals_(node.executor(), SIGINT, SIGTERM),
      stop_requested_(node.executor()),
      mesh_joined_(node.executor()),
      initial_dials_done_(node.executor()),
      tasks_(node.executor()) {}

ChatSession::~ChatSession() = default;

asio::awaitable<void> ChatSession::run() {
  // Blocked before the node listens, so nothing a blocked peer sends is ever accepted.
  for (const auto& peer : options_.block) {
    node_.block(peer);
    blocked_.insert(peer);
  }
  std::string problem;
  try {
    co_await node_.start();
  } catch (const std::exception& e) {
    problem = wire::error_text(e);
  }
  if (!problem.empty()) throw std::runtime_error("cannot start the node: " + problem);
  // Gossipsub before any dial, so identify tells the first peers that we speak it.
  pubsub_ = std::make_unique<pubsub::Gossipsub>(node_, options_.pubsub);
  pubsub_->start();
  pubsub_->set_validators(options_.room,
                          {runtime::make_node(kAuthorGateRx.domain, kAuthorGateRx.op_type)});
  pubsub_->subscribe(options_.room);
  // The DHT too before any dial, for the same reason.
  if (!options_.bootstrap.empty()) {
    dht_ = std::make_unique<dht::Kademlia>(node_);
    dht_->start();
  }
  for (const auto& addr : node_.listen_addrs()) say("listening " + addr.to_string());
  for (const auto& notice : options_.notices) say(notice);
  for (const auto& addr : options_.connect) add_dial(addr, true);

  std::exception_ptr failure;
  try {
    co_await (input_loop() && message_loop() && event_loop() && upkeep_loop() && signal_loop() &&
              discovery_loop() && stop_when_asked());
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    shutdown();
    if (dht_) co_await dht_->stop();
    co_await pubsub_->stop();
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
  // --connect dials have ended and a neighbour is in our mesh, so they go to someone.
  while (initial_dials_ > 0 && !stopping_) co_await initial_dials_done_.wait();
  if (!stopping_ && (!node_.connected_peers().empty() || dht_)) co_await wait_for_mesh();
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
      if (!command(text)) break;
      continue;
    }
    publish_line(text);
  }
  shutdown();
}

asio::awaitable<void> ChatSession::message_loop() {
  while (auto message = co_await pubsub_->next_message(options_.room)) {
    // Messages are signed (strict_sign), so the author is known and proven.
    const wire::PeerId author = message->author().value_or(message->received_from);
    if (author == node_.peer_id()) continue;
    // AuthorGateRx already ignored what a blocked author wrote; this is the last word.
    if (blocked_.contains(author)) continue;
    auto payload = decode(message->data());
    if (!payload) {
      std::cerr << "bb-chat: ignored a message from " << author.to_base58() << " (relayed by "
                << message->received_from.to_base58() << "): " << payload.error().message()
                << std::endl;
      continue;
    }
    heard(author, *payload);
  }
}

asio::awaitable<void> ChatSession::event_loop() {
  while (auto event = co_await pubsub_->next_event()) {
    if (const auto* joined = std::get_if<pubsub::MeshJoined>(&*event)) {
      // A neighbour is in our mesh of the room: our announcement now has a path to everyone.
      if (joined->topic != options_.room) continue;
      mesh_joined_.notify();
      announce();
    } else if (const auto* gone = std::get_if<pubsub::PeerUnsubscribed>(&*event)) {
      if (gone->topic != options_.room) continue;
      leave(gone->peer);
      // With no neighbour in the room we hear nobody: everyone has left, as far as we know.
      if (pubsub_->router().topic_peers(options_.room).empty()) {
        for (const auto& [author, member] : members_) {
          if (member.present) leave(author);
        }
      }
    }
  }
}

asio::awaitable<void> ChatSession::upkeep_loop() {
  const std::uint64_t interval_ns = to_ns(options_.redial_interval);
  while (!stopping_) {
    // shutdown() sets stop_requested_, which ends the sleep early.
    (void)co_await (node_.clock().sleep_for(interval_ns) || stop_requested_.wait());
    if (stopping_) break;
    redial();
    const auto dropped = pubsub_->stats().deliveries_dropped;
    if (dropped > dropped_reported_) {
      say("! " + std::to_string(dropped - dropped_reported_) +
          " messages arrived faster than they were shown and were dropped");
      dropped_reported_ = dropped;
    }
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
  // Goodbye to the room, then a bounded wait until it (and every line typed before end of
  // input, `echo hi | bb-chat …`) has been written to the neighbours.
  if (!pubsub_->router().topic_peers(options_.room).empty()) {
    (void)pubsub_->publish(options_.room, encode_presence(options_.name, Kind::left));
  }
  (void)co_await pubsub_->flush(options_.drain_limit);
  // Ends the DHT's lookups (discovery_loop), then the loops (nullopt); the Node then closes the
  // connections after what was written.
  if (dht_) co_await dht_->stop();
  co_await pubsub_->stop();
  co_await node_.stop();
}

asio::awaitable<void> ChatSession::discovery_loop() {
  if (!dht_) co_return;
  const dht::Cid cid = room_cid(options_.room);
  bool provided = false;
  bool told_unreachable = false;
  while (!stopping_) {
    if (dht_->routing_table().size() == 0) {
      const std::size_t table = co_await dht_->bootstrap(options_.bootstrap);
      if (stopping_) break;
      if (table == 0 && !told_unreachable) {
        say("! no DHT node reached through --bootstrap yet; trying again");
        told_unreachable = true;
      }
    }
    // Announced until a peer took it; then the DHT republishes it by itself.
    if (!provided) {
      auto peers = co_await dht_->provide(cid);
      provided = peers && *peers > 0;
      if (stopping_) break;
    }
    auto found = co_await dht_->find_providers(cid);
    if (stopping_) break;
    if (found) {
      for (auto& provider : *found) {
        const wire::PeerId peer = provider.peer;
        const auto connected = node_.connected_peers();
        if (peer == node_.peer_id() || blocked_.contains(peer) || provider.addrs.empty() ||
            provider_dials_.contains(peer) ||
            std::find(connected.begin(), connected.end(), peer) != connected.end()) {
          continue;
        }
        provider_dials_.insert(peer);
        tasks_.spawn(dial_provider(std::move(provider)), "dial provider " + peer.to_base58());
      }
    }
    const bool meshed = !pubsub_->router().mesh_peers(options_.room).empty();
    const auto interval = meshed ? options_.discovery_interval_meshed : options_.discovery_interval;
    // shutdown() sets stop_requested_, which ends the sleep early.
    (void)co_await (node_.clock().sleep_for(to_ns(interval)) || stop_requested_.wait());
  }
}

asio::awaitable<void> ChatSession::dial_provider(dht::PeerAddrs provider) {
  // The first of its addresses that answers; failures are quiet (the next lookup tries again).
  for (const auto& addr : provider.addrs) {
    if (stopping_) break;
    bool connected = false;
    try {
      const auto target = addr.peer_id() ? addr : addr.with_peer_id(provider.peer);
      (void)co_await node_.connect(target);
      connected = true;
    } catch (const std::exception&) {
    }
    if (connected) break;
  }
  provider_dials_.erase(provider.peer);
}

asio::awaitable<void> ChatSession::wait_for_mesh() {
  auto& clock = node_.clock();
  const std::uint64_t deadline = clock.now_ns() + to_ns(options_.join_wait);
  while (!stopping_ && pubsub_->router().mesh_peers(options_.room).empty() &&
         clock.now_ns() < deadline) {
    // shutdown() sets stop_requested_, which ends the wait early.
    (void)co_await (mesh_joined_.wait() || clock.sleep_until(deadline) || stop_requested_.wait());
  }
}

// --- input ----------------------------------------------------------------------------------

bool ChatSession::command(std::string_view text) {
  const auto space = text.find(' ');
  const std::string_view verb = text.substr(0, space);
  std::string_view arg = space == std::string_view::npos ? "" : text.substr(space + 1);
  while (arg.starts_with(' ')) arg.remove_prefix(1);
  while (arg.ends_with(' ')) arg.remove_suffix(1);

  if (verb == "/quit") return false;
  if (verb == "/peers") {
    const auto peers = node_.connected_peers();
    say("* " + std::to_string(peers.size()) + (peers.size() == 1 ? " peer" : " peers") +
        " connected");
    for (const auto& peer : peers) {
      const auto it = members_.find(peer);
      const std::string name = it != members_.end() ? it->second.name : "(no name yet)";
      say("*   " + printable(name) + " " + peer.to_base58());
    }
    return true;
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
    return true;
  }
  say("! unknown command " + std::string(verb) +
      " (commands: /peers, /connect MULTIADDR, /quit; start a line with // to send a /)");
  return true;
}

void ChatSession::publish_line(std::string_view text) {
  const auto sent = pubsub_->publish(options_.room, encode_line(options_.name, text));
  if (!sent) {
    say("! line not sent: " + sent.error().message());
  } else if (sent->recipients == 0) {
    say(node_.connected_peers().empty()
            ? std::string("! nobody is connected; line not sent")
            : "! nobody in room " + printable(options_.room) +
                  " is in reach yet (wait for `* NAME joined`); line not sent");
  }
}

void ChatSession::announce() {
  if (stopping_) return;
  (void)pubsub_->publish(options_.room, encode_presence(options_.name, Kind::joined));
}

void ChatSession::heard(const wire::PeerId& author, const ChatPayload& payload) {
  auto it = members_.find(author);
  if (it == members_.end()) {
    if (members_.size() >= kMaxMembers) {
      std::erase_if(members_, [](const auto& m) { return !m.second.present; });
    }
    if (members_.size() < kMaxMembers) it = members_.emplace(author, Member{}).first;
  }
  if (it == members_.end()) {  // too many present: shown, not tracked
    if (payload.kind == Kind::line) say(printable(payload.name) + ": " + printable(payload.text));
    return;
  }
  Member& member = it->second;
  member.name = payload.name;
  if (payload.kind == Kind::left) {
    leave(author);
    return;
  }
  if (!member.present) {
    member.present = true;
    say("* " + printable(member.name) + " joined");
    // Someone new (or back): it may not know us yet.
    announce();
  }
  if (payload.kind == Kind::line) say(printable(payload.name) + ": " + printable(payload.text));
}

void ChatSession::leave(const wire::PeerId& author) {
  const auto it = members_.find(author);
  if (it == members_.end() || !it->second.present) return;
  it->second.present = false;
  if (!stopping_) say("* " + printable(it->second.name) + " left");
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
  } else if (!quiet && !stopping_) {
    say("! cannot connect to " + addr.to_string() + ": " + problem);
  }
  if (initial && --initial_dials_ == 0) initial_dials_done_.notify();
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
      std::string who;
      if (d.peer) {
        const auto it = members_.find(*d.peer);
        who = it != members_.end() ? printable(it->second.name) : d.peer->to_base58();
      }
      say((d.peer ? "! gave up reconnecting to " + who + " at "
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

}  // namespace bb::chat

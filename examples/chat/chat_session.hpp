// ChatSession: one bb-chat participant in a room, which is a gossipsub topic of the same name.
//
// A typed line is one pubsub message on the room's topic, "NAME: TEXT" in plain UTF-8
// (chat_line.hpp); gossipsub signs it and relays it through the mesh, so peers that are not
// directly connected read it too, and its seen cache shows each line once. We publish to our
// mesh only (flood_publish off): a neighbour hears us once it is in our mesh, and then so does
// everyone behind it. Flooded to a neighbour not yet in the mesh, a line would stop there, and
// a join shown that early would promise more than the room can deliver.
// Joins and leaves:
// - we publish "* NAME joined" when a neighbour joins our mesh of the room, and again when we
//   hear someone new, so a newcomer learns who is there; "* NAME joined" is printed the first
//   time an author is heard (its announcement or its first line);
// - "* NAME left" is printed for a neighbour that leaves the topic or disconnects
//   (PeerUnsubscribed), for everyone once we have no neighbour in the room at all, and for an
//   author whose "* NAME left" arrives (we publish ours when we quit).
// Authors are told apart by their PeerId (the message's signed `from`), never by name.
// Finding the room without --connect: with --bootstrap the session joins the Kademlia DHT through
// those nodes, provides the room's CID (room_cid()), and looks up its providers every
// discovery_interval until a neighbour is in our mesh of the room, then every
// discovery_interval_meshed, dialling the providers it is not connected to. Two chats that each
// know only one bootstrap node thus find each other through the provider records stored there.
//
// What the session prints on stdout, one line each:
//   listening <multiaddr>/p2p/<peer id>     first, once per listen address
//   NAME: TEXT                              a line from someone else (never our own)
//   * NAME joined / * NAME left / * …       presence and command output
//   ! …                                     something did not work (bad address, unreachable
//                                           peer, unsent line); the chat goes on
// Malformed payloads are ignored with a note on stderr. --block puts a peer on the Node's
// blocklist: gossipsub neither hears nor serves it, and the room's validator (AuthorGateRx)
// ignores messages it wrote that others relay, so they are neither shown nor relayed by us.
//
// Thread rule: everything runs on the Node's executor. Lifetime: the Node and the LineReader
// outlive run().
#pragma once

#include "bb/async/event.hpp"
#include "bb/async/task_group.hpp"
#include "bb/dht/cid.hpp"
#include "bb/dht/kademlia.hpp"
#include "bb/node/node.hpp"
#include "bb/proto/onnx.pb.h"  // NodeConfig holds NodeProtos; node.hpp only declares the class
#include "bb/pubsub/gossipsub.hpp"
#include "examples/chat/chat_line.hpp"
#include "examples/chat/line_reader.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace bb::chat {

// The CID a room's members provide in the DHT: of the bytes "bb-chat/room/" + room.
dht::Cid room_cid(std::string_view room);

struct ChatOptions {
  std::string name;                              // must pass check_name()
  std::string room = std::string(kDefaultRoom);  // the gossipsub topic
  std::vector<wire::Multiaddr> connect;
  // DHT nodes to join through; empty: no DHT (the room is found through --connect only).
  std::vector<wire::Multiaddr> bootstrap;
  // With bootstrap: how often the room's providers are looked up while no neighbour is in our
  // mesh of the room, and once one is.
  std::chrono::milliseconds discovery_interval{3'000};
  std::chrono::milliseconds discovery_interval_meshed{30'000};
  // Problems found while parsing the command line that should not stop the chat (e.g. an
  // unparsable --connect address); printed right after the `listening` line.
  std::vector<std::string> notices;
  std::vector<wire::PeerId> block;
  // Lines typed before the --connect dials ended are held until then, and then for at most
  // join_wait until a neighbour is in our mesh of the room (so they do not go to nobody).
  std::chrono::milliseconds join_wait{5'000};
  // Addresses we dialled are dialled again while their peer is away, every redial_interval,
  // for up to redial_period after the connection was lost.
  std::chrono::milliseconds redial_interval{500};
  std::chrono::milliseconds redial_period{30'000};
  // When the session ends, what was published gets this long to be written before the node
  // stops.
  std::chrono::milliseconds drain_limit{3'000};
  // Gossipsub's defaults, except that our own messages go to the mesh (see above).
  pubsub::GossipsubOptions pubsub = [] {
    pubsub::GossipsubOptions o;
    o.router.flood_publish = false;
    return o;
  }();
};

class ChatSession {
 public:
  ChatSession(node::Node& node, LineReader& input, ChatOptions options);
  ~ChatSession();
  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;

  // Starts the node (throws std::runtime_error saying why if it cannot, e.g. cannot listen) and
  // gossipsub, prints the `listening` lines, dials the --connect addresses and chats until
  // /quit, end of input, SIGINT or SIGTERM. Then says goodbye, stops gossipsub and the node,
  // and returns once every task it started has ended.
  boost::asio::awaitable<void> run();
  // Starts run() on the node's executor (run the io_context afterwards); failure() then tells
  // why it ended with an exception, if it did.
  void spawn();
  std::exception_ptr failure() const noexcept { return failure_; }

 private:
  struct Member {
    std::string name;
    bool present = false;  // `joined` printed and `left` not yet
  };
  struct Dialed {
    wire::Multiaddr addr;
    std::optional<wire::PeerId> peer;  // known after the first successful dial
    bool dialing = false;
    bool gave_up = false;
    std::uint64_t away_since_ns = 0;  // 0: connected (or never tried)
  };

  boost::asio::awaitable<void> input_loop();
  boost::asio::awaitable<void> message_loop();
  boost::asio::awaitable<void> event_loop();
  boost::asio::awaitable<void> upkeep_loop();
  boost::asio::awaitable<void> signal_loop();
  boost::asio::awaitable<void> stop_when_asked();
  // With --bootstrap: joins the DHT, provides the room, dials the providers found.
  boost::asio::awaitable<void> discovery_loop();
  boost::asio::awaitable<void> dial_provider(dht::PeerAddrs provider);
  // Until a neighbour is in our mesh of the room, for at most join_wait.
  boost::asio::awaitable<void> wait_for_mesh();

  // false when the session should end (/quit).
  bool command(std::string_view text);
  void publish_line(std::string_view text);
  void announce();
  void heard(const wire::PeerId& author, const ChatPayload& payload);
  // quiet: no message when it fails (redials); initial: one of the --connect addresses.
  boost::asio::awaitable<void> dial(std::size_t index, bool quiet, bool initial);
  void add_dial(const wire::Multiaddr& addr, bool initial = false);
  void leave(const wire::PeerId& author);
  void redial();
  void shutdown();

  node::Node& node_;
  LineReader& input_;
  ChatOptions options_;
  std::unique_ptr<pubsub::Gossipsub> pubsub_;        // made once the node has started
  std::unique_ptr<dht::Kademlia> dht_;               // with --bootstrap, made with pubsub_
  std::unordered_set<wire::PeerId> provider_dials_;  // providers being dialled
  bool stopping_ = false;
  std::exception_ptr failure_;
  boost::asio::signal_set signals_;
  async::Event stop_requested_;      // set by shutdown()
  async::Event mesh_joined_;         // notified on MeshJoined for the room
  std::size_t initial_dials_ = 0;    // --connect dials not yet ended
  async::Event initial_dials_done_;  // notified when that count reaches zero, and on shutdown()
  async::TaskGroup tasks_;           // dials; run() joins it before it returns
  std::unordered_map<wire::PeerId, Member> members_;  // by author
  std::unordered_set<wire::PeerId> blocked_;
  std::vector<Dialed> dialed_;
  std::uint64_t dropped_reported_ = 0;  // deliveries the topic queue dropped, already said
};

}  // namespace bb::chat

// bb-chat: a terminal chat on gossipsub. A room is a topic; every line typed is one message on
// it and reaches everyone in the room, relayed through the mesh, exactly once. Run `bb-chat
// --help` for usage; the session's behaviour and output are described in
// examples/chat/chat_session.hpp, the payloads in examples/chat/chat_line.hpp.
#include "bb/node/node.hpp"
#include "bb/version.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/log.hpp"
#include "examples/chat/chat_line.hpp"
#include "examples/chat/chat_session.hpp"
#include "examples/chat/line_reader.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>

#include <unistd.h>
#include <cstdlib>
#include <exception>
#include <iostream>

namespace {

namespace asio = boost::asio;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;   // could not start (key file, listen address in use, …)
constexpr int kExitBadInput = 2;  // invalid command line

struct Args {
  std::string name;
  std::string room = std::string(bb::chat::kDefaultRoom);
  std::string listen = "/ip4/127.0.0.1/tcp/0";
  std::vector<std::string> connect;
  std::vector<std::string> bootstrap;
  std::string key_file;
  std::vector<std::string> block;
  int verbose = 0;
  bool quiet = false;
};

// Logs go to stderr (the chat's lines are stdout); what main still holds is written at exit.
struct LoggingScope {
  LoggingScope() {
    bb::wire::log_to_stderr("bb-chat", bb::wire::LogLevel::info);
    bb::wire::route_protobuf_logs();
  }
  ~LoggingScope() { bb::wire::stop_logging(); }
  LoggingScope(const LoggingScope&) = delete;
  LoggingScope& operator=(const LoggingScope&) = delete;
};

const char* const kFooter = R"(
Type a line and press Enter to send it to everyone in the room (at most 16384 bytes; a longer
line is refused, not cut). A room is a gossipsub topic of the same name; each line is one
message on it, the plain UTF-8 text "NAME: TEXT" (joins and leaves: "* NAME joined",
"* NAME left"), so any libp2p node subscribed to the topic can read along. Commands:
  /peers              list the directly connected peers
  /connect MULTIADDR  dial another node, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
  /quit               leave (end of input and Ctrl-C do the same)
  //text              send a line that starts with "/"

Output, one line each: `listening ADDR` first (give ADDR to others' --connect), `NAME: TEXT`
for what others say, `* ...` for joins, leaves and command output, `! ...` when something did
not work (bad address, unreachable peer, undelivered line); the chat keeps running.

Logs (connection problems, internal failures) go to stderr at level info; -v (debug), -q
(warnings and errors only), or else BB_LOG=trace|debug|info|warn|error|off, changes that.

Try it in three terminals:
  bb-chat --name alice
  bb-chat --name bob   --connect <alice's listening address>
  bb-chat --name carol --connect <bob's listening address>

Or find the room through the Kademlia DHT: with --bootstrap the chat joins the DHT through that
node, announces itself as a provider of the room (the CID of "bb-chat/room/ROOM") and connects to
the other providers it finds, looking again every 3 s until it has a neighbour in the room, then
every 30 s:
  bb-node run --dht server              (prints its listening address)
  bb-chat --name alice --bootstrap <that address>
  bb-chat --name bob   --bootstrap <that address>)";

// Prints why the session failed; returns the exit status for it.
int report_failure(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    std::cerr << "bb-chat: " << bb::wire::error_text(e) << "\n";
  }
  return kExitFailure;
}

int run(const Args& args) {
  if (auto ok = bb::chat::check_name(args.name); !ok) {
    std::cerr << "bb-chat: invalid --name '" << args.name << "': " << ok.error().message() << "\n";
    return kExitBadInput;
  }
  auto listen = bb::wire::Multiaddr::parse(args.listen);
  if (!listen) {
    std::cerr << "bb-chat: --listen '" << args.listen
              << "' is not a multiaddr: " << listen.error().message() << "\n";
    return kExitBadInput;
  }
  if (args.room.empty()) {
    std::cerr << "bb-chat: --room must not be empty\n";
    return kExitBadInput;
  }
  bb::chat::ChatOptions options;
  options.name = args.name;
  options.room = args.room;
  for (const auto& text : args.block) {
    auto peer = bb::wire::PeerId::parse(text);
    if (!peer) {
      std::cerr << "bb-chat: --block '" << text << "' is not a peer id: " << peer.error().message()
                << "\n";
      return kExitBadInput;
    }
    options.block.push_back(*peer);
  }
  // A bad --connect address does not stop the chat: it is reported once the node is up.
  for (const auto& text : args.connect) {
    auto addr = bb::wire::Multiaddr::parse(text);
    if (addr) {
      options.connect.push_back(*addr);
    } else {
      options.notices.push_back("! cannot connect to " + text +
                                ": not a multiaddr: " + addr.error().message());
    }
  }

  for (const auto& text : args.bootstrap) {
    auto addr = bb::wire::Multiaddr::parse(text);
    if (!addr) {
      std::cerr << "bb-chat: --bootstrap '" << text
                << "' is not a multiaddr: " << addr.error().message() << "\n";
      return kExitBadInput;
    }
    options.bootstrap.push_back(*addr);
  }

  bb::node::NodeConfig config;
  if (!args.key_file.empty()) {
    auto key = bb::wire::read_key_file(args.key_file);
    if (!key) {
      std::cerr << "bb-chat: cannot load key file " << args.key_file << ": "
                << key.error().message() << "\n";
      return kExitFailure;
    }
    config.identity = *key;
  }
  config.listen.push_back(*listen);

  asio::io_context io(1);
  bb::node::Node node(io.get_executor(), std::move(config));
  bb::chat::LineReader input(io.get_executor(), STDIN_FILENO, bb::chat::kMaxTextBytes);
  bb::chat::ChatSession session(node, input, std::move(options));
  input.start();
  session.spawn();
  io.run();
  input.stop();
  return session.failure() ? report_failure(session.failure()) : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const LoggingScope logging;
  CLI::App app{
      "bb-chat: chat with everyone in a room (a gossipsub topic, relayed through the mesh)"};
  app.footer(kFooter);
  Args args;
  app.add_option("--name", args.name, "Your name as others see it (1-64 bytes, no ':')")
      ->required();
  app.add_option("--room", args.room, "Room to join: the gossipsub topic of that name")
      ->capture_default_str();
  app.add_option("--listen", args.listen, "Listen multiaddr")->capture_default_str();
  app.add_option("--connect", args.connect, "Multiaddr of a node to join (repeatable)");
  app.add_option("--bootstrap", args.bootstrap,
                 "Multiaddr of a DHT node (e.g. bb-node run --dht server) through which to find "
                 "the room's other members (repeatable); an alternative to --connect");
  app.add_option("--key", args.key_file,
                 "Key file (bb-node keygen) for a stable peer id; default: a fresh identity");
  app.add_option("--block", args.block,
                 "Peer id whose connections and lines are refused (repeatable)");
  app.add_flag("-v,--verbose", args.verbose, "Log debug messages on stderr (-vv: trace)");
  app.add_flag("-q,--quiet", args.quiet, "Log only warnings and errors on stderr");
  // CLI11 prints it on stdout and exits 0, before it checks that --name is given.
  app.set_version_flag("--version", "bb-chat " BB_VERSION_STRING,
                       "Print bb-chat's version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  const auto level =
      bb::wire::choose_log_level(args.verbose, args.quiet, std::getenv(bb::wire::kLogLevelEnv));
  bb::wire::set_log_level(level.level);
  if (!level.warning.empty()) std::cerr << "bb-chat: " << level.warning << "\n";
  return run(args);
}

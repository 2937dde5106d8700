// bb-chat processes on loopback, talking through real bb Nodes (TCP + Noise + Yamux) in a
// gossipsub room: lines and joins across a node that relays, a line of nodes, a node killed and
// restarted, a blocklist, a burst of 10,000 lines, bad input, bb-node reading and writing
// the room's topic as any libp2p node would, and chats finding each other through the DHT. Every
// address comes from a node's `listening` line (port 0); every wait is bounded and wakes on output.
#include "tests/integration/process.hpp"
#include "tests/support/sanitizer.hpp"

#include "bb/wire/keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace bb::test {
namespace {

namespace fs = std::filesystem;

const std::string kChat = BB_CHAT_PATH;
const std::string kNode = BB_NODE_PATH;
constexpr milliseconds kWait{10'000};

struct Chat {
  std::string name;
  std::unique_ptr<ChildProcess> process;
  std::string addr;  // listening multiaddr, ending in /p2p/<peer id>
  std::string peer_id;

  ChildProcess* operator->() const { return process.get(); }
};

// Starts bb-chat and reads its address from the first line it prints.
Chat start_chat(const std::string& name, const std::vector<std::string>& connect = {},
                const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"--name", name};
  for (const auto& addr : connect) {
    args.push_back("--connect");
    args.push_back(addr);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  Chat chat{name, std::make_unique<ChildProcess>(kChat, args), {}, {}};
  if (!chat->wait_for_prefix("listening ", kWait)) {
    throw std::runtime_error(name + " printed no `listening` line:\n" + chat->transcript());
  }
  const auto first = chat->lines().front();
  if (!first.starts_with("listening /ip4/127.0.0.1/tcp/")) {
    throw std::runtime_error(name + " did not start with its listening line:\n" +
                             chat->transcript());
  }
  chat.addr = first.substr(std::string_view("listening ").size());
  const auto p2p = chat.addr.rfind("/p2p/");
  if (p2p == std::string::npos) throw std::runtime_error("no /p2p/ in " + chat.addr);
  chat.peer_id = chat.addr.substr(p2p + 5);
  return chat;
}

void say(Chat& chat, const std::string& text) {
  if (!chat->write_line(text)) throw std::runtime_error("cannot write to " + chat.name);
}

void expect_line(Chat& chat, const std::string& line, std::size_t count = 1) {
  EXPECT_TRUE(chat->wait_for_line(line, kWait, count))
      << chat.name << " never showed \"" << line << "\" (" << count << "x):\n"
      << chat->transcript();
}

// Waits (one bound for all of them) until every line of `expected` has appeared.
void expect_lines(Chat& chat, const std::vector<std::string>& expected) {
  const bool all = chat->wait_until(
      [&](const std::vector<std::string>& lines) {
        return std::all_of(expected.begin(), expected.end(), [&](const std::string& e) {
          return std::find(lines.begin(), lines.end(), e) != lines.end();
        });
      },
      kWait);
  if (all) return;
  const auto lines = chat->lines();
  for (const auto& e : expected) {
    EXPECT_NE(std::find(lines.begin(), lines.end(), e), lines.end())
        << chat.name << " never showed \"" << e << "\"";
  }
  ADD_FAILURE() << chat.name << ":\n" << chat->transcript();
}

// Lines other nodes said, as shown by this one ("NAME: TEXT" from any name in `names`).
std::vector<std::string> chat_lines(const Chat& chat, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& line : chat->lines()) {
    for (const auto& name : names) {
      if (line.starts_with(name + ": ")) out.push_back(line);
    }
  }
  return out;
}

void quit_all(std::vector<Chat*> chats) {
  for (auto* chat : chats) say(*chat, "/quit");
  for (auto* chat : chats) {
    EXPECT_EQ(chat->process->wait_exit(kWait), 0) << chat->name << ":\n"
                                                  << chat->process->transcript();
  }
}

// A line of nodes n0 — n1 — … , each dialling the one before it; returns once every node has
// seen its neighbours join.
std::vector<Chat> start_line(std::size_t size,
                             const std::vector<std::vector<std::string>>& extra = {}) {
  std::vector<Chat> chats;
  for (std::size_t i = 0; i < size; ++i) {
    std::vector<std::string> connect;
    if (i > 0) connect.push_back(chats[i - 1].addr);
    chats.push_back(start_chat("n" + std::to_string(i), connect,
                               i < extra.size() ? extra[i] : std::vector<std::string>{}));
  }
  for (std::size_t i = 0; i < size; ++i) {
    if (i > 0) expect_line(chats[i], "* " + chats[i - 1].name + " joined");
    if (i + 1 < size) expect_line(chats[i], "* " + chats[i + 1].name + " joined");
  }
  return chats;
}

std::vector<std::string> names_of(const std::vector<Chat>& chats) {
  std::vector<std::string> names;
  for (const auto& c : chats) names.push_back(c.name);
  return names;
}

class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() /
            ("bb-integration-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The smallest picture of the room: a — b — c, a and c not connected. c's join and lines reach
// a through b, and the other way; an author a blocks (d, connected to b only) is shown by b and
// c but never by a, since a's validator ignores what d wrote however it arrives.
TEST(ChatMesh, LinesAndJoinsCrossARelayAndABlockedAuthorStaysHidden) {
  TempDir dir;
  const auto d_key_file = (dir.path() / "d.key").string();
  const auto d_key = wire::Ed25519KeyPair::generate();
  ASSERT_TRUE(wire::write_key_file(d_key_file, d_key));
  const std::vector<std::string> room{"--room", "lobby"};
  std::vector<std::string> a_args = room;
  a_args.insert(a_args.end(), {"--block", d_key.peer_id().to_base58()});

  auto a = start_chat("a", {}, a_args);
  auto b = start_chat("b", {a.addr}, room);
  expect_line(a, "* b joined");
  auto c = start_chat("c", {b.addr}, room);
  // c is two hops from a: its join travels through b's mesh.
  expect_line(a, "* c joined");
  expect_line(c, "* a joined");
  expect_line(c, "* b joined");

  say(a, "hello from a");
  expect_line(c, "a: hello from a");
  say(c, "hi from c");
  expect_line(a, "c: hi from c");

  auto d = start_chat("d", {b.addr}, {"--room", "lobby", "--key", d_key_file});
  expect_line(b, "* d joined");
  expect_line(c, "* d joined");
  say(d, "from d");
  expect_line(b, "d: from d");
  expect_line(c, "d: from d");
  // b passed "from d" to a before c could see it, so a has had it before c's next line.
  say(c, "after d");
  expect_line(a, "c: after d");
  say(a, "/peers");
  expect_line(a, "* 1 peer connected");
  expect_line(a, "*   b " + b.peer_id);

  // c leaves: a is told though c was never its neighbour.
  quit_all({&c});
  expect_line(a, "* c left");
  quit_all({&a, &b, &d});
  EXPECT_EQ(a->count("d: from d"), 0u) << a->transcript();
  EXPECT_EQ(a->count("* d joined"), 0u) << a->transcript();
  EXPECT_EQ(a->count("c: hi from c"), 1u);
  EXPECT_EQ(c->count("a: hello from a"), 1u);
  EXPECT_EQ(b->count("a: hello from a"), 1u);
  EXPECT_EQ(b->count("c: hi from c"), 1u);
  // Nothing was refused or left unsent on the way.
  for (const auto* chat : {&a, &b, &c, &d}) {
    for (const auto& line : (*chat)->lines()) EXPECT_FALSE(line.starts_with("!")) << line;
  }
}

// Two chats that know only a bootstrap node (bb-node run --dht server), not each other, find
// each other through the DHT: each provides the room's CID at the bootstrap node and dials the
// other provider it looks up there; then they chat like any two neighbours.
TEST(ChatMesh, ChatsThatKnowOnlyABootstrapNodeFindEachOtherThroughTheDht) {
  ChildProcess boot(kNode, {"run", "--json", "--dht", "server"});
  const auto listening = boot.wait_for_prefix(R"({"addr":")", kWait);
  ASSERT_TRUE(listening) << boot.transcript();
  const auto start = listening->find(":\"/") + 2;
  const std::string boot_addr = listening->substr(start, listening->find('"', start) - start);
  ASSERT_TRUE(boot_addr.starts_with("/ip4/127.0.0.1/tcp/")) << *listening;
  // The line goes on with "schema" and "ts" (docs/cli-json.md).
  EXPECT_TRUE(boot.wait_for_prefix(R"({"event":"dht","mode":"server","routing_table":0,)", kWait))
      << boot.transcript();

  const std::vector<std::string> args{"--room", "found", "--bootstrap", boot_addr};
  auto a = start_chat("a", {}, args);
  auto b = start_chat("b", {}, args);
  // A lookup every 3 s until a neighbour is in the mesh: a few rounds at most.
  constexpr milliseconds kFind{30'000};
  EXPECT_TRUE(a->wait_for_line("* b joined", kFind)) << a->transcript();
  EXPECT_TRUE(b->wait_for_line("* a joined", kFind)) << b->transcript();
  say(a, "found you");
  expect_line(b, "a: found you");
  say(b, "through the dht");
  expect_line(a, "b: through the dht");
  say(b, "/peers");
  expect_line(b, "*   a " + a.peer_id);

  quit_all({&a, &b});
  boot.send_signal(SIGTERM);
  EXPECT_EQ(boot.wait_exit(kWait), 0) << boot.transcript();
  for (const auto* chat : {&a, &b}) {
    for (const auto& line : (*chat)->lines()) EXPECT_FALSE(line.starts_with("!")) << line;
  }
}

// The room is a plain gossipsub topic: bb-node (as any libp2p node would) reads the lines as
// "NAME: TEXT" and a text it publishes there is shown as a line of its author.
TEST(ChatMesh, RoomIsAGossipsubTopicOfPlainTextLines) {
  auto alice = start_chat("alice", {}, {"--room", "plain"});
  ChildProcess reader(kNode, {"run", "--json", "--topic", "plain", "--connect", alice.addr});
  const auto has = [](std::string_view text) {
    return [text](const std::vector<std::string>& lines) {
      return std::any_of(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.find(text) != std::string::npos; });
    };
  };
  // alice announces herself once the reader is in her mesh of the topic.
  EXPECT_TRUE(reader.wait_until(has(R"("data":"* alice joined")"), kWait)) << reader.transcript();
  say(alice, "hello, libp2p");
  EXPECT_TRUE(reader.wait_until(has(R"("data":"alice: hello, libp2p")"), kWait))
      << reader.transcript();

  ChildProcess writer(
      kNode, {"publish", "--topic", "plain", "--data", "node: hi there", "--connect", alice.addr});
  EXPECT_EQ(writer.wait_exit(kWait), 0) << writer.transcript();
  expect_lines(alice, {"* node joined", "node: hi there"});

  reader.send_signal(SIGTERM);
  EXPECT_EQ(reader.wait_exit(kWait), 0) << reader.transcript();
  quit_all({&alice});
}

TEST(ChatMesh, EveryLineReachesEveryNodeOfALineExactlyOnce) {
  auto chats = start_line(5);
  const auto names = names_of(chats);
  constexpr int kLinesEach = 3;
  // Interleaved, so lines from both ends cross in the middle.
  for (int k = 0; k < kLinesEach; ++k) {
    for (auto& chat : chats) say(chat, "line " + std::to_string(k) + " from " + chat.name);
  }
  for (auto& to : chats) {
    std::vector<std::string> expected;
    for (const auto& from : chats) {
      if (&to == &from) continue;
      for (int k = 0; k < kLinesEach; ++k) {
        expected.push_back(from.name + ": line " + std::to_string(k) + " from " + from.name);
      }
    }
    expect_lines(to, expected);
  }
  std::vector<Chat*> all;
  for (auto& chat : chats) all.push_back(&chat);
  quit_all(all);

  // The complete screens: each line of the others exactly once, none of one's own.
  for (const auto& to : chats) {
    for (const auto& from : chats) {
      for (int k = 0; k < kLinesEach; ++k) {
        const auto line = from.name + ": line " + std::to_string(k) + " from " + from.name;
        EXPECT_EQ(to->count(line), &to == &from ? 0u : 1u)
            << to.name << " shows \"" << line << "\" a wrong number of times:\n"
            << to->transcript();
      }
    }
    EXPECT_EQ(chat_lines(to, names).size(), (chats.size() - 1) * kLinesEach) << to->transcript();
  }
}

TEST(ChatMesh, KilledMiddleNodeIsReportedLeftAndRejoinsWithItsKey) {
  TempDir dir;
  const auto key_file = (dir.path() / "n2.key").string();
  ASSERT_TRUE(wire::write_key_file(key_file, wire::Ed25519KeyPair::generate()));

  auto chats = start_line(5, {{}, {}, {"--key", key_file}});
  Chat& n0 = chats[0];
  Chat& n1 = chats[1];
  Chat& n2 = chats[2];
  Chat& n3 = chats[3];
  Chat& n4 = chats[4];
  const std::string n2_id = n2.peer_id;

  // Before: one line end to end.
  say(n0, "before");
  expect_line(n4, "n0: before");

  n2->send_signal(SIGKILL);
  ASSERT_EQ(n2->wait_exit(kWait), 128 + SIGKILL);
  // The TCP connections drop with the process, so both neighbours notice within the bound.
  expect_line(n1, "* n2 left");
  expect_line(n3, "* n2 left");

  // Each half keeps chatting.
  say(n0, "west only");
  say(n4, "east only");
  say(n1, "west reply");
  say(n3, "east reply");
  expect_line(n1, "n0: west only");
  expect_line(n0, "n1: west reply");
  expect_line(n3, "n4: east only");
  expect_line(n4, "n3: east reply");

  // Restarted with the same key: same peer id, and it dials both former neighbours.
  n2 = start_chat("n2", {n1.addr, n3.addr}, {"--key", key_file});
  EXPECT_EQ(n2.peer_id, n2_id);
  expect_line(n1, "* n2 joined", 2);
  expect_line(n3, "* n2 joined", 2);
  expect_line(n2, "* n1 joined");
  expect_line(n2, "* n3 joined");

  say(n2, "back again");
  for (auto* chat : {&n0, &n1, &n3, &n4}) expect_line(*chat, "n2: back again");
  say(n0, "across again");
  say(n4, "and back");
  expect_line(n4, "n0: across again");
  expect_line(n0, "n4: and back");

  quit_all({&n0, &n1, &n2, &n3, &n4});
  // Nothing arrived twice. (A line said while n2 was down may still cross once it is back:
  // gossipsub offers the messages of the last few heartbeats to peers that join the mesh.)
  EXPECT_LE(n3->count("n0: west only"), 1u);
  EXPECT_LE(n4->count("n0: west only"), 1u);
  EXPECT_LE(n0->count("n4: east only"), 1u);
  EXPECT_LE(n1->count("n4: east only"), 1u);
  for (auto* chat : {&n0, &n1, &n3, &n4}) {
    EXPECT_EQ((*chat)->count("n2: back again"), 1u) << chat->name << ":\n" << (*chat)->transcript();
  }
  EXPECT_EQ(n4->count("n0: before"), 1u);
  EXPECT_EQ(n4->count("n0: across again"), 1u);
  EXPECT_EQ(n0->count("n4: and back"), 1u);
}

TEST(ChatMesh, BlockedPeerIsNeverShownEvenWhenRelayed) {
  // a — b and a — x; x blocks b, and b also tries to dial x directly: b's lines reach x relayed
  // by a (the room's validator ignores them by author), and nothing comes directly (the Node
  // refuses a blocked peer).
  auto a = start_chat("a");
  auto b = start_chat("b", {a.addr});
  auto x = start_chat("x", {a.addr}, {"--block", b.peer_id});
  expect_line(a, "* b joined");
  expect_line(a, "* x joined");
  expect_line(x, "* a joined");
  say(b, "/connect " + x.addr);

  say(b, "from b");
  expect_line(a, "b: from b");
  // a relayed "from b" to its mesh (x is in it: x showed "* a joined") before it reads its next
  // line, so x has had it before "after b".
  say(a, "after b");
  expect_line(x, "a: after b");
  say(x, "from x");
  expect_line(b, "x: from x");
  expect_line(a, "x: from x");
  expect_line(b, "a: after b");

  quit_all({&a, &b, &x});
  EXPECT_EQ(x->count("b: from b"), 0u) << x->transcript();
  EXPECT_EQ(x->count("* b joined"), 0u) << x->transcript();
  EXPECT_EQ(x->count("a: after b"), 1u);
  EXPECT_EQ(b->count("x: from x"), 1u) << b->transcript();
  EXPECT_EQ(b->count("a: after b"), 1u) << b->transcript();
}

TEST(ChatMesh, TriangleShowsEachLineOnceThoughItArrivesTwice) {
  auto a = start_chat("a");
  auto b = start_chat("b", {a.addr});
  auto c = start_chat("c", {a.addr, b.addr});
  for (auto* chat : {&a, &b}) expect_line(*chat, "* c joined");
  expect_line(a, "* b joined");
  for (auto* chat : {&a, &b, &c}) say(*chat, "hi from " + chat->name);
  for (auto* to : {&a, &b, &c}) {
    for (auto* from : {&a, &b, &c}) {
      if (to != from) expect_line(*to, from->name + ": hi from " + from->name);
    }
  }
  quit_all({&a, &b, &c});
  for (auto* to : {&a, &b, &c}) {
    EXPECT_EQ(chat_lines(*to, {"a", "b", "c"}).size(), 2u) << to->name << ":\n"
                                                           << (*to)->transcript();
  }
}

TEST(ChatMesh, BurstOfTenThousandLinesArrivesCompleteAndInOrder) {
  auto chats = start_line(3);
  auto& n0 = chats[0];
  // Under ASan the three processes run several times slower; a shorter burst keeps the test's
  // point (complete, in order, nothing refused) without testing the sanitizer's speed.
  const int kLines = test::kSanitizedBuild ? 2'000 : 10'000;
  std::string burst;
  std::vector<std::string> expected;
  for (int i = 0; i < kLines; ++i) {
    const auto text = "burst " + std::to_string(i);
    burst += text + "\n";
    expected.push_back("n0: " + text);
  }
  ASSERT_TRUE(n0->write(burst, milliseconds(60'000)));
  // End of input: n0 sends what is queued, then exits on its own.
  n0->close_stdin();
  for (std::size_t i = 1; i < chats.size(); ++i) {
    EXPECT_TRUE(chats[i]->wait_for_line(expected.back(), milliseconds(60'000)))
        << chats[i].name << " has " << chat_lines(chats[i], {"n0"}).size() << " lines";
  }
  EXPECT_EQ(n0->wait_exit(kWait), 0) << n0->transcript();
  chats[1]->send_signal(SIGINT);
  chats[2]->send_signal(SIGTERM);
  for (std::size_t i = 1; i < chats.size(); ++i) {
    EXPECT_EQ(chats[i]->wait_exit(kWait), 0);
    const auto got = chat_lines(chats[i], {"n0"});
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << chats[i].name << ": lines missing, repeated or reordered";
  }
  // Nothing was refused or dropped on the way.
  for (const auto& chat : chats) {
    for (const auto& line : chat->lines()) EXPECT_FALSE(line.starts_with("!")) << line;
  }
}

TEST(ChatMesh, EndOfInputSendsWhatWasTypedThenExits) {
  TempDir dir;
  auto listener = start_chat("listener");
  // Lines written right after start, while the dial is still under way, and then end of
  // input: they are held until the dial ended, sent, and the process exits 0.
  auto piper = start_chat("piper", {listener.addr});
  say(piper, "piped line");
  piper->close_stdin();
  EXPECT_EQ(piper->wait_exit(kWait), 0) << piper->transcript();

  // stdin redirected from a regular file, its last line without a newline.
  const auto file = (dir.path() / "input.txt").string();
  {
    std::ofstream out(file);
    out << "first from file\nlast from file";
  }
  std::vector<std::string> args{"--name", "filer", "--connect", listener.addr};
  ChildProcess filer(kChat, args, file);
  EXPECT_EQ(filer.wait_exit(kWait), 0) << filer.transcript();

  // Nothing to read at all, and nobody to talk to.
  ChildProcess alone(kChat, {"--name", "alone"}, "/dev/null");
  EXPECT_EQ(alone.wait_exit(kWait), 0) << alone.transcript();
  EXPECT_TRUE(alone.lines().size() == 1 && alone.lines()[0].starts_with("listening "))
      << alone.transcript();

  expect_lines(listener, {"piper: piped line", "filer: first from file", "filer: last from file"});
  quit_all({&listener});
}

TEST(ChatMesh, BadInputIsReportedAndTheChatGoesOn) {
  auto lonely = start_chat("lonely", {"not-a-multiaddr", "/ip4/127.0.0.1/tcp/1"});
  EXPECT_TRUE(
      lonely->wait_for_prefix("! cannot connect to not-a-multiaddr: not a multiaddr", kWait))
      << lonely->transcript();
  EXPECT_TRUE(lonely->wait_for_prefix("! cannot connect to /ip4/127.0.0.1/tcp/1: ", kWait))
      << lonely->transcript();

  auto friend_ = start_chat("friend", {lonely.addr});
  expect_line(lonely, "* friend joined");
  say(lonely, std::string(16 * 1024 + 1, 'x'));
  EXPECT_TRUE(lonely->wait_for_prefix("! line of 16385 bytes exceeds the 16384-byte limit", kWait))
      << lonely->transcript();
  say(lonely, std::string(16 * 1024, 'y'));  // exactly the limit: sent
  expect_line(friend_, "lonely: " + std::string(16 * 1024, 'y'));
  say(lonely, "/connect /ip4/nope");
  EXPECT_TRUE(lonely->wait_for_prefix("! cannot connect to /ip4/nope: not a multiaddr", kWait));
  say(lonely, "/frobnicate");
  EXPECT_TRUE(lonely->wait_for_prefix("! unknown command /frobnicate", kWait));
  say(lonely, "/peers");
  expect_line(lonely, "* 1 peer connected");
  expect_line(lonely, "*   friend " + friend_.peer_id);
  say(lonely, "//slash");
  expect_line(friend_, "lonely: /slash");
  say(lonely, "still here");
  expect_line(friend_, "lonely: still here");

  quit_all({&friend_});
  expect_line(lonely, "* friend left");
  quit_all({&lonely});
  // The refused line was not sent cut short.
  for (const auto& line : friend_->lines()) EXPECT_FALSE(line.starts_with("lonely: x"));
}

}  // namespace
}  // namespace bb::test

// A program outside bb's tree, built against an installed bb (find_package or pkg-config): two
// Nodes on loopback, one message with a receipt. Starting a Node needs the built-in ops to be
// registered (start() fails with "no op registered" otherwise), so this also shows that a
// consumer gets them just by linking bb.
#include "bb/node/node.hpp"
#include "bb/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <exception>

namespace asio = boost::asio;
using namespace bb;

// [consumer]
asio::awaitable<int> exchange(asio::any_io_executor ex) {
  node::NodeConfig config;
  config.listen = {*wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  node::Node alice(ex, config), bob(ex, config);
  co_await alice.start();
  co_await bob.start();
  const wire::PeerId bob_id = co_await alice.connect(bob.listen_addrs().at(0));
  node::SendOptions confirmed;
  confirmed.await_receipt = true;
  auto refused = co_await alice.send(bob_id, "greetings", wire::as_bytes("hello"), confirmed);
  auto message = co_await bob.receive("greetings");
  co_await alice.stop();
  co_await bob.stop();
  if (refused || !message) co_return 1;
  std::printf("consumer: bb %s, bob got \"%s\"\n", bb::kVersion,
              wire::to_string(message->payload).c_str());
  co_return 0;
}
// [consumer]

int main() {
  asio::io_context io;
  auto result = asio::co_spawn(io, exchange(io.get_executor()), asio::use_future);
  io.run();
  try {
    return result.get();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}

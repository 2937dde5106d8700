// The smallest complete bb program: two Nodes on loopback, one message, a clean stop.
#include "bb/node/node.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>

namespace asio = boost::asio;
using namespace bb;

// [hello]
asio::awaitable<int> hello(asio::any_io_executor ex) {
  node::NodeConfig config;
  config.listen = {*wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  node::Node alice(ex, config), bob(ex, config);
  co_await alice.start();
  co_await bob.start();
  const wire::PeerId bob_id = co_await alice.connect(bob.listen_addrs().at(0));
  node::SendOptions confirmed;
  confirmed.await_receipt = true;  // wait until bob has taken it
  auto refused = co_await alice.send(bob_id, "greetings", wire::as_bytes("hello"), confirmed);
  auto message = co_await bob.receive("greetings");
  co_await alice.stop();
  co_await bob.stop();
  if (refused || !message) co_return 1;
  std::printf("bob got \"%s\" from %s\n", wire::to_string(message->payload).c_str(),
              message->from.to_base58().c_str());
  co_return 0;
}
// [hello]

int main() {
  asio::io_context io;
  auto result = asio::co_spawn(io, hello(io.get_executor()), asio::use_future);
  io.run();
  return result.get();
}

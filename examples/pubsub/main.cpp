// Gossipsub in a few lines: three Nodes on loopback in a line (alice - bob - carol), one topic,
// one message that carol gets through bob, signed by alice.
#include "bb/node/node.hpp"
#include "bb/pubsub/gossipsub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdio>

namespace asio = boost::asio;
using namespace bb;

// [pubsub]
asio::awaitable<int> news(asio::any_io_executor ex) {
  node::NodeConfig config;
  config.listen = {*wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  node::Node alice(ex, config), bob(ex, config), carol(ex, config);
  for (node::Node* n : {&alice, &bob, &carol}) co_await n->start();
  pubsub::Gossipsub a(alice), b(bob), c(carol);
  for (pubsub::Gossipsub* ps : {&a, &b, &c}) {
    ps->start();  // before dialling: identify then tells peers we speak gossipsub
    ps->subscribe("news");
  }
  co_await alice.connect(bob.listen_addrs().at(0));
  co_await carol.connect(bob.listen_addrs().at(0));
  // Publishing reaches alice's subscribed peers; bob relays to his mesh, so carol must be in it.
  const bool meshed = co_await b.wait_for_peers("news", 2, std::chrono::seconds(5));
  while (meshed && b.router().mesh_peers("news").size() < 2) co_await b.next_event();
  auto sent = a.publish("news", wire::as_bytes("hello, topic"));
  auto message = co_await c.next_message("news");
  for (pubsub::Gossipsub* ps : {&a, &b, &c}) co_await ps->stop();
  for (node::Node* n : {&alice, &bob, &carol}) co_await n->stop();
  if (!sent || !message) co_return 1;
  std::printf("carol got \"%s\" by %s via %s\n", wire::to_string(message->data()).c_str(),
              message->author()->to_base58().c_str(), message->received_from.to_base58().c_str());
  co_return 0;
}
// [pubsub]

int main() {
  asio::io_context io;
  auto result = asio::co_spawn(io, news(io.get_executor()), asio::use_future);
  io.run();
  return result.get();
}

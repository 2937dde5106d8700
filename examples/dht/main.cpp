// The DHT in a few lines: four Nodes on loopback joined as a chain (each knows only the one
// before it); the last finds the first by PeerId, and finds who provides a piece of content.
#include "bb/dht/kademlia.hpp"
#include "bb/node/node.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <memory>
#include <vector>

namespace asio = boost::asio;
using namespace bb;

// [dht]
asio::awaitable<int> discover(asio::any_io_executor ex) {
  node::NodeConfig config;
  config.listen = {*wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
  std::vector<std::unique_ptr<node::Node>> nodes;
  std::vector<std::unique_ptr<dht::Kademlia>> dhts;
  for (int i = 0; i < 4; ++i) {
    nodes.push_back(std::make_unique<node::Node>(ex, config));
    co_await nodes.back()->start();
    dhts.push_back(std::make_unique<dht::Kademlia>(*nodes.back()));
    dhts.back()->start();  // a listening Node serves the DHT (server mode)
    if (i > 0) co_await dhts.back()->bootstrap(nodes[i - 1]->listen_addrs());
  }
  const auto content = dht::Cid::of(wire::as_bytes("hello, dht"));
  auto announced = co_await dhts[0]->provide(content);  // to the k closest, republished
  auto first = co_await dhts[3]->find_peer(nodes[0]->peer_id());
  auto providers = co_await dhts[3]->find_providers(content);
  for (auto& d : dhts) co_await d->stop();
  for (auto& n : nodes) co_await n->stop();
  if (!announced || !first || !providers || providers->empty()) co_return 1;
  std::printf("found %s at %s; %s is provided by %zu peer(s)\n", first->peer.to_base58().c_str(),
              first->addrs.at(0).to_string().c_str(), content.to_string().c_str(),
              providers->size());
  co_return 0;
}
// [dht]

int main() {
  asio::io_context io;
  auto result = asio::co_spawn(io, discover(io.get_executor()), asio::use_future);
  io.run();
  return result.get();
}

// Gossipsub RPCs from a peer: a frame either fails decoding with bad_rpc or rpc_limit, or is
// handed to a router (subscribed to the topics the seed corpus uses) that must take it without
// crashing and with its per-peer state within bounds; validation outcomes and a heartbeat follow.
#include "bb/async/clock.hpp"
#include "bb/pubsub/router.hpp"

#include <memory>

namespace {

using namespace bb;

struct World {
  async::ManualClock clock{1'000'000'000};
  wire::PeerId peer = wire::Ed25519KeyPair::generate().peer_id();
  std::unique_ptr<pubsub::Router> router;
  World() {
    pubsub::GossipsubConfig config;
    router =
        std::make_unique<pubsub::Router>(wire::Ed25519KeyPair::generate(), config, clock, 1, 7);
    router->subscribe("t");
    router->subscribe("bb-chat");
    router->add_peer(peer, pubsub::PeerKind::meshsub_v12, false, "10.0.0.1");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  auto& router = *world.router;
  std::string detail;
  auto rpc = pubsub::decode_rpc(wire::ByteView(data, size), pubsub::RpcLimits{}, &detail);
  if (!rpc) {
    if (rpc.error() != make_error_code(pubsub::errc::bad_rpc) &&
        rpc.error() != make_error_code(pubsub::errc::rpc_limit)) {
      __builtin_trap();
    }
    return 0;
  }
  auto pending = router.handle_rpc(world.peer, std::move(*rpc));
  for (std::size_t i = 0; i < pending.size(); ++i) {
    router.validated(pending[i], static_cast<pubsub::Acceptance>(i % 3));
  }
  (void)router.take_outgoing();
  (void)router.take_deliveries();
  (void)router.take_events();
  world.clock.advance(1'000'000'000);
  router.heartbeat();
  if (router.topic_peers("t").size() > 1) __builtin_trap();
  (void)router.take_outgoing();
  return 0;
}

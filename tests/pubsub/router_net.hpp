// Gossipsub routers wired to each other in memory, on one ManualClock: what one router queues
// for another is decoded and handed to it, the way the streams would, until nothing is left.
// Tests choose the graph, drop what they want on a link, and beat the heartbeats.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/pubsub/router.hpp"
#include "bb/wire/varint.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace bb::pubsub::test {

inline GossipsubConfig small_config() {
  GossipsubConfig c;
  c.score.ip_colocation_factor_weight = 0;  // everyone is on one "IP" here
  return c;
}

// Splits length-prefixed frames; fails the test on a malformed one.
inline std::vector<pb::RPC> split_frames(const std::string& frames) {
  std::vector<pb::RPC> out;
  wire::ByteView in = wire::as_bytes(frames);
  while (!in.empty()) {
    auto len = wire::decode_varint(in);
    EXPECT_TRUE(len.has_value());
    if (!len) break;
    in = in.subspan(len->size);
    auto rpc = decode_rpc(in.first(static_cast<std::size_t>(len->value)), RpcLimits{});
    EXPECT_TRUE(rpc.has_value());
    if (rpc) out.push_back(std::move(*rpc));
    in = in.subspan(static_cast<std::size_t>(len->value));
  }
  return out;
}

class RouterNet {
 public:
  explicit RouterNet(std::size_t n, GossipsubConfig config = small_config(),
                     std::uint64_t seed = 1) {
    for (std::size_t i = 0; i < n; ++i) {
      auto key = wire::Ed25519KeyPair::generate();
      ids.push_back(key.peer_id());
      routers.push_back(std::make_unique<Router>(key, config, clock, 1, seed * 1000 + i));
      index[ids.back()] = i;
    }
    delivered.resize(n);
  }

  // a dialed b: a's side is outbound.
  void connect(std::size_t a, std::size_t b, PeerKind kind = PeerKind::meshsub_v12) {
    routers[a]->add_peer(ids[b], kind, true, "");
    routers[b]->add_peer(ids[a], kind, false, "");
  }
  void disconnect(std::size_t a, std::size_t b) {
    routers[a]->remove_peer(ids[b]);
    routers[b]->remove_peer(ids[a]);
  }

  // Delivers everything queued, answering validation with `judge` (accept when null), until
  // quiet. Returns the number of RPCs moved.
  std::size_t settle() {
    std::size_t moved = 0;
    for (int round = 0; round < 10000; ++round) {
      bool any = false;
      for (std::size_t i = 0; i < routers.size(); ++i) {
        for (auto& [peer, frames] : routers[i]->take_outgoing()) {
          const std::size_t j = index.at(peer);
          for (auto& rpc : split_frames(frames)) {
            any = true;
            ++moved;
            if (drop && drop(i, j, rpc)) continue;
            for (auto& p : routers[j]->handle_rpc(ids[i], std::move(rpc))) {
              routers[j]->validated(p, judge ? judge(j, p) : Acceptance::accept);
            }
          }
        }
        for (auto& [msg, from] : routers[i]->take_deliveries()) delivered[i].push_back(msg);
      }
      if (!any) break;
    }
    return moved;
  }

  void heartbeat_all(std::size_t beats = 1) {
    for (std::size_t b = 0; b < beats; ++b) {
      clock.advance(1'000'000'000);
      for (auto& r : routers) r->heartbeat();
      settle();
    }
  }

  // How many times node i got the message with `id`.
  std::size_t count(std::size_t i, const MessageId& id) const {
    std::size_t n = 0;
    for (const auto& m : delivered[i]) n += m->id == id ? 1 : 0;
    return n;
  }

  async::ManualClock clock{1'000'000'000};
  std::vector<wire::PeerId> ids;
  std::vector<std::unique_ptr<Router>> routers;
  std::map<wire::PeerId, std::size_t> index;
  std::vector<std::vector<MessagePtr>> delivered;
  // Return true to drop an RPC on its way from i to j (after decoding).
  std::function<bool(std::size_t, std::size_t, pb::RPC&)> drop;
  std::function<Acceptance(std::size_t, const PendingValidation&)> judge;
};

}  // namespace bb::pubsub::test

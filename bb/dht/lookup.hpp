// An iterative Kademlia lookup as a state machine (kad-dht spec, "Peer routing"): candidates
// sorted by distance to the target, at most alpha requests in flight, done once the k closest
// peers seen have all answered (or failed), or nobody is left to ask. Bounded: at most
// k × 4 candidates are kept (the farthest go), and a peer learned more than max_hops answers away
// from the seeds is not asked. Sans-IO: the driver (dht/query.hpp) sends the requests.
#pragma once

#include "bb/dht/key.hpp"
#include "bb/wire/peer_id.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bb::dht {

class Lookup {
 public:
  struct Options {
    std::size_t k = 20;
    std::size_t alpha = 3;
    std::size_t max_hops = 32;
  };

  Lookup(Key target, wire::PeerId self, const std::vector<wire::PeerId>& seeds, Options options);

  // Peers to ask now (each then counts as in flight), at most alpha - in_flight().
  std::vector<wire::PeerId> next();
  // An answer from `from` naming `closer` (unknown peers become candidates one hop further).
  void on_answer(const wire::PeerId& from, const std::vector<wire::PeerId>& closer);
  void on_failure(const wire::PeerId& from);
  // Ends the lookup early (a value or enough providers found).
  void finish() noexcept { finished_ = true; }

  bool done() const;
  std::size_t in_flight() const noexcept { return in_flight_; }
  // The closest peers that answered, closest first, at most k.
  std::vector<wire::PeerId> closest() const;
  std::size_t hops() const noexcept { return hops_; }
  std::size_t queried() const noexcept { return queried_; }
  std::size_t answered() const noexcept { return answered_; }
  std::size_t failed() const noexcept { return failed_; }
  const Key& target() const noexcept { return target_; }

 private:
  enum class State : std::uint8_t { candidate, in_flight, answered, failed };
  struct Peer {
    wire::PeerId id;
    Key key;
    State state;
    std::size_t depth;  // 1 for seeds
  };
  Peer* find(const wire::PeerId& id);
  void insert(const wire::PeerId& id, std::size_t depth);

  Key target_;
  wire::PeerId self_;
  Options options_;
  std::vector<Peer> peers_;  // sorted by distance to target_, closest first
  std::size_t in_flight_ = 0;
  std::size_t hops_ = 0;
  std::size_t queried_ = 0;
  std::size_t answered_ = 0;
  std::size_t failed_ = 0;
  bool finished_ = false;
};

}  // namespace bb::dht

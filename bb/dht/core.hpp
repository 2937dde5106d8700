// What a DHT server answers, without I/O: the routing table, the provider and record stores,
// and the rules of each request type (kad-dht spec, "RPC messages"). The Kademlia service reads
// requests off streams and hands them here; tests and the in-process network drive it directly.
#pragma once

#include "bb/dht/message.hpp"
#include "bb/dht/providers.hpp"
#include "bb/dht/records.hpp"
#include "bb/dht/routing_table.hpp"

#include <boost/system/error_code.hpp>

#include <functional>
#include <optional>
#include <vector>

namespace bb::dht {

class Core {
 public:
  // The addresses to tell the asker for a peer (already filtered for that asker, at most a few);
  // a peer without any is left out of answers.
  using AddrsOf = std::function<std::vector<wire::Multiaddr>(const wire::PeerId&)>;

  Core(wire::PeerId self, std::size_t k, ProviderLimits providers, RecordLimits records);

  struct Handled {
    std::optional<Message> reply;     // nullopt: nothing to answer (ADD_PROVIDER)
    boost::system::error_code error;  // set: the request is refused; the stream should go
    std::vector<PeerEntry> learned;   // peers and addresses the request told us (providers)
  };
  Handled handle(const wire::PeerId& from, const Message& request, std::uint64_t now_ns,
                 const AddrsOf& addrs_of);

  // The k closest peers we know to `key` (the raw key), as entries with addresses, leaving out
  // `except` (the asker) and peers without addresses.
  std::vector<PeerEntry> closer_peers(wire::ByteView key, const wire::PeerId& except,
                                      const AddrsOf& addrs_of) const;

  RoutingTable& table() noexcept { return table_; }
  const RoutingTable& table() const noexcept { return table_; }
  ProviderStore& providers() noexcept { return providers_; }
  const ProviderStore& providers() const noexcept { return providers_; }
  RecordStore& records() noexcept { return records_; }
  const RecordStore& records() const noexcept { return records_; }
  const wire::PeerId& self() const noexcept { return table_.self(); }

 private:
  RoutingTable table_;
  ProviderStore providers_;
  RecordStore records_;
};

}  // namespace bb::dht

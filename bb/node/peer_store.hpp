// The Node's peer store: what it knows of other peers, for dialling them and for what is built
// on the Node (a DHT, pubsub's peer exchange). Per peer: its dialable (TCP) addresses, each with
// where it came from and when it expires; what identify said (protocols, agent); when it was
// last useful (connected, answered); whether the application named it.
//
// Bounded everywhere: at most `capacity` peers the application did not name (never-useful ones
// go first, oldest first; then the least recently useful), max_addresses_per_peer addresses a
// peer (the worst source, soonest expiring, goes first), kMaxProtocols protocols of at most
// kMaxProtocolChars each, an agent of at most kMaxAgentChars, a file of at most kMaxFileBytes.
// Expired addresses are dropped when looked at and by sweep(); a peer left with no address
// (and not named) goes with them.
//
// save()/load(): a protobuf file (proto/peerstore.proto) with wall-clock expiries, so the
// remaining lifetimes survive a restart. Errors are values (boost::system::result): I/O errors
// as the system reports them, a bad file as peer_store_errc.
//
// Thread rule: the owner's (the Node's executor). `clock` must outlive the store.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/multiaddr.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace bb::node {

// Where an address came from, best first: the application named it; the peer said it
// (identify) or a connection to it worked; it came in an envelope; a peer router (DHT) found
// it; an inbound connection came from it; an earlier run stored it (load()).
enum class AddressSource : std::uint8_t { named, identify, dht, envelope, inbound, loaded };
std::string_view to_string(AddressSource) noexcept;

struct PeerStoreOptions {
  std::size_t capacity =
      4096;  // peers kept; the least recently useful go first (named peers never)
  std::size_t max_addresses_per_peer = 8;                         // dialable (TCP) addresses
  std::chrono::nanoseconds identify_ttl = std::chrono::hours(1);  // after the last connection ends
  std::chrono::nanoseconds dht_ttl = std::chrono::minutes(30);
  std::chrono::nanoseconds envelope_ttl = std::chrono::minutes(10);
  std::chrono::nanoseconds inbound_ttl = std::chrono::minutes(10);
};

struct StoredAddress {
  wire::Multiaddr addr;
  AddressSource source;
  std::uint64_t expires_ns;  // on the store's clock; 0: never (named)
};

struct PeerInfo {
  wire::PeerId peer;
  std::vector<StoredAddress> addresses;  // unexpired
  std::vector<std::string> protocols;    // from identify
  std::string agent_version;             // from identify
  std::uint64_t last_useful_ns = 0;
  bool named = false;
};

enum class peer_store_errc {
  file_too_large = 1,   // over PeerStore::kMaxFileBytes
  corrupt_file,         // not a peer store file, or a record in it does not decode
  unsupported_version,  // written by a later format
};
const boost::system::error_category& peer_store_category() noexcept;
inline boost::system::error_code make_error_code(peer_store_errc e) noexcept {
  return {static_cast<int>(e), peer_store_category()};
}

class PeerStore {
 public:
  static constexpr std::size_t kMaxProtocols = 128;
  static constexpr std::size_t kMaxProtocolChars = 256;
  static constexpr std::size_t kMaxAgentChars = 256;
  static constexpr std::size_t kMaxFileBytes = std::size_t{16} << 20;

  PeerStore(PeerStoreOptions options, async::Clock& clock);

  // Adds or refreshes (the later expiry wins; a better source is kept); a /p2p/ part naming
  // another peer, or a non-TCP address, is ignored. ttl 0: the source's default. `named`
  // addresses never expire and make their peer named.
  void add_address(const wire::PeerId& peer, const wire::Multiaddr& addr, AddressSource source,
                   std::chrono::nanoseconds ttl = {});
  // Unexpired, each ending in /p2p/<peer>, best first.
  std::vector<wire::Multiaddr> addresses(const wire::PeerId& peer) const;
  bool knows(const wire::PeerId& peer) const;
  // What identify said (kept within the bounds above: extra protocols are left out, long ones
  // skipped, a long agent cut).
  void set_identify(const wire::PeerId& peer, std::vector<std::string> protocols,
                    std::string agent_version);
  std::optional<PeerInfo> info(const wire::PeerId& peer) const;
  void mark_useful(const wire::PeerId& peer);  // connected, answered: moves it to the front
  std::vector<wire::PeerId> peers() const;     // most recently useful first
  std::size_t size() const noexcept { return peers_.size(); }

  // Pushes each of `peer`'s expiring addresses out to at least now + its source's TTL: what a
  // connected peer's addresses get, so that they expire only a TTL after it went.
  void extend(const wire::PeerId& peer);
  // Drops expired addresses, and the peers (not named, and not kept by `keep`) left without one.
  // Returns how many addresses went.
  std::size_t sweep(const std::function<bool(const wire::PeerId&)>& keep = {});

  // A file of the store (protobuf, proto/peerstore.proto; written to FILE.tmp then renamed).
  // load() merges it in (source `loaded`, keeping remaining TTLs measured in wall-clock time);
  // a missing file is not an error (0 peers), a corrupt one is (peer_store_errc, nothing
  // loaded). load() returns how many peers it took.
  boost::system::result<void> save(const std::filesystem::path& file) const;
  boost::system::result<std::size_t> load(const std::filesystem::path& file);

 private:
  struct Entry {
    std::vector<StoredAddress> addresses;
    std::vector<std::string> protocols;
    std::string agent_version;
    std::uint64_t last_useful_ns = 0;
    bool named = false;
    bool useful = false;  // in useful_ (else in fresh_)
    std::list<wire::PeerId>::iterator pos;
  };

  Entry& ensure(const wire::PeerId& peer, bool named);
  void make_room();
  void erase(const wire::PeerId& peer);
  void add(const wire::PeerId& peer, wire::Multiaddr full, AddressSource source,
           std::uint64_t expires_ns);
  std::uint64_t ttl_ns(AddressSource source) const;
  std::uint64_t now() const { return clock_.now_ns(); }

  PeerStoreOptions options_;
  async::Clock& clock_;
  std::unordered_map<wire::PeerId, Entry> peers_;
  std::list<wire::PeerId> useful_;  // most recently useful first
  std::list<wire::PeerId> fresh_;   // never useful, newest first
  std::size_t learned_ = 0;         // peers not named
};

}  // namespace bb::node

template <>
struct boost::system::is_error_code_enum<bb::node::peer_store_errc> : std::true_type {};

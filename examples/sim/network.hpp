// bb-sim's network: hosts by IPv4 address, each with a wire::Transport its Host listens and
// dials through; links made with the parameters of the pair of hosts (link.hpp); partitions into
// groups; a host cut off at once (killed). Everything runs on one executor and the simulation's
// ManualClock, and every random draw comes from the seed, so a run repeats exactly.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/async/event.hpp"
#include "bb/wire/transport.hpp"
#include "examples/sim/link.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

namespace bb::sim {

struct HostTraffic {
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t dials = 0;
  std::uint64_t dials_failed = 0;
};

class Network final : public Path {
 public:
  // The parameters of the link between two hosts; called once per connection.
  using LinkRule = std::function<LinkParams(std::uint32_t a, std::uint32_t b)>;

  Network(const boost::asio::any_io_executor& executor, async::ManualClock& clock,
          std::uint64_t seed, LinkRule rule);
  ~Network() override;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // The transport of the host with this address (made on first use); lives as long as the
  // network.
  wire::Transport& transport(std::uint32_t ip);

  // Hosts in different groups cannot reach each other (group 0 for a host not named).
  void partition(const std::unordered_map<std::uint32_t, int>& group_of);
  void heal();
  int group(std::uint32_t ip) const;

  // A killed host: every link it has breaks at once (its peers read connection_reset) and
  // nobody can dial it until it listens again.
  void cut(std::uint32_t ip);

  bool reachable(std::uint32_t from_ip, std::uint32_t to_ip) const override;
  boost::asio::awaitable<void> changed() override;
  void count(std::uint32_t from_ip, std::uint32_t to_ip, std::size_t bytes) override;

  const HostTraffic& traffic(std::uint32_t ip);
  std::uint64_t links_made() const noexcept { return links_made_; }

  // How long a dial to an unreachable or silent host waits before it fails (SYN retries).
  std::uint64_t connect_timeout_ns = 5'000'000'000;

 private:
  class HostTransport;
  friend class HostTransport;

  boost::asio::awaitable<std::unique_ptr<wire::ByteStream>> dial(std::uint32_t from,
                                                                 const wire::Multiaddr& addr);

  boost::asio::any_io_executor executor_;
  async::ManualClock& clock_;
  std::uint64_t seed_;
  LinkRule rule_;
  async::Event changed_;
  std::map<std::uint32_t, std::unique_ptr<HostTransport>> hosts_;
  std::unordered_map<std::uint32_t, int> groups_;
  std::map<std::pair<std::uint32_t, std::uint16_t>, wire::Transport::Accept> listeners_;
  std::unordered_map<std::uint32_t, std::vector<std::weak_ptr<Link>>> links_of_;
  std::unordered_map<std::uint32_t, HostTraffic> traffic_;
  std::uint64_t links_made_ = 0;
};

// 10.0.0.1 for host 0, 10.0.0.2 for host 1, ...
std::uint32_t host_ip(std::size_t index);

}  // namespace bb::sim

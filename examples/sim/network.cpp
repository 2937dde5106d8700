#include "examples/sim/network.hpp"
#include "examples/sim/random.hpp"

#include "bb/wire/multiaddr.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <cstdio>
#include <optional>

namespace bb::sim {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::system_error;

namespace {

// The IPv4 address and TCP port of /ip4/A/tcp/P, or nothing.
std::optional<Endpoint> endpoint_of(const wire::Multiaddr& addr) {
  const std::string text = addr.to_string();
  unsigned a = 0, b = 0, c = 0, d = 0, port = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "/ip4/%u.%u.%u.%u/tcp/%u%c", &a, &b, &c, &d, &port, &tail) != 5 ||
      a > 255 || b > 255 || c > 255 || d > 255 || port > 65535) {
    return std::nullopt;
  }
  return Endpoint{(a << 24) | (b << 16) | (c << 8) | d, static_cast<std::uint16_t>(port)};
}

}  // namespace

std::uint32_t host_ip(std::size_t index) {
  return (10u << 24) + static_cast<std::uint32_t>(index + 1);
}

class Network::HostTransport final : public wire::Transport {
 public:
  HostTransport(Network& net, std::uint32_t ip) : net_(net), ip_(ip) {}

  wire::Multiaddr listen(const wire::Multiaddr& addr, Accept accept) override {
    auto e = endpoint_of(addr);
    if (!e || e->ip != ip_) {
      throw system_error(
          boost::system::errc::make_error_code(boost::system::errc::address_not_available),
          "bb-sim: " + addr.to_string() + " is not this host's address " + ip_text(ip_));
    }
    if (e->port == 0) e->port = 4001;
    auto [it, fresh] = net_.listeners_.try_emplace({ip_, e->port}, std::move(accept));
    if (!fresh) {
      throw system_error(make_error_code(asio::error::address_in_use),
                         "bb-sim: " + endpoint_addr(*e).to_string() + " is in use");
    }
    return endpoint_addr(*e);
  }

  void unlisten(const wire::Multiaddr& bound) noexcept override {
    if (auto e = endpoint_of(bound)) net_.listeners_.erase({e->ip, e->port});
  }

  asio::awaitable<std::unique_ptr<wire::ByteStream>> dial(wire::Multiaddr addr) override {
    co_return co_await net_.dial(ip_, addr);
  }

  std::uint16_t next_port() { return next_port_ == 0 ? (next_port_ = 49152) : ++next_port_; }

 private:
  Network& net_;
  std::uint32_t ip_;
  std::uint16_t next_port_ = 0;
};

Network::Network(const asio::any_io_executor& executor, async::ManualClock& clock,
                 std::uint64_t seed, LinkRule rule)
    : executor_(executor), clock_(clock), seed_(seed), rule_(std::move(rule)), changed_(executor) {}

Network::~Network() = default;

wire::Transport& Network::transport(std::uint32_t ip) {
  auto& t = hosts_[ip];
  if (!t) t = std::make_unique<HostTransport>(*this, ip);
  return *t;
}

void Network::partition(const std::unordered_map<std::uint32_t, int>& group_of) {
  groups_ = group_of;
  changed_.notify();
}

void Network::heal() {
  groups_.clear();
  changed_.notify();
}

int Network::group(std::uint32_t ip) const {
  auto it = groups_.find(ip);
  return it == groups_.end() ? 0 : it->second;
}

bool Network::reachable(std::uint32_t from_ip, std::uint32_t to_ip) const {
  return groups_.empty() || group(from_ip) == group(to_ip);
}

asio::awaitable<void> Network::changed() {
  co_await changed_.wait();
}

void Network::count(std::uint32_t from_ip, std::uint32_t to_ip, std::size_t bytes) {
  traffic_[from_ip].bytes_out += bytes;
  traffic_[to_ip].bytes_in += bytes;
}

const HostTraffic& Network::traffic(std::uint32_t ip) {
  return traffic_[ip];
}

void Network::cut(std::uint32_t ip) {
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    it = it->first.first == ip ? listeners_.erase(it) : std::next(it);
  }
  auto links = links_of_.find(ip);
  if (links == links_of_.end()) return;
  auto list = std::move(links->second);
  links_of_.erase(links);
  for (auto& weak : list) {
    if (auto link = weak.lock()) link->reset();
  }
}

asio::awaitable<std::unique_ptr<wire::ByteStream>> Network::dial(std::uint32_t from,
                                                                 const wire::Multiaddr& addr) {
  ++traffic_[from].dials;
  const auto to = endpoint_of(addr);
  if (!to) {
    ++traffic_[from].dials_failed;
    throw system_error(make_error_code(asio::error::host_unreachable),
                       "bb-sim: no route to " + addr.to_string() + " (only /ip4/A/tcp/P)");
  }
  const LinkParams params = rule_(from, to->ip);
  // SYN and SYN-ACK cross; then the dialer's ACK follows with its first bytes.
  const std::uint64_t deadline = clock_.now_ns() + connect_timeout_ns;
  if (!reachable(from, to->ip)) {
    co_await clock_.sleep_until(deadline);
    ++traffic_[from].dials_failed;
    throw system_error(make_error_code(asio::error::timed_out),
                       "bb-sim: " + addr.to_string() + " did not answer (partitioned)");
  }
  co_await clock_.sleep_until(clock_.now_ns() + 2 * params.latency_ns);
  auto listener = listeners_.find({to->ip, to->port});
  if (listener == listeners_.end()) {
    ++traffic_[from].dials_failed;
    throw system_error(make_error_code(asio::error::connection_refused),
                       "bb-sim: nobody listens on " + addr.to_string());
  }
  const Endpoint local{from, hosts_.at(from)->next_port()};
  const std::uint64_t link_seed = mix64(seed_ ^ mix64(++links_made_));
  LinkEnds ends = make_link(executor_, clock_, *this, local, *to, params, link_seed);
  for (const std::uint32_t ip : {from, to->ip}) {
    auto& list = links_of_[ip];
    list.push_back(ends.link);
    if (list.size() % 64 == 0) std::erase_if(list, [](const auto& w) { return w.expired(); });
  }
  // Copied: the accept may unlisten (a host stopping) while it runs.
  auto accept = listener->second;
  accept(std::move(ends.b));
  co_return std::move(ends.a);
}

}  // namespace bb::sim

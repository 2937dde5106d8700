#include "bb/wire/detail/host_impl.hpp"

#include "bb/version.hpp"
#include "bb/wire/log.hpp"

namespace bb::wire {

std::string_view bb_version() noexcept {
  return BB_VERSION_STRING;
}

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::system_error;

Host::Host(const asio::any_io_executor& executor, Ed25519KeyPair identity, HostOptions options)
    : impl_(std::make_unique<Impl>(executor, std::move(identity), std::move(options))) {
  keep_logs_off_stdout();
}

Host::~Host() = default;

Multiaddr Host::listen(const Multiaddr& addr) {
  if (impl_->options.transport != nullptr) {
    Impl* impl = impl_.get();
    Multiaddr bound = impl->options.transport->listen(addr, [impl](std::unique_ptr<ByteStream> s) {
      if (impl->stopping) {
        s->close();
        return;
      }
      impl->start_ticking();
      impl->on_inbound(std::move(s));
    });
    impl->transport_listens.push_back(bound);
    impl->start_ticking();
    impl->listen_addrs.push_back(bound);
    impl->schedule_push();
    return bound;
  }
  auto& listener = impl_->listeners.emplace_back(TcpListener::listen(impl_->ex, addr));
  impl_->start_ticking();
  Multiaddr bound = listener.local_addr();
  impl_->listen_addrs.push_back(bound);
  impl_->tasks.spawn(impl_->accept_loop(listener), "listener " + bound.to_string());
  impl_->schedule_push();
  return bound;
}

asio::awaitable<Connection> Host::connect(const Multiaddr& addr) {
  auto& impl = *impl_;
  impl.start_ticking();
  const std::optional<PeerId> peer = addr.peer_id();
  if (!peer) co_return co_await impl.dial(addr, std::nullopt);
  if (*peer == impl.self) {
    const auto ec = make_error_code(errc::peer_unreachable);
    impl.emit(DialFailed{addr, ec, "refusing to dial ourselves"});
    throw system_error(ec, "refusing to dial ourselves");
  }
  if (auto existing = connection(*peer)) co_return *existing;
  if (auto it = impl.dials.find(*peer); it != impl.dials.end()) {
    auto pending = it->second;  // keep it alive while waiting
    co_await pending->done.wait();
    if (pending->error) std::rethrow_exception(pending->error);
    co_return *pending->connection;
  }
  auto pending = std::make_shared<Impl::PendingDial>(impl.ex);
  impl.dials.emplace(*peer, pending);
  std::exception_ptr error;
  try {
    pending->connection = co_await impl.dial(addr, peer);
  } catch (...) {
    error = std::current_exception();
  }
  pending->error = error;
  impl.dials.erase(*peer);
  pending->done.set();
  if (error) std::rethrow_exception(error);
  co_return *pending->connection;
}

void Host::add_inbound(std::unique_ptr<ByteStream> stream) {
  auto& impl = *impl_;
  if (impl.stopping) {
    stream->close();
    return;
  }
  impl.start_ticking();
  impl.on_inbound(std::move(stream));
}

asio::awaitable<Connection> Host::connect_over(std::unique_ptr<ByteStream> stream,
                                               PeerId expected) {
  auto& impl = *impl_;
  impl.start_ticking();
  const Multiaddr addr = stream->remote_addr().with_peer_id(expected);
  if (expected == impl.self) {
    stream->close();
    const auto ec = make_error_code(errc::peer_unreachable);
    impl.emit(DialFailed{addr, ec, "refusing to dial ourselves"});
    throw system_error(ec, "refusing to dial ourselves");
  }
  co_return co_await impl.dial(addr, std::move(expected), std::move(stream));
}

std::optional<Connection> Host::connection(const PeerId& peer) const {
  auto it = impl_->connections.find(peer);
  if (it == impl_->connections.end() || !it->second.is_open()) return std::nullopt;
  return it->second;
}

void Host::set_handler(std::string protocol, StreamHandler handler) {
  const bool added =
      impl_->handlers.insert_or_assign(std::move(protocol), std::move(handler)).second;
  if (added) impl_->schedule_push();
}

void Host::remove_handler(std::string_view protocol) {
  if (auto it = impl_->handlers.find(protocol); it != impl_->handlers.end()) {
    impl_->handlers.erase(it);
    impl_->schedule_push();
  }
}

asio::awaitable<Stream> Host::open_stream(const PeerId& peer, std::vector<std::string> protocols) {
  auto conn = connection(peer);
  if (!conn) {
    throw system_error(make_error_code(errc::peer_unreachable),
                       "no connection to " + peer.to_base58());
  }
  co_return co_await conn->open_stream(std::move(protocols));
}

asio::awaitable<std::optional<HostEvent>> Host::next_event() {
  auto& impl = *impl_;
  while (impl.events.empty()) {
    if (impl.stopped) co_return std::nullopt;
    co_await impl.event_signal.wait();
  }
  co_return try_next_event();
}

std::optional<HostEvent> Host::try_next_event() {
  auto& events = impl_->events;
  if (events.empty()) return std::nullopt;
  HostEvent e = std::move(events.front());
  events.pop_front();
  return e;
}

asio::awaitable<void> Host::stop() {
  auto& impl = *impl_;
  impl.stopping = true;
  impl.accept_room.notify();
  impl.push_wanted.notify();
  for (auto& l : impl.listeners) l.close();
  impl.unlisten_transport();
  // What was written (the last receipts above all) goes out, then each connection ends the way
  // TCP ends without loss: our half shut after the last byte, the peer reads to its end and
  // shuts its half. All at once, for at most kStopCloseBound (a peer that neither reads nor
  // closes); what is left then is closed outright.
  std::vector<Connection> open;
  for (auto& [peer, conn] : impl.connections) open.push_back(conn);
  for (auto& conn : open) conn.end_writing();
  const std::uint64_t deadline =
      async::saturating_add(impl.clock.now_ns(), async::to_ns(kStopCloseBound));
  for (auto& conn : open) {
    const std::uint64_t now = impl.clock.now_ns();
    if (now >= deadline) break;
    (void)co_await async::capture(
        async::with_timeout(impl.clock, conn.wait_closed(), deadline - now,
                            make_error_code(asio::error::timed_out), "graceful close"));
  }
  for (auto& [peer, conn] : impl.connections) conn.close();
  impl.tasks.cancel_all();
  co_await impl.tasks.join();
  impl.stopped = true;
  impl.event_signal.notify();
}

void Host::protect(const PeerId& peer, std::string_view tag) {
  impl_->cm.protect(peer, tag);
}
bool Host::unprotect(const PeerId& peer, std::string_view tag) {
  return impl_->cm.unprotect(peer, tag);
}
bool Host::is_protected(const PeerId& peer) const {
  return impl_->cm.is_protected(peer);
}
ConnManagerStats Host::connection_stats() const {
  ConnManagerStats out = impl_->cm.stats();
  out.accept_failures = impl_->accept_failures;
  return out;
}
const FdBudget& Host::fd_budget() const noexcept {
  return impl_->fds;
}
const ResourceManager& Host::resources() const noexcept {
  return impl_->resources;
}

ResourceManager& Host::resources() noexcept {
  return impl_->resources;
}

const Histogram& Host::handshake_times() const noexcept {
  return impl_->handshake_durations;
}

const PeerId& Host::peer_id() const noexcept {
  return impl_->self;
}
const Ed25519KeyPair& Host::identity() const noexcept {
  return impl_->identity;
}
std::vector<Multiaddr> Host::listen_addrs() const {
  return impl_->listen_addrs;
}
std::vector<Multiaddr> Host::advertised_addrs() const {
  return impl_->advertised();
}
std::vector<boost::asio::ip::address> Host::observed_ips() const {
  return impl_->observed.confirmed();
}
std::vector<std::string> Host::protocols() const {
  return impl_->supported();
}
std::size_t Host::connection_count() const noexcept {
  return impl_->connections.size();
}
std::vector<PeerId> Host::connected_peers() const {
  std::vector<PeerId> out;
  for (const auto& [peer, conn] : impl_->connections) {
    if (conn.is_open()) out.push_back(peer);
  }
  return out;
}
identify::Info Host::local_info() const {
  return impl_->local_info();
}

}  // namespace bb::wire

// The Host's way in: accepting, admission per IP before any crypto, handshakes that wait for a
// slot, refusals that linger, and the inbound upgrade.
#include "wire/detail/host_impl.hpp"

namespace bb::wire {

// Accept errors (EMFILE and the like) are retried after a backoff, never at once: the
// pending connection stays in the backlog and would fail again immediately.
asio::awaitable<void> Host::Impl::accept_loop(TcpListener& listener) {
  std::chrono::milliseconds backoff{0};
  std::optional<ConnectionManager::TimePoint> last_warning;
  std::uint64_t unreported = 0;
  while (!stopping) {
    while (!cm.accepting() && !stopping) co_await accept_room.wait();
    if (stopping) co_return;
    tcp::socket socket(ex);
    error_code error;
    try {
      socket = co_await listener.accept();
    } catch (const system_error& e) {
      error = e.code();
    }
    if (stopping || error == asio::error::operation_aborted) co_return;
    if (error) {
      ++accept_failures;
      ++unreported;
      backoff =
          backoff.count() == 0 ? kAcceptBackoffFirst : std::min(2 * backoff, kAcceptBackoffMax);
      if (!last_warning || now() - *last_warning >= kAcceptWarningInterval) {
        spdlog::warn("accepting on {} failed {} time(s): {}{}; retrying after {} ms",
                     listener.local_addr().to_string(), unreported, error.message(),
                     is_resource_exhaustion(error) ? " (out of file descriptors or memory)" : "",
                     backoff.count());
        last_warning = now();
        unreported = 0;
      }
      const bool slept = co_await clock.sleep_for(ns(backoff));
      if (!slept) co_return;
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    on_accepted(std::move(socket));
  }
}

void Host::Impl::on_accepted(tcp::socket socket) {
  error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return;  // the dialer is gone already
  const Multiaddr from = to_multiaddr(remote);
  // The resource manager first: a refusal there must not cost a handshake its slot.
  auto scope = resources.open_connection(Dir::inbound);
  if (!scope) {
    refuse(std::move(socket), from, scope.error(), resources.last_refusal());
    return;
  }
  auto admission = cm.admit(remote.address(), now());
  using Verdict = ConnectionManager::Admission::Verdict;
  if (admission.verdict == Verdict::refuse) {
    refuse(std::move(socket), from, admission.error, std::move(admission.detail));
    return;
  }
  if (admission.evicted) evict(*admission.evicted);
  Handshake* hs = handshakes.insert_or_assign(admission.id, std::make_unique<Handshake>(ex))
                      .first->second.get();
  tasks.spawn(inbound_handshake(std::move(socket), std::move(*scope), from, remote.address(),
                                admission.id, hs, admission.verdict == Verdict::wait),
              "inbound handshake");
}

// Tells a dialer we will not talk ("na" to its multistream-select header), then lets it go.
// The event is the only report: a flood of refusals must not flood the log.
void Host::Impl::refuse(tcp::socket socket, const Multiaddr& from, error_code why,
                        std::string detail) {
  emit(InboundFailed{from, why, std::move(detail)});
  Bytes answer;
  mss::append_message(answer, mss::kHeader);
  mss::append_message(answer, mss::kNa);
  error_code ignored;
  socket.non_blocking(true, ignored);
  (void)socket.write_some(asio::buffer(answer), ignored);  // a fresh socket has room for it
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  if (lingering < kMaxLingering && !stopping) {
    ++lingering;
    tasks.spawn(linger(std::move(socket)), "refused connection");
  } else {
    socket.close(ignored);
  }
}

asio::awaitable<void> Host::Impl::linger(tcp::socket socket) {
  struct Done {
    std::size_t& count;
    ~Done() { --count; }
  } done{lingering};
  const std::uint64_t deadline = async::saturating_add(clock.now_ns(), ns(kRefusalLinger));
  std::array<std::uint8_t, 512> discard{};
  while (true) {
    auto outcome = co_await (
        socket.async_read_some(asio::buffer(discard), asio::as_tuple(asio::use_awaitable)) ||
        clock.sleep_until(deadline));
    if (outcome.index() == 1 || std::get<0>(std::get<0>(outcome))) break;
  }
  error_code ignored;
  socket.close(ignored);
}

// The connection manager gave this handshake's slot to a newcomer: its coroutine ends it.
void Host::Impl::evict(HandshakeId id) {
  if (auto it = handshakes.find(id); it != handshakes.end()) {
    it->second->evicted = true;
    it->second->wake.notify();
  }
}

// Ends a handshake's time in the connection manager and hands freed slots on. Idempotent.
void Host::Impl::handshake_finished(HandshakeId id) {
  if (handshakes.erase(id) == 0) return;
  cm.handshake_ended(id);
  for (HandshakeId next : cm.promote(now())) {
    if (auto it = handshakes.find(next); it != handshakes.end()) it->second->wake.notify();
  }
  accept_room.notify();
}

// `state` lives until handshake_finished(id).
asio::awaitable<void> Host::Impl::inbound_handshake(tcp::socket socket, ConnectionScope scope,
                                                    Multiaddr from, asio::ip::address ip,
                                                    HandshakeId id, Handshake* state,
                                                    bool waiting) {
  Handshake& hs = *state;
  struct Finish {
    Impl& impl;
    HandshakeId id;
    ~Finish() { impl.handshake_finished(id); }
  } finish{*this, id};
  const auto& cmo = options.connection_manager;

  if (waiting) {  // no slot yet: read nothing until one frees
    auto outcome = co_await (hs.wake.wait() || clock.sleep_for(ns(cmo.slot_wait)));
    if (stopping) co_return;
    if (outcome.index() == 1) {
      // No slot freed: a handshake that was too young to evict may be stuck by now.
      if (auto victim = cm.evict_for_waiting(id, now())) {
        evict(*victim);
        outcome.emplace<0>();
      }
    }
    if (outcome.index() == 1) {  // waiting handshakes are never evicted, only promoted
      const auto why = make_error_code(errc::pending_connection_limit);
      cm.count_refusal(why);
      refuse(std::move(socket), from, why,
             "no handshake slot free within " + std::to_string(cmo.slot_wait.count()) + " ms (" +
                 std::to_string(options.max_pending_inbound) + " handshakes in progress)");
      co_return;
    }
  }

  // The first multistream-select message, whole, within first_message_timeout. While what
  // arrived is a correct beginning of it, the socket is made to read as ready only once the
  // whole message is there (SO_RCVLOWAT), so a byte at a time does not keep the slot; anything
  // else (the message, garbage, the end) goes to the upgrade, which judges it at once.
  error_code ignored;
  {
    Bytes header;
    mss::append_message(header, mss::kHeader);
    const std::uint64_t deadline =
        async::saturating_add(clock.now_ns(), ns(cmo.first_message_timeout));
    bool watermark = false;
    while (true) {
      auto outcome = co_await (
          socket.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable)) ||
          clock.sleep_until(deadline) || hs.wake.wait());
      if (stopping) co_return;
      if (hs.evicted) {
        refuse(std::move(socket), from, make_error_code(errc::pending_connection_evicted),
               "handshake evicted to make room for a peer from a less busy address");
        co_return;
      }
      if (outcome.index() == 1) {
        const auto why = make_error_code(errc::handshake_timeout);
        cm.count_refusal(why);
        emit(InboundFailed{from, why,
                           "no multistream-select header within " +
                               std::to_string(cmo.first_message_timeout.count()) + " ms"});
        co_return;  // the socket closes with the frame
      }
      std::array<std::uint8_t, kFirstMessageBytes> seen{};
      error_code ec;
      socket.non_blocking(true, ec);
      const std::size_t n =
          ec ? 0 : socket.receive(asio::buffer(seen), tcp::socket::message_peek, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
      // Ready with the watermark set but the message still short: the peer closed.
      if (ec || n == 0 || n == seen.size() || watermark ||
          !std::equal(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(n),
                      header.begin())) {
        break;
      }
      socket.set_option(
          asio::socket_base::receive_low_watermark(static_cast<int>(kFirstMessageBytes)), ignored);
      watermark = true;
    }
  }
  socket.set_option(asio::socket_base::receive_low_watermark(1), ignored);
  cm.first_message(id);

  std::exception_ptr failure;
  std::optional<Connection> conn;
  {
    auto outcome = co_await (
        async::capture(Connection::upgrade(std::move(socket), Direction::inbound, identity, {},
                                           options.connection, std::move(scope))) ||
        hs.wake.wait());
    if (stopping) co_return;
    if (outcome.index() == 1) {
      emit(InboundFailed{from, make_error_code(errc::pending_connection_evicted),
                         "handshake evicted to make room for a peer from a less busy address"});
      co_return;
    }
    auto& captured = std::get<0>(outcome);
    failure = captured.error;
    if (!failure) conn = std::move(*captured.value);
  }
  handshake_finished(id);  // its slot is free before the connection is placed
  if (conn) {
    try {
      add_connection(std::move(*conn), ip);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (failure) {
    error_code code;
    std::string detail = describe(failure, code);
    if (code != asio::error::operation_aborted) emit(InboundFailed{from, code, std::move(detail)});
  }
}

}  // namespace bb::wire

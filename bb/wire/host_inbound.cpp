// The Host's way in: accepting, admission per IP before any crypto, handshakes that wait for a
// slot, refusals that linger, and the inbound upgrade.
#include "bb/wire/detail/host_impl.hpp"

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
  (void)socket.remote_endpoint(ec);
  if (ec) return;  // the dialer is gone already
  std::unique_ptr<ByteStream> stream;
  try {
    stream = make_tcp_stream(std::move(socket));
  } catch (const system_error&) {
    return;  // could not be made non-blocking: nothing to talk over
  }
  on_inbound(std::move(stream));
}

namespace {
// The IP the per-IP limits count a stream under: its remote address's, or 0.0.0.0 when it has
// none (streams without one share that address's limits).
asio::ip::address counted_ip(const Multiaddr& addr) {
  if (auto ep = tcp_endpoint(addr)) return ep->address();
  return asio::ip::address_v4::any();
}
}  // namespace

void Host::Impl::on_inbound(std::unique_ptr<ByteStream> stream) {
  const Multiaddr from = stream->remote_addr();
  const asio::ip::address ip = counted_ip(from);
  // The resource manager first: a refusal there must not cost a handshake its slot.
  auto scope = resources.open_connection(Dir::inbound);
  if (!scope) {
    refuse(std::move(stream), from, scope.error(), resources.last_refusal());
    return;
  }
  auto admission = cm.admit(ip, now());
  using Verdict = ConnectionManager::Admission::Verdict;
  if (admission.verdict == Verdict::refuse) {
    refuse(std::move(stream), from, admission.error, std::move(admission.detail));
    return;
  }
  if (admission.evicted) evict(*admission.evicted);
  Handshake* hs = handshakes.insert_or_assign(admission.id, std::make_unique<Handshake>(ex))
                      .first->second.get();
  tasks.spawn(inbound_handshake(std::move(stream), std::move(*scope), from, ip, admission.id, hs,
                                admission.verdict == Verdict::wait),
              "inbound handshake");
}

// Tells a dialer we will not talk ("na" to its multistream-select header), then lets it go.
// The event is the only report: a flood of refusals must not flood the log.
void Host::Impl::refuse(std::unique_ptr<ByteStream> stream, const Multiaddr& from, error_code why,
                        std::string detail) {
  emit(InboundFailed{from, why, std::move(detail)});
  Bytes answer;
  mss::append_message(answer, mss::kHeader);
  mss::append_message(answer, mss::kNa);
  error_code ignored;
  (void)stream->try_write(answer, ignored);  // a fresh stream has room for it
  stream->shutdown_write();
  if (lingering < kMaxLingering && !stopping) {
    ++lingering;
    tasks.spawn(linger(std::move(stream)), "refused connection");
  } else {
    stream->close();
  }
}

// Reads (and drops) what the refused dialer still sends until it closes or kRefusalLinger
// passes, so that our close cannot turn into a reset that overtakes the "na".
asio::awaitable<void> Host::Impl::linger(std::unique_ptr<ByteStream> stream) {
  struct Done {
    std::size_t& count;
    ~Done() { --count; }
  } done{lingering};
  const std::uint64_t deadline = async::saturating_add(clock.now_ns(), ns(kRefusalLinger));
  std::array<std::uint8_t, 512> discard{};
  while (true) {
    auto outcome = co_await (stream->async_wait_readable() || clock.sleep_until(deadline));
    if (outcome.index() == 1 || std::get<0>(outcome)) break;
    error_code ec;
    (void)stream->read_some(discard, ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) break;
  }
  stream->close();
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
asio::awaitable<void> Host::Impl::inbound_handshake(std::unique_ptr<ByteStream> stream,
                                                    ConnectionScope scope, Multiaddr from,
                                                    asio::ip::address ip, HandshakeId id,
                                                    Handshake* state, bool waiting) {
  Handshake& hs = *state;
  const std::uint64_t accepted_ns = clock.now_ns();
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
      refuse(std::move(stream), from, why,
             "no handshake slot free within " + std::to_string(cmo.slot_wait.count()) + " ms (" +
                 std::to_string(options.max_pending_inbound) + " handshakes in progress)");
      co_return;
    }
  }

  // The first multistream-select message, whole, within first_message_timeout. While what
  // arrived is a correct beginning of it, the handshake waits for the rest (at most
  // kFirstMessageBytes, read into `first`), so a byte at a time does not keep the slot past the
  // deadline; anything else (the message, garbage, the end, an error) goes to the upgrade, which
  // judges it at once. What was read is handed to the upgrade as read ahead.
  Bytes first;
  {
    Bytes header;
    mss::append_message(header, mss::kHeader);
    const std::uint64_t deadline =
        async::saturating_add(clock.now_ns(), ns(cmo.first_message_timeout));
    while (first.size() < kFirstMessageBytes) {
      auto outcome =
          co_await (stream->async_wait_readable() || clock.sleep_until(deadline) || hs.wake.wait());
      if (stopping) co_return;
      if (hs.evicted) {
        refuse(std::move(stream), from, make_error_code(errc::pending_connection_evicted),
               "handshake evicted to make room for a peer from a less busy address");
        co_return;
      }
      if (outcome.index() == 1) {
        const auto why = make_error_code(errc::handshake_timeout);
        cm.count_refusal(why);
        emit(InboundFailed{from, why,
                           "no multistream-select header within " +
                               std::to_string(cmo.first_message_timeout.count()) + " ms"});
        co_return;  // the stream closes with the frame
      }
      if (outcome.index() == 2) continue;
      if (std::get<0>(outcome)) break;  // the wait failed: the upgrade reports it
      std::array<std::uint8_t, kFirstMessageBytes> chunk{};
      error_code ec;
      const std::size_t n =
          stream->read_some(std::span(chunk.data(), kFirstMessageBytes - first.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
      first.insert(first.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
      if (ec || n == 0 ||
          !std::equal(first.begin(), first.end(), header.begin(),
                      header.begin() + static_cast<std::ptrdiff_t>(first.size()))) {
        break;
      }
    }
  }
  cm.first_message(id);

  std::exception_ptr failure;
  std::optional<Connection> conn;
  {
    auto outcome = co_await (async::capture(Connection::upgrade(
                                 std::move(stream), Direction::inbound, identity, {},
                                 options.connection, std::move(scope), std::move(first))) ||
                             hs.wake.wait());
    if (stopping) co_return;
    if (outcome.index() == 1) {
      emit(InboundFailed{from, make_error_code(errc::pending_connection_evicted),
                         "handshake evicted to make room for a peer from a less busy address"});
      co_return;
    }
    auto& captured = std::get<0>(outcome);
    failure = captured.error;
    if (!failure) {
      conn = std::move(*captured.value);
      handshake_durations.observe(clock.now_ns() - accepted_ns);
    }
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

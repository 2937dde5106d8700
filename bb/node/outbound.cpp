#include "bb/node/outbound.hpp"

#include "bb/wire/error.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/system/system_error.hpp>

namespace bb::node::detail {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::system_error;
namespace reason = runtime::reason;

Outbound::Outbound(Core& core) : core_(core), resolved_(core.ex) {}

bool Outbound::idle() const {
  for (const auto& [peer, link] : links_) {
    if (!link->entries.empty()) return false;
  }
  return true;
}

bool Outbound::resolvable(const wire::PeerId& peer) const {
  return links_.contains(peer) || core_.host.connection(peer).has_value() ||
         core_.peers.knows(peer) || core_.router != nullptr;
}

std::span<const wire::Bytes> Outbound::local_addresses(const wire::PeerId& peer) const {
  auto it = links_.find(peer);
  if (it != links_.end() && it->second->addresses_sent) return {};
  return local_addrs_;
}

asio::awaitable<runtime::Verdict> Outbound::send(const wire::PeerId& peer, std::uint64_t message_id,
                                                 const wire::SingleFillEnvelope& env,
                                                 std::uint64_t deadline_ns,
                                                 std::shared_ptr<Waiter> waiter) {
  if (core_.stopping) co_return deny(reason::stopped, "the node is stopping");
  auto link = link_for(peer, deadline_ns);
  while (link->state == Link::State::connecting) co_await link->sender.changed().wait();
  if (link->state == Link::State::closed) co_return deny(link->failure, link->failure_detail);

  const std::size_t size = wire::envelope_frame_size(env);
  while (!link->sender.has_room(size)) {
    if (link->state == Link::State::closed) co_return deny(link->failure, link->failure_detail);
    if (core_.clock.now_ns() >= deadline_ns) {
      co_return deny(reason::queue_full, "the queue to " + peer.to_base58() + " stayed full (" +
                                             std::to_string(link->sender.queued()) + " messages, " +
                                             std::to_string(link->sender.queued_bytes()) +
                                             " bytes) until the message's deadline");
    }
    co_await (link->sender.changed().wait() || core_.clock.sleep_until(deadline_ns));
  }
  link->sender.push(env);
  if (!env.src_addresses.empty()) link->addresses_sent = true;
  link->entries.push_back(Entry{message_id, std::move(waiter), false});
  co_return std::nullopt;
}

bool Outbound::try_send(const wire::PeerId& peer, std::uint64_t message_id,
                        const wire::SingleFillEnvelope& env, std::shared_ptr<Waiter> waiter) {
  if (core_.stopping) return false;
  const auto it = links_.find(peer);
  if (it == links_.end()) return false;
  Link& link = *it->second;
  if (link.state != Link::State::open || !link.sender.has_room(wire::envelope_frame_size(env))) {
    return false;
  }
  core_.touched = true;
  link.sender.push(env);
  if (!env.src_addresses.empty()) link.addresses_sent = true;
  link.entries.push_back(Entry{message_id, std::move(waiter), false});
  return true;
}

asio::awaitable<void> Outbound::send_control(const wire::PeerId& peer,
                                             const wire::SingleFillEnvelope& env) {
  auto link = link_for(peer, async::saturating_add(core_.clock.now_ns(), 1'000'000'000));
  while (link->state == Link::State::connecting) co_await link->sender.changed().wait();
  if (link->state == Link::State::closed) co_return;
  link->sender.push(env, /*counted=*/false);
  link->entries.push_back(Entry{0, nullptr, true});
}

std::shared_ptr<Outbound::Link> Outbound::link_for(const wire::PeerId& peer,
                                                   std::uint64_t deadline_ns) {
  core_.touched = true;
  auto& slot = links_[peer];
  if (!slot) {
    wire::bb_wire::SenderLimits limits;
    limits.max_queued_messages = core_.config.max_queued_messages;
    limits.max_queued_bytes = core_.config.max_queued_bytes;
    limits.max_awaiting_receipt = core_.config.max_awaiting_receipt;
    slot = std::make_shared<Link>(core_.ex, peer, limits);
    slot->route_deadline_ns = deadline_ns;
    core_.tasks.spawn(run_link(slot), "link " + peer.to_base58());
  }
  return slot;
}

asio::awaitable<std::vector<wire::Multiaddr>> Outbound::route(const wire::PeerId& peer,
                                                              std::uint64_t deadline_ns) {
  const PeerRouter router = core_.router;  // a copy: it may be replaced while we wait
  std::vector<wire::Multiaddr> found;
  try {
    auto outcome = co_await (router(peer) || core_.clock.sleep_until(deadline_ns));
    if (outcome.index() == 0) found = std::move(std::get<0>(outcome));
  } catch (const std::exception& e) {
    spdlog::debug("peer router for {}: {}", peer.to_base58(), wire::error_text(e));
  }
  for (const auto& addr : found) core_.peers.add_address(peer, addr, AddressSource::dht);
  co_return core_.peers.addresses(peer);
}

asio::awaitable<wire::Connection> Outbound::dial(const wire::PeerId& peer,
                                                 std::uint64_t deadline_ns) {
  if (auto conn = core_.host.connection(peer)) co_return *conn;
  auto candidates = core_.peers.addresses(peer);  // a copy: the store may change while we dial
  if (candidates.empty() && core_.router && !core_.stopping) {
    candidates = co_await route(peer, deadline_ns);
    if (auto conn = core_.host.connection(peer)) co_return *conn;
  }
  if (candidates.empty()) {
    throw system_error(make_error_code(wire::errc::peer_unreachable),
                       "no address known for " + peer.to_base58());
  }
  std::exception_ptr last;
  for (const auto& addr : candidates) {
    try {
      co_return co_await core_.host.connect(addr);
    } catch (const system_error&) {
      last = std::current_exception();
    }
  }
  std::rethrow_exception(last);
}

asio::awaitable<void> Outbound::run_link(std::shared_ptr<Link> link) {
  try {
    auto conn = co_await dial(link->peer, link->route_deadline_ns);
    // Batches where the peer takes them, single envelopes where it only speaks 1.0.0.
    std::vector<std::string> protocols{std::string(wire::bb_wire::kBatchProtocolId),
                                       std::string(wire::bb_wire::kProtocolId)};
    link->stream.emplace(co_await conn.open_stream(std::move(protocols)));
    link->sender.set_batched(link->stream->protocol() == wire::bb_wire::kBatchProtocolId);
  } catch (const system_error& e) {
    if (link->state == Link::State::closed) co_return;  // failed by stop()
    core_.tables.on_unreachable(link->peer);
    fail_link(*link, reason::peer_unreachable,
              "cannot reach " + link->peer.to_base58() + ": " + wire::error_text(e));
    co_return;
  }
  if (link->state == Link::State::closed) co_return;
  link->state = Link::State::open;
  link->sender.notify();
  std::string detail;
  try {
    Link& l = *link;
    auto on_receipt = [this, &l](std::uint64_t count, std::string_view why) {
      on_receipt_run(l, count, why);
    };
    auto on_written = [this](std::size_t messages, std::size_t bytes) {
      core_.metrics.messages_out += messages;
      core_.metrics.bytes_out += bytes;
    };
    co_await link->sender.run(*link->stream, on_receipt, on_written);
  } catch (const asio::multiple_exceptions& e) {
    detail = describe(e.first_exception());
  } catch (const std::exception& e) {
    detail = wire::error_text(e);
  }
  if (link->state != Link::State::closed) {
    fail_link(*link, reason::connection_lost,
              "connection to " + link->peer.to_base58() + " lost: " + detail);
  }
}

void Outbound::on_receipt_run(Link& link, std::uint64_t count, std::string_view text) {
  core_.tables.on_heartbeat(link.peer);  // receipts are traffic from the peer, as envelopes are
  const std::string_view why = text.empty() ? std::string_view{} : intern_reason(text);
  bool accepted_any = false;
  for (std::uint64_t i = 0; i < count && !link.entries.empty(); ++i) {
    Entry e = std::move(link.entries.front());
    link.entries.pop_front();
    if (why.empty()) {
      accepted_any = true;
      if (!e.control) ++core_.metrics.receipts_accepted;
      if (e.waiter) complete(*e.waiter, std::nullopt);
    } else {
      fail_entry(link.peer, e, why,
                 "peer " + link.peer.to_base58() + " refused message " +
                     std::to_string(e.message_id) + ": " + std::string(why),
                 false);
    }
  }
  if (accepted_any) core_.tables.on_send_succeeded(link.peer);
  resolved_.notify();
}

void Outbound::complete(Waiter& w, runtime::Verdict v) {
  w.verdict = std::move(v);
  w.done = true;
  w.done_event.set();
}

// One message that will not be delivered, counted and reported once: to its waiter when its
// send() awaits the outcome, else as a SendFailed event (or, for `unsent`, left to the caller's
// OutboundDropped). Returns whether the caller still has it to report.
bool Outbound::fail_entry(const wire::PeerId& peer, Entry& e, std::string_view why,
                          std::string detail, bool unsent) {
  if (e.control) return false;
  ++core_.metrics.drops[std::string(why)];
  if (e.waiter) {
    complete(*e.waiter, deny(why, std::move(detail)));
    return false;
  }
  if (unsent) return true;
  core_.events.emit(runtime::SendFailed{peer, why, std::move(detail), e.message_id});
  return false;
}

// Messages written and awaiting their receipt fail one by one (each may have arrived); messages
// never written, and awaited by nobody, are one OutboundDropped.
void Outbound::fail_link(Link& link, std::string_view why, std::string detail) {
  link.state = Link::State::closed;
  link.failure = why;
  link.failure_detail = detail;
  const std::size_t written = std::min(link.sender.awaiting_receipt(), link.entries.size());
  std::size_t unsent = 0;
  for (std::size_t i = 0; i < link.entries.size(); ++i) {
    if (i < written) {
      fail_entry(link.peer, link.entries[i], why, detail, false);
    } else {
      unsent += fail_entry(link.peer, link.entries[i], why, detail, true) ? 1 : 0;
    }
  }
  core_.tables.on_outbound_dropped(link.peer, unsent, why);
  link.entries.clear();
  link.sender.clear();
  if (link.stream) link.stream->reset();
  if (auto it = links_.find(link.peer); it != links_.end() && it->second.get() == &link) {
    links_.erase(it);
  }
  resolved_.notify();
}

void Outbound::fail_all(std::string_view why, std::string detail) {
  std::vector<std::shared_ptr<Link>> open;
  for (auto& [peer, link] : links_) open.push_back(link);
  for (auto& link : open) fail_link(*link, why, detail);
}

std::optional<Outbound::LinkStatus> Outbound::status(const wire::PeerId& peer) const {
  auto it = links_.find(peer);
  if (it == links_.end()) return std::nullopt;
  return LinkStatus{it->second->sender.queued(), it->second->sender.queued_bytes(),
                    it->second->sender.awaiting_receipt()};
}

std::vector<PeerQueue> Outbound::queues() const {
  std::vector<PeerQueue> out;
  out.reserve(links_.size());
  for (const auto& [peer, link] : links_) {
    out.push_back(PeerQueue{peer, link->sender.queued(), link->sender.queued_bytes(),
                            link->sender.awaiting_receipt()});
  }
  return out;
}

}  // namespace bb::node::detail

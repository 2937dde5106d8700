#include "bb/node/requests.hpp"

#include "bb/wire/error.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <stdexcept>

namespace bb::node {

std::optional<wire::Multiaddr> service_suffix(std::string_view service) {
  if (service.empty() || service.find('/') != std::string_view::npos) return std::nullopt;
  auto addr = wire::Multiaddr::parse("/component/0/op/" + std::string(service));
  if (!addr) return std::nullopt;
  return *addr;
}

}  // namespace bb::node

namespace bb::node::detail {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using runtime::Denial;
using runtime::DenyKind;
using runtime::Message;
using runtime::Verdict;
namespace reason = runtime::reason;

namespace {

// What a request being served costs besides its payload and suffix: the Received, the task's
// frame, about.
constexpr std::size_t kServingOverhead = 512;

std::string key_of(wire::ByteView suffix) {
  return std::string(reinterpret_cast<const char*>(suffix.data()), suffix.size());
}

}  // namespace

Requests::Requests(Core& core, SendPath& path)
    : core_(core), path_(path), room_(core.ex), ended_(core.ex) {
  const auto prefix = wire::Multiaddr::parse("/component/0");
  prefix_.assign(prefix->bytes().begin(), prefix->bytes().end());
}

// ---- client ----

asio::awaitable<RequestResult> Requests::request(wire::PeerId peer, std::string_view service,
                                                 wire::ByteView payload, RequestOptions options) {
  const auto suffix = service_suffix(service);
  if (!suffix) {
    co_return RequestResult{
        std::nullopt,
        Denial{DenyKind::bad_input, reason::no_service,
               "'" + std::string(service) + "' is not a service name", "Node.request"}};
  }
  if (core_.stopping) {
    co_return RequestResult{std::nullopt,
                            deny(reason::stopped, "the node is stopping", "Node.request")};
  }
  auto& tracker = core_.tables.requests();
  const auto now = core_.clock.now_ns();
  const auto timeout_ns =
      static_cast<std::uint64_t>(std::max<std::int64_t>(options.timeout.count(), 1));
  const auto deadline = async::saturating_add(now, timeout_ns);
  const auto token = tracker.mint();
  if (!tracker.track(token, peer, now, timeout_ns)) {
    co_return RequestResult{
        std::nullopt,
        Denial{DenyKind::other, reason::resource_limit,
               std::to_string(tracker.size()) + " requests already in flight", "Node.request"}};
  }
  auto pending = std::make_shared<Pending>(core_.ex);
  pending->peer = peer;
  pending_[token] = pending;
  // Abandoned (this frame destroyed or unwound before finish()): the entry goes, the token stays
  // tracked, and the tables report it as one Timeout at its deadline.
  struct Abandon {
    Requests& self;
    std::uint64_t token;
    const Pending* pending;
    ~Abandon() {
      auto it = self.pending_.find(token);
      if (it != self.pending_.end() && it->second.get() == pending) self.pending_.erase(it);
    }
  } abandon{*this, token, pending.get()};

  Message msg;
  msg.direction = runtime::Direction::tx;
  msg.peer = peer;
  msg.origin = core_.self;
  msg.message_id = token;
  msg.dest_suffix = suffix->bytes();
  msg.payload = payload;
  msg.start_ns = now;
  msg.budget_ns = timeout_ns;
  // The send, up to its receipt (the peer refusing it ends the request), then the response.
  // Either may come first: the receipt and the answer travel on different streams.
  auto sending = path_.send_message(msg, /*await_receipt=*/true);
  auto sent = co_await (std::move(sending) || core_.stage_clock.sleep_until(deadline));
  co_await throw_if_cancelled();
  if (sent.index() == 1) {
    co_return finish(token, pending,
                     Denial{DenyKind::timeout, reason::timeout,
                            "no receipt from " + peer.to_base58() + " in time", "Node.request"});
  }
  if (auto& verdict = std::get<0>(sent); verdict && !pending->response) {
    co_return finish(token, pending, std::move(verdict));
  }
  if (!pending->done) {
    auto waiting = wait_done(pending);
    auto answered = co_await (std::move(waiting) || core_.stage_clock.sleep_until(deadline));
    (void)answered;
    co_await throw_if_cancelled();
  }
  if (pending->done) co_return finish(token, pending, pending->failure);
  co_return finish(
      token, pending,
      Denial{DenyKind::timeout, reason::timeout,
             "no response from " + peer.to_base58() + " to '" + std::string(service) + "' in time",
             "Node.request"});
}

// A cancelled sleep ends without an exception, so the `||` above can complete "normally" when
// our caller cancelled us: then the request is abandoned (left tracked), not timed out.
asio::awaitable<void> Requests::throw_if_cancelled() {
  const auto state = co_await asio::this_coro::cancellation_state;
  if (state.cancelled() != asio::cancellation_type::none) {
    throw boost::system::system_error(asio::error::operation_aborted, "request abandoned");
  }
}

asio::awaitable<void> Requests::wait_done(std::shared_ptr<Pending> pending) {
  while (!pending->done) co_await pending->changed.wait();
}

RequestResult Requests::finish(std::uint64_t token, const std::shared_ptr<Pending>& pending,
                               Verdict failure) {
  (void)core_.tables.requests().complete(token, core_.clock.now_ns());
  if (auto it = pending_.find(token); it != pending_.end() && it->second == pending) {
    pending_.erase(it);
  }
  if (pending->response) return RequestResult{std::move(pending->response), std::nullopt};
  if (!failure) failure = deny(reason::stopped, "the request ended without a response");
  return RequestResult{std::nullopt, std::move(failure)};
}

Verdict Requests::on_response(const Message& msg) {
  auto it = pending_.find(msg.message_id);
  if (it == pending_.end() || it->second->peer != msg.peer || it->second->done) {
    return Denial{DenyKind::bad_input, reason::unknown_request,
                  "a response from " + msg.peer.to_base58() + " to request " +
                      std::to_string(msg.message_id) + ", which nobody here awaits from it",
                  "wire.Recv"};
  }
  auto pending = it->second;
  pending_.erase(it);
  (void)core_.tables.requests().complete(msg.message_id, core_.clock.now_ns());
  auto name = wire::Multiaddr::from_bytes(msg.dest_suffix);
  pending->response = received_from(msg, name ? name->to_string() : std::string());
  pending->done = true;
  pending->changed.notify();
  return std::nullopt;
}

void Requests::fail_peer(const wire::PeerId& peer, std::string_view why,
                         const std::string& detail) {
  for (auto& [token, pending] : pending_) {
    if (pending->done || pending->peer != peer) continue;
    pending->failure = deny(why, detail, "Node.request");
    pending->done = true;
    pending->changed.notify();
  }
}

void Requests::fail_all(std::string_view why, const std::string& detail) {
  for (auto& [token, pending] : pending_) {
    if (pending->done) continue;
    pending->failure = deny(why, detail, "Node.request");
    pending->done = true;
    pending->changed.notify();
  }
  room_.notify();
}

// ---- server ----

void Requests::serve(std::string service, ServiceHandler handler) {
  const auto suffix = service_suffix(service);
  if (!suffix) throw std::invalid_argument("'" + service + "' is not a service name");
  services_[key_of(suffix->bytes())] =
      Service{std::move(service), std::make_shared<const ServiceHandler>(std::move(handler))};
}

bool Requests::is_service(wire::ByteView suffix) const {
  return suffix.size() >= prefix_.size() &&
         std::equal(prefix_.begin(), prefix_.end(), suffix.begin());
}

asio::awaitable<Verdict> Requests::on_request(const Message& msg) {
  const auto key = key_of(msg.dest_suffix);
  const auto no_service = [&msg] {
    auto name = wire::Multiaddr::from_bytes(msg.dest_suffix);
    return Denial{DenyKind::bad_input, reason::no_service,
                  "nothing serves " + (name ? name->to_string() : std::string("that suffix")),
                  "wire.Recv"};
  };
  if (!services_.contains(key)) co_return no_service();
  if (core_.draining) co_return deny(reason::stopped, "the node is stopping", "wire.Recv");
  // Room among the handlers: a peer with kMaxServingPerPeer running waits (its stream is not
  // read meanwhile, as with a full channel), until one ends or the request's budget runs out.
  const bool budgeted = msg.budget_ns != 0;
  const auto deadline = async::saturating_add(msg.start_ns, msg.budget_ns);
  while (true) {
    if (core_.stopping) co_return deny(reason::stopped, "the node is stopping", "wire.Recv");
    const auto it = serving_.find(msg.peer);
    const std::size_t running = it == serving_.end() ? 0 : it->second;
    if (running < kMaxServingPerPeer && serving_total_ < kMaxServing) break;
    if (budgeted && core_.clock.now_ns() >= deadline) {
      co_return Denial{DenyKind::timeout, reason::deadline_exceeded,
                       "the request's budget ran out while " + std::to_string(running) +
                           " requests of " + msg.peer.to_base58() + " and " +
                           std::to_string(serving_total_) + " in all were being served",
                       "wire.Recv"};
    }
    if (budgeted) {
      auto room = room_.wait();
      auto woke = co_await (std::move(room) || core_.stage_clock.sleep_until(deadline));
      (void)woke;
    } else {
      co_await room_.wait();
    }
  }
  const auto it = services_.find(key);  // (serve() may have run meanwhile)
  if (it == services_.end()) co_return no_service();
  const std::size_t cost = kServingOverhead + msg.payload.size() + 2 * msg.dest_suffix.size();
  auto held = core_.host.resources().hold_peer_memory(msg.peer, cost);
  if (!held) {
    co_return Denial{DenyKind::other, reason::resource_limit,
                     "a request from " + msg.peer.to_base58() +
                         " refused: " + core_.host.resources().last_refusal(),
                     "wire.Recv"};
  }
  ++serving_[msg.peer];
  ++serving_total_;
  core_.tasks.spawn(
      answer(received_from(msg, it->second.name), it->second.handler, std::move(*held)),
      "request " + it->second.name);
  co_return std::nullopt;
}

bool Requests::expired(const Received& request) const {
  if (request.budget_ns == 0) return false;
  const auto now = core_.clock.now_ns();
  return now - std::min(request.arrival_ns, now) >= request.budget_ns;
}

void Requests::released(const wire::PeerId& peer) {
  --serving_total_;
  auto it = serving_.find(peer);
  if (it != serving_.end() && --it->second == 0) serving_.erase(it);
  room_.notify();
  ended_.notify();
}

asio::awaitable<void> Requests::answer(Received request,
                                       std::shared_ptr<const ServiceHandler> handler,
                                       wire::PeerMemory held) {
  struct Release {
    Requests& self;
    wire::PeerId peer;
    ~Release() { self.released(peer); }
  } release{*this, request.from};
  (void)held;  // the request's memory, charged to its peer until the answer is out
  const auto expired_drop = [this, &request] {
    ++core_.metrics.drops["rx:" + std::string(reason::deadline_exceeded)];
    spdlog::debug("request {} of {} to '{}' dropped unanswered: its budget ran out",
                  request.message_id, request.from.to_base58(), request.channel);
  };
  if (expired(request)) {
    expired_drop();
    co_return;
  }
  std::optional<wire::Bytes> reply;
  try {
    reply = co_await (*handler)(request);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;
    spdlog::warn("service '{}' failed on request {} of {}: {}", request.channel, request.message_id,
                 request.from.to_base58(), wire::error_text(e));
    co_return;
  } catch (const std::exception& e) {
    spdlog::warn("service '{}' failed on request {} of {}: {}", request.channel, request.message_id,
                 request.from.to_base58(), wire::error_text(e));
    co_return;
  }
  if (!reply) co_return;  // the service chose not to answer
  if (expired(request)) {
    expired_drop();
    co_return;
  }
  Message msg;
  msg.direction = runtime::Direction::tx;
  msg.peer = request.from;
  msg.origin = core_.self;
  msg.message_id = request.message_id;
  msg.response = true;
  msg.dest_suffix = request.suffix;
  msg.payload = *reply;
  msg.start_ns = request.budget_ns != 0 ? request.arrival_ns : core_.clock.now_ns();
  msg.budget_ns = request.budget_ns;
  auto verdict = co_await path_.send_message(msg, /*await_receipt=*/false);
  // Nobody awaits the answer: its denial is an event (node.hpp's rule).
  if (verdict) core_.tables.on_send_denied(request.from, *verdict, request.message_id);
}

}  // namespace bb::node::detail

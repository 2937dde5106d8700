// /ipfs/kad/1.0.0 streams: a peer's requests served one after another on its stream (each a
// uvarint-length-prefixed Message, answered the same way), and our requests, one stream each.
#include "bb/async/timeout.hpp"
#include "bb/dht/detail/service.hpp"
#include "bb/dht/error.hpp"
#include "bb/wire/frame.hpp"
#include "bb/wire/varint.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/error.hpp>

#include <exception>
#include <optional>

namespace bb::dht {

namespace asio = boost::asio;

namespace {

[[noreturn]] void fail(errc e, const std::string& detail) {
  throw boost::system::system_error(make_error_code(e), detail);
}

// The next length-prefixed message body on `stream`, its buffer reserved in the stream's scope
// before it grows; nullopt when the stream ended cleanly between messages.
asio::awaitable<std::optional<wire::Bytes>> read_message(wire::Stream& stream,
                                                         wire::StreamMemory& memory,
                                                         std::size_t max_bytes) {
  std::uint8_t header[wire::kMaxVarintBytes];
  std::size_t have = 0;
  for (;;) {
    const std::size_t n = co_await stream.read_some(std::span(header + have, 1));
    if (n == 0) {
      if (have == 0) co_return std::nullopt;
      fail(errc::message_truncated, "the stream ended inside a length prefix");
    }
    ++have;
    auto len = wire::decode_varint(wire::ByteView(header, have));
    if (len) {
      if (len->value > max_bytes) {
        fail(errc::message_too_large, "a message of " + std::to_string(len->value) +
                                          " bytes (at most " + std::to_string(max_bytes) + ")");
      }
      const auto size = static_cast<std::size_t>(len->value);
      memory.resize_or_reset(size, "kad message buffer refused");
      wire::Bytes body(size);
      std::size_t got = 0;
      while (got < size) {
        const std::size_t m = co_await stream.read_some(std::span(body.data() + got, size - got));
        if (m == 0) fail(errc::message_truncated, "the stream ended inside a message");
        got += m;
      }
      co_return body;
    }
    if (len.error() != wire::errc::varint_truncated || have == sizeof header)
      fail(errc::bad_message, "bad length prefix");
  }
}

asio::awaitable<void> write_message(wire::Stream& stream, const Message& message) {
  const wire::Bytes body = encode_message(message);
  wire::Bytes out;
  out.reserve(body.size() + wire::kMaxVarintBytes);
  wire::append_frame(out, body);
  co_await stream.write(out);
}

}  // namespace

asio::awaitable<void> Kademlia::Impl::serve_stream(std::shared_ptr<Impl> impl,
                                                   wire::Connection conn, wire::Stream stream) {
  if (!impl || impl->stopped) co_return;
  co_await impl->serve(std::move(conn), std::move(stream));
}

asio::awaitable<void> Kademlia::Impl::serve(wire::Connection conn, wire::Stream stream) {
  const wire::PeerId peer = stream.remote_peer();
  // Requests at once: per peer, and in all. Over either, this stream goes, and nothing else.
  auto& mine = serving_per_peer[peer];
  if (mine >= options.max_requests_per_peer || serving.size() >= options.max_requests) {
    if (mine == 0) serving_per_peer.erase(peer);
    ++counters.requests_refused;
    stream.reset();
    fail(errc::peer_query_limit, "more than " + std::to_string(options.max_requests_per_peer) +
                                     " kad streams from " + peer.to_base58() + " at once");
  }
  ++mine;
  serving.insert(&stream);
  struct Done {
    Impl& impl;
    wire::Stream* stream;
    wire::PeerId peer;
    ~Done() {
      impl.serving.erase(stream);
      if (auto it = impl.serving_per_peer.find(peer);
          it != impl.serving_per_peer.end() && --it->second == 0)
        impl.serving_per_peer.erase(it);
      impl.serve_done.notify();
    }
  } done{*this, &stream, peer};
  (void)conn;
  const wire::Multiaddr asker = stream.remote_addr();
  wire::StreamMemory memory(stream);
  try {
    for (;;) {
      auto body = co_await read_message(stream, memory, options.messages.max_message_bytes);
      if (!body || stopped) break;
      auto request = decode_message(*body, options.messages);
      if (!request) fail(static_cast<errc>(request.error().value()), "kad request");
      ++counters.requests_in;
      auto handled = core.handle(peer, *request, now(),
                                 [&](const wire::PeerId& p) { return addrs_for(p, &asker); });
      for (const auto& e : handled.learned) learn(e);
      if (handled.error) {
        if (request->type == MessageType::add_provider) ++counters.providers_refused;
        if (request->type == MessageType::put_value) ++counters.records_refused;
        throw boost::system::system_error(
            handled.error, std::string("kad ") + std::string(to_string(request->type)));
      }
      // A peer that asks is one we can reach; a server of the protocol is worth a table slot.
      if (handled.reply) co_await write_message(stream, *handled.reply);
      memory.resize(0);
    }
    stream.close_write();
  } catch (const boost::system::system_error& e) {
    if (e.code().category() == dht_category() || e.code() == wire::errc::resource_memory_limit) {
      ++counters.streams_closed;
      stream.reset();
      throw;  // reported by the Host as StreamFailed, with the reason
    }
  }
}

asio::awaitable<Message> Kademlia::Impl::ask_retrying(wire::PeerId peer, Message request) {
  for (int attempt = 0;; ++attempt) {
    std::optional<wire::Connection> on;
    std::exception_ptr failed;
    bool cancelled = false;
    try {
      co_return co_await ask_once(peer, request, on);
    } catch (const boost::system::system_error& e) {
      failed = std::current_exception();
      cancelled = e.code() == asio::error::operation_aborted;
    }
    // Only a lost connection: a refusal, a bad answer or a reset stream on a live connection
    // is the peer's answer, and a peer that closes every connection costs one retry. Never
    // after a cancellation (the request timeout's): a retry then would run unbounded, since
    // the timeout waits for this to end.
    if (attempt > 0 || cancelled || stopped || !on || on->is_open()) {
      std::rethrow_exception(failed);
    }
    ++counters.requests_retried;
    spdlog::debug("dht: {} to {}: its connection closed; once more", to_string(request.type),
                  peer.to_base58());
  }
}

asio::awaitable<Message> Kademlia::Impl::ask_once(wire::PeerId peer, Message request,
                                                  std::optional<wire::Connection>& on) {
  auto& host = node.host();
  if (!host.connection(peer)) {
    auto addrs = known_addrs(peer);
    if (addrs.empty()) fail(errc::not_found, "no address for " + peer.to_base58());
    boost::system::error_code last;
    bool connected = false;
    for (const auto& a : addrs) {
      try {
        (void)co_await host.connect(a.with_peer_id(peer));
        connected = true;
        break;
      } catch (const boost::system::system_error& e) {
        last = e.code();
      }
    }
    if (!connected) throw boost::system::system_error(last, "dialling " + peer.to_base58());
  }
  std::vector<std::string> protocols{options.protocol};
  on = host.connection(peer);
  wire::Stream stream = co_await host.open_stream(peer, std::move(protocols));
  co_await write_message(stream, request);
  if (request.type == MessageType::add_provider) {
    stream.close_write();
    co_return Message{};
  }
  wire::StreamMemory memory(stream);
  auto body = co_await read_message(stream, memory, options.messages.max_message_bytes);
  stream.close_write();
  if (!body) fail(errc::message_truncated, "no answer");
  auto answer = decode_message(*body, options.messages);
  if (!answer) throw boost::system::system_error(answer.error(), "kad answer");
  if (answer->type != request.type) fail(errc::bad_response, "an answer of another type");
  co_return std::move(*answer);
}

asio::awaitable<Result<Message>> Kademlia::Impl::ask(const wire::PeerId& peer,
                                                     const Message& request) {
  ++counters.requests_out;
  try {
    const auto timeout_ns =
        static_cast<std::uint64_t>(std::chrono::nanoseconds(options.request_timeout).count());
    auto answer = co_await async::with_timeout(node.clock(), ask_retrying(peer, request),
                                               timeout_ns, make_error_code(errc::timeout),
                                               "kad request to " + peer.to_base58());
    co_return answer;
  } catch (const boost::system::system_error& e) {
    ++counters.requests_failed;
    spdlog::debug("dht: {} to {} failed: {}", to_string(request.type), peer.to_base58(), e.what());
    co_return e.code();
  }
}

asio::awaitable<std::size_t> Kademlia::Impl::ask_all(
    std::vector<std::pair<wire::PeerId, Message>> requests, Accept ok) {
  struct Tally {
    explicit Tally(const asio::any_io_executor& ex, std::size_t n) : left(n), done(ex) {}
    std::size_t left;
    std::size_t good = 0;
    async::Event done;
  };
  auto tally = std::make_shared<Tally>(node.executor(), requests.size());
  for (auto& [peer, request] : requests) {
    auto one = [](std::shared_ptr<Impl> self, std::shared_ptr<Tally> t, wire::PeerId p, Message m,
                  Accept accept) -> asio::awaitable<void> {
      // Counted down however the request ends: answered, failed, or cancelled by stop().
      struct Ended {
        Tally& t;
        ~Ended() {
          if (--t.left == 0) t.done.set();
        }
      } ended{*t};
      auto answer = co_await self->ask(p, m);
      if (accept(answer)) ++t->good;
    };
    tasks.spawn(one(shared_from_this(), tally, peer, std::move(request), ok), "dht request");
  }
  if (tally->left > 0) co_await tally->done.wait();
  co_return tally->good;
}

}  // namespace bb::dht

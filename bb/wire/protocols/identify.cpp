#include "bb/wire/protocols/identify.hpp"

#include "bb/async/timeout.hpp"
#include "bb/proto/libp2p.pb.h"
#include "bb/wire/varint.hpp"

#include <algorithm>
#include <cstdint>

namespace bb::wire::identify {

namespace asio = boost::asio;

Bytes encode(const Info& info) {
  libp2p::Identify msg;
  msg.set_protocolversion(info.protocol_version);
  msg.set_agentversion(info.agent_version);
  msg.set_publickey(to_string(info.public_key));
  for (const auto& a : info.listen_addrs) msg.add_listenaddrs(to_string(a.bytes()));
  if (info.observed_addr) msg.set_observedaddr(to_string(info.observed_addr->bytes()));
  for (const auto& p : info.protocols) msg.add_protocols(p);
  const std::string body = msg.SerializeAsString();
  Bytes out;
  append_varint(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

result<Info> decode(ByteView bytes) {
  Info info;
  std::size_t messages = 0;
  while (!bytes.empty()) {
    if (++messages > kMaxMessages) return errc::identify_invalid;
    auto len = decode_varint(bytes);
    if (!len || len->value > kMaxMessageBytes || len->value > bytes.size() - len->size) {
      return errc::identify_invalid;
    }
    const ByteView body = bytes.subspan(len->size, static_cast<std::size_t>(len->value));
    bytes = bytes.subspan(len->size + static_cast<std::size_t>(len->value));
    libp2p::Identify msg;
    if (!msg.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return errc::identify_invalid;
    }
    // Later messages update what earlier ones said (identify push semantics).
    if (msg.has_protocolversion()) info.protocol_version = msg.protocolversion();
    if (msg.has_agentversion()) info.agent_version = msg.agentversion();
    if (msg.has_publickey()) info.public_key.assign(msg.publickey().begin(), msg.publickey().end());
    if (msg.listenaddrs_size() > 0) info.listen_addrs.clear();
    for (const auto& a : msg.listenaddrs()) {
      if (auto addr = Multiaddr::from_bytes(as_bytes(a))) info.listen_addrs.push_back(*addr);
    }
    if (msg.has_observedaddr()) {
      if (auto addr = Multiaddr::from_bytes(as_bytes(msg.observedaddr())))
        info.observed_addr = *addr;
    }
    if (msg.protocols_size() > 0)
      info.protocols.assign(msg.protocols().begin(), msg.protocols().end());
  }
  if (messages == 0) return errc::identify_invalid;
  return info;
}

namespace {

// Writes `ours` (observed_addr: where `observed` comes from), ends our side, and waits for the
// peer to finish (bounded by what it may send) so the stream ends cleanly.
asio::awaitable<void> write_info(Stream& stream, Info ours, const Multiaddr& observed) {
  ours.observed_addr = observed;
  co_await stream.write(encode(ours));
  stream.close_write();
  std::uint8_t sink[256];
  std::size_t drained = 0;
  while (drained <= kMaxMessageBytes) {
    const std::size_t n = co_await stream.read_some(sink);
    if (n == 0) break;
    drained += n;
  }
}

}  // namespace

asio::awaitable<void> serve(Stream stream, Info ours) {
  const Multiaddr observed = stream.remote_addr();
  co_await write_info(stream, std::move(ours), observed);
}

namespace {

// Everything the peer writes until it closes, bounded as a reply is.
asio::awaitable<Bytes> read_all(Stream& stream, std::string_view what) {
  StreamMemory held(stream);  // the reply, reserved before it grows
  Bytes all;
  std::uint8_t buf[4096];
  while (true) {
    const std::size_t n = co_await stream.read_some(buf);
    if (n == 0) break;
    if (all.size() + n > kMaxMessages * (kMaxMessageBytes + kMaxVarintBytes)) {
      stream.reset();
      throw boost::system::system_error(make_error_code(errc::identify_invalid),
                                        std::string(what) + " too large");
    }
    held.resize_or_reset(all.size() + n, what);
    all.insert(all.end(), buf, buf + n);
  }
  co_return all;
}

asio::awaitable<Info> request_once(Connection connection) {
  std::vector<std::string> protocols{std::string(kProtocolId)};
  Stream stream = co_await connection.open_stream(std::move(protocols));
  stream.close_write();
  const Bytes all = co_await read_all(stream, "identify reply");
  auto info = decode(all);
  if (!info) throw boost::system::system_error(info.error(), "identify reply");
  if (PeerId::from_public_key_bytes(info->public_key) != connection.remote_peer()) {
    throw boost::system::system_error(
        make_error_code(errc::identify_key_mismatch),
        "identify reply from " + connection.remote_peer().to_base58());
  }
  co_return std::move(*info);
}

asio::awaitable<void> push_once(Connection connection, Info ours) {
  std::vector<std::string> protocols{std::string(kPushProtocolId)};
  Stream stream = co_await connection.open_stream(std::move(protocols));
  const Multiaddr observed = connection.remote_addr();
  co_await write_info(stream, std::move(ours), observed);
}

}  // namespace

asio::awaitable<Info> request(Connection connection, std::chrono::milliseconds timeout,
                              async::Clock& clock) {
  const auto timeout_ns = static_cast<std::uint64_t>(
      std::max<std::chrono::nanoseconds::rep>(0, std::chrono::nanoseconds(timeout).count()));
  co_return co_await async::with_timeout(clock, request_once(connection), timeout_ns,
                                         make_error_code(errc::handshake_timeout),
                                         "identify " + connection.remote_peer().to_base58());
}

asio::awaitable<void> push(Connection connection, Info ours, std::chrono::milliseconds timeout,
                           async::Clock& clock) {
  const auto timeout_ns = async::to_ns(timeout);
  co_await async::with_timeout(clock, push_once(connection, std::move(ours)), timeout_ns,
                               make_error_code(errc::handshake_timeout),
                               "identify push to " + connection.remote_peer().to_base58());
}

asio::awaitable<Info> read_push(Stream stream, const PeerId& peer) {
  stream.close_write();
  const Bytes all = co_await read_all(stream, "identify push");
  auto info = decode(all);
  if (!info) throw boost::system::system_error(info.error(), "identify push");
  if (!info->public_key.empty() && PeerId::from_public_key_bytes(info->public_key) != peer) {
    throw boost::system::system_error(make_error_code(errc::identify_key_mismatch),
                                      "identify push from " + peer.to_base58());
  }
  co_return std::move(*info);
}

}  // namespace bb::wire::identify

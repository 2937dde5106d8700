#include "bb/wire/detail/upgrade.hpp"

#include "bb/wire/mss/negotiator.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace bb::wire::detail {

namespace asio = boost::asio;
using boost::system::system_error;

namespace {

// The raw stream during the upgrade, with bytes read ahead kept for the next reader.
struct UpgradeIo {
  ByteStream& stream;
  Bytes buffered;

  asio::awaitable<void> read_more() {
    std::uint8_t chunk[4096];
    const std::size_t n = co_await stream.read_some_or_throw(chunk);
    buffered.insert(buffered.end(), chunk, chunk + n);
  }
  asio::awaitable<void> write(ByteView bytes) { co_await stream.write_or_throw(bytes); }
  // One Noise message (the 2-byte length stripped).
  asio::awaitable<Bytes> read_noise_message() {
    while (true) {
      auto frame = noise::decode_noise_frame(buffered);
      if (!frame) throw system_error(frame.error(), "reading a Noise message");
      if (*frame) {
        Bytes message((*frame)->first.begin(), (*frame)->first.end());
        buffered.erase(buffered.begin(),
                       buffered.begin() + static_cast<std::ptrdiff_t>((*frame)->second));
        co_return message;
      }
      co_await read_more();
    }
  }
};

// multistream-select on the raw stream: agree on /noise.
asio::awaitable<void> negotiate_security(UpgradeIo& io, Direction direction) {
  const std::vector<std::string> protocols{std::string(noise::kProtocolId)};
  std::optional<mss::Dialer> dialer;
  std::optional<mss::Listener> listener;
  if (direction == Direction::outbound) {
    dialer.emplace(protocols);
    co_await io.write(dialer->start());
  } else {
    listener.emplace(protocols);
  }
  bool unread = !io.buffered.empty();  // read ahead by the acceptor: look at it first
  while (true) {
    if (!unread) co_await io.read_more();
    unread = false;
    auto progress = check(dialer ? dialer->on_bytes(io.buffered) : listener->on_bytes(io.buffered),
                          "negotiating /noise");
    io.buffered = std::move(progress.leftover);
    co_await io.write(progress.output);
    if (progress.done()) co_return;
  }
}

struct Secured {
  noise::Transport transport;
  std::vector<std::string> remote_muxers;
};

asio::awaitable<Secured> noise_handshake(UpgradeIo& io, Direction direction,
                                         const Ed25519KeyPair& identity,
                                         std::optional<PeerId> expected) {
  const std::vector<std::string> muxers{std::string(kYamuxProtocol)};
  auto hs = direction == Direction::outbound
                ? noise::Handshake::initiator(identity, std::move(expected), muxers)
                : noise::Handshake::responder(identity, muxers);
  while (!hs.complete()) {
    auto next = check(hs.write_next(), "Noise handshake");
    if (next) {
      Bytes frame;
      check(noise::append_noise_frame(frame, *next), "Noise handshake");
      co_await io.write(frame);
      continue;
    }
    const Bytes message = co_await io.read_noise_message();
    check(hs.read(message), "Noise handshake");
  }
  auto remote_muxers = hs.remote_muxers();
  co_return Secured{std::move(hs).into_transport(), std::move(remote_muxers)};
}

// multistream-select for the muxer, inside Noise. Returns plaintext read past the negotiation.
asio::awaitable<Bytes> negotiate_muxer(UpgradeIo& io, noise::Transport& transport,
                                       Direction direction) {
  const std::vector<std::string> protocols{std::string(kYamuxProtocol)};
  std::optional<mss::Dialer> dialer;
  std::optional<mss::Listener> listener;
  auto send = [&](ByteView plaintext) -> Bytes {
    Bytes out;
    check(transport.seal(plaintext, out), "sealing");
    return out;
  };
  if (direction == Direction::outbound) {
    dialer.emplace(protocols);
    co_await io.write(send(dialer->start()));
  } else {
    listener.emplace(protocols);
  }
  while (true) {
    Bytes message = co_await io.read_noise_message();
    auto plaintext = check(transport.open(message), "Noise transport");
    auto progress = check(dialer ? dialer->on_bytes(plaintext) : listener->on_bytes(plaintext),
                          "negotiating /yamux/1.0.0");
    co_await io.write(send(progress.output));
    if (progress.done()) co_return std::move(progress.leftover);
  }
}

}  // namespace

asio::awaitable<Upgraded> run_upgrade(ByteStream& stream, Direction direction,
                                      const Ed25519KeyPair& identity,
                                      std::optional<PeerId> expected, Bytes read_ahead) {
  UpgradeIo io{stream, std::move(read_ahead)};
  co_await negotiate_security(io, direction);
  auto secured = co_await noise_handshake(io, direction, identity, std::move(expected));
  // Inlined muxer negotiation (libp2p connections/inlined-muxer-negotiation): both payloads
  // listed their muxers, so the muxer is agreed without another round of multistream-select.
  // We list only Yamux; a peer that lists muxers without it cannot talk to us.
  if (!secured.remote_muxers.empty()) {
    if (std::find(secured.remote_muxers.begin(), secured.remote_muxers.end(), kYamuxProtocol) ==
        secured.remote_muxers.end()) {
      throw system_error(make_error_code(errc::mss_protocol_not_supported),
                         "peer offers no muxer bb supports (bb speaks /yamux/1.0.0)");
    }
    co_return Upgraded{std::move(secured.transport), {}, std::move(io.buffered)};
  }
  Bytes plaintext = co_await negotiate_muxer(io, secured.transport, direction);
  co_return Upgraded{std::move(secured.transport), std::move(plaintext), std::move(io.buffered)};
}

}  // namespace bb::wire::detail

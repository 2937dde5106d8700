#include "tests/support/hostile_peer.hpp"

#include "bb/wire/mss/message.hpp"
#include "bb/wire/mss/negotiator.hpp"
#include "bb/wire/varint.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

namespace bb::test {

namespace asio = boost::asio;
namespace yamux = wire::yamux;
namespace noise = wire::noise;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::system_error;
using wire::Bytes;
using wire::ByteView;
using wire::tcp;

// ---- frame builders --------------------------------------------------------------------------

Bytes mss_message(std::string_view line) {
  Bytes out;
  wire::append_varint(out, line.size() + 1);
  const ByteView body = wire::as_bytes(line);
  out.insert(out.end(), body.begin(), body.end());
  out.push_back('\n');
  return out;
}

void append_yamux(Bytes& out, yamux::FrameType type, std::uint16_t flags, std::uint32_t stream_id,
                  std::uint32_t length) {
  yamux::append_header(out, yamux::Header{type, flags, stream_id, length});
}

void append_yamux_data(Bytes& out, std::uint32_t stream_id, ByteView payload, std::uint16_t flags) {
  append_yamux(out, yamux::FrameType::data, flags, stream_id,
               static_cast<std::uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
}

Bytes yamux_pings(std::size_t count) {
  Bytes out;
  out.reserve(count * yamux::kHeaderSize);
  for (std::size_t i = 0; i < count; ++i) {
    append_yamux(out, yamux::FrameType::ping, yamux::kSyn, 0, static_cast<std::uint32_t>(i + 1));
  }
  return out;
}

std::vector<std::string> yamux_muxers() {
  return {"/yamux/1.0.0"};
}

// ---- process memory --------------------------------------------------------------------------

namespace {

std::size_t status_kib(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0 && line.size() > field.size() && line[field.size()] == ':') {
      std::istringstream value(line.substr(field.size() + 1));
      std::size_t kib = 0;
      value >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

}  // namespace

std::size_t resident_bytes() {
  return status_kib("VmRSS");
}

std::size_t peak_resident_bytes() {
  return status_kib("VmHWM");
}

bool reset_peak_resident() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

bool ReadOutcome::closed_by_peer() const noexcept {
  return end == asio::error::eof || end == asio::error::connection_reset;
}

// ---- state -----------------------------------------------------------------------------------

struct HostilePeer::State {
  State(tcp::socket s, HostileOptions o) : socket(std::move(s)), options(std::move(o)) {}

  struct Tracked {
    std::unique_ptr<wire::mss::Dialer> dialer;  // until the answer
    StreamState state;
  };

  tcp::socket socket;
  HostileOptions options;
  Bytes raw;  // bytes read and not consumed yet (ciphertext once secured)
  std::optional<noise::Transport> transport;
  Bytes plain;  // decrypted Yamux bytes not parsed yet
  std::uint32_t next_id = 1;
  std::map<std::uint32_t, Tracked> tracked;
  std::optional<std::uint32_t> go_away;
  std::uint64_t pongs = 0;
  std::optional<std::uint32_t> last_pong;
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  Bytes sealed;  // flood scratch

  // One read of whatever is available, within `bound`. Returns the error (timed_out).
  asio::awaitable<error_code> read_more(std::chrono::steady_clock::duration bound) {
    std::array<std::uint8_t, 64 * 1024> chunk;
    asio::steady_timer timer(socket.get_executor(), bound);
    auto outcome = co_await (
        socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable)) ||
        timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (outcome.index() == 1) co_return make_error_code(asio::error::timed_out);
    auto [ec, n] = std::get<0>(outcome);
    raw.insert(raw.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    received += n;
    co_return ec;
  }

  asio::awaitable<void> read_more_or_throw(const char* what) {
    const error_code ec = co_await read_more(options.timeout);
    if (ec) throw system_error(ec, what);
  }

  asio::awaitable<error_code> write(ByteView bytes, std::chrono::steady_clock::duration bound) {
    if (bytes.empty()) co_return error_code{};
    asio::steady_timer timer(socket.get_executor(), bound);
    auto outcome = co_await (asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()),
                                               asio::as_tuple(asio::use_awaitable)) ||
                             timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (outcome.index() == 1) co_return make_error_code(asio::error::timed_out);
    auto [ec, n] = std::get<0>(outcome);
    sent += n;
    co_return ec;
  }

  // One batch of a flood (sealed once secured); false when the flood must stop.
  asio::awaitable<bool> flood_batch(ByteView batch, std::chrono::milliseconds stall,
                                    FloodOutcome& out) {
    ByteView bytes = batch;
    if (transport) {
      sealed.clear();
      if (auto ec = transport->seal(batch, sealed)) throw system_error(ec, "flood: seal");
      bytes = sealed;
    }
    const std::uint64_t before = sent;
    const error_code ec = co_await write(bytes, stall);
    out.bytes += sent - before;
    if (ec == asio::error::timed_out) {
      out.stalled = true;
      co_return false;
    }
    if (ec) {
      out.error = ec;
      co_return false;
    }
    ++out.batches;
    co_return true;
  }

  // Decrypts every complete Noise frame in `raw` and parses the Yamux frames they carry.
  error_code pump() {
    if (!transport) return {};
    std::size_t pos = 0;
    error_code failure;
    while (true) {
      auto frame = noise::decode_noise_frame(ByteView(raw).subspan(pos));
      if (!frame) {
        failure = frame.error();
        break;
      }
      if (!*frame) break;
      const std::size_t consumed = (*frame)->second;
      std::span<std::uint8_t> message(raw.data() + pos + noise::kFrameHeaderBytes,
                                      consumed - noise::kFrameHeaderBytes);
      auto opened = transport->open(message);
      if (!opened) {
        failure = opened.error();
        break;
      }
      plain.insert(plain.end(), opened->begin(), opened->end());
      pos += consumed;
    }
    raw.erase(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(pos));
    if (failure) return failure;
    return parse_yamux();
  }

  error_code parse_yamux() {
    std::size_t pos = 0;
    error_code failure;
    while (plain.size() - pos >= yamux::kHeaderSize) {
      std::array<std::uint8_t, yamux::kHeaderSize> bytes;
      std::copy_n(plain.begin() + static_cast<std::ptrdiff_t>(pos), yamux::kHeaderSize,
                  bytes.begin());
      auto header = yamux::decode_header(bytes);
      if (!header) {
        failure = header.error();
        break;
      }
      const bool data = header->type == yamux::FrameType::data;
      const std::size_t payload = data ? header->length : 0;
      if (plain.size() - pos - yamux::kHeaderSize < payload) break;
      on_frame(*header, ByteView(plain).subspan(pos + yamux::kHeaderSize, payload));
      pos += yamux::kHeaderSize + payload;
    }
    plain.erase(plain.begin(), plain.begin() + static_cast<std::ptrdiff_t>(pos));
    return failure;
  }

  void on_frame(const yamux::Header& h, ByteView payload) {
    switch (h.type) {
      case yamux::FrameType::go_away:
        if (!go_away) go_away = h.length;
        return;
      case yamux::FrameType::ping:
        if ((h.flags & yamux::kAck) != 0) {
          ++pongs;
          last_pong = h.length;
        }
        return;
      case yamux::FrameType::data:
      case yamux::FrameType::window_update: break;
    }
    auto it = tracked.find(h.stream_id);
    if (it == tracked.end()) return;
    Tracked& t = it->second;
    if (!payload.empty()) {
      if (t.dialer) {
        auto progress = t.dialer->on_bytes(payload);
        if (!progress) {
          t.state.na = progress.error() == wire::errc::mss_protocol_not_supported;
          t.dialer.reset();
        } else if (progress->done()) {
          t.state.selected = true;
          t.state.data.insert(t.state.data.end(), progress->leftover.begin(),
                              progress->leftover.end());
          t.dialer.reset();
        }
      } else {
        t.state.data.insert(t.state.data.end(), payload.begin(), payload.end());
      }
    }
    if ((h.flags & yamux::kFin) != 0) t.state.fin = true;
    if ((h.flags & yamux::kRst) != 0) t.state.reset = true;
  }

  // The next message of `buffered` Noise frames on the raw socket (handshake phase).
  asio::awaitable<Bytes> read_noise_message() {
    while (true) {
      auto frame = noise::decode_noise_frame(raw);
      if (!frame) throw system_error(frame.error(), "reading a Noise frame");
      if (*frame) {
        Bytes message((*frame)->first.begin(), (*frame)->first.end());
        raw.erase(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>((*frame)->second));
        co_return message;
      }
      co_await read_more_or_throw("reading a Noise frame");
    }
  }
};

// ---- HostilePeer -----------------------------------------------------------------------------

HostilePeer::HostilePeer(std::unique_ptr<State> state) : s_(std::move(state)) {}
HostilePeer::HostilePeer(HostilePeer&&) noexcept = default;
HostilePeer& HostilePeer::operator=(HostilePeer&&) noexcept = default;
HostilePeer::~HostilePeer() = default;

asio::awaitable<HostilePeer> HostilePeer::connect(const wire::Multiaddr& to,
                                                  HostileOptions options) {
  auto endpoint = wire::tcp_endpoint(to.decapsulate_code(wire::protocol::p2p));
  if (!endpoint) throw system_error(endpoint.error(), "hostile peer: not a TCP address");
  tcp::socket socket(co_await asio::this_coro::executor);
  socket.open(endpoint->protocol());
  if (!options.source_ip.empty()) {
    socket.bind(tcp::endpoint(asio::ip::make_address(options.source_ip), 0));
  }
  asio::steady_timer timer(socket.get_executor(), options.timeout);
  auto outcome = co_await (socket.async_connect(*endpoint, asio::as_tuple(asio::use_awaitable)) ||
                           timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (outcome.index() == 1) {
    throw system_error(make_error_code(asio::error::timed_out), "hostile peer: connect");
  }
  if (auto [ec] = std::get<0>(outcome); ec) throw system_error(ec, "hostile peer: connect");
  socket.set_option(tcp::no_delay(true));
  co_return HostilePeer(std::make_unique<State>(std::move(socket), std::move(options)));
}

asio::awaitable<HostilePeer> HostilePeer::connect(const wire::Multiaddr& to) {
  return connect(to, HostileOptions{});
}

asio::awaitable<void> HostilePeer::send(ByteView bytes) {
  const error_code ec = co_await s_->write(bytes, s_->options.timeout);
  if (ec) {
    throw system_error(ec, "hostile peer: send");
  }
}

asio::awaitable<void> HostilePeer::drip(ByteView bytes, std::chrono::milliseconds gap) {
  asio::steady_timer timer(s_->socket.get_executor());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0 && gap.count() > 0) {
      timer.expires_after(gap);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_await send(bytes.subspan(i, 1));
  }
}

asio::awaitable<FloodOutcome> HostilePeer::flood(ByteView batch, std::size_t repeat,
                                                 std::chrono::milliseconds stall) {
  FloodOutcome out;
  for (std::size_t i = 0; i < repeat; ++i) {
    const bool go_on = co_await s_->flood_batch(batch, stall, out);
    if (!go_on) break;
  }
  co_return out;
}

asio::awaitable<FloodOutcome> HostilePeer::flood_syns(std::size_t per_batch, std::size_t repeat,
                                                      std::chrono::milliseconds stall) {
  FloodOutcome out;
  Bytes batch;
  for (std::size_t i = 0; i < repeat; ++i) {
    batch.clear();
    for (std::size_t j = 0; j < per_batch; ++j) {
      append_yamux(batch, yamux::FrameType::window_update, yamux::kSyn, next_stream_id(), 0);
    }
    const bool go_on = co_await s_->flood_batch(batch, stall, out);
    if (!go_on) break;
  }
  co_return out;
}

void HostilePeer::shutdown_send() {
  error_code ignored;
  s_->socket.shutdown(tcp::socket::shutdown_send, ignored);
}

void HostilePeer::reset() {
  error_code ignored;
  s_->socket.set_option(asio::socket_base::linger(true, 0), ignored);
  s_->socket.close(ignored);
}

wire::Multiaddr HostilePeer::local_addr() const {
  return wire::to_multiaddr(s_->socket.local_endpoint());
}

// ---- multistream-select ----

asio::awaitable<std::string> HostilePeer::read_mss_line() {
  while (true) {
    auto message = wire::mss::decode_message(s_->raw);
    if (!message) throw system_error(message.error(), "hostile peer: multistream answer");
    if (*message) {
      std::string line((*message)->first);
      s_->raw.erase(s_->raw.begin(),
                    s_->raw.begin() + static_cast<std::ptrdiff_t>((*message)->second));
      co_return line;
    }
    co_await s_->read_more_or_throw("hostile peer: multistream answer");
  }
}

asio::awaitable<bool> HostilePeer::select(std::string_view protocol) {
  Bytes out = mss_message(wire::mss::kHeader);
  const Bytes proposal = mss_message(protocol);
  out.insert(out.end(), proposal.begin(), proposal.end());
  co_await send(out);
  const std::string header = co_await read_mss_line();
  if (header != wire::mss::kHeader) {
    throw system_error(make_error_code(wire::errc::mss_bad_header), "hostile peer: " + header);
  }
  const std::string answer = co_await read_mss_line();
  if (answer == wire::mss::kNa) co_return false;
  if (answer != protocol) {
    throw system_error(make_error_code(wire::errc::mss_unexpected_message),
                       "hostile peer: answer " + answer);
  }
  co_return true;
}

// ---- Noise ----

asio::awaitable<void> HostilePeer::secure(const wire::Ed25519KeyPair& identity,
                                          std::optional<wire::PeerId> expected,
                                          noise::Handshake::TestOptions forge,
                                          std::vector<std::string> muxers) {
  const bool accepted = co_await select(noise::kProtocolId);
  if (!accepted) {
    throw system_error(make_error_code(wire::errc::mss_protocol_not_supported),
                       "hostile peer: /noise refused");
  }
  co_await handshake(noise::Handshake::with_test_options(
      noise::Role::initiator, identity, std::move(expected), std::move(muxers), std::move(forge)));
}

asio::awaitable<void> HostilePeer::secure(const wire::Ed25519KeyPair& identity,
                                          std::optional<wire::PeerId> expected,
                                          noise::Handshake::TestOptions forge) {
  return secure(identity, std::move(expected), std::move(forge), yamux_muxers());
}

asio::awaitable<void> HostilePeer::secure(const wire::Ed25519KeyPair& identity,
                                          std::optional<wire::PeerId> expected) {
  return secure(identity, std::move(expected), noise::Handshake::TestOptions{}, yamux_muxers());
}

asio::awaitable<void> HostilePeer::handshake(noise::Handshake initiator) {
  while (!initiator.complete()) {
    auto next = initiator.write_next();
    if (!next) throw system_error(next.error(), "hostile peer: Noise");
    if (*next) {
      Bytes frame;
      if (auto ec = noise::append_noise_frame(frame, **next)) throw system_error(ec);
      co_await send(frame);
      continue;
    }
    const Bytes message = co_await s_->read_noise_message();
    if (auto ec = initiator.read(message)) throw system_error(ec, "hostile peer: Noise");
  }
  s_->transport.emplace(std::move(initiator).into_transport());
  if (auto ec = s_->pump()) throw system_error(ec, "hostile peer: after the handshake");
}

bool HostilePeer::is_secure() const noexcept {
  return s_->transport.has_value();
}

const wire::PeerId& HostilePeer::remote_peer() const {
  return s_->transport.value().remote_peer();
}

Bytes HostilePeer::seal(ByteView plaintext) {
  Bytes out;
  if (auto ec = s_->transport.value().seal(plaintext, out)) throw system_error(ec, "seal");
  return out;
}

asio::awaitable<void> HostilePeer::send_sealed(ByteView plaintext) {
  co_await send(seal(plaintext));
}

asio::awaitable<Bytes> HostilePeer::read_sealed() {
  auto& t = s_->transport.value();
  while (true) {
    auto frame = noise::decode_noise_frame(s_->raw);
    if (!frame) throw system_error(frame.error(), "hostile peer: Noise frame");
    if (*frame) {
      const std::size_t consumed = (*frame)->second;
      std::span<std::uint8_t> message(s_->raw.data() + noise::kFrameHeaderBytes,
                                      consumed - noise::kFrameHeaderBytes);
      auto opened = t.open(message);
      if (!opened) throw system_error(opened.error(), "hostile peer: Noise open");
      Bytes plaintext(opened->begin(), opened->end());
      s_->raw.erase(s_->raw.begin(), s_->raw.begin() + static_cast<std::ptrdiff_t>(consumed));
      co_return plaintext;
    }
    co_await s_->read_more_or_throw("hostile peer: Noise frame");
  }
}

// ---- Yamux ----

std::uint32_t HostilePeer::next_stream_id() {
  const std::uint32_t id = s_->next_id;
  s_->next_id += 2;
  return id;
}

std::uint32_t HostilePeer::append_open_stream(Bytes& plaintext, std::string_view protocol,
                                              ByteView first_data) {
  const std::uint32_t id = next_stream_id();
  std::vector<std::string> protocols{std::string(protocol)};
  auto dialer = std::make_unique<wire::mss::Dialer>(std::move(protocols));
  Bytes payload = dialer->start();
  payload.insert(payload.end(), first_data.begin(), first_data.end());
  append_yamux_data(plaintext, id, payload, yamux::kSyn);
  s_->tracked[id].dialer = std::move(dialer);
  return id;
}

asio::awaitable<StreamState> HostilePeer::read_stream_until(std::uint32_t id,
                                                            bool (*done)(const StreamState&)) {
  const auto deadline = std::chrono::steady_clock::now() + s_->options.timeout;
  while (true) {
    if (auto ec = s_->pump()) throw system_error(ec, "hostile peer: reading frames");
    const StreamState& state = s_->tracked.at(id).state;
    if (done(state)) co_return state;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      throw system_error(make_error_code(asio::error::timed_out), "hostile peer: stream read");
    }
    const error_code ec = co_await s_->read_more(deadline - now);
    if (ec) {
      throw system_error(ec, "hostile peer: stream read");
    }
  }
}

asio::awaitable<void> HostilePeer::ping(std::uint32_t opaque) {
  Bytes frame;
  append_yamux(frame, yamux::FrameType::ping, yamux::kSyn, 0, opaque);
  co_await send_sealed(frame);
  s_->last_pong.reset();
  const auto deadline = std::chrono::steady_clock::now() + s_->options.timeout;
  while (true) {
    if (auto ec = s_->pump()) throw system_error(ec, "hostile peer: reading frames");
    if (s_->last_pong == opaque) co_return;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      throw system_error(make_error_code(asio::error::timed_out), "hostile peer: ping");
    }
    const error_code ec = co_await s_->read_more(deadline - now);
    if (ec) {
      throw system_error(ec, "hostile peer: ping");
    }
  }
}

asio::awaitable<void> HostilePeer::await_selected(std::uint32_t id) {
  const StreamState state = co_await read_stream_until(
      id, [](const StreamState& st) { return st.selected || st.na || st.reset; });
  if (state.na) {
    throw system_error(make_error_code(wire::errc::mss_protocol_not_supported),
                       "hostile peer: stream protocol refused");
  }
  if (!state.selected) {
    throw system_error(make_error_code(wire::errc::yamux_stream_reset),
                       "hostile peer: stream reset during negotiation");
  }
}

asio::awaitable<std::uint32_t> HostilePeer::open_stream(std::string_view protocol,
                                                        ByteView first_data) {
  Bytes plaintext;
  const std::uint32_t id = append_open_stream(plaintext, protocol, first_data);
  co_await send_sealed(plaintext);
  co_await await_selected(id);
  co_return id;
}

asio::awaitable<void> HostilePeer::write_stream(std::uint32_t id, ByteView data,
                                                std::uint16_t flags) {
  constexpr std::size_t kChunk = 64 * 1024;
  Bytes plaintext;
  if (data.empty()) append_yamux_data(plaintext, id, data, flags);
  for (std::size_t at = 0; at < data.size(); at += kChunk) {
    const bool last = at + kChunk >= data.size();
    append_yamux_data(plaintext, id, data.subspan(at, std::min(kChunk, data.size() - at)),
                      last ? flags : std::uint16_t{0});
  }
  co_await send_sealed(plaintext);
}

const StreamState* HostilePeer::stream(std::uint32_t id) const {
  auto it = s_->tracked.find(id);
  return it == s_->tracked.end() ? nullptr : &it->second.state;
}

// ---- reading ----

asio::awaitable<ReadOutcome> HostilePeer::read_until_closed(std::chrono::milliseconds bound,
                                                            std::uint64_t max_bytes) {
  ReadOutcome out;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  const std::uint64_t start = s_->received;
  while (true) {
    if (auto ec = s_->pump()) {
      out.end = ec;
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || s_->received - start >= max_bytes) {
      out.end = make_error_code(asio::error::timed_out);
      break;
    }
    const error_code ec = co_await s_->read_more(deadline - now);
    if (ec) {
      (void)s_->pump();  // what arrived with the end still counts
      out.end = ec;
      break;
    }
  }
  out.bytes = s_->received - start;
  out.go_away = s_->go_away;
  co_return out;
}

std::uint64_t HostilePeer::bytes_received() const noexcept {
  return s_->received;
}
std::uint64_t HostilePeer::bytes_sent() const noexcept {
  return s_->sent;
}
std::optional<std::uint32_t> HostilePeer::go_away() const noexcept {
  return s_->go_away;
}
std::uint64_t HostilePeer::pongs_received() const noexcept {
  return s_->pongs;
}

}  // namespace bb::test

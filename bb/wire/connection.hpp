// A secure, multiplexed libp2p connection: TCP (or any ByteStream) → multistream-select /noise →
// Noise XX (the remote PeerId proven by its signature) → multistream-select /yamux/1.0.0 → Yamux
// streams, each negotiating its protocol with multistream-select.
//
// Each connection runs one reader coroutine and one writer coroutine (run()). The writer gathers
// every frame waiting in the Yamux session into one Noise seal and one socket write. Streams
// apply Yamux flow control: a reader that does not read stops its sender.
//
// Thread rule: a Connection, its Streams and run() live on one executor. Connection and Stream
// are handles to shared connection state, which lives until run() has returned and the last
// handle is gone. Cancellation: close() ends run() and fails every pending stream operation.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/byte_stream.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/multiaddr.hpp"
#include "bb/wire/resource_manager.hpp"
#include "bb/wire/tcp.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace bb::wire {

namespace detail {
struct MuxCore;
}

struct ConnectionOptions {
  // Time for every deadline and timer of the connection (the upgrade, stream negotiations,
  // writes, keep-alive and idle); async::steady_clock() when null. Must outlive the connection.
  // A Host fills it in with HostOptions::clock when left null.
  async::Clock* clock = nullptr;
  // TCP connect plus the whole upgrade (both negotiations and the Noise handshake).
  std::chrono::milliseconds handshake_timeout{10'000};
  // multistream-select on a new stream.
  std::chrono::milliseconds negotiation_timeout{10'000};
  // One socket write; a peer that stops reading is cut off after this.
  std::chrono::milliseconds write_timeout{30'000};
  // A Yamux ping is sent when nothing was received for this long ...
  std::chrono::milliseconds keepalive_interval{15'000};
  // ... and the connection is closed when nothing at all was received for this long.
  std::chrono::milliseconds idle_timeout{45'000};
  std::uint32_t stream_window = 256 * 1024;  // Yamux initial window (the spec's 256 KiB)
  std::size_t max_streams = 256;
  std::size_t max_pending_inbound_streams = 64;  // opened by the peer, not yet accepted
  // Bytes queued for the writer across all streams. A stream write waits while more is queued,
  // so memory stays bounded however much window a peer grants and however slowly it reads.
  std::size_t max_pending_output = std::size_t{1} << 20;
  // Frames the peer's own input makes us queue (ping replies, resets of refused streams, window
  // updates) beyond max_pending_output. Past it the reader stops reading until the writer has
  // sent them: a peer that asks and never reads the answers stalls itself, not our memory.
  std::size_t max_control_backlog = 64 * 1024;
};

enum class Direction : std::uint8_t { outbound, inbound };

class Stream {
 public:
  Stream() = default;
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;
  ~Stream();  // resets the stream unless both sides finished cleanly

  // Reads what is available (waits if nothing is); returns 0 at end of stream (the peer closed
  // its side). Throws boost::system::system_error on reset or connection loss.
  boost::asio::awaitable<std::size_t> read_some(std::span<std::uint8_t> out);
  // Reads exactly out.size() bytes; throws boost::asio::error::eof if the stream ends first.
  boost::asio::awaitable<void> read_exact(std::span<std::uint8_t> out);
  // Writes everything, waiting for the peer's window as needed. Throws on reset or close.
  boost::asio::awaitable<void> write(ByteView data);
  // Writes `n` bytes that `fill` encodes straight into the connection's output (Yamux frames),
  // with no buffer of the caller's in between: fill(offset, out) writes bytes
  // [offset, offset + out.size()) of them, once per frame, in order. Waits and throws as
  // write() does; what `fill` reads must stay valid until this returns.
  boost::asio::awaitable<void> write_into(std::size_t n, FillRef fill);
  // The same without waiting: all `n` bytes now, or none and false when the peer's window, the
  // connection's output bound or a reset or closed stream stands in the way (write_into() would
  // wait or throw). One write into an empty output may exceed the output bound; `max_output`
  // lowers that bound for this write.
  bool try_write_into(std::size_t n, FillRef fill,
                      std::size_t max_output = static_cast<std::size_t>(-1));
  // Half-close: the peer reads end of stream after what was written.
  void close_write();
  void reset();

  bool is_open() const noexcept;
  // Bytes write() can hand to the peer now without waiting (the peer's receive window).
  std::size_t send_window() const noexcept;
  // Bytes received and not yet read.
  std::size_t readable_bytes() const noexcept;
  // The stream's resource scope (null for an unaccounted connection): protocols reserve their
  // own buffers here before growing them (MemoryReservation).
  StreamScope* resources() noexcept;
  std::uint32_t id() const noexcept { return id_; }
  const std::string& protocol() const noexcept { return protocol_; }
  const PeerId& remote_peer() const;
  // The connection's remote address, as seen by this side.
  const Multiaddr& remote_addr() const;

 private:
  friend struct detail::MuxCore;
  friend class Connection;
  Stream(std::shared_ptr<detail::MuxCore> core, std::uint32_t id);
  // Charges the stream to its protocol's scope once negotiated; resets and throws if refused.
  void attach_protocol();

  std::shared_ptr<detail::MuxCore> core_;
  std::uint32_t id_ = 0;
  std::string protocol_;
  Bytes pending_;  // bytes read past the protocol negotiation, returned first
  std::size_t pending_at_ = 0;
};

// Memory a protocol holds for one stream (its read buffer, a decoded message), charged to the
// stream's scope: grown before the buffer grows, given back when destroyed. The stream may end
// first (its scope then gave everything back); an unaccounted stream reserves nothing. Refers to
// the Stream it was made for, which must stay where it is while this lives.
class StreamMemory {
 public:
  explicit StreamMemory(Stream& stream) noexcept : stream_(&stream) {}
  ~StreamMemory() { (void)resize(0); }
  StreamMemory(const StreamMemory&) = delete;
  StreamMemory& operator=(const StreamMemory&) = delete;

  // Makes the reservation exactly `bytes`: growing may fail (resource_memory_limit, nothing
  // changed), shrinking never does.
  boost::system::error_code resize(std::size_t bytes);
  // resize(), and on a refusal resets the stream and throws resource_memory_limit with the
  // refusal's text, `what` first ("/bb/wire frame buffer refused: stream memory: …").
  void resize_or_reset(std::size_t bytes, std::string_view what);
  std::size_t size() const noexcept { return held_; }

 private:
  Stream* stream_;
  std::size_t held_ = 0;
};

class Connection {
 public:
  // Runs the upgrade on a connected socket (wrapped by make_tcp_stream). Every deadline runs on
  // options.clock. The initiator passes the
  // PeerId it dialed, if known: reaching anyone else fails with errc::noise_peer_id_mismatch.
  // `scope` (from the Host's ResourceManager, opened before any crypto) is attached to the proven
  // peer once Noise is done and then charged with the connection's buffers and streams; an empty
  // scope leaves the connection unaccounted. Throws boost::system::system_error
  // (errc::handshake_timeout, mss/noise/yamux errors, socket errors, resource_* when the peer's
  // scope is full).
  static boost::asio::awaitable<Connection> upgrade(tcp::socket socket, Direction direction,
                                                    const Ed25519KeyPair& identity,
                                                    std::optional<PeerId> expected,
                                                    const ConnectionOptions& options,
                                                    ConnectionScope scope = {});
  // The same over any ByteStream (an in-memory pair in tests); the connection owns it.
  // `read_ahead`: bytes already read from `stream` (an acceptor looked at the first message),
  // taken as if read first.
  static boost::asio::awaitable<Connection> upgrade(
      std::unique_ptr<ByteStream> stream, Direction direction, const Ed25519KeyPair& identity,
      std::optional<PeerId> expected, const ConnectionOptions& options, ConnectionScope scope = {},
      Bytes read_ahead = {});

  Connection() = default;

  // The reader, writer and keep-alive loops; returns when the connection is closed (by either
  // side, an error, or the idle timeout). Never throws; see close_reason().
  boost::asio::awaitable<void> run();

  // Opens a stream and negotiates the first protocol of `protocols` the peer supports.
  // Throws errc::mss_protocol_not_supported if none, errc::handshake_timeout on timeout.
  boost::asio::awaitable<Stream> open_stream(std::vector<std::string> protocols);
  // The next stream the peer opened, with its protocol not yet negotiated; nullopt once closed.
  boost::asio::awaitable<std::optional<Stream>> accept_stream();
  // Negotiates an inbound stream's protocol (listener side of multistream-select).
  boost::asio::awaitable<void> negotiate_inbound(Stream& stream,
                                                 const std::vector<std::string>& supported);

  // Sends go-away (with a libp2p error code that matches `reason`: resource limits, trimming,
  // protocol violations...) when it can be written without waiting, closes the socket, fails
  // every pending stream operation. Idempotent.
  void close(boost::system::error_code reason = {});
  // Returns once everything written so far (stream data, receipts, window updates) is on the
  // socket, or the connection closed. The caller bounds it (a peer that does not read holds it
  // up to the write timeout). A flush then close() still resets a connection whose input is
  // unread; for a stop, end_writing() below.
  boost::asio::awaitable<void> flush();
  // A graceful end, for a stop: what is queued goes out, then a GoAway (normal), then our half
  // of the byte stream is shut; reading goes on, and the connection closes once the peer has
  // read it all and shut its half too. wait_closed() returns then; the caller bounds it and
  // close()s what is left (a peer that neither reads nor closes).
  void end_writing();
  boost::asio::awaitable<void> wait_closed();

  bool is_open() const noexcept;
  Direction direction() const noexcept;
  const PeerId& remote_peer() const;
  const Multiaddr& remote_addr() const;
  const Multiaddr& local_addr() const;
  boost::system::error_code close_reason() const;
  std::size_t stream_count() const;
  // Bytes written to and read from the socket so far (ciphertext, framing included).
  std::uint64_t bytes_sent() const noexcept;
  std::uint64_t bytes_received() const noexcept;
  // Bytes this connection holds in its resource scope now (buffers of it and its streams).
  std::size_t reserved_memory() const noexcept;
  // The Yamux output waiting for the writer.
  std::size_t pending_output() const noexcept;

  explicit operator bool() const noexcept { return core_ != nullptr; }
  friend bool operator==(const Connection& a, const Connection& b) noexcept {
    return a.core_ == b.core_;
  }

 private:
  explicit Connection(std::shared_ptr<detail::MuxCore> core) : core_(std::move(core)) {}
  std::shared_ptr<detail::MuxCore> core_;
};

}  // namespace bb::wire

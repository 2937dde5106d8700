// Yamux session (/yamux/1.0.0), sans-IO: bytes from the connection go in through receive(),
// frames to write come out of take_output(), and what happened comes out of next_event(). No
// sockets, no timers, no allocation beyond the bounded per-stream buffers.
//
// Thread rule: single-threaded. A Session belongs to the coroutine that owns its connection;
// call receive() with whatever the socket read, then drain next_event() and take_output().
//
// Errors: a protocol violation by the peer kills the session. receive() returns the specific
// error, a GoAway(protocol error) frame is queued for take_output() (write it, then close the
// connection), every stream is dropped, and every later call reports the same error.
// Per-stream refusals (too many streams, SYN after our go-away) reset only the new stream, as
// go-yamux does.
//
// Flow control: each stream's receive window starts at kDefaultWindow (what the peer assumes),
// plus any extra from Config::initial_window granted with the SYN or ACK. Data are buffered per
// stream up to that window, and window updates are sent only as the application read()s, so a
// receiver that does not read stops its sender. Memory is bounded by
// max_streams × max(initial_window, kDefaultWindow) of buffered data.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/yamux/frame.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <unordered_map>
#include <variant>
#include <vector>

namespace bb::wire::yamux {

// Clients open odd stream ids, servers even ones.
enum class Role { client, server };

// Accounting hook (the connection's resource scopes): asked before a stream the peer opens is
// admitted and before received data are buffered, told when buffered data leave (read by the
// application, or dropped with the stream). A refusal resets only that stream, with the
// StreamRefused event saying why. Must outlive the Session.
class BufferAccount {
 public:
  virtual boost::system::error_code admit_stream(std::uint32_t id) = 0;
  virtual boost::system::error_code reserve(std::uint32_t id, std::size_t bytes) = 0;
  virtual void release(std::uint32_t id, std::size_t bytes) noexcept = 0;

 protected:
  ~BufferAccount() = default;
};

struct Config {
  // Receive window per stream. Values below kDefaultWindow act as kDefaultWindow: the peer may
  // send that much before it hears from us.
  std::uint32_t initial_window = kDefaultWindow;
  // Streams alive at once, both directions. Beyond it, inbound SYNs are reset and open_stream()
  // fails.
  std::size_t max_streams = 256;
  // Largest Data frame accepted (yamux_frame_too_large above it) and the size our writes are
  // split into. Frames up to the receive window are always accepted: go-yamux sends up to a
  // whole window in one frame.
  std::uint32_t max_frame_data = kDefaultWindow;
  // Streams opened but not yet acknowledged, per direction (libp2p spec: SHOULD be at most 256).
  std::size_t max_ack_backlog = 256;
  // Optional accounting of inbound streams and buffered data; null: only the bounds above.
  BufferAccount* account = nullptr;
};

// Events. Readable and WriteWindowOpened are coalesced: at most one of each waits in the queue
// per stream.
struct InboundStream {
  std::uint32_t id;
  friend bool operator==(const InboundStream&, const InboundStream&) = default;
};
struct Readable {
  std::uint32_t id;
  friend bool operator==(const Readable&, const Readable&) = default;
};
struct WriteWindowOpened {
  std::uint32_t id;
  friend bool operator==(const WriteWindowOpened&, const WriteWindowOpened&) = default;
};
struct StreamClosedByPeer {  // FIN: the buffered data are the last
  std::uint32_t id;
  friend bool operator==(const StreamClosedByPeer&, const StreamClosedByPeer&) = default;
};
struct StreamReset {  // RST: buffered data were dropped and the stream is gone
  std::uint32_t id;
  friend bool operator==(const StreamReset&, const StreamReset&) = default;
};
struct Pong {  // answer to one of our ping()s
  std::uint32_t opaque;
  friend bool operator==(const Pong&, const Pong&) = default;
};
struct GoAway {  // the peer accepts no new streams; existing ones carry on
  std::uint32_t code;
  friend bool operator==(const GoAway&, const GoAway&) = default;
};
// We reset a stream because the BufferAccount refused it (its SYN or its data): a RST went out,
// buffered data were dropped, and `reason` says which limit.
struct StreamRefused {
  std::uint32_t id;
  boost::system::error_code reason;
  friend bool operator==(const StreamRefused&, const StreamRefused&) = default;
};
using Event = std::variant<InboundStream, Readable, WriteWindowOpened, StreamClosedByPeer,
                           StreamReset, Pong, GoAway, StreamRefused>;

class Session {
 public:
  explicit Session(Role role, Config config = {});

  // Bytes from the connection, split anywhere. Errors (final for the session): yamux_bad_version,
  // yamux_bad_type, yamux_bad_flags (undefined bits, SYN with ACK, a Ping that is neither SYN
  // nor ACK, a GoAway with flags), yamux_unknown_stream (a stream that was never opened, or id
  // 0 on Data/WindowUpdate), yamux_duplicate_stream (SYN for an id in use, already used, or of
  // our parity), yamux_frame_too_large, yamux_window_exceeded, yamux_stream_closed (data after
  // the peer's FIN). Frames for streams that existed but are gone (we reset them, or both sides
  // closed) are ignored, as their data may have been in flight.
  boost::system::error_code receive(ByteView bytes);

  // Every frame waiting to be written, in order; the caller writes them in one write.
  Bytes take_output();
  // The same into `into` (cleared first), whose buffer the session keeps for the next frames
  // (up to kKeptOutputCapacity): a writer that passes the same buffer every time makes the
  // output grow once rather than once per batch.
  void take_output(Bytes& into);
  static constexpr std::size_t kKeptOutputCapacity = std::size_t{2} << 20;
  std::size_t output_size() const noexcept { return output_.size(); }

  std::optional<Event> next_event();

  // Opens a stream (a WindowUpdate with SYN, carrying any extra window). Errors: yamux_go_away
  // (the peer sent go-away), yamux_session_closed (we sent it), yamux_too_many_streams (stream
  // limit, ACK backlog, or stream ids exhausted), the session error.
  result<std::uint32_t> open_stream();

  // Queues up to send_window(id) bytes of `data` and returns how many; 0 with data left means
  // wait for WriteWindowOpened. Errors: yamux_stream_closed (after close_write, or a stream that
  // is gone: the StreamReset/StreamClosedByPeer event said why), yamux_unknown_stream (never
  // opened), the session error.
  result<std::size_t> write(std::uint32_t id, ByteView data);
  // write() of `n` bytes that `fill` encodes straight into the output: fill(offset, out) writes
  // bytes [offset, offset + out.size()) of them, once per frame (or frame extension), in order.
  // Queues min(n, send_window(id)) bytes and returns how many; nothing is copied but what
  // `fill` writes.
  result<std::size_t> write_into(std::uint32_t id, std::size_t n, FillRef fill);

  // Moves buffered data into `out` and returns how many bytes; 0 means nothing buffered (end of
  // stream if remote_closed(id)). Sends a window update once half the window has been read.
  // The first read() or write() on an inbound stream acknowledges it. A stream that is gone
  // reads as empty; yamux_unknown_stream if `id` was never opened; the session error.
  result<std::size_t> read(std::uint32_t id, std::span<std::uint8_t> out);

  std::size_t readable_bytes(std::uint32_t id) const noexcept;
  // Bytes write() would accept now; 0 for a stream closed for writing or gone.
  std::size_t send_window(std::uint32_t id) const noexcept;

  // Half-close (FIN). Idempotent. Errors as for write(), except that a closed stream is fine.
  boost::system::error_code close_write(std::uint32_t id);
  // Abort (RST): buffered data are dropped and the stream is gone. A stream already gone is
  // fine; yamux_unknown_stream if `id` was never opened.
  boost::system::error_code reset(std::uint32_t id);

  // True when no more data will arrive on `id`: the peer sent FIN, or the stream is gone.
  bool remote_closed(std::uint32_t id) const noexcept;

  // Sends a Ping; a matching Pong event follows. Errors: the session error.
  boost::system::error_code ping(std::uint32_t opaque);
  // Sends GoAway once; later inbound SYNs are reset and open_stream() fails.
  boost::system::error_code go_away(std::uint32_t code = kGoAwayNormal);

  // Sets the accounting hook after construction (its owner may be built around the Session).
  void set_account(BufferAccount* account) noexcept { config_.account = account; }

  std::size_t stream_count() const noexcept { return streams_.size(); }
  // The session error; empty while the session is alive.
  boost::system::error_code error() const noexcept { return error_; }
  Role role() const noexcept { return role_; }

 private:
  struct Stream {
    Bytes recv;  // received data; recv_off bytes at the front are consumed
    std::size_t recv_off = 0;
    std::uint32_t recv_window;   // bytes the peer may still send
    std::uint32_t consumed = 0;  // read by the application since our last window update
    std::uint64_t send_window = kDefaultWindow;
    bool outbound;
    bool acked = false;  // outbound: the peer's ACK arrived; inbound: we sent ours
    bool local_closed = false;
    bool remote_closed = false;
    bool write_blocked = false;  // a write() stopped at the window: report when it opens
    bool readable_queued = false;
    bool window_queued = false;

    std::size_t buffered() const noexcept { return recv.size() - recv_off; }
  };
  using StreamMap = std::unordered_map<std::uint32_t, Stream>;

  boost::system::error_code fail(boost::system::error_code ec);
  boost::system::error_code on_header(const Header& h);
  boost::system::error_code on_stream_frame(const Header& h);
  void deliver(ByteView payload);
  void finish_frame();

  bool is_local_id(std::uint32_t id) const noexcept;
  bool was_opened(std::uint32_t id) const noexcept;
  void queue_frame(FrameType type, std::uint16_t flags, std::uint32_t id, std::uint32_t length);
  void queue_window_update(std::uint32_t id, Stream& s, std::uint16_t flags, std::uint32_t delta);
  void remove(StreamMap::iterator it);
  void maybe_remove(StreamMap::iterator it);
  void refuse(std::uint32_t id, boost::system::error_code why);
  template <class Put>
  result<std::size_t> write_frames(std::uint32_t id, std::size_t size, Put put);

  Role role_;
  Config config_;
  std::uint32_t extra_window_;   // granted beyond kDefaultWindow with each SYN / ACK
  std::uint32_t window_target_;  // kDefaultWindow + extra_window_
  std::uint32_t max_frame_in_;   // largest Data frame accepted

  StreamMap streams_;
  std::uint64_t next_id_;             // next stream id we open
  std::uint32_t max_inbound_id_ = 0;  // highest id the peer opened (ids are never reused)
  std::size_t outbound_unacked_ = 0;
  std::size_t inbound_unacked_ = 0;
  bool local_go_away_ = false;
  bool remote_go_away_ = false;
  std::vector<std::uint32_t> pending_pings_;

  // Frame parser: a partial header, then the current frame's payload.
  std::array<std::uint8_t, kHeaderSize> header_buf_{};
  std::size_t header_have_ = 0;
  std::uint32_t payload_left_ = 0;
  std::uint32_t frame_stream_ = 0;     // stream the current frame applies to; 0: none / ignored
  std::uint16_t frame_end_flags_ = 0;  // FIN / RST, applied after the payload

  Bytes output_;
  // Where the last frame in output_ starts when it is a Data frame that a write may extend.
  static constexpr std::size_t kNoOpenFrame = static_cast<std::size_t>(-1);
  std::size_t open_frame_ = kNoOpenFrame;
  std::uint32_t open_frame_id_ = 0;
  std::deque<Event> events_;
  boost::system::error_code error_;
};

}  // namespace bb::wire::yamux

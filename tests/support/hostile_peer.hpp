// A misbehaving libp2p client for tests: it speaks TCP, multistream-select, Noise XX and Yamux
// well enough to reach any layer of a bb Host, and then breaks that layer's rules on purpose
// (floods, forged identities, frames for streams that do not exist, data past the window,
// protocols left half-done). It never reads unless a read function is called: a peer that does
// not read is the point of several attacks.
//
// Layers, each usable on its own:
//   TCP        connect() (optionally from a chosen source IP), send(), drip(), flood(), reset()
//   mss        mss_message() builds any line (too long, no header, garbage); select() and
//              read_mss_line() read the answers (so a test can see "na")
//   Noise      secure() = select /noise + the XX handshake as initiator (fresh, given or forged
//              identity); then send_sealed(), seal(), read_sealed()
//   Yamux      append_yamux() / append_yamux_data() build raw frames of any type, flags, id and
//              length; open_stream() / append_open_stream() + await_selected() negotiate a
//              protocol on a stream by hand
//   reading    read_until_closed() drains to EOF or reset within a bound, decrypting and
//              parsing Yamux once secured, and records the GoAway code if one arrives
//
// Errors: operations a test expects to succeed throw boost::system::system_error (a timeout is
// boost::asio::error::timed_out); reads that look for the end of a connection return it as a
// value (ReadOutcome, FloodOutcome).
//
// Thread rule: a HostilePeer lives on one executor (the test's io_context), which must outlive
// it; it owns its socket and nothing else. One operation at a time: do not start a read or a
// send while another of this peer's operations is suspended. Move-only.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/multiaddr.hpp"
#include "bb/wire/noise/session.hpp"
#include "bb/wire/peer_id.hpp"
#include "bb/wire/tcp.hpp"
#include "bb/wire/yamux/frame.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bb::wire::mss {
class Dialer;
}

namespace bb::test {

// ---- frame builders (no checks: any length, any flags) ---------------------------------------

// uvarint(line size + 1) ‖ line ‖ '\n', whatever the line holds and however long it is.
wire::Bytes mss_message(std::string_view line);
// A Yamux header with any field values (a Data frame's payload is appended separately).
void append_yamux(wire::Bytes& out, wire::yamux::FrameType type, std::uint16_t flags,
                  std::uint32_t stream_id, std::uint32_t length);
// A Data frame: header with length = payload size, then the payload.
void append_yamux_data(wire::Bytes& out, std::uint32_t stream_id, wire::ByteView payload,
                       std::uint16_t flags = 0);
// `count` Ping SYN frames with opaque values 1, 2, ...
wire::Bytes yamux_pings(std::size_t count);

// {"/yamux/1.0.0"}: the muxers secure() lists in its Noise payload by default (inlined muxer
// negotiation, as bb does).
std::vector<std::string> yamux_muxers();

// ---- process memory (Linux /proc/self) -------------------------------------------------------

std::size_t resident_bytes();       // VmRSS
std::size_t peak_resident_bytes();  // VmHWM
// Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs); false if not allowed.
bool reset_peak_resident();

// ---- the client ------------------------------------------------------------------------------

struct HostileOptions {
  // Bound on every connect, write and read the peer makes, unless a call takes its own.
  std::chrono::milliseconds timeout{2000};
  // Source address to bind before connecting ("127.0.0.2" on loopback); empty: the OS picks.
  std::string source_ip;
};

// How a read_until_closed() ended.
struct ReadOutcome {
  std::uint64_t bytes = 0;        // bytes read from the socket during the call
  boost::system::error_code end;  // eof, connection_reset, timed_out (bound), or a decode error
  std::optional<std::uint32_t> go_away;  // GoAway code read before the end, if any
  bool closed_by_peer() const noexcept;  // end is eof or connection_reset
};

// How a flood() ended.
struct FloodOutcome {
  std::size_t batches = 0;          // batches written completely
  std::uint64_t bytes = 0;          // bytes written (sealed size once secured)
  bool stalled = false;             // a batch's write did not finish within the stall bound
  boost::system::error_code error;  // a write failed (the peer closed), else empty
};

// A tracked stream, as far as the client has read it.
struct StreamState {
  bool selected = false;  // the protocol was confirmed
  bool na = false;        // the protocol was refused
  bool fin = false;
  bool reset = false;
  wire::Bytes data;  // bytes after the negotiation, in arrival order
};

class HostilePeer {
 public:
  // Raw TCP to an /ip4|ip6/.../tcp address (a /p2p/ part is ignored). Throws on failure.
  // (No default arguments on coroutines here: g++ 12 destroys such a default twice.)
  static boost::asio::awaitable<HostilePeer> connect(const wire::Multiaddr& to,
                                                     HostileOptions options);
  static boost::asio::awaitable<HostilePeer> connect(const wire::Multiaddr& to);

  HostilePeer(HostilePeer&&) noexcept;
  HostilePeer& operator=(HostilePeer&&) noexcept;
  ~HostilePeer();

  // ---- TCP ----
  // Writes all of `bytes` (raw: not sealed, whatever the phase).
  boost::asio::awaitable<void> send(wire::ByteView bytes);
  // One write per byte, `gap` apart (0: as fast as the socket takes them).
  boost::asio::awaitable<void> drip(wire::ByteView bytes,
                                    std::chrono::milliseconds gap = std::chrono::milliseconds(0));
  // Writes `batch` `repeat` times (each sealed first once secured), stopping early when one
  // batch's write does not finish within `stall` (the peer stopped reading) or fails. After a
  // stall a frame may be half-written: only read or close afterwards.
  boost::asio::awaitable<FloodOutcome> flood(wire::ByteView batch, std::size_t repeat,
                                             std::chrono::milliseconds stall);
  // A flood of new-stream requests (WindowUpdate|SYN, fresh odd ids, `per_batch` per batch):
  // past the host's stream limit each is answered by a RST.
  boost::asio::awaitable<FloodOutcome> flood_syns(std::size_t per_batch, std::size_t repeat,
                                                  std::chrono::milliseconds stall);
  void shutdown_send();
  // Abortive close (RST): SO_LINGER 0, then close.
  void reset();
  wire::Multiaddr local_addr() const;

  // ---- multistream-select on the raw socket ----
  // Sends the header and a proposal of `protocol`, reads the header and the answer: true if
  // the protocol was echoed, false for "na". Throws on anything else.
  boost::asio::awaitable<bool> select(std::string_view protocol);
  // The next multistream message received on the raw socket (without its '\n').
  boost::asio::awaitable<std::string> read_mss_line();

  // ---- Noise ----
  // select("/noise") then the XX handshake as initiator with `identity`, expecting `expected`
  // if set. `forge` replaces or mis-signs the identity payload (wire/noise/session.hpp);
  // `muxers` go in our payload (default yamux_muxers()). Completes once our message 3 is sent:
  // the host judges it afterwards. `identity` must outlive the call.
  boost::asio::awaitable<void> secure(const wire::Ed25519KeyPair& identity,
                                      std::optional<wire::PeerId> expected,
                                      wire::noise::Handshake::TestOptions forge,
                                      std::vector<std::string> muxers);
  boost::asio::awaitable<void> secure(const wire::Ed25519KeyPair& identity,
                                      std::optional<wire::PeerId> expected,
                                      wire::noise::Handshake::TestOptions forge);
  boost::asio::awaitable<void> secure(const wire::Ed25519KeyPair& identity,
                                      std::optional<wire::PeerId> expected);
  // The handshake alone, for a caller that did the /noise selection itself.
  boost::asio::awaitable<void> handshake(wire::noise::Handshake initiator);
  bool is_secure() const noexcept;
  const wire::PeerId& remote_peer() const;  // precondition: is_secure()
  // Noise frames for `plaintext`, ready for send(); advances the send nonce.
  wire::Bytes seal(wire::ByteView plaintext);
  boost::asio::awaitable<void> send_sealed(wire::ByteView plaintext);
  // The plaintext of the next Noise message (bypasses the Yamux parser).
  boost::asio::awaitable<wire::Bytes> read_sealed();

  // ---- Yamux (after secure()) ----
  // The next unused odd stream id (each call takes one).
  std::uint32_t next_stream_id();
  // Appends a Data|SYN frame opening a stream, carrying header ‖ proposal of `protocol` ‖
  // `first_data`; the stream is tracked from now on. Returns its id.
  std::uint32_t append_open_stream(wire::Bytes& plaintext, std::string_view protocol,
                                   wire::ByteView first_data = {});
  // Reads until the tracked stream's negotiation is answered. Throws mss_protocol_not_supported
  // for "na", yamux_stream_reset for a reset, eof / timed_out.
  boost::asio::awaitable<void> await_selected(std::uint32_t id);
  // append_open_stream + send_sealed + await_selected.
  boost::asio::awaitable<std::uint32_t> open_stream(std::string_view protocol,
                                                    wire::ByteView first_data = {});
  // Data frames on `id` (split at 64 KiB), no window check.
  boost::asio::awaitable<void> write_stream(std::uint32_t id, wire::ByteView data,
                                            std::uint16_t flags = 0);
  // Sends a Ping SYN with `opaque` and reads until its ACK arrives (throws timed_out, eof).
  boost::asio::awaitable<void> ping(std::uint32_t opaque);
  // Reads until `done(state)` holds for tracked stream `id` and returns a copy of the state;
  // throws timed_out or eof.
  boost::asio::awaitable<StreamState> read_stream_until(std::uint32_t id,
                                                        bool (*done)(const StreamState&));
  const StreamState* stream(std::uint32_t id) const;

  // ---- reading ----
  // Reads (and, once secured, decrypts and parses) until EOF/reset, `bound` passes, or
  // `max_bytes` were read (then end is timed_out too).
  boost::asio::awaitable<ReadOutcome> read_until_closed(std::chrono::milliseconds bound,
                                                        std::uint64_t max_bytes = 64u << 20);
  std::uint64_t bytes_received() const noexcept;
  std::uint64_t bytes_sent() const noexcept;
  std::optional<std::uint32_t> go_away() const noexcept;  // code of the first GoAway read
  std::uint64_t pongs_received() const noexcept;          // Ping ACK frames read

 private:
  struct State;
  explicit HostilePeer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace bb::test

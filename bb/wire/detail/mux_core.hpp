// The state a Connection and its Streams share (MuxCore) and the loops that drive it: the
// reader (ByteStream → Noise open → Yamux), the writer (Yamux output → one Noise seal → one
// write) and the keep-alive. Private to wire/connection*.cpp and wire/stream.cpp.
//
// Thread rule: one executor, the ByteStream's. The loops hold the core by shared_ptr; close()
// wakes every one of them and every pending stream operation.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/async/event.hpp"
#include "bb/wire/byte_stream.hpp"
#include "bb/wire/connection.hpp"
#include "bb/wire/noise/session.hpp"
#include "bb/wire/yamux/session.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

namespace bb::wire::detail {

struct StreamSlot {
  explicit StreamSlot(const boost::asio::any_io_executor& ex) : readable(ex), writable(ex) {}
  async::Event readable;
  async::Event writable;
  bool reset = false;
  bool closed_write = false;
  StreamScope scope;                  // empty for an unaccounted connection
  boost::system::error_code refused;  // the resource manager refused this stream (a why)
  std::string refusal_detail;
};

// The libp2p error code a GoAway carries for a close of ours (specs: error-codes).
std::uint32_t go_away_code(boost::system::error_code why);

struct MuxCore final : yamux::BufferAccount {
  MuxCore(std::unique_ptr<ByteStream> s, noise::Transport t, yamux::Session y, Direction d,
          const ConnectionOptions& o, ConnectionScope sc);
  MuxCore(const MuxCore&) = delete;
  MuxCore& operator=(const MuxCore&) = delete;
  ~MuxCore();

  // ---- yamux::BufferAccount: a stream's buffered data are charged to its scope ----
  boost::system::error_code admit_stream(std::uint32_t id) override;
  boost::system::error_code reserve(std::uint32_t id, std::size_t bytes) override;
  void release(std::uint32_t id, std::size_t bytes) noexcept override;

  // The connection's own buffers (Yamux output, the bytes being written, an incomplete Noise
  // frame) are reserved as they are: a peer cannot make them grow past its scopes.
  boost::system::error_code account_buffers(std::size_t partial_bytes) {
    return buffers.resize(session.output_size() + writing_bytes + partial_bytes);
  }

  StreamSlot& slot(std::uint32_t id) {
    auto& s = slots[id];
    if (!s) s = std::make_unique<StreamSlot>(stream->get_executor());
    return *s;
  }

  // Turns session events into wake-ups. Called after every receive() and by stream operations.
  void process_events();
  void close(boost::system::error_code why);
  // The graceful end's first half: what is queued goes out, then a GoAway (normal), then our
  // half of the byte stream is shut (the writer does it). Reading goes on until the peer shuts
  // its half (close() then follows), so nothing the peer sends is left unread: closing a TCP
  // socket with unread input resets it, and a reset discards what the peer had not yet read of
  // ours.
  void end_writing();
  // Best effort, never waits (see the definition).
  void send_go_away(std::uint32_t code);
  [[noreturn]] void throw_closed() const;

  ConnectionScope resources;  // before every member that may hold reservations in it
  MemoryReservation buffers;
  std::unique_ptr<ByteStream> stream;
  noise::Transport noise;
  yamux::Session session;
  ConnectionOptions options;
  Direction direction;
  PeerId remote;
  Multiaddr remote_addr;
  Multiaddr local_addr;
  async::Event output;   // wakes the writer
  async::Event drained;  // the writer took the queued output: stream writes may queue more
  async::Event flushed;  // a write completed: flush() looks again
  async::Event inbound;  // wakes accept_stream()
  async::Clock& clock;   // options.clock, or the steady clock
  async::Event closed;   // set by close(): ends the keep-alive's sleep
  std::deque<std::uint32_t> inbound_ids;
  std::map<std::uint32_t, std::unique_ptr<StreamSlot>> slots;
  Bytes initial_ciphertext;  // read during the upgrade, past its last message
  bool open = true;
  bool go_away_received = false;
  bool ending = false;      // end_writing() was called
  bool write_shut = false;  // our half of the byte stream is shut: output is dropped
  boost::system::error_code reason;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t last_received_ns;  // clock time of the last read
  std::uint32_t next_ping = 1;
  std::size_t writing_bytes = 0;  // plaintext + ciphertext of the write in flight
  bool reader_stalled = false;    // waiting for the writer to send our answers
  std::uint64_t streams_refused = 0;
};

// The connection's loops; each returns (never throws) once the core is closed, closing it
// with the reason when it is the one that failed.
boost::asio::awaitable<void> reader(std::shared_ptr<MuxCore> core);
boost::asio::awaitable<void> writer(std::shared_ptr<MuxCore> core);
boost::asio::awaitable<void> keepalive(std::shared_ptr<MuxCore> core);

}  // namespace bb::wire::detail

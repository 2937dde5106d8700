// The byte-stream seam under a Connection: a duplex, ordered, reliable byte stream (a TCP
// socket, or a test's in-memory pair). Connection::upgrade runs multistream-select, Noise and
// Yamux over any of them.
//
// The interface mirrors how the connection reads (wait for readiness, then drain without
// waiting into a shared buffer, so an idle connection holds no read buffer) and writes (one
// gathered write per batch). One virtual call per batch; no copies beyond the transport's own.
//
// Errors are values here (the connection decides what ends it): eof at the end of the stream,
// would_block when a non-waiting call cannot make progress, the transport's code otherwise.
// Thread rule: one executor, get_executor(). Cancellation: async_wait_readable() and
// async_write() stop when their awaiting coroutine is cancelled (the loser of `a || b`) and
// report operation_aborted; close() ends both as well.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/multiaddr.hpp"
#include "bb/wire/tcp.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory>
#include <span>

namespace bb::wire {

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  virtual boost::asio::any_io_executor get_executor() = 0;

  // Waits until read_some() has something to report: bytes, the end of the stream or an error.
  // Returns an error only when the wait itself failed (closed, cancelled).
  virtual boost::asio::awaitable<boost::system::error_code> async_wait_readable() = 0;
  // Never waits: copies what is available now into `out`. would_block when nothing is, eof at
  // the end of the stream.
  virtual std::size_t read_some(std::span<std::uint8_t> out, boost::system::error_code& ec) = 0;
  // Writes all of `data`, waiting while the peer does not read. Returns the error that stopped
  // it (nothing on success) and how many bytes were written before.
  virtual boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> async_write(
      ByteView data) = 0;
  // Never waits: writes what the transport takes now (a last word before a close).
  virtual std::size_t try_write(ByteView data, boost::system::error_code& ec) = 0;
  // Ends the stream both ways (the peer reads end of stream); idempotent, never throws.
  virtual void close() noexcept = 0;
  // Ends this side's writing only: the peer reads what was written, then end of stream, and
  // this side may go on reading. Transports without a half-close close both ways (the default).
  virtual void shutdown_write() noexcept { close(); }
  virtual bool is_open() const noexcept = 0;

  // The addresses as this side sees them; empty when the transport has none.
  virtual Multiaddr remote_addr() const { return {}; }
  virtual Multiaddr local_addr() const { return {}; }

  // Waits for and reads at least one byte; throws boost::system::system_error (eof at the end).
  boost::asio::awaitable<std::size_t> read_some_or_throw(std::span<std::uint8_t> out);
  // async_write(), throwing boost::system::system_error on failure.
  boost::asio::awaitable<void> write_or_throw(ByteView data);
};

// A connected TCP socket as a ByteStream (switched to non-blocking mode; throws
// boost::system::system_error if that fails).
std::unique_ptr<ByteStream> make_tcp_stream(tcp::socket socket);

}  // namespace bb::wire

// An in-memory duplex byte stream pair (wire::ByteStream), for Connection, Noise and Yamux tests
// without sockets. In the spirit of Beast's test stream.
//
// Each direction has a bounded buffer: a writer waits while the peer has `buffer_bytes` unread.
// close() on one end: the peer reads what was sent, then end of stream; its writes fail with
// broken_pipe; the closed end's own pending and later operations fail (operation_aborted,
// bad_descriptor). Destroying an end closes it.
//
// The link between the ends (MemoryLink) is shared by both and by the test:
//   - reset(): both ends fail every pending and later operation with connection_reset; unread
//     bytes are dropped.
//   - fail_at(n): fault injection by byte position. Bytes are counted over both directions in
//     the order they are written. The write that would move byte n+1 (bytes are numbered from
//     1) delivers the bytes up to n, then breaks the link: that write and every later write on
//     either end fail with MemoryStreamErrc::injected_fault; readers first get what was
//     delivered, then injected_fault. fail_at(0) fails the first write with nothing delivered;
//     fail_at(bytes a full exchange moves) fails nothing. A test loops n over [0, total).
//
// Thread rule: both ends and the link live on one executor. Cancellation: a cancelled wait or
// write reports operation_aborted (as a value, never thrown).
#pragma once

#include "bb/wire/byte_stream.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>

namespace bb::test {

enum class MemoryStreamErrc { injected_fault = 1 };

const boost::system::error_category& memory_stream_category() noexcept;
inline boost::system::error_code make_error_code(MemoryStreamErrc e) noexcept {
  return {static_cast<int>(e), memory_stream_category()};
}

struct MemoryStreamOptions {
  // Unread bytes one direction holds before its writer waits.
  std::size_t buffer_bytes = 64 * 1024;
  // What each end reports as addresses (empty by default).
  wire::Multiaddr a_addr;
  wire::Multiaddr b_addr;
};

class MemoryLink {
 public:
  virtual ~MemoryLink() = default;
  virtual void fail_at(std::uint64_t byte) = 0;
  virtual void reset() = 0;
  // Bytes written so far, both directions together.
  virtual std::uint64_t bytes_moved() const noexcept = 0;
  // The error that broke the link (injected_fault, connection_reset), if any.
  virtual boost::system::error_code broken() const noexcept = 0;

  // Links alive in this process: 0 after a test means no end leaked.
  static std::size_t alive() noexcept;
};

struct MemoryStreamPair {
  std::unique_ptr<wire::ByteStream> a;
  std::unique_ptr<wire::ByteStream> b;
  std::shared_ptr<MemoryLink> link;
};

MemoryStreamPair make_memory_stream_pair(const boost::asio::any_io_executor& executor,
                                         MemoryStreamOptions options = {});

}  // namespace bb::test

template <>
struct boost::system::is_error_code_enum<bb::test::MemoryStreamErrc> : std::true_type {};

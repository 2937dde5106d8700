// Stream framing for bb envelopes: unsigned-varint length prefix ‖ body (delimited protobuf).
// The length is checked against a configurable maximum before any byte of the body is buffered.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/varint.hpp"

#include <array>
#include <cstddef>
#include <optional>

namespace bb::wire {

// Matches EnvelopeCaps::max_total_bytes, so a frame can carry any acceptable envelope.
inline constexpr std::size_t kDefaultMaxFrameBytes = std::size_t{16} << 20;

// The length prefix alone, for gathered writes that send header and body as separate buffers.
struct FrameHeader {
  std::array<std::uint8_t, kMaxVarintBytes> bytes;
  std::size_t size;
  ByteView view() const noexcept { return {bytes.data(), size}; }
};
inline FrameHeader frame_header(std::size_t body_size) noexcept {
  FrameHeader h{};
  h.size = encode_varint(body_size, h.bytes.data());
  return h;
}

inline void append_frame(Bytes& out, ByteView body) {
  append_varint(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
}

struct FrameView {
  ByteView body;
  std::size_t consumed;  // header + body
};

// Decodes the frame at the start of `in`. Returns nullopt while the frame is incomplete (a
// partial frame waits for more bytes); errors (bad varint, frame_too_large) are final for the
// stream. Never allocates.
result<std::optional<FrameView>> decode_frame(ByteView in, std::size_t max_body);

// Incremental decoder over a byte stream. Feed it with prepare()/commit() (or append()), then
// call next() until it returns nullopt. Its buffer never holds more than one maximum frame plus
// one read's worth of bytes. Single-threaded: owned by one reader coroutine.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_body = kDefaultMaxFrameBytes) : max_body_(max_body) {}

  // A writable region of at least `min_size` bytes (grows the buffer if needed).
  std::span<std::uint8_t> prepare(std::size_t min_size);
  void commit(std::size_t n) noexcept { end_ += n; }
  void append(ByteView bytes);

  // The next complete frame's body, valid until the next call to prepare(), append() or next().
  // After an error the reader is poisoned: every later call returns the same error.
  result<std::optional<ByteView>> next();

  std::size_t buffered() const noexcept { return end_ - begin_; }
  // Bytes the buffer holds allocated; prepare(n) makes it at most buffered() + n (or leaves it).
  std::size_t allocated() const noexcept { return buf_.size(); }
  // Frees the buffer if it is larger than `keep` bytes and holds nothing unconsumed (after a
  // large frame, so that it does not stay allocated for the stream's life).
  void shrink(std::size_t keep);
  std::size_t max_body() const noexcept { return max_body_; }

 private:
  std::size_t max_body_;
  Bytes buf_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last received byte
  boost::system::error_code error_;
};

}  // namespace bb::wire

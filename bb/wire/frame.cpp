#include "bb/wire/frame.hpp"

#include <algorithm>
#include <cstring>

namespace bb::wire {

result<std::optional<FrameView>> decode_frame(ByteView in, std::size_t max_body) {
  auto len = decode_varint(in);
  if (!len) {
    if (len.error() == errc::varint_truncated) return std::optional<FrameView>{};
    return len.error();
  }
  if (len->value > max_body) return errc::frame_too_large;
  const auto body_size = static_cast<std::size_t>(len->value);
  if (in.size() - len->size < body_size) return std::optional<FrameView>{};
  return std::optional<FrameView>{
      FrameView{in.subspan(len->size, body_size), len->size + body_size}};
}

std::span<std::uint8_t> FrameReader::prepare(std::size_t min_size) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (buf_.size() - end_ < min_size) {
    // Move the unconsumed tail to the front before growing.
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < min_size) buf_.resize(end_ + min_size);
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void FrameReader::shrink(std::size_t keep) {
  if (begin_ != end_ || buf_.size() <= keep) return;
  Bytes().swap(buf_);
  begin_ = end_ = 0;
}

void FrameReader::append(ByteView bytes) {
  auto dst = prepare(bytes.size());
  std::copy(bytes.begin(), bytes.end(), dst.begin());
  commit(bytes.size());
}

result<std::optional<ByteView>> FrameReader::next() {
  if (error_) return error_;
  auto frame = decode_frame({buf_.data() + begin_, end_ - begin_}, max_body_);
  if (!frame) {
    error_ = frame.error();
    return error_;
  }
  if (!*frame) return std::optional<ByteView>{};
  begin_ += (*frame)->consumed;
  return std::optional<ByteView>{(*frame)->body};
}

}  // namespace bb::wire

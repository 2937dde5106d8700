#include "wire/mss/negotiator.hpp"

#include <algorithm>
#include <utility>

namespace bb::wire::mss {
namespace {

// The bytes from `pos` on: they arrived after the final message and belong to the protocol.
Bytes tail(const Bytes& buf, std::size_t pos) {
  return Bytes(buf.begin() + static_cast<std::ptrdiff_t>(pos), buf.end());
}

void drop_front(Bytes& buf, std::size_t n) {
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace

Dialer::Dialer(std::vector<std::string> protocols) : protocols_(std::move(protocols)) {}

Bytes Dialer::start() {
  Bytes out;
  append_message(out, kHeader);
  if (!protocols_.empty()) append_message(out, protocols_.front());
  return out;
}

result<Progress> Dialer::fail(boost::system::error_code e) {
  error_ = e;
  buf_.clear();
  buf_.shrink_to_fit();
  return error_;
}

result<Progress> Dialer::on_bytes(ByteView in) {
  if (error_) return error_;
  if (done_) return fail(errc::mss_unexpected_message);
  buf_.insert(buf_.end(), in.begin(), in.end());

  Progress progress;
  std::size_t pos = 0;
  while (true) {
    auto msg = decode_message(ByteView(buf_).subspan(pos));
    if (!msg) return fail(msg.error());
    if (!*msg) break;
    const auto [line, consumed] = **msg;
    pos += consumed;

    if (!header_seen_) {
      if (line != kHeader) return fail(errc::mss_bad_header);
      header_seen_ = true;
      if (protocols_.empty()) return fail(errc::mss_protocol_not_supported);
      continue;
    }
    if (line == protocols_[current_]) {
      done_ = true;
      progress.selected = protocols_[current_];
      progress.leftover = tail(buf_, pos);
      buf_.clear();
      return progress;
    }
    if (line != kNa) return fail(errc::mss_unexpected_message);
    if (++current_ == protocols_.size()) return fail(errc::mss_protocol_not_supported);
    append_message(progress.output, protocols_[current_]);
  }
  drop_front(buf_, pos);
  return progress;
}

Listener::Listener(std::vector<std::string> protocols, std::size_t max_proposals)
    : protocols_(std::move(protocols)), max_proposals_(max_proposals) {}

result<Progress> Listener::fail(boost::system::error_code e) {
  error_ = e;
  buf_.clear();
  buf_.shrink_to_fit();
  return error_;
}

result<Progress> Listener::on_bytes(ByteView in) {
  if (error_) return error_;
  if (done_) return fail(errc::mss_unexpected_message);
  buf_.insert(buf_.end(), in.begin(), in.end());

  Progress progress;
  std::size_t pos = 0;
  while (true) {
    auto msg = decode_message(ByteView(buf_).subspan(pos));
    if (!msg) return fail(msg.error());
    if (!*msg) break;
    const auto [line, consumed] = **msg;
    pos += consumed;

    if (!header_seen_) {
      if (line != kHeader) return fail(errc::mss_bad_header);
      header_seen_ = true;
      append_message(progress.output, kHeader);
      continue;
    }
    if (proposals_ == max_proposals_) return fail(errc::mss_unexpected_message);
    ++proposals_;
    const auto it = std::find(protocols_.begin(), protocols_.end(), line);
    if (it == protocols_.end()) {
      append_message(progress.output, kNa);
      continue;
    }
    done_ = true;
    append_message(progress.output, *it);
    progress.selected = *it;
    progress.leftover = tail(buf_, pos);
    buf_.clear();
    return progress;
  }
  drop_front(buf_, pos);
  return progress;
}

}  // namespace bb::wire::mss

#include "bb/wire/mss/negotiator.hpp"

#include <algorithm>
#include <utility>

namespace bb::wire::mss {

result<Progress> detail::NegotiatorBase::fail(boost::system::error_code e) {
  error_ = e;
  buf_.clear();
  buf_.shrink_to_fit();
  return error_;
}

Dialer::Dialer(std::vector<std::string> protocols) : protocols_(std::move(protocols)) {}

Bytes Dialer::start() {
  Bytes out;
  append_message(out, kHeader);
  if (!protocols_.empty()) append_message(out, protocols_.front());
  return out;
}

result<Progress> Dialer::on_bytes(ByteView in) {
  return feed(in, [this](std::string_view line, Progress& p) { return on_line(line, p); });
}

boost::system::error_code Dialer::on_line(std::string_view line, Progress& progress) {
  if (!header_seen_) {
    if (line != kHeader) return errc::mss_bad_header;
    header_seen_ = true;
    if (protocols_.empty()) return errc::mss_protocol_not_supported;
    return {};
  }
  if (line == protocols_[current_]) {
    progress.selected = protocols_[current_];
    return {};
  }
  if (line != kNa) return errc::mss_unexpected_message;
  if (++current_ == protocols_.size()) return errc::mss_protocol_not_supported;
  append_message(progress.output, protocols_[current_]);
  return {};
}

Listener::Listener(std::vector<std::string> protocols, std::size_t max_proposals)
    : protocols_(std::move(protocols)), max_proposals_(max_proposals) {}

result<Progress> Listener::on_bytes(ByteView in) {
  return feed(in, [this](std::string_view line, Progress& p) { return on_line(line, p); });
}

boost::system::error_code Listener::on_line(std::string_view line, Progress& progress) {
  if (!header_seen_) {
    if (line != kHeader) return errc::mss_bad_header;
    header_seen_ = true;
    append_message(progress.output, kHeader);
    return {};
  }
  if (proposals_ == max_proposals_) return errc::mss_unexpected_message;
  ++proposals_;
  const auto it = std::find(protocols_.begin(), protocols_.end(), line);
  if (it == protocols_.end()) {
    append_message(progress.output, kNa);
    return {};
  }
  append_message(progress.output, *it);
  progress.selected = *it;
  return {};
}

}  // namespace bb::wire::mss

// multistream-select 1.0 negotiation, sans-IO: the Dialer and Listener consume received bytes
// and say what to send next, and never touch a socket. One negotiation per object.
//
// Both sides are single-threaded: an object belongs to the coroutine that owns the connection
// or stream being negotiated. Errors are values and final: after an error every later call
// returns the same error.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/mss/message.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace bb::wire::mss {

// Proposals a Listener answers before it gives up, so a peer cannot keep it busy forever.
inline constexpr std::size_t kMaxProposals = 32;

// What one call to on_bytes() produced.
struct Progress {
  Bytes output;                         // send these bytes now (may be empty)
  std::optional<std::string> selected;  // the agreed protocol, once negotiation is done
  Bytes leftover;  // bytes received after the final message: the first bytes of `selected`
  bool done() const noexcept { return selected.has_value(); }
};

namespace detail {

// What Dialer and Listener share: the byte buffer, the sticky error, the end of negotiation.
// feed() appends bytes and hands each complete line to `on_line(line, progress)`, which returns
// an error to fail, or sets progress.selected to finish; bytes after the final line become
// progress.leftover.
class NegotiatorBase {
 public:
  bool done() const noexcept { return done_; }

 protected:
  template <class OnLine>
  result<Progress> feed(ByteView in, OnLine on_line);
  result<Progress> fail(boost::system::error_code e);

  bool header_seen_ = false;

 private:
  bool done_ = false;
  Bytes buf_;  // at most one incomplete message
  boost::system::error_code error_;
};

}  // namespace detail

// The initiator. Pipelines like go/js: start() sends the header and the first proposal at once;
// each "na" is answered with the next proposal.
class Dialer : public detail::NegotiatorBase {
 public:
  // `protocols` in preference order; each must be a valid line (no '\n', short enough).
  explicit Dialer(std::vector<std::string> protocols);

  // The first bytes to send: header ‖ first proposal. Call once, before on_bytes().
  Bytes start();

  // Consumes bytes from the peer, any split. Errors: mss_bad_header (the peer's first message
  // is not the header), mss_protocol_not_supported (every proposal was answered "na"),
  // mss_unexpected_message (an answer that is neither the pending proposal nor "na", or a call
  // after done), and the decode_message() errors.
  result<Progress> on_bytes(ByteView in);

  // done(): from NegotiatorBase.

 private:
  boost::system::error_code on_line(std::string_view line, Progress& progress);

  std::vector<std::string> protocols_;
  std::size_t current_ = 0;  // index of the pending proposal
};

// The responder. Answers the header with the header and each proposal with itself (selected)
// or "na". "ls" is answered with "na": listing is optional and nobody relies on it, and
// answering it would reveal the protocol set to unauthenticated peers. Every message after the
// header counts as a proposal; the one after `max_proposals` fails with mss_unexpected_message.
class Listener : public detail::NegotiatorBase {
 public:
  explicit Listener(std::vector<std::string> protocols, std::size_t max_proposals = kMaxProposals);

  // Consumes bytes from the dialer, any split. Errors: mss_bad_header, mss_unexpected_message
  // (too many proposals, or a call after done), and the decode_message() errors.
  result<Progress> on_bytes(ByteView in);

  // done(): from NegotiatorBase.

 private:
  boost::system::error_code on_line(std::string_view line, Progress& progress);

  std::vector<std::string> protocols_;
  std::size_t max_proposals_;
  std::size_t proposals_ = 0;
};

template <class OnLine>
result<Progress> detail::NegotiatorBase::feed(ByteView in, OnLine on_line) {
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
    if (auto ec = on_line(line, progress)) return fail(ec);
    if (progress.done()) {
      done_ = true;
      progress.leftover.assign(buf_.begin() + static_cast<std::ptrdiff_t>(pos), buf_.end());
      buf_.clear();
      return progress;
    }
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
  return progress;
}

}  // namespace bb::wire::mss

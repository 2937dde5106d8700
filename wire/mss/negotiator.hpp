// multistream-select 1.0 negotiation, sans-IO: the Dialer and Listener consume received bytes
// and say what to send next, and never touch a socket. One negotiation per object.
//
// Both sides are single-threaded: an object belongs to the coroutine that owns the connection
// or stream being negotiated. Errors are values and final: after an error every later call
// returns the same error.
#pragma once

#include "wire/bytes.hpp"
#include "wire/mss/message.hpp"

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

// The initiator. Pipelines like go/js: start() sends the header and the first proposal at once;
// each "na" is answered with the next proposal.
class Dialer {
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

  bool done() const noexcept { return done_; }

 private:
  result<Progress> fail(boost::system::error_code e);

  std::vector<std::string> protocols_;
  std::size_t current_ = 0;  // index of the pending proposal
  bool header_seen_ = false;
  bool done_ = false;
  Bytes buf_;  // at most one incomplete message
  boost::system::error_code error_;
};

// The responder. Answers the header with the header and each proposal with itself (selected)
// or "na". "ls" is answered with "na": listing is optional and nobody relies on it, and
// answering it would reveal the protocol set to unauthenticated peers. Every message after the
// header counts as a proposal; the one after `max_proposals` fails with mss_unexpected_message.
class Listener {
 public:
  explicit Listener(std::vector<std::string> protocols, std::size_t max_proposals = kMaxProposals);

  // Consumes bytes from the dialer, any split. Errors: mss_bad_header, mss_unexpected_message
  // (too many proposals, or a call after done), and the decode_message() errors.
  result<Progress> on_bytes(ByteView in);

  bool done() const noexcept { return done_; }

 private:
  result<Progress> fail(boost::system::error_code e);

  std::vector<std::string> protocols_;
  std::size_t max_proposals_;
  std::size_t proposals_ = 0;
  bool header_seen_ = false;
  bool done_ = false;
  Bytes buf_;  // at most one incomplete message
  boost::system::error_code error_;
};

}  // namespace bb::wire::mss

#include "bb/wire/yamux/session.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace bb::wire::yamux {
namespace {

constexpr std::uint16_t kStreamFlags = kSyn | kAck | kFin | kRst;
constexpr std::uint64_t kMaxWindow = std::numeric_limits<std::uint32_t>::max();
// Consumed bytes at the front of a receive buffer worth moving the rest down for.
constexpr std::size_t kCompactThreshold = 4096;

}  // namespace

Session::Session(Role role, Config config)
    : role_(role),
      config_(config),
      extra_window_(config.initial_window > kDefaultWindow ? config.initial_window - kDefaultWindow
                                                           : 0),
      window_target_(kDefaultWindow + extra_window_),
      max_frame_in_(std::max(config.max_frame_data, window_target_)),
      next_id_(role == Role::client ? 1 : 2) {}

// ---- input ---------------------------------------------------------------------------------

boost::system::error_code Session::receive(ByteView bytes) {
  if (error_) return error_;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (payload_left_ > 0) {
      const std::size_t n = std::min<std::size_t>(payload_left_, bytes.size() - pos);
      deliver(bytes.subspan(pos, n));
      pos += n;
      payload_left_ -= static_cast<std::uint32_t>(n);
      if (payload_left_ == 0) finish_frame();
      continue;
    }
    const std::size_t n = std::min(kHeaderSize - header_have_, bytes.size() - pos);
    std::memcpy(header_buf_.data() + header_have_, bytes.data() + pos, n);
    header_have_ += n;
    pos += n;
    if (header_have_ < kHeaderSize) break;
    header_have_ = 0;
    const auto header = decode_header(header_buf_);
    if (!header) return fail(header.error());
    if (const auto ec = on_header(*header)) return fail(ec);
  }
  return {};
}

boost::system::error_code Session::on_header(const Header& h) {
  switch (h.type) {
    case FrameType::data:
    case FrameType::window_update: return on_stream_frame(h);
    case FrameType::ping:
      if (h.flags == kSyn) {
        queue_frame(FrameType::ping, kAck, 0, h.length);
      } else if (h.flags == kAck) {
        // Unsolicited or repeated answers are dropped, so the peer cannot grow the event queue.
        const auto it = std::find(pending_pings_.begin(), pending_pings_.end(), h.length);
        if (it != pending_pings_.end()) {
          pending_pings_.erase(it);
          events_.emplace_back(Pong{h.length});
        }
      } else {
        return errc::yamux_bad_flags;
      }
      return {};
    case FrameType::go_away:
      if (h.flags != 0) return errc::yamux_bad_flags;
      if (!remote_go_away_) {
        remote_go_away_ = true;
        events_.emplace_back(GoAway{h.length});
      }
      return {};
  }
  return errc::yamux_bad_type;  // decode_header() lets no other type through
}

boost::system::error_code Session::on_stream_frame(const Header& h) {
  if ((h.flags & ~kStreamFlags) != 0) return errc::yamux_bad_flags;
  if ((h.flags & kSyn) != 0 && (h.flags & kAck) != 0) return errc::yamux_bad_flags;
  if (h.stream_id == 0) return errc::yamux_unknown_stream;
  const bool data = h.type == FrameType::data;
  if (data && h.length > max_frame_in_) return errc::yamux_frame_too_large;

  const std::uint32_t id = h.stream_id;
  payload_left_ = data ? h.length : 0;
  frame_stream_ = 0;
  frame_end_flags_ = h.flags & (kFin | kRst);

  if ((h.flags & kSyn) != 0) {
    if (is_local_id(id) || id <= max_inbound_id_) return errc::yamux_duplicate_stream;
    max_inbound_id_ = id;
    boost::system::error_code refused;
    if (!local_go_away_ && streams_.size() < config_.max_streams &&
        inbound_unacked_ < config_.max_ack_backlog && config_.account != nullptr) {
      refused = config_.account->admit_stream(id);
    }
    if (local_go_away_ || streams_.size() >= config_.max_streams ||
        inbound_unacked_ >= config_.max_ack_backlog || refused) {
      // Refuse this stream only; its payload, if any, is skipped.
      queue_frame(FrameType::window_update, kRst, id, 0);
      if (refused) events_.emplace_back(StreamRefused{id, refused});
      if (payload_left_ == 0) finish_frame();
      return {};
    }
    Stream s{};
    s.recv_window = kDefaultWindow;  // the extra window comes with our ACK
    s.outbound = false;
    streams_.emplace(id, std::move(s));
    ++inbound_unacked_;
    events_.emplace_back(InboundStream{id});
  }

  const auto it = streams_.find(id);
  if (it == streams_.end()) {
    // Frames still in flight for a stream we dropped are skipped; others are a violation.
    if (!was_opened(id)) return errc::yamux_unknown_stream;
    if (payload_left_ == 0) finish_frame();
    return {};
  }
  Stream& s = it->second;
  if ((h.flags & kAck) != 0 && s.outbound && !s.acked) {
    s.acked = true;
    --outbound_unacked_;
  }
  if (!data) {
    s.send_window = std::min(s.send_window + h.length, kMaxWindow);
    if (s.write_blocked && s.send_window > 0 && !s.local_closed) {
      s.write_blocked = false;
      if (!s.window_queued) {
        s.window_queued = true;
        events_.emplace_back(WriteWindowOpened{id});
      }
    }
  } else if (h.length > 0) {
    if (s.remote_closed) return errc::yamux_stream_closed;
    if (h.length > s.recv_window) return errc::yamux_window_exceeded;
    s.recv_window -= h.length;
  }
  frame_stream_ = id;
  if (payload_left_ == 0) finish_frame();
  return {};
}

void Session::deliver(ByteView payload) {
  if (frame_stream_ == 0) return;
  const auto it = streams_.find(frame_stream_);
  if (it == streams_.end()) return;  // reset by the application in the middle of the frame
  Stream& s = it->second;
  if (config_.account != nullptr) {
    if (auto ec = config_.account->reserve(frame_stream_, payload.size())) {
      // Over its memory limit: this stream goes, the rest of its frame is skipped.
      refuse(frame_stream_, ec);
      frame_stream_ = 0;
      return;
    }
  }
  s.recv.insert(s.recv.end(), payload.begin(), payload.end());
  if (!s.readable_queued) {
    s.readable_queued = true;
    events_.emplace_back(Readable{frame_stream_});
  }
}

void Session::finish_frame() {
  const std::uint32_t id = std::exchange(frame_stream_, 0);
  const std::uint16_t flags = std::exchange(frame_end_flags_, 0);
  if (id == 0 || flags == 0) return;
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if ((flags & kRst) != 0) {
    remove(it);
    events_.emplace_back(StreamReset{id});
    return;
  }
  if (!it->second.remote_closed) {
    it->second.remote_closed = true;
    events_.emplace_back(StreamClosedByPeer{id});
    maybe_remove(it);
  }
}

boost::system::error_code Session::fail(boost::system::error_code ec) {
  error_ = ec;
  if (!local_go_away_) {
    local_go_away_ = true;
    queue_frame(FrameType::go_away, 0, 0, kGoAwayProtocolError);
  }
  if (config_.account != nullptr) {
    for (const auto& [id, st] : streams_) {
      if (st.buffered() > 0) config_.account->release(id, st.buffered());
    }
  }
  streams_.clear();
  events_.clear();
  pending_pings_.clear();
  header_have_ = 0;
  payload_left_ = 0;
  frame_stream_ = 0;
  frame_end_flags_ = 0;
  return ec;
}

// ---- output and events ---------------------------------------------------------------------

Bytes Session::take_output() {
  open_frame_ = kNoOpenFrame;
  return std::exchange(output_, {});
}

void Session::take_output(Bytes& into) {
  open_frame_ = kNoOpenFrame;
  into.clear();
  into.swap(output_);
  if (output_.capacity() > kKeptOutputCapacity) Bytes().swap(output_);
}

std::optional<Event> Session::next_event() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  if (const auto* r = std::get_if<Readable>(&e)) {
    if (const auto it = streams_.find(r->id); it != streams_.end()) {
      it->second.readable_queued = false;
    }
  } else if (const auto* w = std::get_if<WriteWindowOpened>(&e)) {
    if (const auto it = streams_.find(w->id); it != streams_.end()) {
      it->second.window_queued = false;
    }
  }
  return e;
}

void Session::queue_frame(FrameType type, std::uint16_t flags, std::uint32_t id,
                          std::uint32_t length) {
  open_frame_ = kNoOpenFrame;
  append_header(output_, Header{type, flags, id, length});
}

// Every window update also acknowledges an inbound stream not yet acknowledged, and grants the
// extra window with that ACK.
void Session::queue_window_update(std::uint32_t id, Stream& s, std::uint16_t flags,
                                  std::uint32_t delta) {
  if (!s.outbound && !s.acked) {
    s.acked = true;
    --inbound_unacked_;
    flags |= kAck;
    delta += extra_window_;
    s.recv_window += extra_window_;
  }
  queue_frame(FrameType::window_update, flags, id, delta);
}

// ---- streams -------------------------------------------------------------------------------

bool Session::is_local_id(std::uint32_t id) const noexcept {
  return ((id & 1u) == 1u) == (role_ == Role::client);
}

bool Session::was_opened(std::uint32_t id) const noexcept {
  if (id == 0) return false;
  return is_local_id(id) ? id < next_id_ : id <= max_inbound_id_;
}

void Session::refuse(std::uint32_t id, boost::system::error_code why) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  queue_frame(FrameType::window_update, kRst, id, 0);
  remove(it);
  events_.emplace_back(StreamRefused{id, why});
}

void Session::remove(StreamMap::iterator it) {
  const Stream& s = it->second;
  if (config_.account != nullptr && s.buffered() > 0) {
    config_.account->release(it->first, s.buffered());
  }
  if (!s.acked) {
    if (s.outbound) {
      --outbound_unacked_;
    } else {
      --inbound_unacked_;
    }
  }
  streams_.erase(it);
}

void Session::maybe_remove(StreamMap::iterator it) {
  const Stream& s = it->second;
  if (s.local_closed && s.remote_closed && s.buffered() == 0) remove(it);
}

result<std::uint32_t> Session::open_stream() {
  if (error_) return error_;
  if (remote_go_away_) return errc::yamux_go_away;
  if (local_go_away_) return errc::yamux_session_closed;
  if (streams_.size() >= config_.max_streams || outbound_unacked_ >= config_.max_ack_backlog ||
      next_id_ > std::numeric_limits<std::uint32_t>::max()) {
    return errc::yamux_too_many_streams;
  }
  const auto id = static_cast<std::uint32_t>(next_id_);
  next_id_ += 2;
  Stream s{};
  s.recv_window = window_target_;
  s.outbound = true;
  streams_.emplace(id, std::move(s));
  ++outbound_unacked_;
  queue_frame(FrameType::window_update, kSyn, id, extra_window_);
  return id;
}

result<std::size_t> Session::write(std::uint32_t id, ByteView data) {
  return write_frames(id, data.size(), [&](std::size_t at, std::size_t len) {
    output_.insert(output_.end(), data.begin() + static_cast<std::ptrdiff_t>(at),
                   data.begin() + static_cast<std::ptrdiff_t>(at + len));
  });
}

result<std::size_t> Session::write_into(std::uint32_t id, std::size_t n, FillRef fill) {
  return write_frames(id, n, [&](std::size_t at, std::size_t len) {
    const std::size_t end = output_.size();
    output_.resize(end + len);
    fill(at, std::span<std::uint8_t>(output_.data() + end, len));
  });
}

// The frames of one write: `put(at, len)` appends bytes [at, at + len) of the data to output_.
// A write that follows our own last frame, a Data frame of the same stream with room left,
// extends that frame instead of opening one: small writes share a header, as one larger write
// would.
template <class Put>
result<std::size_t> Session::write_frames(std::uint32_t id, std::size_t size, Put put) {
  if (error_) return error_;
  const auto it = streams_.find(id);
  if (it == streams_.end()) {
    return was_opened(id) ? errc::yamux_stream_closed : errc::yamux_unknown_stream;
  }
  Stream& s = it->second;
  if (s.local_closed) return errc::yamux_stream_closed;
  if (!s.outbound && !s.acked) queue_window_update(id, s, 0, 0);

  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, s.send_window));
  if (n < size) s.write_blocked = true;
  if (n == 0) return n;
  const std::size_t chunk = std::max<std::uint32_t>(config_.max_frame_data, 1);
  // Room for all the frames at once: a large write is not moved again as the output grows.
  const std::size_t need = output_.size() + n + (n / chunk + 1) * kHeaderSize;
  if (need > output_.capacity()) output_.reserve(std::max(need, 2 * output_.capacity()));
  std::size_t at = 0;
  if (open_frame_ != kNoOpenFrame && open_frame_id_ == id) {
    std::uint8_t* length_field = output_.data() + open_frame_ + 8;
    const std::size_t length = std::size_t{length_field[0]} << 24 |
                               std::size_t{length_field[1]} << 16 |
                               std::size_t{length_field[2]} << 8 | length_field[3];
    const std::size_t len = std::min(n, chunk > length ? chunk - length : 0);
    if (len > 0) {
      const std::size_t grown = length + len;
      length_field[0] = static_cast<std::uint8_t>(grown >> 24);
      length_field[1] = static_cast<std::uint8_t>(grown >> 16);
      length_field[2] = static_cast<std::uint8_t>(grown >> 8);
      length_field[3] = static_cast<std::uint8_t>(grown);
      put(at, len);
      at = len;
    }
  }
  while (at < n) {
    const std::size_t len = std::min(chunk, n - at);
    const std::size_t header_at = output_.size();
    queue_frame(FrameType::data, 0, id, static_cast<std::uint32_t>(len));
    open_frame_ = header_at;
    open_frame_id_ = id;
    put(at, len);
    at += len;
  }
  s.send_window -= n;
  return n;
}

result<std::size_t> Session::read(std::uint32_t id, std::span<std::uint8_t> out) {
  if (error_) return error_;
  const auto it = streams_.find(id);
  if (it == streams_.end()) {
    if (was_opened(id)) return std::size_t{0};
    return errc::yamux_unknown_stream;
  }
  Stream& s = it->second;
  const std::size_t n = std::min(out.size(), s.buffered());
  if (n > 0) std::memcpy(out.data(), s.recv.data() + s.recv_off, n);
  if (n > 0 && config_.account != nullptr) config_.account->release(id, n);
  s.recv_off += n;
  if (s.recv_off == s.recv.size()) {
    s.recv.clear();
    s.recv_off = 0;
  } else if (s.recv_off >= kCompactThreshold && s.recv_off * 2 >= s.recv.size()) {
    s.recv.erase(s.recv.begin(), s.recv.begin() + static_cast<std::ptrdiff_t>(s.recv_off));
    s.recv_off = 0;
  }
  s.consumed += static_cast<std::uint32_t>(n);

  // Credit returns only once half the window has been read: fewer, larger updates, and a
  // reader that stops reading stops its sender.
  std::uint32_t delta = 0;
  if (!s.remote_closed && s.consumed >= window_target_ / 2) {
    delta = std::exchange(s.consumed, 0);
    s.recv_window += delta;
  }
  if (delta > 0 || (!s.outbound && !s.acked)) queue_window_update(id, s, 0, delta);
  maybe_remove(it);
  return n;
}

std::size_t Session::readable_bytes(std::uint32_t id) const noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? 0 : it->second.buffered();
}

std::size_t Session::send_window(std::uint32_t id) const noexcept {
  const auto it = streams_.find(id);
  if (it == streams_.end() || it->second.local_closed) return 0;
  return static_cast<std::size_t>(it->second.send_window);
}

boost::system::error_code Session::close_write(std::uint32_t id) {
  if (error_) return error_;
  const auto it = streams_.find(id);
  if (it == streams_.end()) {
    return was_opened(id) ? boost::system::error_code{} : errc::yamux_unknown_stream;
  }
  Stream& s = it->second;
  if (s.local_closed) return {};
  s.local_closed = true;
  s.write_blocked = false;
  queue_window_update(id, s, kFin, 0);
  maybe_remove(it);
  return {};
}

boost::system::error_code Session::reset(std::uint32_t id) {
  if (error_) return error_;
  const auto it = streams_.find(id);
  if (it == streams_.end()) {
    return was_opened(id) ? boost::system::error_code{} : errc::yamux_unknown_stream;
  }
  queue_frame(FrameType::window_update, kRst, id, 0);
  remove(it);
  return {};
}

bool Session::remote_closed(std::uint32_t id) const noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() || it->second.remote_closed;
}

boost::system::error_code Session::ping(std::uint32_t opaque) {
  if (error_) return error_;
  pending_pings_.push_back(opaque);
  queue_frame(FrameType::ping, kSyn, 0, opaque);
  return {};
}

boost::system::error_code Session::go_away(std::uint32_t code) {
  if (error_) return error_;
  if (!local_go_away_) {
    local_go_away_ = true;
    queue_frame(FrameType::go_away, 0, 0, code);
  }
  return {};
}

}  // namespace bb::wire::yamux

// Stream and StreamMemory: the per-stream API over the connection's shared MuxCore.
#include "bb/wire/connection.hpp"

#include "bb/wire/detail/mux_core.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cstring>

namespace bb::wire {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::system_error;

namespace {

[[noreturn]] void throw_reset(const detail::StreamSlot& slot, const char* what) {
  if (slot.refused)
    throw system_error(slot.refused, std::string(what) + ": " + slot.refusal_detail);
  throw system_error(make_error_code(errc::yamux_stream_reset), what);
}

}  // namespace

void Stream::attach_protocol() {
  auto it = core_->slots.find(id_);
  if (it == core_->slots.end() || !it->second->scope) return;
  if (auto ec = it->second->scope.set_protocol(protocol_)) {
    const std::string detail = it->second->scope.last_refusal();
    reset();
    throw system_error(ec, "stream for " + protocol_ + " refused: " + detail);
  }
}

boost::system::error_code StreamMemory::resize(std::size_t bytes) {
  StreamScope* scope = stream_->resources();
  if (scope == nullptr) {  // unaccounted, or the stream ended and its scope gave it all back
    held_ = bytes;
    return {};
  }
  if (bytes > held_) {
    if (auto ec = scope->reserve_memory(bytes - held_)) return ec;
  } else {
    scope->release_memory(held_ - bytes);
  }
  held_ = bytes;
  return {};
}

void StreamMemory::resize_or_reset(std::size_t bytes, std::string_view what) {
  if (auto ec = resize(bytes)) {
    std::string why = std::string(what) + " refused: " + stream_->resources()->last_refusal();
    stream_->reset();
    throw boost::system::system_error(ec, why);
  }
}

StreamScope* Stream::resources() noexcept {
  if (!core_) return nullptr;
  auto it = core_->slots.find(id_);
  if (it == core_->slots.end() || !it->second->scope) return nullptr;
  return &it->second->scope;
}

Stream::Stream(std::shared_ptr<detail::MuxCore> core, std::uint32_t id)
    : core_(std::move(core)), id_(id) {}

Stream::Stream(Stream&&) noexcept = default;

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    Stream dying(std::move(*this));
    core_ = std::move(other.core_);
    id_ = other.id_;
    protocol_ = std::move(other.protocol_);
    pending_ = std::move(other.pending_);
    pending_at_ = other.pending_at_;
  }
  return *this;
}

Stream::~Stream() {
  if (!core_) return;
  auto& c = *core_;
  auto it = c.slots.find(id_);
  // Finished: both sides closed and nothing left unread (unread data would keep the stream
  // and its buffer in the session).
  const bool finished = it != c.slots.end() && it->second->closed_write &&
                        c.session.remote_closed(id_) && c.session.readable_bytes(id_) == 0;
  if (c.open && !finished) {
    (void)c.session.reset(id_);
    c.output.notify();
  }
  if (it != c.slots.end()) c.slots.erase(it);
}

asio::awaitable<std::size_t> Stream::read_some(std::span<std::uint8_t> out) {
  if (pending_at_ < pending_.size()) {
    const std::size_t n = std::min(out.size(), pending_.size() - pending_at_);
    std::memcpy(out.data(), pending_.data() + pending_at_, n);
    pending_at_ += n;
    if (pending_at_ == pending_.size()) {
      Bytes().swap(pending_);
      pending_at_ = 0;
    }
    co_return n;
  }
  auto core = core_;  // keeps the state alive across suspension
  auto& c = *core;
  while (true) {
    auto n = c.session.read(id_, out);
    if (!n) throw system_error(n.error(), "reading a stream");
    if (*n > 0) {
      if (c.session.output_size() > 0) c.output.notify();  // a window update is due
      co_return *n;
    }
    auto& slot = c.slot(id_);
    if (slot.reset) throw_reset(slot, "reading a stream");
    if (c.session.remote_closed(id_)) co_return 0;
    if (!c.open) c.throw_closed();
    co_await slot.readable.wait();
  }
}

asio::awaitable<void> Stream::read_exact(std::span<std::uint8_t> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    const std::size_t n = co_await read_some(out.subspan(got));
    if (n == 0) throw system_error(asio::error::eof, "stream ended early");
    got += n;
  }
}

namespace {

// Stream::write() and write_into(): `queue(at, len)` hands bytes [at, at + len) of the data to
// the session and returns how many it took (its window). Waits for the connection's output
// bound and the peer's window.
template <class Queue>
asio::awaitable<void> write_all(std::shared_ptr<detail::MuxCore> core, std::uint32_t id,
                                std::size_t size, Queue queue) {
  auto& c = *core;
  std::size_t done = 0;
  while (done < size) {
    if (!c.open) c.throw_closed();
    auto& slot = c.slot(id);
    if (slot.reset) throw_reset(slot, "writing a stream");
    const std::size_t queued = c.session.output_size();
    if (queued >= c.options.max_pending_output) {
      co_await c.drained.wait();
      continue;
    }
    const std::size_t room = c.options.max_pending_output - queued;
    auto n = queue(done, std::min(size - done, room));
    if (!n) throw system_error(n.error(), "writing a stream");
    if (*n > 0) {
      done += *n;
      c.output.notify();
      continue;
    }
    co_await slot.writable.wait();
  }
}

}  // namespace

asio::awaitable<void> Stream::write(ByteView data) {
  auto& session = core_->session;
  const std::uint32_t id = id_;
  co_await write_all(core_, id_, data.size(), [&](std::size_t at, std::size_t len) {
    return session.write(id, data.subspan(at, len));
  });
}

asio::awaitable<void> Stream::write_into(std::size_t n, FillRef fill) {
  auto& session = core_->session;
  const std::uint32_t id = id_;
  co_await write_all(core_, id_, n, [&](std::size_t at, std::size_t len) {
    auto shifted = [&](std::size_t offset, std::span<std::uint8_t> out) { fill(at + offset, out); };
    return session.write_into(id, len, shifted);
  });
}

bool Stream::try_write_into(std::size_t n, FillRef fill, std::size_t max_output) {
  if (!core_ || !core_->open) return false;
  auto& c = *core_;
  const auto it = c.slots.find(id_);
  if (it == c.slots.end() || it->second->reset) return false;
  const std::size_t queued = c.session.output_size();
  if (queued > 0 && queued + n > std::min(max_output, c.options.max_pending_output)) return false;
  if (c.session.send_window(id_) < n) return false;
  // Within the window, the session takes all n bytes or fails before writing any.
  auto written = c.session.write_into(id_, n, fill);
  if (!written || *written != n) return false;
  c.output.notify();
  return true;
}

void Stream::close_write() {
  if (!core_) return;
  auto& c = *core_;
  c.slot(id_).closed_write = true;
  (void)c.session.close_write(id_);
  c.output.notify();
}

void Stream::reset() {
  if (!core_) return;
  auto& c = *core_;
  (void)c.session.reset(id_);
  auto& slot = c.slot(id_);
  slot.reset = true;
  // Whoever waits on this stream (another coroutine reading or writing it) learns of the reset.
  slot.readable.notify();
  slot.writable.notify();
  c.output.notify();
}

bool Stream::is_open() const noexcept {
  if (!core_ || !core_->open) return false;
  auto it = core_->slots.find(id_);
  return it != core_->slots.end() && !it->second->reset;
}

std::size_t Stream::send_window() const noexcept {
  return core_ ? core_->session.send_window(id_) : 0;
}

std::size_t Stream::readable_bytes() const noexcept {
  return (pending_.size() - pending_at_) + (core_ ? core_->session.readable_bytes(id_) : 0);
}

const PeerId& Stream::remote_peer() const {
  return core_->remote;
}
const Multiaddr& Stream::remote_addr() const {
  return core_->remote_addr;
}

}  // namespace bb::wire

// A yamux server Session fed arbitrary bytes, as a hostile client would send them. The first
// byte picks a chunk size and a small or default configuration; the application side reads
// whatever becomes readable, answers some streams, closes or resets others, and drains the
// output. Checks: bounded streams and buffers, sticky specific errors, no crash.
#include "bb/wire/yamux/session.hpp"

#include <algorithm>
#include <array>

namespace {

using namespace bb::wire;
using namespace bb::wire::yamux;

bool is_yamux_error(boost::system::error_code ec) {
  return ec.category() == wire_category() &&
         ec.value() >= static_cast<int>(errc::yamux_bad_version) &&
         ec.value() <= static_cast<int>(errc::yamux_go_away);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = std::size_t{1} << (data[0] & 0x0f);
  Config config;
  if ((data[0] & 0x10) != 0) {
    config.max_streams = 4;
    config.max_ack_backlog = 2;
    config.max_frame_data = 512;
  }
  if ((data[0] & 0x20) != 0) config.initial_window = 1024 * 1024;
  const std::size_t window = std::max<std::size_t>(config.initial_window, kDefaultWindow);
  const ByteView input(data + 1, size - 1);

  Session server(Role::server, config);
  std::array<std::uint8_t, 4096> buf{};
  std::size_t actions = 0;
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    const ByteView piece = input.subspan(at, std::min(chunk, input.size() - at));
    const auto ec = server.receive(piece);
    if (ec) {
      if (!is_yamux_error(ec) || server.error() != ec) __builtin_trap();
      if (server.receive(piece) != ec || server.stream_count() != 0) __builtin_trap();
      if (server.open_stream().error() != ec) __builtin_trap();
      (void)server.take_output();
      return 0;
    }
    while (auto e = server.next_event()) {
      ++actions;
      if (const auto* in = std::get_if<InboundStream>(&*e)) {
        // Vary what the application does with new streams.
        switch (actions % 4) {
          case 0: (void)server.write(in->id, as_bytes("hi")); break;
          case 1: (void)server.close_write(in->id); break;
          case 2: (void)server.reset(in->id); break;
          default: break;
        }
      } else if (const auto* r = std::get_if<Readable>(&*e)) {
        // Read some, not always all, so buffers and window updates both get exercised.
        if (server.readable_bytes(r->id) > window) __builtin_trap();
        const std::size_t want = actions % 3 == 0 ? buf.size() : 100;
        auto n = server.read(r->id, std::span(buf).first(want));
        if (!n) __builtin_trap();
      } else if (const auto* w = std::get_if<WriteWindowOpened>(&*e)) {
        (void)server.write(w->id, as_bytes("more"));
      }
    }
    if (server.stream_count() > config.max_streams) __builtin_trap();
    if ((actions & 7) == 0) (void)server.ping(static_cast<std::uint32_t>(at));
    (void)server.take_output();
  }
  return 0;
}

// multistream-select over arbitrary peer bytes: the first byte picks a chunk size; the rest is
// what the peer sends, fed to a Listener and (after start()) to a Dialer. Feeding it in chunks
// must give the same outcome as feeding it at once, and leftover bytes are always exactly the
// bytes after the final message.
#include "bb/wire/mss/negotiator.hpp"

#include <algorithm>
#include <optional>
#include <string>

namespace {

using namespace bb::wire;
using namespace bb::wire::mss;

struct Outcome {
  boost::system::error_code error;
  Bytes output;
  std::optional<std::string> selected;
  Bytes after;  // leftover plus any bytes not fed once done
};

template <class Negotiator>
Outcome run(Negotiator& n, ByteView input, std::size_t chunk) {
  Outcome o;
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    const ByteView piece = input.subspan(at, std::min(chunk, input.size() - at));
    auto p = n.on_bytes(piece);
    if (!p) {
      o.error = p.error();
      // Errors are sticky.
      if (n.on_bytes(piece).error() != o.error) __builtin_trap();
      return o;
    }
    if (p->leftover.size() > piece.size()) __builtin_trap();
    o.output.insert(o.output.end(), p->output.begin(), p->output.end());
    if (p->done()) {
      if (!n.done()) __builtin_trap();
      o.selected = p->selected;
      o.after = p->leftover;
      const ByteView rest = input.subspan(at + piece.size());
      o.after.insert(o.after.end(), rest.begin(), rest.end());
      return o;
    }
  }
  return o;
}

void compare(const Outcome& a, const Outcome& b) {
  if (a.error != b.error || a.selected != b.selected || a.after != b.after) __builtin_trap();
  // A failing call drops the output of its own earlier messages, so compare only clean runs.
  if (!a.error && a.output != b.output) __builtin_trap();
  if (a.error && a.error.category() != wire_category()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = (data[0] & 0x1f) + 1;
  const ByteView input(data + 1, size - 1);
  const std::vector<std::string> protocols = {"/noise", "/yamux/1.0.0", "/a"};

  Listener whole_listener(protocols, 8);
  Listener chunked_listener(protocols, 8);
  compare(run(whole_listener, input, std::max<std::size_t>(input.size(), 1)),
          run(chunked_listener, input, chunk));

  Dialer whole_dialer(protocols);
  Dialer chunked_dialer(protocols);
  (void)whole_dialer.start();
  (void)chunked_dialer.start();
  compare(run(whole_dialer, input, std::max<std::size_t>(input.size(), 1)),
          run(chunked_dialer, input, chunk));
  return 0;
}

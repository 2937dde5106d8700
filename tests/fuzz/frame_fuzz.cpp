// Frame decoding over arbitrary streams: the first byte picks a maximum frame size and a chunk
// size; the rest is fed to a FrameReader in chunks and must yield exactly the frames that
// one-shot decode_frame finds, never a body above the maximum.
#include "bb/wire/frame.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb::wire;
  if (size < 1) return 0;
  const std::size_t max_body = std::size_t{1} << (data[0] & 0x0f);
  const std::size_t chunk = (data[0] >> 4) + 1;
  const ByteView stream(data + 1, size - 1);

  std::vector<Bytes> expected;
  bool expected_error = false;
  for (ByteView rest = stream;;) {
    auto f = decode_frame(rest, max_body);
    if (!f) {
      expected_error = true;
      break;
    }
    if (!*f) break;
    if ((*f)->body.size() > max_body || (*f)->consumed > rest.size()) __builtin_trap();
    expected.emplace_back((*f)->body.begin(), (*f)->body.end());
    rest = rest.subspan((*f)->consumed);
  }

  FrameReader reader(max_body);
  std::vector<Bytes> got;
  bool got_error = false;
  for (std::size_t at = 0; at < stream.size() && !got_error; at += chunk) {
    reader.append(stream.subspan(at, std::min(chunk, stream.size() - at)));
    while (true) {
      auto next = reader.next();
      if (!next) {
        got_error = true;
        break;
      }
      if (!*next) break;
      got.emplace_back((*next)->begin(), (*next)->end());
    }
    if (reader.buffered() > max_body + kMaxVarintBytes + chunk) __builtin_trap();
  }
  if (got != expected || got_error != expected_error) __builtin_trap();
  return 0;
}

// Byte containers and hex helpers shared by every codec in wire/.
#pragma once

#include "bb/wire/error.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace bb::wire {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Views of protobuf `bytes` fields (std::string) and string literals as bytes.
inline ByteView as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline std::string to_string(ByteView b) {
  return std::string(as_chars(b));
}
inline Bytes copy_of(ByteView b) {
  return Bytes(b.begin(), b.end());
}

// A non-owning reference to a callable `void(std::size_t offset, std::span<std::uint8_t> out)`
// that writes bytes [offset, offset + out.size()) of an encoding into `out`: how a writer
// encodes straight into a buffer it does not own (yamux::Session::write_into,
// Stream::write_into). The callable must outlive every use of the FillRef.
class FillRef {
 public:
  template <class F>
  requires(!std::same_as<std::remove_cvref_t<F>, FillRef> &&
           std::invocable<F&, std::size_t, std::span<std::uint8_t>>) FillRef(F& fill)
  noexcept  // NOLINT(google-explicit-constructor): a reference, like a view
      : target_(const_cast<void*>(static_cast<const void*>(std::addressof(fill)))),
        call_([](void* target, std::size_t offset, std::span<std::uint8_t> out) {
          (*static_cast<F*>(target))(offset, out);
        }) {}
  void operator()(std::size_t offset, std::span<std::uint8_t> out) const {
    call_(target_, offset, out);
  }

 private:
  void* target_;
  void (*call_)(void*, std::size_t, std::span<std::uint8_t>);
};

// Lowercase hex. `from_hex` accepts either case and an optional "0x" prefix.
std::string to_hex(ByteView bytes);
result<Bytes> from_hex(std::string_view text);

}  // namespace bb::wire

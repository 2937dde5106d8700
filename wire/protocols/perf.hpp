// /perf/1.0.0 (libp2p perf spec): the client sends a big-endian u64 (bytes it wants back),
// uploads, closes its side; the server drains the upload, then sends the requested bytes.
#pragma once

#include "wire/connection.hpp"

#include <chrono>
#include <cstdint>
#include <string_view>

namespace bb::wire::perf {

inline constexpr std::string_view kProtocolId = "/perf/1.0.0";
// A server refuses to send more than this per request (perf is a test protocol, not a way to
// make a node stream forever).
inline constexpr std::uint64_t kMaxDownloadBytes = std::uint64_t{64} << 30;
inline constexpr std::size_t kChunkBytes = 1 << 20;  // 1 MiB writes

boost::asio::awaitable<void> serve(Stream stream);

struct Result {
  std::uint64_t uploaded = 0;
  std::uint64_t downloaded = 0;
  std::chrono::nanoseconds upload_time{};    // first byte sent .. first byte back
  std::chrono::nanoseconds download_time{};  // first byte back .. last byte back
};

// Throws boost::system::system_error: perf_short_transfer, stream and negotiation errors.
boost::asio::awaitable<Result> run(Connection connection, std::uint64_t upload_bytes,
                                   std::uint64_t download_bytes);

}  // namespace bb::wire::perf

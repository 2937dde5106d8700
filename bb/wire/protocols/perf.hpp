// /perf/1.0.0 (libp2p perf spec): the client sends a big-endian u64 (bytes it wants back),
// uploads, closes its side; the server drains the upload, then sends the requested bytes.
//
// What a server stream costs is small and fixed, whatever the client asks for or however long
// it takes: a kDrainBytes scratch buffer while the upload lasts (allocated once the header has
// arrived), and nothing of its own for the download, which is written from one shared block of
// zeros. So a peer that opens many perf streams and sends only the 8-byte header holds
// kDrainBytes per stream, not a download buffer, and reserves it in the stream's resource scope
// (wire/resource_manager.hpp) first: a stream over its protocol's or peer's memory limit is
// reset (resource_memory_limit) instead.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/wire/connection.hpp"

#include <chrono>
#include <cstdint>
#include <string_view>

namespace bb::wire::perf {

inline constexpr std::string_view kProtocolId = "/perf/1.0.0";
// A server refuses to send more than this per request (perf is a test protocol, not a way to
// make a node stream forever).
inline constexpr std::uint64_t kMaxDownloadBytes = std::uint64_t{64} << 30;
inline constexpr std::size_t kChunkBytes = 1 << 20;        // the client's writes and reads: 1 MiB
inline constexpr std::size_t kDrainBytes = 16 << 10;       // the server's upload scratch: 16 KiB
inline constexpr std::size_t kServeChunkBytes = 64 << 10;  // the server's download writes

// Serves one /perf/1.0.0 stream. Throws boost::system::system_error: perf_request_too_large
// and resource_memory_limit (the stream is reset), stream errors.
boost::asio::awaitable<void> serve(Stream stream);

struct Result {
  std::uint64_t uploaded = 0;
  std::uint64_t downloaded = 0;
  std::chrono::nanoseconds upload_time{};    // first byte sent .. first byte back
  std::chrono::nanoseconds download_time{};  // first byte back .. last byte back
};

// The bytes moved so far by a run() in progress, for a reporter that reads them while it runs
// (bb-node perf prints them each second). Written by run() as each write completes and each read
// returns; read it on the executor of run(), which is the only one that writes it.
struct Progress {
  std::uint64_t uploaded = 0;
  std::uint64_t downloaded = 0;
};

// Throws boost::system::system_error: perf_short_transfer, stream and negotiation errors.
// The times in the Result are read from `clock`, which must outlive the call.
boost::asio::awaitable<Result> run(Connection connection, std::uint64_t upload_bytes,
                                   std::uint64_t download_bytes,
                                   async::Clock& clock = async::steady_clock());
// The same, counting into `progress` as it goes; `clock` and `progress` must outlive the call.
boost::asio::awaitable<Result> run(Connection connection, std::uint64_t upload_bytes,
                                   std::uint64_t download_bytes, async::Clock& clock,
                                   Progress& progress);

}  // namespace bb::wire::perf

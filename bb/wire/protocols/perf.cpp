#include "bb/wire/protocols/perf.hpp"

#include <array>
#include <memory>
#include <vector>

namespace bb::wire::perf {

namespace asio = boost::asio;

namespace {

// Every download is written from this block: read-only, shared by all streams and threads.
constexpr std::array<std::uint8_t, kServeChunkBytes> kZeros{};

// Reads the upload to its end, through a scratch buffer allocated only now that the header has
// arrived (and freed when the upload ends). It is the one allocation a perf stream makes on
// behalf of its peer, so it is reserved first; a refusal resets the stream.
asio::awaitable<std::uint64_t> drain_upload(Stream& stream) {
  StreamMemory reserved(stream);
  reserved.resize_or_reset(kDrainBytes, "perf upload buffer");
  const auto scratch = std::make_unique_for_overwrite<std::uint8_t[]>(kDrainBytes);
  std::uint64_t total = 0;
  while (true) {
    const std::size_t n = co_await stream.read_some(std::span(scratch.get(), kDrainBytes));
    if (n == 0) co_return total;
    total += n;
  }
}

std::chrono::nanoseconds elapsed(std::uint64_t from_ns, std::uint64_t to_ns) {
  return std::chrono::nanoseconds(
      static_cast<std::chrono::nanoseconds::rep>(to_ns >= from_ns ? to_ns - from_ns : 0));
}

}  // namespace

asio::awaitable<void> serve(Stream stream) {
  std::array<std::uint8_t, 8> header{};
  co_await stream.read_exact(header);
  std::uint64_t requested = 0;
  for (std::uint8_t b : header) requested = (requested << 8) | b;
  if (requested > kMaxDownloadBytes) {
    stream.reset();
    throw boost::system::system_error(make_error_code(errc::perf_request_too_large));
  }
  (void)co_await drain_upload(stream);
  while (requested > 0) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(requested, kZeros.size()));
    co_await stream.write(ByteView(kZeros.data(), n));
    requested -= n;
  }
  stream.close_write();
}

asio::awaitable<Result> run(Connection connection, std::uint64_t upload_bytes,
                            std::uint64_t download_bytes, async::Clock& clock) {
  Progress progress;
  co_return co_await run(std::move(connection), upload_bytes, download_bytes, clock, progress);
}

asio::awaitable<Result> run(Connection connection, std::uint64_t upload_bytes,
                            std::uint64_t download_bytes, async::Clock& clock, Progress& progress) {
  std::vector<std::string> protocols{std::string(kProtocolId)};
  Stream stream = co_await connection.open_stream(std::move(protocols));
  Result result;
  std::array<std::uint8_t, 8> header{};
  for (int i = 0; i < 8; ++i) {
    header[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(download_bytes >> (56 - 8 * i));
  }
  const std::uint64_t start = clock.now_ns();
  co_await stream.write(header);
  std::vector<std::uint8_t> buf(kChunkBytes, 0);
  for (std::uint64_t left = upload_bytes; left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    co_await stream.write(ByteView(buf.data(), n));
    left -= n;
    result.uploaded += n;
    progress.uploaded = result.uploaded;
  }
  stream.close_write();
  std::uint64_t first_byte = 0;
  while (true) {
    const std::size_t n = co_await stream.read_some(buf);
    if (n == 0) break;
    if (result.downloaded == 0) first_byte = clock.now_ns();
    result.downloaded += n;
    progress.downloaded = result.downloaded;
  }
  const std::uint64_t end = clock.now_ns();
  if (result.downloaded != download_bytes) {
    throw boost::system::system_error(make_error_code(errc::perf_short_transfer),
                                      "perf: got " + std::to_string(result.downloaded) + " of " +
                                          std::to_string(download_bytes) + " bytes");
  }
  if (download_bytes == 0) first_byte = end;
  result.upload_time = elapsed(start, first_byte);
  result.download_time = elapsed(first_byte, end);
  co_return result;
}

}  // namespace bb::wire::perf

#include "bb/wire/byte_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

namespace bb::wire {

namespace asio = boost::asio;
using boost::system::error_code;

asio::awaitable<std::size_t> ByteStream::read_some_or_throw(std::span<std::uint8_t> out) {
  while (true) {
    error_code ec;
    const std::size_t n = read_some(out, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      if (auto wait_ec = co_await async_wait_readable()) {
        throw boost::system::system_error(wait_ec, "waiting to read");
      }
      continue;
    }
    if (ec) throw boost::system::system_error(ec, "reading");
    co_return n;
  }
}

asio::awaitable<void> ByteStream::write_or_throw(ByteView data) {
  if (data.empty()) co_return;
  auto [ec, n] = co_await async_write(data);
  if (ec) throw boost::system::system_error(ec, "writing");
}

namespace {

class TcpStream final : public ByteStream {
 public:
  explicit TcpStream(tcp::socket socket) : socket_(std::move(socket)) {
    // Synchronous reads below must never block the executor.
    socket_.non_blocking(true);
  }

  asio::any_io_executor get_executor() override { return socket_.get_executor(); }

  asio::awaitable<error_code> async_wait_readable() override {
    auto [ec] =
        co_await socket_.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }

  std::size_t read_some(std::span<std::uint8_t> out, error_code& ec) override {
    return socket_.read_some(asio::buffer(out.data(), out.size()), ec);
  }

  asio::awaitable<std::pair<error_code, std::size_t>> async_write(ByteView data) override {
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()),
                                              asio::as_tuple(asio::use_awaitable));
    co_return std::pair{ec, n};
  }

  std::size_t try_write(ByteView data, error_code& ec) override {
    return socket_.write_some(asio::buffer(data.data(), data.size()), ec);
  }

  void close() noexcept override {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  void shutdown_write() noexcept override {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  bool is_open() const noexcept override { return socket_.is_open(); }

  Multiaddr remote_addr() const override {
    error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    return ec ? Multiaddr{} : to_multiaddr(ep);
  }
  Multiaddr local_addr() const override {
    error_code ec;
    auto ep = socket_.local_endpoint(ec);
    return ec ? Multiaddr{} : to_multiaddr(ep);
  }

 private:
  tcp::socket socket_;
};

}  // namespace

std::unique_ptr<ByteStream> make_tcp_stream(tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}

}  // namespace bb::wire

#include "tests/support/host_pair.hpp"

#include <boost/asio/this_coro.hpp>

namespace bb::test {

MemoryStreamOptions host_stream_options(MemoryStreamOptions options) {
  if (options.a_addr.empty())
    options.a_addr = wire::Multiaddr::parse("/ip4/10.0.0.1/tcp/1").value();
  if (options.b_addr.empty())
    options.b_addr = wire::Multiaddr::parse("/ip4/10.0.0.2/tcp/2").value();
  return options;
}

InboundLink link_into(const boost::asio::any_io_executor& executor, wire::Host& listener,
                      MemoryStreamOptions options) {
  auto pair = make_memory_stream_pair(executor, host_stream_options(std::move(options)));
  listener.add_inbound(std::move(pair.b));
  return InboundLink{std::move(pair.a), std::move(pair.link)};
}

boost::asio::awaitable<wire::Connection> connect_in_memory(wire::Host& dialer, wire::Host& listener,
                                                           MemoryStreamOptions options,
                                                           std::shared_ptr<MemoryLink>* link) {
  InboundLink in =
      link_into(co_await boost::asio::this_coro::executor, listener, std::move(options));
  if (link != nullptr) *link = in.link;
  co_return co_await dialer.connect_over(std::move(in.dialer_end), listener.peer_id());
}

}  // namespace bb::test

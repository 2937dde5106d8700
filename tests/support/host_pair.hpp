// Two wire::Hosts connected over the in-memory stream pair (tests/support/memory_stream.hpp): no
// sockets, no listen(). The listener takes its end as if it had accepted it (Host::add_inbound)
// and the dialer dials over the other (Host::connect_over), so both run the whole Host path:
// admission, resources, the upgrade, registration, identify and the events.
//
// Thread rule: everything runs on the test's single io_context (test::run_async).
#pragma once

#include "bb/wire/host.hpp"
#include "tests/support/memory_stream.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>

namespace bb::test {

// The addresses the ends report unless the options say otherwise: the dialer's end is
// /ip4/10.0.0.1/tcp/1, the listener's /ip4/10.0.0.2/tcp/2 (so the listener counts the dialer
// under 10.0.0.1 for its per-IP limits).
MemoryStreamOptions host_stream_options(MemoryStreamOptions options = {});

// One in-memory link into `listener`: its end is handed to listener.add_inbound() now; the
// other end (on `executor`, the Host's) is for the dialer (connect_over, or a test speaking raw
// bytes).
struct InboundLink {
  std::unique_ptr<wire::ByteStream> dialer_end;
  std::shared_ptr<MemoryLink> link;
};
InboundLink link_into(const boost::asio::any_io_executor& executor, wire::Host& listener,
                      MemoryStreamOptions options = {});

// `dialer` connected to `listener` over a fresh link: the dialer's connection (what
// connect_over returned). Throws what connect_over threw. `link`, when given, receives the link
// before the dial starts (fault injection, bytes_moved()).
boost::asio::awaitable<wire::Connection> connect_in_memory(
    wire::Host& dialer, wire::Host& listener, MemoryStreamOptions options = {},
    std::shared_ptr<MemoryLink>* link = nullptr);

}  // namespace bb::test

// A transport of the program's own in place of TCP: a simulated network, a test's. With
// HostOptions::transport set, Host::listen and every dial of the Host go through it and no
// socket is opened; each stream it hands in runs what an accepted TCP socket runs (the resource
// manager, the connection manager's per-IP limits by the stream's remote address, the upgrade
// with its timeouts). Thread rule: the Host's executor, for every call and every stream.
#pragma once

#include "bb/wire/byte_stream.hpp"
#include "bb/wire/multiaddr.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>

namespace bb::wire {

class Transport {
 public:
  using Accept = std::function<void(std::unique_ptr<ByteStream>)>;

  virtual ~Transport() = default;

  // Starts taking connections to `addr` and hands each stream to `accept`; returns the address
  // bound. Throws boost::system::system_error when it cannot (address in use, not ours).
  virtual Multiaddr listen(const Multiaddr& addr, Accept accept) = 0;
  // Stops taking connections to a bound address: `accept` is not called again. Idempotent.
  virtual void unlisten(const Multiaddr& bound) noexcept = 0;
  // A stream to `addr` (its /p2p/ part removed). Throws boost::system::system_error: refused,
  // unreachable, timed out. (By value: the coroutine may start after the caller's expression.)
  virtual boost::asio::awaitable<std::unique_ptr<ByteStream>> dial(Multiaddr addr) = 0;
};

}  // namespace bb::wire

// The connection upgrade before Yamux runs: multistream-select /noise on the raw stream, the
// Noise XX handshake, and the muxer agreement (inlined in the Noise payloads, or
// multistream-select /yamux/1.0.0 inside Noise). Private to wire/connection*.cpp.
#pragma once

#include "bb/wire/byte_stream.hpp"
#include "bb/wire/connection.hpp"
#include "bb/wire/noise/session.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <optional>
#include <string_view>

namespace bb::wire::detail {

inline constexpr std::string_view kYamuxProtocol = "/yamux/1.0.0";

inline void check(boost::system::error_code ec, const char* what) {
  if (ec) throw boost::system::system_error(ec, what);
}

template <class T>
T check(result<T> r, const char* what) {
  if (!r) throw boost::system::system_error(r.error(), what);
  return std::move(*r);
}

struct Upgraded {
  noise::Transport transport;
  Bytes plaintext;   // Yamux bytes that arrived with the last negotiation message
  Bytes ciphertext;  // Noise frames read ahead
};

// Throws boost::system::system_error (mss, noise and stream errors); not bounded in time: the
// caller bounds it. `read_ahead`: bytes already read from `stream`, taken first.
boost::asio::awaitable<Upgraded> run_upgrade(ByteStream& stream, Direction direction,
                                             const Ed25519KeyPair& identity,
                                             std::optional<PeerId> expected, Bytes read_ahead = {});

}  // namespace bb::wire::detail

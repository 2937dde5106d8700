// The --dht option of bb-node's commands: server, client or auto.
#pragma once

#include "bb/dht/kademlia.hpp"

#include <optional>
#include <string_view>

namespace bb::cli {

inline std::optional<dht::Mode> parse_dht_mode(std::string_view text) {
  if (text == "server") return dht::Mode::server;
  if (text == "client") return dht::Mode::client;
  if (text == "auto") return dht::Mode::automatic;
  return std::nullopt;
}

}  // namespace bb::cli

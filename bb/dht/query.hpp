// Drives a Lookup: sends its requests (at most alpha at once) through `ask`, feeds the answers
// back, and ends when the lookup is done, when `on_answer` says enough, or when `timeout_ns` runs
// out on `clock`. The same driver runs over streams (Kademlia) and over the in-process network
// of the tests. Requests still running when the lookup ends finish on their own (each is bounded
// by its asker's own timeout) in `tasks`, and their answers are ignored.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/async/task_group.hpp"
#include "bb/dht/lookup.hpp"
#include "bb/dht/message.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <functional>

namespace bb::dht {

using Ask = std::function<boost::asio::awaitable<boost::system::result<Message>>(
    const wire::PeerId& peer, const Message& request)>;

struct DriveHooks {
  // Every answer, after its closer peers joined the lookup; true ends the lookup.
  std::function<bool(const wire::PeerId& from, const Message& answer)> on_answer;
  // Every failed request (the peer may leave the routing table).
  std::function<void(const wire::PeerId& peer)> on_failure;
};

// Returns true when the lookup ended by itself or by on_answer, false when time ran out.
boost::asio::awaitable<bool> drive(Lookup& lookup, const Message& request, const Ask& ask,
                                   const DriveHooks& hooks, async::Clock& clock,
                                   std::uint64_t timeout_ns, async::TaskGroup& tasks);

}  // namespace bb::dht

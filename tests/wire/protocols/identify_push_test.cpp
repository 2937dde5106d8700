// /ipfs/id/push/1.0.0 between two Hosts over the in-memory pair: a Host pushes its identify when
// its protocols or addresses change (debounced on its clock), the receiver updates what it knew
// and reports it as another PeerIdentified; what is pushed is filtered for the receiver's
// network (wire/address_scope.hpp).
#include "bb/wire/address_scope.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/protocols/identify.hpp"
#include "tests/support/async_test.hpp"
#include "tests/support/host_pair.hpp"
#include "tests/wire/host_fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace bb::wire {
namespace {

namespace asio = boost::asio;
using host_test::EventLog;
using host_test::kTestLimit;
using host_test::run_then_stop;

constexpr std::string_view kExtra = "/bb/test/push/1.0.0";

bool has(const std::vector<std::string>& protocols, std::string_view p) {
  return std::find(protocols.begin(), protocols.end(), p) != protocols.end();
}

asio::awaitable<void> idle(Connection, Stream) {
  co_return;
}

asio::awaitable<void> push_scenario(Host& a, Host& b) {
  EventLog b_events(b);
  // b dials a: a sees b at 10.0.0.1 (a private network), b sees a at 10.0.0.2.
  co_await test::connect_in_memory(b, a);
  const auto first = co_await b_events.wait<PeerIdentified>(
      [&a](const PeerIdentified& e) { return e.peer == a.peer_id(); });
  EXPECT_TRUE(first && !first->pushed);
  if (first) {
    EXPECT_FALSE(has(first->info.protocols, kExtra));
    EXPECT_TRUE(has(first->info.protocols, identify::kPushProtocolId));
  }

  // Two changes within the debounce: one push says both.
  a.set_handler(std::string(kExtra), idle);
  a.set_handler("/bb/test/other/1.0.0", idle);
  const auto added = co_await b_events.wait<PeerIdentified>(
      [](const PeerIdentified& e) { return e.pushed && has(e.info.protocols, kExtra); });
  EXPECT_TRUE(added);
  if (added) {
    EXPECT_TRUE(has(added->info.protocols, "/bb/test/other/1.0.0"));
    // What the push left out is what b knew: a's key and agent.
    EXPECT_EQ(added->info.agent_version, first ? first->info.agent_version : "");
  }

  a.remove_handler(kExtra);
  const auto removed = co_await b_events.wait<PeerIdentified>(
      [](const PeerIdentified& e) { return e.pushed && !has(e.info.protocols, kExtra); });
  EXPECT_TRUE(removed);

  // A new listen address is pushed too, but only to whom it can reach: a loopback address is
  // advertised, and filtered out for b on 10.0.0.1.
  const Multiaddr bound = a.listen(host_test::loopback());
  const auto advertised = a.advertised_addrs();
  EXPECT_NE(std::find(advertised.begin(), advertised.end(), bound), advertised.end());
  const auto after_listen =
      co_await b_events.wait<PeerIdentified>([](const PeerIdentified& e) { return e.pushed; });
  EXPECT_TRUE(after_listen);
  if (after_listen) {
    for (const auto& addr : after_listen->info.listen_addrs) {
      EXPECT_NE(address_scope(addr), AddressScope::loopback) << addr.to_string();
    }
  }
  // No more pushes than changes: nothing else is queued up.
  EXPECT_EQ(b_events.count<PeerIdentified>(), 0u) << b_events.dump();
}

TEST(IdentifyPush, ChangesOfProtocolsAndAddressesArePushedDebouncedAndFiltered) {
  test::run_async(
      []() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        Host a(ex, Ed25519KeyPair::generate());
        Host b(ex, Ed25519KeyPair::generate());
        co_await run_then_stop(push_scenario(a, b), a, b);
      }(),
      kTestLimit);
}

// A push that is not an Identify message is the stream's failure; the connection stays.
asio::awaitable<void> bad_push_scenario(Host& a, Host& b) {
  EventLog b_events(b);
  co_await test::connect_in_memory(b, a);
  (void)co_await b_events.wait<PeerIdentified>();
  std::vector<std::string> protocols{std::string(identify::kPushProtocolId)};
  Stream s = co_await a.open_stream(b.peer_id(), std::move(protocols));
  const std::uint8_t garbage[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
  co_await s.write(ByteView(garbage, sizeof garbage));
  s.close_write();
  const auto failed = co_await b_events.wait<StreamFailed>(
      [](const StreamFailed& e) { return e.protocol == identify::kPushProtocolId; });
  EXPECT_TRUE(failed);
  EXPECT_TRUE(b.connection(a.peer_id()).has_value());
}

TEST(IdentifyPush, AMalformedPushFailsItsStreamNotTheConnection) {
  test::run_async(
      []() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        Host a(ex, Ed25519KeyPair::generate());
        Host b(ex, Ed25519KeyPair::generate());
        co_await run_then_stop(bad_push_scenario(a, b), a, b);
      }(),
      kTestLimit);
}

}  // namespace
}  // namespace bb::wire

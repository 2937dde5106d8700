// The DHT's decoder of remote input: a kad Message off a stream (decode_message with its
// limits), then what a server does with it (Core::handle: the routing table, the provider and
// record stores and their validators, /pk/ and /bb/ records, CIDs in keys).
#include "bb/dht/cid.hpp"
#include "bb/dht/core.hpp"
#include "bb/dht/message.hpp"
#include "bb/dht/records.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bb;
  static dht::Core core = [] {
    dht::ProviderLimits providers;
    providers.max_keys = 64;
    dht::RecordLimits records;
    records.max_records = 64;
    dht::Core c(wire::PeerId::from_u64(1), 20, providers, records);
    for (std::uint64_t i = 2; i < 60; ++i) c.table().add(wire::PeerId::from_u64(i), 0);
    return c;
  }();
  static std::uint64_t now = 0;
  const wire::ByteView in(data, size);
  auto message = dht::decode_message(in);
  if (!message) return 0;
  const auto addr = *wire::Multiaddr::parse("/ip4/127.0.0.1/tcp/4001");
  const dht::Core::AddrsOf addrs = [&](const wire::PeerId&) { return std::vector{addr}; };
  auto handled = core.handle(wire::PeerId::from_u64(size % 7 + 2), *message, ++now, addrs);
  if (handled.reply) (void)dht::encode_message(*handled.reply);
  (void)dht::validate_key(message->key);
  if (message->record) {
    (void)dht::validate_record(message->record->key, message->record->value);
    (void)dht::open_bb_record(message->record->key, message->record->value);
  }
  (void)dht::Cid::parse(wire::as_chars(in));
  if (now % 1000 == 0) {
    core.providers().sweep(now);
    core.records().sweep(now);
  }
  return 0;
}

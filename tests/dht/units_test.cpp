// The DHT's sans-IO parts: keys and distance, CIDs, the kad message codec and its limits, the
// routing table, the lookup state machine, and the provider and record stores with their bounds.
#include "bb/dht/cid.hpp"
#include "bb/dht/core.hpp"
#include "bb/dht/error.hpp"
#include "bb/dht/lookup.hpp"
#include "bb/dht/message.hpp"
#include "bb/dht/providers.hpp"
#include "bb/dht/records.hpp"
#include "bb/dht/routing_table.hpp"
#include "bb/proto/kad.pb.h"
#include "bb/wire/keys.hpp"

#include <gtest/gtest.h>

#include <set>

namespace bb::dht {
namespace {

std::vector<wire::PeerId> peers(std::size_t n, std::uint64_t first = 1) {
  std::vector<wire::PeerId> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(wire::PeerId::from_u64(first + i));
  return out;
}

TEST(DhtKey, DistanceIsXorOfSha256AndPrefixesCount) {
  const Key a = Key::of(wire::as_bytes(std::string("a")));
  const Key b = Key::of(wire::as_bytes(std::string("b")));
  EXPECT_EQ(a.common_prefix(a), 256u);
  EXPECT_EQ(distance(a, a), Key());
  EXPECT_EQ(distance(a, b), distance(b, a));
  EXPECT_TRUE(closer(a, a, b));
  EXPECT_FALSE(closer(a, b, a));
  // SHA-256("a") starts ca978112…: known digest, so the hash is SHA-256 of the raw bytes.
  EXPECT_EQ(a.digest()[0], 0xca);
  EXPECT_EQ(a.digest()[1], 0x97);
  for (std::size_t bits : {0u, 1u, 7u, 8u, 9u, 100u, 255u}) {
    EXPECT_EQ(a.random_with_prefix(bits).common_prefix(a), bits) << bits;
  }
}

TEST(DhtCid, ParsesV0AndV1AndPrintsBack) {
  const std::string v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
  auto c0 = Cid::parse(v0);
  ASSERT_TRUE(c0.has_value());
  EXPECT_EQ(c0->version, 0u);
  EXPECT_EQ(c0->to_string(), v0);
  EXPECT_EQ(c0->hash.code(), wire::multicodec::sha2_256);
  const Cid raw = Cid::of(wire::as_bytes(std::string("hello")));
  auto back = Cid::parse(raw.to_string());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, raw);
  EXPECT_TRUE(raw.to_string().starts_with("bafkrei"));  // CIDv1 raw sha2-256 in base32
  EXPECT_FALSE(Cid::parse("").has_value());
  EXPECT_FALSE(Cid::parse("xyz").has_value());
  EXPECT_FALSE(Cid::parse("bzzzzzzzzzz").has_value());
}

TEST(DhtMessage, RoundTripsAndKeepsTheSpecFieldNumbers) {
  Message m;
  m.type = MessageType::get_providers;
  m.key = {1, 2, 3};
  m.closer_peers.push_back(PeerEntry{wire::PeerId::from_u64(7),
                                     {*wire::Multiaddr::parse("/ip4/1.2.3.4/tcp/5")},
                                     Connectedness::connected});
  m.record = Record{{9}, {8, 7}, "t"};
  const auto bytes = encode_message(m);
  kad::Message raw;
  ASSERT_TRUE(raw.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  EXPECT_EQ(raw.type(), kad::Message::GET_PROVIDERS);
  // Field 1 (type, varint) is 0x08; field 2 (key, bytes) 0x12; field 8 (closerPeers) 0x42.
  EXPECT_EQ(bytes[0], 0x08);
  auto back = decode_message(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->key, m.key);
  ASSERT_EQ(back->closer_peers.size(), 1u);
  EXPECT_EQ(back->closer_peers[0].id, m.closer_peers[0].id);
  EXPECT_EQ(back->closer_peers[0].addrs, m.closer_peers[0].addrs);
  EXPECT_EQ(back->closer_peers[0].connection, Connectedness::connected);
  ASSERT_TRUE(back->record.has_value());
  EXPECT_EQ(back->record->value, m.record->value);
}

TEST(DhtMessage, LimitsAndJunkHaveTheirOwnErrors) {
  const wire::Bytes junk{0xff, 0xff, 0xff};
  EXPECT_EQ(decode_message(junk).error(), make_error_code(errc::bad_message));
  MessageLimits small;
  small.max_message_bytes = 4;
  Message m;
  m.type = MessageType::find_node;
  m.key = wire::Bytes(10, 1);
  EXPECT_EQ(decode_message(encode_message(m), small).error(),
            make_error_code(errc::message_too_large));
  MessageLimits few;
  few.max_peers = 2;
  for (const auto& p : peers(3)) m.closer_peers.push_back(PeerEntry{p, {}, {}});
  EXPECT_EQ(decode_message(encode_message(m), few).error(), make_error_code(errc::message_limit));
  MessageLimits short_keys;
  short_keys.max_key_bytes = 5;
  EXPECT_EQ(decode_message(encode_message(m), short_keys).error(),
            make_error_code(errc::message_limit));
  // A peer entry whose id is not a PeerId is skipped, not fatal; so is a bad address.
  kad::Message raw;
  raw.set_type(kad::Message::FIND_NODE);
  raw.add_closerpeers()->set_id("not a multihash");
  auto* ok = raw.add_closerpeers();
  ok->set_id(wire::to_string(wire::PeerId::from_u64(1).bytes()));
  ok->add_addrs("garbage");
  const std::string s = raw.SerializeAsString();
  auto decoded = decode_message(wire::as_bytes(s));
  ASSERT_TRUE(decoded.has_value());
  ASSERT_EQ(decoded->closer_peers.size(), 1u);
  EXPECT_TRUE(decoded->closer_peers[0].addrs.empty());
}

TEST(DhtRoutingTable, BucketsHoldKAndFullOnesKeepReplacements) {
  const wire::PeerId self = wire::PeerId::from_u64(0);
  RoutingTable table(self, 4);
  EXPECT_EQ(table.add(self, 1), RoutingTable::Added::self);
  // Peers in bucket 0 (first bit differs from ours): 4 fit, the rest wait as replacements.
  std::vector<wire::PeerId> far;
  for (std::uint64_t i = 1; far.size() < 6; ++i) {
    auto p = wire::PeerId::from_u64(i);
    if (table.bucket_index(Key::of(p)) == 0) far.push_back(p);
  }
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(table.add(far[i], 1), RoutingTable::Added::added);
  EXPECT_EQ(table.add(far[4], 2), RoutingTable::Added::pending);
  EXPECT_EQ(table.add(far[5], 3), RoutingTable::Added::pending);
  EXPECT_EQ(table.add(far[0], 4), RoutingTable::Added::refreshed);
  EXPECT_EQ(table.bucket_size(0), 4u);
  // A failed peer leaves; the newest replacement takes its place.
  EXPECT_TRUE(table.remove(far[1]));
  EXPECT_TRUE(table.contains(far[5]));
  EXPECT_FALSE(table.contains(far[1]));
  EXPECT_EQ(table.size(), 4u);
}

TEST(DhtRoutingTable, ClosestIsSortedByXorDistance) {
  RoutingTable table(wire::PeerId::from_u64(0), 20);
  for (const auto& p : peers(200)) table.add(p, 1);
  const Key target = Key::of(wire::PeerId::from_u64(5000));
  const auto got = table.closest(target, 10);
  ASSERT_EQ(got.size(), 10u);
  for (std::size_t i = 1; i < got.size(); ++i)
    EXPECT_TRUE(closer(target, Key::of(got[i - 1]), Key::of(got[i])));
  // Nothing in the table is closer than the last one returned.
  for (const auto& p : table.peers()) {
    if (std::find(got.begin(), got.end(), p) == got.end())
      EXPECT_FALSE(closer(target, Key::of(p), Key::of(got.back())));
  }
  EXPECT_FALSE(table.stale_buckets(0).empty());
  table.mark_refreshed(table.random_key_in(0), 10);
  const auto stale = table.stale_buckets(5);
  EXPECT_EQ(std::count(stale.begin(), stale.end(), 0u), 0);
}

TEST(DhtLookup, AsksAlphaAtOnceAndEndsWhenTheKClosestAnswered) {
  const wire::PeerId self = wire::PeerId::from_u64(0);
  const auto all = peers(50);
  const Key target = Key::of(wire::PeerId::from_u64(999));
  Lookup lookup(target, self, {all[0], all[1], all[2], all[3]}, Lookup::Options{5, 3, 32});
  std::set<wire::PeerId> asked;
  std::size_t rounds = 0;
  while (!lookup.done() && rounds < 100) {
    auto next = lookup.next();
    EXPECT_LE(lookup.in_flight(), 3u);
    for (const auto& p : next) {
      EXPECT_TRUE(asked.insert(p).second);  // nobody is asked twice
      // Everyone knows everyone: the answer names the 5 closest of all.
      std::vector<wire::PeerId> sorted = all;
      std::sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) {
        return closer(target, Key::of(a), Key::of(b));
      });
      sorted.erase(sorted.begin() + 5, sorted.end());
      lookup.on_answer(p, sorted);
    }
    ++rounds;
  }
  ASSERT_TRUE(lookup.done());
  std::vector<wire::PeerId> sorted = all;
  std::sort(sorted.begin(), sorted.end(),
            [&](const auto& a, const auto& b) { return closer(target, Key::of(a), Key::of(b)); });
  sorted.erase(sorted.begin() + 5, sorted.end());
  EXPECT_EQ(lookup.closest(), sorted);
  EXPECT_LE(lookup.hops(), 2u);
}

TEST(DhtLookup, FailuresAreSkippedAndCandidatesStayBounded) {
  const wire::PeerId self = wire::PeerId::from_u64(0);
  const Key target = Key::of(wire::PeerId::from_u64(999));
  Lookup lookup(target, self, peers(3), Lookup::Options{3, 3, 32});
  auto first = lookup.next();
  ASSERT_EQ(first.size(), 3u);
  lookup.on_failure(first[0]);
  // A junk answer naming 1000 peers keeps at most k × 4 of them.
  lookup.on_answer(first[1], peers(1000, 100));
  lookup.on_answer(first[2], {});
  std::size_t asked = 0;
  while (!lookup.done()) {
    for (const auto& p : lookup.next()) {
      ++asked;
      lookup.on_failure(p);
    }
  }
  EXPECT_LE(asked, 12u);  // k × 4 candidates at most
  EXPECT_EQ(lookup.failed(), asked + 1);
}

TEST(DhtProviders, BoundedPerPeerPerKeyAndInKeysAndTheyExpire) {
  ProviderLimits limits;
  limits.max_keys = 10;
  limits.max_providers_per_key = 3;
  limits.max_entries_per_peer = 5;
  limits.ttl = std::chrono::seconds(10);
  ProviderStore store(limits);
  const auto flooder = wire::PeerId::from_u64(66);
  std::size_t refused = 0;
  for (int i = 0; i < 100; ++i) {
    const Cid cid = Cid::of(wire::as_bytes(std::to_string(i)));
    if (store.add(cid.key(), flooder, 0) == make_error_code(errc::store_full)) ++refused;
  }
  EXPECT_EQ(store.entries_of(flooder), 5u);
  EXPECT_EQ(refused, 95u);
  // An honest peer still gets in.
  const Cid mine = Cid::of(wire::as_bytes(std::string("mine")));
  const auto honest = wire::PeerId::from_u64(1);
  EXPECT_FALSE(store.add(mine.key(), honest, 0));
  EXPECT_EQ(store.get(mine.key(), 1), std::vector<wire::PeerId>{honest});
  // Per key.
  for (std::uint64_t i = 2; i <= 3; ++i)
    EXPECT_FALSE(store.add(mine.key(), wire::PeerId::from_u64(i), 0));
  EXPECT_EQ(store.add(mine.key(), wire::PeerId::from_u64(4), 0), make_error_code(errc::store_full));
  // Expiry.
  const std::uint64_t later = 11'000'000'000ULL;
  EXPECT_TRUE(store.get(mine.key(), later).empty());
  const std::size_t before = store.entries();
  EXPECT_EQ(before, 8u);  // the flooder's 5 and the 3 providers of "mine"
  EXPECT_EQ(store.sweep(later), before);
  EXPECT_EQ(store.entries(), 0u);
  EXPECT_EQ(store.keys(), 0u);
  EXPECT_EQ(store.entries_of(flooder), 0u);
}

TEST(DhtRecords, PkRecordsAreTheKeyOfTheirPeer) {
  const auto key = wire::Ed25519KeyPair::generate();
  const auto other = wire::Ed25519KeyPair::generate();
  const std::string k = pk_key(key.peer_id());
  EXPECT_FALSE(validate_record(wire::as_bytes(k), key.public_key().to_protobuf()));
  EXPECT_EQ(validate_record(wire::as_bytes(k), other.public_key().to_protobuf()),
            make_error_code(errc::bad_record));
  EXPECT_EQ(validate_record(wire::as_bytes(std::string("/pk/zz")), {}),
            make_error_code(errc::bad_key));
  EXPECT_EQ(validate_record(wire::as_bytes(std::string("/other/x")), {}),
            make_error_code(errc::unknown_namespace));
}

TEST(DhtRecords, BbRecordsAreSignedByTheAuthorAndTheHigherSeqWins) {
  const auto author = wire::Ed25519KeyPair::generate();
  const auto mallory = wire::Ed25519KeyPair::generate();
  const std::string k = bb_key(author.peer_id(), "status");
  const wire::Bytes kb(k.begin(), k.end());
  const auto v1 = make_bb_record(author, k, wire::as_bytes(std::string("one")), 1);
  const auto v2 = make_bb_record(author, k, wire::as_bytes(std::string("two")), 2);
  EXPECT_FALSE(validate_record(kb, v1));
  auto opened = open_bb_record(kb, v2);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(wire::as_chars(opened->data), "two");
  EXPECT_EQ(opened->author, author.peer_id());
  EXPECT_EQ(opened->seq, 2u);
  // Someone else cannot write under the author's name, nor replay it under another key.
  EXPECT_EQ(validate_record(kb, make_bb_record(mallory, k, wire::as_bytes(std::string("x")), 9)),
            make_error_code(errc::bad_record));
  const std::string k2 = bb_key(author.peer_id(), "other");
  EXPECT_EQ(validate_record(wire::as_bytes(k2), v1), make_error_code(errc::bad_record));
  auto tampered = v1;
  tampered[tampered.size() - 70] ^= 1;
  EXPECT_TRUE(validate_record(kb, tampered));
  EXPECT_TRUE(better_record(kb, v2, v1));
  EXPECT_FALSE(better_record(kb, v1, v2));

  RecordStore store;
  const auto putter = wire::PeerId::from_u64(3);
  EXPECT_FALSE(store.put(kb, v2, putter, 0));
  EXPECT_FALSE(store.put(kb, v1, putter, 0));  // older: kept out, no error
  EXPECT_EQ(store.get(kb, 1)->value, v2);
}

TEST(DhtRecords, TheStoreIsBoundedPerPutter) {
  RecordLimits limits;
  limits.max_records_per_peer = 3;
  RecordStore store(limits);
  const auto flooder = wire::PeerId::from_u64(66);
  const auto author = wire::Ed25519KeyPair::generate();
  std::size_t refused = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string k = bb_key(author.peer_id(), "n" + std::to_string(i));
    const auto v = make_bb_record(author, k, wire::as_bytes(std::string("v")), 1);
    if (store.put(wire::as_bytes(k), v, flooder, 0) == make_error_code(errc::store_full)) ++refused;
  }
  EXPECT_EQ(refused, 17u);
  EXPECT_EQ(store.records_of(flooder), 3u);
  const std::string k = bb_key(author.peer_id(), "honest");
  EXPECT_FALSE(store.put(wire::as_bytes(k),
                         make_bb_record(author, k, wire::as_bytes(std::string("v")), 1),
                         wire::PeerId::from_u64(1), 0));
}

TEST(DhtCore, AddProviderCountsOnlyTheSenderAndAnswersCarryAddresses) {
  const auto self = wire::PeerId::from_u64(0);
  Core core(self, 20, {}, {});
  for (const auto& p : peers(30)) core.table().add(p, 1);
  const auto addr = *wire::Multiaddr::parse("/ip4/10.0.0.1/tcp/4001");
  const Core::AddrsOf addrs = [&](const wire::PeerId&) { return std::vector{addr}; };
  const auto sender = wire::PeerId::from_u64(500);
  const Cid cid = Cid::of(wire::as_bytes(std::string("x")));
  Message add;
  add.type = MessageType::add_provider;
  add.key.assign(cid.key().begin(), cid.key().end());
  add.provider_peers.push_back(PeerEntry{wire::PeerId::from_u64(501), {addr}, {}});
  auto h = core.handle(sender, add, 0, addrs);
  EXPECT_EQ(h.error, make_error_code(errc::bad_provider));
  EXPECT_FALSE(h.reply.has_value());
  add.provider_peers.push_back(PeerEntry{sender, {addr}, {}});
  h = core.handle(sender, add, 0, addrs);
  EXPECT_FALSE(h.error);
  ASSERT_EQ(h.learned.size(), 1u);
  Message get;
  get.type = MessageType::get_providers;
  get.key = add.key;
  h = core.handle(wire::PeerId::from_u64(600), get, 1, addrs);
  ASSERT_TRUE(h.reply.has_value());
  ASSERT_EQ(h.reply->provider_peers.size(), 1u);
  EXPECT_EQ(h.reply->provider_peers[0].id, sender);
  EXPECT_EQ(h.reply->closer_peers.size(), 20u);
  // FIND_NODE for a peer we have an address for is that one peer; the asker is never named.
  Message find;
  find.type = MessageType::find_node;
  const auto wanted = wire::PeerId::from_u64(7);
  find.key.assign(wanted.bytes().begin(), wanted.bytes().end());
  h = core.handle(wire::PeerId::from_u64(600), find, 1, addrs);
  ASSERT_TRUE(h.reply.has_value());
  ASSERT_EQ(h.reply->closer_peers.size(), 1u);
  EXPECT_EQ(h.reply->closer_peers[0].id, wanted);
  Message bad;
  bad.type = MessageType::get_providers;
  bad.key = {1, 2, 3};
  EXPECT_EQ(core.handle(sender, bad, 1, addrs).error, make_error_code(errc::bad_key));
}

}  // namespace
}  // namespace bb::dht

// Authenticated origins (issue 10, finding 6). The connection proves who delivered an envelope,
// not who wrote it: a relayed message names its author in src_peer_bytes, and a receiver takes
// that only with the author's signature. These tests attack a Node from a peer built by hand (a
// wire::Host writing raw envelopes on a /bb/wire/1.0.0 stream), so the attacker can claim any
// origin, id, payload and signature; and they check that honest relaying (send relayable, then
// forward()) still works, and that forward() refuses to carry what would be refused.
#include "bb/node/node.hpp"
#include "bb/wire/protocols/bb_wire.hpp"

#include "bb/proto/bb_core.pb.h"
#include "bb/wire/envelope.hpp"
#include "bb/wire/frame.hpp"
#include "bb/wire/host.hpp"
#include "bb/wire/receipt.hpp"
#include "bb/wire/varint.hpp"
#include "tests/node/node_fixture.hpp"

#include <gtest/gtest.h>

#include <set>

namespace bb::node {
using namespace bb::runtime;  // NOLINT: the tables, reasons and events the Node reports
namespace {

namespace asio = boost::asio;
using namespace node_test;
using wire::PeerId;

// ---- a peer by hand ---------------------------------------------------------------------------

// One envelope as the attacker builds it: any origin, id, suffix, payload and signature.
struct RawFill {
  std::optional<PeerId> origin;  // src_peer_bytes; none: the connection's peer
  std::uint64_t message_id = 0;
  wire::Bytes suffix;
  wire::Bytes payload;
  bool trigger_only = false;
  std::uint64_t type_hash = 0;
  wire::Bytes signature;
};

wire::Bytes suffix_of(std::string_view channel) {
  const auto addr = channel_suffix(channel);
  return wire::Bytes(addr.bytes().begin(), addr.bytes().end());
}

wire::OriginFields fields_of(const RawFill& f) {
  wire::OriginFields fields;
  fields.message_id = f.message_id;
  fields.dest_suffix = f.suffix;
  fields.payload = f.payload;
  fields.trigger_only = f.trigger_only;
  fields.type_hash = f.type_hash;
  return fields;
}

wire::Bytes signature_bytes(const wire::Signature& s) {
  return wire::Bytes(s.begin(), s.end());
}

// `author`'s genuine relayable message on "chat".
RawFill signed_by(const wire::Ed25519KeyPair& author, std::uint64_t id, std::string_view text) {
  RawFill f;
  f.origin = author.peer_id();
  f.message_id = id;
  f.suffix = suffix_of("chat");
  f.payload = wire::Bytes(text.begin(), text.end());
  f.signature = signature_bytes(wire::sign_origin(author, fields_of(f)));
  return f;
}

void append_frame(wire::Bytes& out, const RawFill& f) {
  wire::SingleFillEnvelope env;
  env.dest_suffix = f.suffix;
  env.payload = f.payload;
  env.trigger_only = f.trigger_only;
  env.type_hash = f.type_hash;
  env.correlation_kind = 1;
  env.wire_req_id = f.message_id;
  env.remaining_deadline_ns = 1'000'000'000;
  if (f.origin) env.src_peer = f.origin->bytes();
  env.origin_signature = f.signature;
  wire::append_envelope_frame(out, env);
}

// A wire::Host that connects to a Node, opens one /bb/wire/1.0.0 stream and writes envelopes
// on it, reading the Node's receipts: what a malicious (or merely honest, hand-rolled) peer can
// put on the wire, with no Node of its own deciding anything.
class HandMadePeer {
 public:
  explicit HandMadePeer(const asio::any_io_executor& executor)
      : host_(executor, wire::Ed25519KeyPair::generate(), quiet()) {}

  const PeerId& id() const { return host_.peer_id(); }
  const wire::Ed25519KeyPair& identity() const { return host_.identity(); }

  asio::awaitable<void> open(const wire::Multiaddr& to,
                             std::string_view protocol = wire::bb_wire::kProtocolId) {
    auto conn = co_await host_.connect(to);
    std::vector<std::string> protocols{std::string(protocol)};
    stream_.emplace(co_await conn.open_stream(std::move(protocols)));
  }

  // Writes `frames` (`count` envelopes) and returns each one's receipt: "" accepted, else the
  // reason it was refused with.
  asio::awaitable<std::vector<std::string>> exchange(const wire::Bytes& frames, std::size_t count) {
    co_await stream_->write(frames);
    std::vector<std::string> reasons;
    while (reasons.size() < count) {
      const std::size_t n = co_await stream_->read_some(reader_.prepare(4096));
      if (n == 0) throw std::runtime_error("the node closed the stream");
      reader_.commit(n);
      while (true) {
        auto frame = reader_.next();
        if (!frame) throw boost::system::system_error(frame.error(), "bad receipt frame");
        if (!*frame) break;
        auto receipt = wire::decode_receipt(**frame);
        if (!receipt) throw boost::system::system_error(receipt.error(), "bad receipt");
        for (std::uint64_t i = 0; i < receipt->count; ++i) {
          reasons.emplace_back(receipt->reason);
        }
      }
    }
    co_return reasons;
  }

  asio::awaitable<std::string> send(const RawFill& fill) {
    wire::Bytes frame;
    append_frame(frame, fill);
    const auto reasons = co_await exchange(frame, 1);
    co_return reasons.at(0);
  }

  asio::awaitable<void> stop() {
    if (stream_) stream_->reset();
    stream_.reset();
    co_await host_.stop();
  }

 private:
  static wire::HostOptions quiet() {
    wire::HostOptions options;
    options.identify_peers = false;
    return options;
  }

  wire::Host host_;
  std::optional<wire::Stream> stream_;
  wire::FrameReader reader_{wire::kMaxReceiptBody};
};

wire::Bytes bytes_of(std::string_view text) {
  return wire::Bytes(text.begin(), text.end());
}

// Runs `scenario` with a HandMadePeer, whose Host is stopped however the scenario ends.
template <asio::awaitable<void> (*scenario)(Cluster&, HandMadePeer&)>
asio::awaitable<void> with_hand_made_peer(Cluster& cluster) {
  HandMadePeer m(co_await asio::this_coro::executor);
  auto outcome = co_await async::capture(scenario(cluster, m));
  co_await m.stop();
  if (outcome.error) std::rethrow_exception(outcome.error);
}

std::string text_of(const Received& m) {
  return wire::to_string(m.payload);
}

std::size_t count_of(const std::vector<std::string>& reasons, std::string_view reason) {
  return static_cast<std::size_t>(std::count(reasons.begin(), reasons.end(), reason));
}

// ---- the attack of finding 6 --------------------------------------------------------------------

// After one message from L, an attacker M connected to the victim V sends envelopes claiming
// origin L with the ids L would use next (ids counted up from the start time, so they were
// plausible), empty ones and one with a line of its own. Before: V took them all as L's (the
// line showed as L's), and L's next real message was refused as `duplicate`, L told nothing
// useful. Now every forgery is refused `forged_origin` before dedup sees it, and L's message,
// even under the very id the attacker guessed, is delivered.
asio::awaitable<void> forged_origins(Cluster& cluster, HandMadePeer& m) {
  Node& l = *co_await cluster.start();
  Node& v = *co_await cluster.start();
  v.subscribe("chat");
  const PeerId l_id = l.peer_id();
  const PeerId v_id = v.peer_id();
  (void)co_await l.connect(dial_addr(v));
  co_await m.open(dial_addr(v));

  SendOptions await;
  await.await_receipt = true;
  Verdict verdict = co_await l.send(v_id, "chat", wire::as_bytes("first from L"), await);
  EXPECT_FALSE(verdict) << reason_of(verdict);
  const std::optional<Received> first = v.try_receive("chat");
  if (!first) {
    ADD_FAILURE() << "v did not get L's first message";
    co_return;
  }
  EXPECT_EQ(first->origin, l_id);

  // The forgeries: L's next 2,000 ids (were they counted), no payload, and one line.
  constexpr std::uint64_t kForged = 2000;
  wire::Bytes frames;
  for (std::uint64_t i = 1; i <= kForged; ++i) {
    RawFill f;
    f.origin = l_id;
    f.message_id = first->message_id + i;
    f.suffix = suffix_of("chat");
    append_frame(frames, f);
  }
  RawFill line;
  line.origin = l_id;
  line.message_id = first->message_id + kForged + 1;
  line.suffix = suffix_of("chat");
  line.payload = bytes_of("L: I owe M 100 coins");
  append_frame(frames, line);
  const auto reasons = co_await m.exchange(frames, kForged + 1);
  EXPECT_EQ(count_of(reasons, "forged_origin"), kForged + 1);

  const NodeMetrics vm = v.metrics();
  EXPECT_EQ(vm.dropped("rx:forged_origin"), kForged + 1) << describe(vm);
  EXPECT_EQ(vm.dropped("rx:duplicate"), 0u) << describe(vm);
  EXPECT_EQ(vm.messages_in, 1u) << describe(vm);
  EXPECT_FALSE(v.try_receive("chat")) << "a forgery was delivered";

  // L's next message, under the first id the attacker claimed (L's ids are random now; this
  // is the worst case, a guess that hit), is delivered as L's.
  SendOptions next = await;
  next.message_id = first->message_id + 1;
  verdict = co_await l.send(v_id, "chat", wire::as_bytes("second from L"), next);
  EXPECT_FALSE(verdict) << reason_of(verdict) << (verdict ? ": " + verdict->detail : "");
  if (auto second = v.try_receive("chat")) {
    EXPECT_EQ(second->origin, l_id);
    EXPECT_EQ(second->from, l_id);
    EXPECT_EQ(text_of(*second), "second from L");
    EXPECT_EQ(second->message_id, first->message_id + 1);
  } else {
    ADD_FAILURE() << "L's next message did not reach v";
  }
  EXPECT_EQ(l.metrics().failed_sends(), 0u) << describe(l.metrics());
  EXPECT_TRUE(all_sends_accounted(l));

  // M's own words, as M, are still welcome: a message from its author needs no signature.
  RawFill own;
  own.message_id = 7;
  own.suffix = suffix_of("chat");
  own.payload = bytes_of("M speaking");
  const std::string own_reason = co_await m.send(own);
  EXPECT_EQ(own_reason, "");
  if (auto got = v.try_receive("chat")) {
    EXPECT_EQ(got->origin, m.id());
    EXPECT_EQ(text_of(*got), "M speaking");
  } else {
    ADD_FAILURE() << "v did not get M's own message";
  }
}

// One /bb/wire/1.1.0 batch (fills with their own ids): `fills` then the batch's tail, with
// src_peer set when `origin` is given.
wire::Bytes batch_frame(const std::vector<RawFill>& fills, const PeerId* origin = nullptr) {
  wire::Bytes body;
  for (const RawFill& f : fills) {
    wire::SingleFillEnvelope env;
    env.dest_suffix = f.suffix;
    env.payload = f.payload;
    env.correlation_kind = 1;
    env.wire_req_id = f.message_id;
    env.remaining_deadline_ns = 1'000'000'000;
    env.origin_signature = f.signature;
    wire::append_batch_fill_record(body, env);
  }
  if (origin != nullptr) {
    body.push_back(0x32);  // field 6, src_peer_bytes
    wire::append_varint(body, origin->bytes().size());
    body.insert(body.end(), origin->bytes().begin(), origin->bytes().end());
  }
  wire::append_batch_tail(body, {});
  wire::Bytes frame;
  wire::append_varint(frame, body.size());
  frame.insert(frame.end(), body.begin(), body.end());
  return frame;
}

// A peer speaking /bb/wire/1.1.0 by hand: each fill of a batch is judged on its own (repeats
// refused `duplicate` and not delivered, the rest delivered once), a batch claiming another
// origin is refused fill by fill (`forged_origin`: someone else's words travel alone, signed),
// and an honest Node's message still gets through meanwhile.
asio::awaitable<void> hostile_batches(Cluster& cluster, HandMadePeer& m) {
  Node& l = *co_await cluster.start();
  Node& v = *co_await cluster.start();
  v.subscribe("chat");
  (void)co_await l.connect(dial_addr(v));
  co_await m.open(dial_addr(v), wire::bb_wire::kBatchProtocolId);

  std::vector<RawFill> fills;
  for (std::uint64_t i = 0; i < 40; ++i) {
    RawFill f;
    f.message_id = i < 20 ? 1000 + i : i < 30 ? 1000 : 2000 + i;  // 20..29 repeat id 1000
    f.suffix = suffix_of("chat");
    f.payload = bytes_of("m" + std::to_string(i));
    fills.push_back(std::move(f));
  }
  const auto reasons = co_await m.exchange(batch_frame(fills), fills.size());
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    EXPECT_EQ(reasons[i], i >= 20 && i < 30 ? "duplicate" : "") << "fill " << i;
  }
  std::size_t delivered = 0;
  while (auto got = v.try_receive("chat")) {
    EXPECT_EQ(got->origin, m.id());
    ++delivered;
  }
  EXPECT_EQ(delivered, 30u);

  // Five unsigned fills claiming L as their author, in one batch.
  std::vector<RawFill> forged(5);
  for (std::size_t i = 0; i < forged.size(); ++i) {
    forged[i].message_id = 5000 + i;
    forged[i].suffix = suffix_of("chat");
    forged[i].payload = bytes_of("L says " + std::to_string(i));
  }
  const PeerId l_id = l.peer_id();
  const auto forged_reasons = co_await m.exchange(batch_frame(forged, &l_id), forged.size());
  EXPECT_EQ(count_of(forged_reasons, "forged_origin"), forged.size());
  EXPECT_FALSE(v.try_receive("chat")) << "a forgery was delivered";

  SendOptions await;
  await.await_receipt = true;
  const Verdict verdict = co_await l.send(v.peer_id(), "chat", wire::as_bytes("from L"), await);
  EXPECT_FALSE(verdict) << reason_of(verdict);
  if (auto got = v.try_receive("chat")) {
    EXPECT_EQ(got->origin, l_id);
    EXPECT_EQ(text_of(*got), "from L");
  } else {
    ADD_FAILURE() << "L's message did not reach v";
  }
  const NodeMetrics vm = v.metrics();
  EXPECT_EQ(vm.dropped("rx:duplicate"), 10u) << describe(vm);
  EXPECT_EQ(vm.dropped("rx:forged_origin"), forged.size()) << describe(vm);
  EXPECT_EQ(vm.messages_in, 31u) << describe(vm);
}

TEST(NodeOrigin, ABatchIsJudgedFillByFillAndAForgedOneIsRefusedWhole) {
  run_scenario(&with_hand_made_peer<&hostile_batches>);
}

TEST(NodeOrigin, ForgedOriginsAreRefusedAndTheAuthorsNextMessageGetsThrough) {
  run_scenario(&with_hand_made_peer<&forged_origins>, std::chrono::seconds(30));
}

// ---- signatures that do not match what they claim -----------------------------------------------

// M holds a genuine signed message of L (as any relay does) and tampers with it, or signs for L
// itself. Each is refused `forged_origin` and does not poison dedup: the genuine messages, sent
// afterwards under the same ids, are delivered once each; a replay is a duplicate.
asio::awaitable<void> tampered_signatures(Cluster& cluster, HandMadePeer& m) {
  Node& v = *co_await cluster.start();
  v.subscribe("chat");
  v.subscribe("other");
  co_await m.open(dial_addr(v));
  // L need not be up: its PeerId carries its public key.
  const auto l_key = wire::Ed25519KeyPair::generate();
  const PeerId l_id = l_key.peer_id();
  const auto k_key = wire::Ed25519KeyPair::generate();  // someone else

  // The genuine article is accepted, as L's, carried by M, with its signature.
  const RawFill genuine = signed_by(l_key, 1001, "genuine");
  const std::string genuine_reason = co_await m.send(genuine);
  EXPECT_EQ(genuine_reason, "");
  if (auto got = v.try_receive("chat")) {
    EXPECT_EQ(got->origin, l_id);
    EXPECT_EQ(got->from, m.id());
    EXPECT_EQ(got->message_id, 1001u);
    EXPECT_EQ(text_of(*got), "genuine");
    EXPECT_TRUE(got->origin_signature);
    if (got->origin_signature) {
      EXPECT_EQ(signature_bytes(*got->origin_signature), genuine.signature);
    }
  } else {
    ADD_FAILURE() << "v did not get L's genuine message";
  }

  // Each forgery below borrows a valid signature of L's, or is signed by the wrong key.
  std::vector<std::pair<std::string, RawFill>> forgeries;
  {
    RawFill f = signed_by(l_key, 2001, "pay M 1 coin");
    f.payload = bytes_of("pay M 9 coins");
    forgeries.emplace_back("payload changed", f);
  }
  {
    RawFill f = signed_by(l_key, 2002, "to chat");
    f.suffix = suffix_of("other");
    forgeries.emplace_back("suffix changed", f);
  }
  {
    RawFill f = signed_by(l_key, 2003, "id changed");
    f.message_id = 2004;
    forgeries.emplace_back("id changed", f);
  }
  {
    RawFill f = signed_by(l_key, 2005, "type changed");
    f.type_hash = 99;
    forgeries.emplace_back("type_hash changed", f);
  }
  {
    RawFill f = signed_by(l_key, 2006, "trigger changed");
    f.trigger_only = true;
    forgeries.emplace_back("trigger_only changed", f);
  }
  {
    RawFill f = signed_by(l_key, 2007, "someone else's");
    f.origin = k_key.peer_id();  // L's signature, K named as the author
    forgeries.emplace_back("origin changed", f);
  }
  {
    RawFill f = signed_by(m.identity(), 2008, "M signs as L");
    f.origin = l_id;
    forgeries.emplace_back("signed by the relay", f);
  }
  {
    RawFill f = signed_by(l_key, 2009, "garbage signature");
    f.signature.assign(wire::kOriginSignatureSize, 0x5a);
    forgeries.emplace_back("garbage signature", f);
  }
  {
    RawFill f = signed_by(l_key, 2010, "no signature");
    f.signature.clear();
    forgeries.emplace_back("no signature", f);
  }
  {
    RawFill f = signed_by(l_key, 2011, "u64 origin");
    f.origin = PeerId::from_u64(5);  // no key inside: nothing can verify for it
    forgeries.emplace_back("origin without a key", f);
  }
  for (const auto& [what, f] : forgeries) {
    const std::string why = co_await m.send(f);
    EXPECT_EQ(why, "forged_origin") << what;
  }
  // M's own message with a signature that does not verify: refused too, so what a Received
  // carries as origin_signature always verifies.
  {
    RawFill f;
    f.message_id = 3001;
    f.suffix = suffix_of("chat");
    f.payload = bytes_of("M, badly signed");
    f.signature.assign(wire::kOriginSignatureSize, 0x11);
    const std::string why = co_await m.send(f);
    EXPECT_EQ(why, "forged_origin");
  }
  // Two of L's fills, each signed, in one envelope: a relayed fill travels alone (its index,
  // which dedup keys on, is not signed).
  {
    core::WireEnvelope env;
    env.set_src_peer_bytes(std::string(wire::as_chars(l_id.bytes())));
    env.mutable_correlation()->set_kind(core::CORRELATION_KIND_REQUEST);
    env.mutable_correlation()->set_wire_req_id(4001);
    for (int i = 0; i < 2; ++i) {
      const RawFill f = signed_by(l_key, 4001, "twice");
      auto* fill = env.add_fills();
      fill->set_dest_suffix(std::string(wire::as_chars(f.suffix)));
      fill->set_payload(std::string(wire::as_chars(f.payload)));
      fill->set_origin_signature(std::string(wire::as_chars(f.signature)));
    }
    wire::Bytes frame;
    wire::encode_envelope_frame(env, frame);
    const std::vector<std::string> why = co_await m.exchange(frame, 1);
    EXPECT_EQ(why, std::vector<std::string>{"forged_origin"});
  }
  EXPECT_FALSE(v.try_receive("chat")) << "a forgery was delivered";
  EXPECT_FALSE(v.try_receive("other")) << "a forgery was delivered";
  const std::uint64_t refused = forgeries.size() + 1 + 2;
  EXPECT_EQ(v.metrics().dropped("rx:forged_origin"), refused) << describe(v.metrics());

  // The forgeries left no trace in dedup: the genuine messages under the ids they used get
  // through, each once.
  for (std::uint64_t id = 2001; id <= 2011; ++id) {
    const std::string why = co_await m.send(signed_by(l_key, id, "genuine " + std::to_string(id)));
    EXPECT_EQ(why, "") << "id " << id;
  }
  std::size_t delivered = 0;
  while (auto got = v.try_receive("chat")) {
    ++delivered;
    EXPECT_EQ(got->origin, l_id);
    EXPECT_EQ(text_of(*got), "genuine " + std::to_string(got->message_id));
  }
  EXPECT_EQ(delivered, 11u);
  // A replay of a genuine message is a duplicate, not a second delivery.
  const std::string replay_reason = co_await m.send(genuine);
  EXPECT_EQ(replay_reason, "duplicate");
  EXPECT_EQ(v.metrics().dropped("rx:duplicate"), 1u);
}

TEST(NodeOrigin, TamperedOrMisattributedSignaturesAreRefusedAndLeaveDedupAlone) {
  run_scenario(&with_hand_made_peer<&tampered_signatures>);
}

// ---- honest relaying ----------------------------------------------------------------------------

// L — R — V in a line. What L sends relayable, R can forward and V accepts as L's; what L sends
// plain, R's forward() refuses at once (`unsigned_origin`) rather than sending it to be refused.
asio::awaitable<void> relaying(Cluster& cluster) {
  Node& l = *co_await cluster.start();
  Node& r = *co_await cluster.start();
  Node& v = *co_await cluster.start();
  for (Node* n : {&r, &v}) n->subscribe("chat");
  const PeerId l_id = l.peer_id();
  const PeerId r_id = r.peer_id();
  const PeerId v_id = v.peer_id();
  (void)co_await l.connect(dial_addr(r));
  (void)co_await r.connect(dial_addr(v));
  NodeEvents r_events(r);
  SendOptions await;
  await.await_receipt = true;
  SendTally r_tally;

  // Relayable: signed by L, forwarded by R, accepted by V with L as the author.
  SendOptions relayable = await;
  relayable.relayable = true;
  Verdict verdict = co_await l.send(r_id, "chat", wire::as_bytes("pass it on"), relayable);
  EXPECT_FALSE(verdict) << reason_of(verdict);
  std::optional<Received> at_r = r.try_receive("chat");
  if (!at_r) {
    ADD_FAILURE() << "r got nothing";
    co_return;
  }
  EXPECT_EQ(at_r->origin, l_id);
  EXPECT_TRUE(at_r->origin_signature);
  verdict = co_await r.forward(v_id, *at_r, await);
  EXPECT_FALSE(verdict) << reason_of(verdict) << (verdict ? ": " + verdict->detail : "");
  r_tally.record(verdict);
  if (auto at_v = v.try_receive("chat")) {
    EXPECT_EQ(at_v->origin, l_id);
    EXPECT_EQ(at_v->from, r_id);
    EXPECT_EQ(at_v->message_id, at_r->message_id);
    EXPECT_EQ(text_of(*at_v), "pass it on");
    EXPECT_EQ(at_v->origin_signature, at_r->origin_signature);  // passed on as it came
  } else {
    ADD_FAILURE() << "v did not get the relayed message";
  }

  // A relayable trigger (no payload) and a message made once with compose() (what bb-chat
  // does: one id and one signature for every neighbour), relayed the same way.
  SendOptions trigger = relayable;
  trigger.trigger_only = true;
  verdict = co_await l.send(r_id, "chat", wire::as_bytes("ignored"), trigger);
  EXPECT_FALSE(verdict) << reason_of(verdict);
  SendOptions composed_options;
  composed_options.relayable = true;
  const Received composed = l.compose("chat", wire::as_bytes("composed"), composed_options);
  EXPECT_EQ(composed.origin, l_id);
  EXPECT_TRUE(composed.origin_signature);
  verdict = co_await l.forward(r_id, composed, await);
  EXPECT_FALSE(verdict) << reason_of(verdict);
  for (int i = 0; i < 2; ++i) {
    at_r = r.try_receive("chat");
    if (!at_r) {
      ADD_FAILURE() << "r missed message " << i;
      continue;
    }
    verdict = co_await r.forward(v_id, *at_r, await);
    EXPECT_FALSE(verdict) << reason_of(verdict) << (verdict ? ": " + verdict->detail : "");
    r_tally.record(verdict);
    if (auto at_v = v.try_receive("chat")) {
      EXPECT_EQ(at_v->origin, l_id);
      EXPECT_EQ(at_v->trigger_only, i == 0);
      EXPECT_EQ(text_of(*at_v), i == 0 ? "" : "composed");
      if (i == 1) {
        EXPECT_EQ(at_v->message_id, composed.message_id);
      }
    } else {
      ADD_FAILURE() << "v did not get relayed message " << i;
    }
  }

  // Plain: r may read it, but cannot pass it on as L's.
  verdict = co_await l.send(r_id, "chat", wire::as_bytes("between us"), await);
  EXPECT_FALSE(verdict) << reason_of(verdict);
  at_r = r.try_receive("chat");
  if (!at_r) {
    ADD_FAILURE() << "r did not get the plain message";
    co_return;
  }
  EXPECT_FALSE(at_r->origin_signature);
  verdict = co_await r.forward(v_id, *at_r, await);
  EXPECT_EQ(reason_of(verdict), "unsigned_origin");
  r_tally.record(verdict);
  verdict = co_await r.forward(v_id, *at_r);  // not awaited: the same, at once
  EXPECT_EQ(reason_of(verdict), "unsigned_origin");
  r_tally.record(verdict);
  // Returned both times, so no event (one report per failure).
  EXPECT_EQ(
      r_events.count<SendFailed>([](const SendFailed& e) { return e.reason == "unsigned_origin"; }),
      0u)
      << r_events.dump();
  EXPECT_FALSE(v.try_receive("chat"));
  const NodeMetrics rm = r.metrics();
  EXPECT_EQ(rm.dropped("unsigned_origin"), 2u) << describe(rm);
  EXPECT_EQ(rm.sends, r_tally.sent);
  EXPECT_TRUE(all_sends_accounted(r));
  EXPECT_EQ(v.metrics().dropped("rx:forged_origin"), 0u);  // nothing unsigned was sent

  // R's own messages need no signature to be forwarded by R itself.
  const Received own = r.compose("chat", wire::as_bytes("r's own"));
  EXPECT_FALSE(own.origin_signature);
  verdict = co_await r.forward(v_id, own, await);
  EXPECT_FALSE(verdict) << reason_of(verdict);
  if (auto at_v = v.try_receive("chat")) {
    EXPECT_EQ(at_v->origin, r_id);
    EXPECT_EQ(text_of(*at_v), "r's own");
  } else {
    ADD_FAILURE() << "v did not get r's own message";
  }
}

TEST(NodeOrigin, RelayableMessagesAreForwardedAndUnsignedOnesAreNot) {
  run_scenario(&relaying);
}

// ---- unpredictable ids --------------------------------------------------------------------------

asio::awaitable<void> random_ids(Cluster& cluster) {
  Node& a = *co_await cluster.start();
  std::set<std::uint64_t> ids;
  std::uint64_t previous = 0;
  std::size_t successors = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t id = a.mint_message_id();
    EXPECT_NE(id, 0u);
    ids.insert(id);
    if (id == previous + 1) ++successors;
    previous = id;
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(successors, 0u) << "ids count up: the next one can be guessed";
}

TEST(NodeOrigin, MessageIdsAreRandomSoTheNextOneCannotBeGuessed) {
  run_scenario(&random_ids);
}

}  // namespace
}  // namespace bb::node

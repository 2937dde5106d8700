#include "bb/pubsub/message.hpp"

#include <sodium.h>

#include <array>

namespace bb::pubsub {
namespace {

constexpr std::string_view kSignPrefix = "libp2p-pubsub:";

// The bytes the author signs: the prefix, then the message without signature and key.
std::string signed_bytes(const pb::Message& msg) {
  pb::Message unsigned_msg = msg;
  unsigned_msg.clear_signature();
  unsigned_msg.clear_key();
  std::string out(kSignPrefix);
  unsigned_msg.AppendToString(&out);
  return out;
}

}  // namespace

std::string seqno_bytes(std::uint64_t seqno) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(seqno & 0xff);
    seqno >>= 8;
  }
  return out;
}

std::optional<std::uint64_t> seqno_value(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : bytes) v = (v << 8) | static_cast<std::uint8_t>(c);
  return v;
}

MessageId default_message_id(const pb::Message& msg) {
  if (!msg.has_from() && !msg.has_seqno()) {  // strict_no_sign: the data's SHA-256
    std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256(digest.data(), reinterpret_cast<const std::uint8_t*>(msg.data().data()),
                       msg.data().size());
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
  }
  // The author's public key: the `key` field, else the one its PeerId inlines.
  MessageId id;
  if (msg.has_key()) {
    id = msg.key();
  } else if (auto peer = wire::PeerId::from_bytes(wire::as_bytes(msg.from())); peer) {
    id = wire::to_string(peer->inlined_public_key());
  }
  if (id.empty()) id = msg.from();  // not a key-bearing PeerId: still a stable id
  id += msg.seqno();
  return id;
}

MessageId from_peer_seqno_message_id(const pb::Message& msg) {
  return msg.from() + msg.seqno();
}

pb::Message make_message(const TopicId& topic, wire::ByteView data, std::uint64_t seqno,
                         const wire::Ed25519KeyPair& key, SignaturePolicy policy) {
  pb::Message msg;
  if (policy == SignaturePolicy::strict_sign) {
    msg.set_from(wire::to_string(key.peer_id().bytes()));
    msg.set_seqno(seqno_bytes(seqno));
  }
  msg.set_data(wire::to_string(data));
  msg.set_topic(topic);
  if (policy == SignaturePolicy::strict_sign) {
    const std::string payload = signed_bytes(msg);
    const auto signature = key.sign(wire::as_bytes(payload));
    msg.set_signature(
        std::string(reinterpret_cast<const char*>(signature.data()), signature.size()));
  }
  return msg;
}

std::optional<RejectReason> check_signature(const pb::Message& msg, SignaturePolicy policy,
                                            std::optional<wire::PeerId>& author,
                                            std::uint64_t& seqno) {
  if (policy == SignaturePolicy::strict_no_sign) {
    if (msg.has_signature() || msg.has_seqno() || msg.has_from() || msg.has_key()) {
      return RejectReason::unexpected_signature;
    }
    return std::nullopt;
  }
  if (!msg.has_signature() || !msg.has_from()) return RejectReason::missing_signature;
  const auto value = seqno_value(msg.seqno());
  if (!value) return RejectReason::invalid_signature;
  auto from = wire::PeerId::from_bytes(wire::as_bytes(msg.from()));
  if (!from) return RejectReason::invalid_signature;
  // The key that signed: `key` when present (it must be the one `from` names), else inlined.
  wire::result<wire::Ed25519PublicKey> key =
      msg.has_key() ? wire::Ed25519PublicKey::from_protobuf(wire::as_bytes(msg.key()))
                    : wire::Ed25519PublicKey::from_protobuf(from->inlined_public_key());
  if (!key || key->peer_id() != *from) return RejectReason::invalid_signature;
  const std::string payload = signed_bytes(msg);
  if (!key->verify(wire::as_bytes(payload), wire::as_bytes(msg.signature()))) {
    return RejectReason::invalid_signature;
  }
  author = std::move(*from);
  seqno = *value;
  return std::nullopt;
}

boost::system::result<pb::RPC> decode_rpc(wire::ByteView frame, const RpcLimits& limits,
                                          std::string* detail) {
  pb::RPC rpc;
  if (!rpc.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return make_error_code(errc::bad_rpc);
  }
  const auto over = [&](std::string what) {
    if (detail) *detail = std::move(what);
    return make_error_code(errc::rpc_limit);
  };
  if (static_cast<std::size_t>(rpc.subscriptions_size()) > limits.max_subscriptions) {
    return over(std::to_string(rpc.subscriptions_size()) + " subscriptions (at most " +
                std::to_string(limits.max_subscriptions) + ")");
  }
  if (static_cast<std::size_t>(rpc.publish_size()) > limits.max_messages) {
    return over(std::to_string(rpc.publish_size()) + " messages (at most " +
                std::to_string(limits.max_messages) + ")");
  }
  const auto long_topic = [&](const std::string& t) { return t.size() > limits.max_topic_bytes; };
  for (const auto& s : rpc.subscriptions()) {
    if (long_topic(s.topicid()))
      return over("a topic of " + std::to_string(s.topicid().size()) + " bytes");
  }
  for (const auto& m : rpc.publish()) {
    if (long_topic(m.topic()))
      return over("a topic of " + std::to_string(m.topic().size()) + " bytes");
  }
  if (rpc.has_control()) {
    const auto& c = rpc.control();
    std::size_t entries =
        static_cast<std::size_t>(c.graft_size()) + static_cast<std::size_t>(c.prune_size());
    for (const auto& e : c.ihave()) {
      entries += 1 + static_cast<std::size_t>(e.messageids_size());
      if (long_topic(e.topicid())) return over("an IHAVE topic over the limit");
    }
    const auto count = [](int n) { return static_cast<std::size_t>(n); };
    for (const auto& e : c.iwant()) entries += 1 + count(e.messageids_size());
    for (const auto& e : c.idontwant()) entries += 1 + count(e.messageids_size());
    for (const auto& e : c.prune()) entries += count(e.peers_size());
    if (entries > limits.max_control_entries) {
      return over(std::to_string(entries) + " control entries (at most " +
                  std::to_string(limits.max_control_entries) + ")");
    }
  }
  return rpc;
}

}  // namespace bb::pubsub

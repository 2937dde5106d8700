// Pubsub messages as gossipsub carries them: building and signing our own, checking a received
// one against the signature policy, message ids, and the bounded decoding of an RPC.
//
// Signing (the pubsub spec, "Message Signing"): the author signs "libp2p-pubsub:" followed by the
// protobuf encoding of the message without its signature and key fields, with the key its
// PeerId names; an Ed25519 PeerId inlines its public key, so `key` is left out.
#pragma once

#include "bb/proto/gossipsub.pb.h"
#include "bb/pubsub/error.hpp"
#include "bb/pubsub/score.hpp"
#include "bb/wire/bytes.hpp"
#include "bb/wire/error.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/peer_id.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bb::pubsub {

enum class SignaturePolicy : std::uint8_t {
  strict_sign,     // every message carries from, an 8-byte seqno and the author's signature
  strict_no_sign,  // no message carries from, seqno, signature or key
};

// A message in the router: the decoded fields, its encoding as forwarded (shared by every
// copy sent on), and its id.
struct StoredMessage {
  pb::Message fields;
  std::string encoded;  // pb::Message serialised: what goes into every RPC that carries it
  MessageId id;
  std::optional<wire::PeerId> author;  // strict_sign: the verified `from`
  std::uint64_t seqno = 0;             // strict_sign: the big-endian seqno
  const TopicId& topic() const noexcept { return fields.topic(); }
};
using MessagePtr = std::shared_ptr<const StoredMessage>;

// Message ids. The default is js-libp2p's: the author's public key in its protobuf encoding,
// then the 8-byte seqno (for Ed25519, the PeerId bytes without their 2-byte multihash prefix).
// Under strict_no_sign it is the SHA-256 of the data. Replaceable (GossipsubConfig::message_id)
// with any function of the message; go-libp2p's is from_peer_seqno_message_id.
using MessageIdFn = std::function<MessageId(const pb::Message&)>;
MessageId default_message_id(const pb::Message& msg);
MessageId from_peer_seqno_message_id(const pb::Message& msg);

// Our own message on `topic`, signed with `key` under strict_sign.
pb::Message make_message(const TopicId& topic, wire::ByteView data, std::uint64_t seqno,
                         const wire::Ed25519KeyPair& key, SignaturePolicy policy);

// Why a received message fails the policy; nullopt when it passes (then `author` is set for
// strict_sign).
std::optional<RejectReason> check_signature(const pb::Message& msg, SignaturePolicy policy,
                                            std::optional<wire::PeerId>& author,
                                            std::uint64_t& seqno);

// The limits one RPC must keep; anything past them fails decoding with a specific error, so a
// hostile peer's RPC costs at most its bytes (bounded by the framing) and these counts.
struct RpcLimits {
  std::size_t max_subscriptions = 1024;    // subscription changes in one RPC
  std::size_t max_messages = 1024;         // published messages in one RPC
  std::size_t max_control_entries = 8192;  // IHAVE/IWANT/IDONTWANT ids + GRAFT/PRUNE entries
  std::size_t max_topic_bytes = 1024;      // any topic id
};

// Decodes one RPC (the bytes of one length-prefixed frame). Errors: errc::bad_rpc (not
// protobuf), errc::rpc_limit (a count or a topic over its limit; `detail` says which).
boost::system::result<pb::RPC> decode_rpc(wire::ByteView frame, const RpcLimits& limits,
                                          std::string* detail = nullptr);

// The 8-byte big-endian encoding of a seqno, and back (nullopt unless exactly 8 bytes).
std::string seqno_bytes(std::uint64_t seqno);
std::optional<std::uint64_t> seqno_value(std::string_view bytes);

}  // namespace bb::pubsub

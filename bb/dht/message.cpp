#include "bb/dht/message.hpp"

#include "bb/dht/error.hpp"
#include "bb/proto/kad.pb.h"

namespace bb::dht {

std::string_view to_string(MessageType type) noexcept {
  switch (type) {
    case MessageType::put_value: return "PUT_VALUE";
    case MessageType::get_value: return "GET_VALUE";
    case MessageType::add_provider: return "ADD_PROVIDER";
    case MessageType::get_providers: return "GET_PROVIDERS";
    case MessageType::find_node: return "FIND_NODE";
    case MessageType::ping: return "PING";
  }
  return "?";
}

namespace {

bool decode_peers(const google::protobuf::RepeatedPtrField<kad::Message::Peer>& in,
                  const MessageLimits& limits, std::vector<PeerEntry>& out) {
  if (static_cast<std::size_t>(in.size()) > limits.max_peers) return false;
  out.reserve(static_cast<std::size_t>(in.size()));
  for (const auto& p : in) {
    auto id = wire::PeerId::from_bytes(wire::as_bytes(p.id()));
    if (!id) continue;
    PeerEntry entry{*id, {}, Connectedness::not_connected};
    const int c = p.connection();
    if (c >= 0 && c <= 3) entry.connection = static_cast<Connectedness>(c);
    for (const auto& a : p.addrs()) {
      if (entry.addrs.size() >= limits.max_addrs_per_peer) break;
      if (auto addr = wire::Multiaddr::from_bytes(wire::as_bytes(a))) entry.addrs.push_back(*addr);
    }
    out.push_back(std::move(entry));
  }
  return true;
}

void encode_peers(const std::vector<PeerEntry>& in,
                  google::protobuf::RepeatedPtrField<kad::Message::Peer>* out) {
  for (const auto& p : in) {
    auto* peer = out->Add();
    peer->set_id(wire::to_string(p.id.bytes()));
    for (const auto& a : p.addrs) peer->add_addrs(wire::to_string(a.bytes()));
    peer->set_connection(static_cast<kad::Message::ConnectionType>(p.connection));
  }
}

}  // namespace

wire::result<Message> decode_message(wire::ByteView body, const MessageLimits& limits) {
  if (body.size() > limits.max_message_bytes) return make_error_code(errc::message_too_large);
  kad::Message msg;
  if (!msg.ParseFromArray(body.data(), static_cast<int>(body.size())))
    return make_error_code(errc::bad_message);
  const int type = msg.type();
  if (type < 0 || type > 5) return make_error_code(errc::bad_message);
  Message out;
  out.type = static_cast<MessageType>(type);
  if (msg.key().size() > limits.max_key_bytes) return make_error_code(errc::message_limit);
  out.key.assign(msg.key().begin(), msg.key().end());
  if (msg.has_record()) {
    const auto& r = msg.record();
    if (r.key().size() > limits.max_key_bytes || r.value().size() > limits.max_value_bytes ||
        r.timereceived().size() > 64)
      return make_error_code(errc::message_limit);
    out.record = Record{wire::Bytes(r.key().begin(), r.key().end()),
                        wire::Bytes(r.value().begin(), r.value().end()), r.timereceived()};
  }
  if (!decode_peers(msg.closerpeers(), limits, out.closer_peers) ||
      !decode_peers(msg.providerpeers(), limits, out.provider_peers))
    return make_error_code(errc::message_limit);
  return out;
}

wire::Bytes encode_message(const Message& message) {
  kad::Message msg;
  msg.set_type(static_cast<kad::Message::MessageType>(message.type));
  msg.set_key(wire::to_string(message.key));
  if (message.record) {
    auto* r = msg.mutable_record();
    r->set_key(wire::to_string(message.record->key));
    r->set_value(wire::to_string(message.record->value));
    r->set_timereceived(message.record->time_received);
  }
  encode_peers(message.closer_peers, msg.mutable_closerpeers());
  encode_peers(message.provider_peers, msg.mutable_providerpeers());
  const std::string s = msg.SerializeAsString();
  return wire::Bytes(s.begin(), s.end());
}

}  // namespace bb::dht

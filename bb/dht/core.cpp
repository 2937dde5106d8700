#include "bb/dht/core.hpp"

#include "bb/dht/error.hpp"
#include "bb/wire/multihash.hpp"

namespace bb::dht {

Core::Core(wire::PeerId self, std::size_t k, ProviderLimits providers, RecordLimits records)
    : table_(std::move(self), k), providers_(providers), records_(records) {}

std::vector<PeerEntry> Core::closer_peers(wire::ByteView key, const wire::PeerId& except,
                                          const AddrsOf& addrs_of) const {
  std::vector<PeerEntry> out;
  for (const auto& p : table_.closest(Key::of(key), table_.k() + 1)) {
    if (p == except || out.size() >= table_.k()) continue;
    auto addrs = addrs_of(p);
    if (addrs.empty()) continue;
    out.push_back(PeerEntry{p, std::move(addrs), Connectedness::not_connected});
  }
  return out;
}

Core::Handled Core::handle(const wire::PeerId& from, const Message& request, std::uint64_t now_ns,
                           const AddrsOf& addrs_of) {
  Handled out;
  Message reply;
  reply.type = request.type;
  reply.key = request.key;
  switch (request.type) {
    case MessageType::ping: break;
    case MessageType::find_node: {
      if (request.key.empty()) {
        out.error = make_error_code(errc::bad_key);
        return out;
      }
      // An exact match (a peer we can tell the address of) is the one answer.
      if (auto peer = wire::PeerId::from_bytes(request.key); peer && *peer != from) {
        if (*peer == self()) {
          // Asked for ourselves: the asker is talking to us; the closest peers help it still.
        } else if (auto addrs = addrs_of(*peer); !addrs.empty()) {
          reply.closer_peers.push_back(
              PeerEntry{*peer, std::move(addrs), Connectedness::not_connected});
          break;
        }
      }
      reply.closer_peers = closer_peers(request.key, from, addrs_of);
      break;
    }
    case MessageType::get_value: {
      if (request.key.empty()) {
        out.error = make_error_code(errc::bad_key);
        return out;
      }
      if (auto r = records_.get(request.key, now_ns)) {
        reply.record = Record{request.key, std::move(r->value), {}};
      }
      reply.closer_peers = closer_peers(request.key, from, addrs_of);
      break;
    }
    case MessageType::put_value: {
      if (!request.record || request.record->key != request.key || request.key.empty()) {
        out.error = make_error_code(errc::bad_record);
        return out;
      }
      if (auto ec = records_.put(request.key, request.record->value, from, now_ns)) {
        out.error = ec;
        return out;
      }
      reply.record = request.record;  // the echo says it was stored
      break;
    }
    case MessageType::add_provider: {
      if (!wire::Multihash::from_bytes(request.key)) {
        out.error = make_error_code(errc::bad_key);
        return out;
      }
      bool any = false;
      for (const auto& p : request.provider_peers) {
        if (p.id != from) continue;  // a peer announces only itself
        any = true;
        if (auto ec = providers_.add(request.key, from, now_ns)) {
          out.error = ec;
          return out;
        }
        out.learned.push_back(p);
      }
      if (!any) out.error = make_error_code(errc::bad_provider);
      return out;  // ADD_PROVIDER has no answer
    }
    case MessageType::get_providers: {
      if (!wire::Multihash::from_bytes(request.key)) {
        out.error = make_error_code(errc::bad_key);
        return out;
      }
      for (const auto& p : providers_.get(request.key, now_ns, table_.k())) {
        auto addrs = addrs_of(p);
        reply.provider_peers.push_back(
            PeerEntry{p, std::move(addrs), Connectedness::not_connected});
      }
      reply.closer_peers = closer_peers(request.key, from, addrs_of);
      break;
    }
  }
  out.reply = std::move(reply);
  return out;
}

}  // namespace bb::dht

#include "bb/dht/records.hpp"

#include "bb/dht/error.hpp"
#include "bb/proto/kad.pb.h"

#include <algorithm>
#include <cstring>

namespace bb::dht {

namespace {

constexpr std::string_view kPk = "/pk/";
constexpr std::string_view kBb = "/bb/";
constexpr std::string_view kBbContext = "bb-dht-record:";
constexpr std::size_t kMaxNameBytes = 200;

bool starts_with(wire::ByteView key, std::string_view prefix) {
  return key.size() >= prefix.size() && std::memcmp(key.data(), prefix.data(), prefix.size()) == 0;
}

wire::Bytes bb_signed_bytes(wire::ByteView key, std::uint64_t seq, wire::ByteView data) {
  wire::Bytes out;
  out.reserve(kBbContext.size() + key.size() + 8 + data.size());
  out.insert(out.end(), kBbContext.begin(), kBbContext.end());
  out.insert(out.end(), key.begin(), key.end());
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(seq >> (i * 8)));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// The author named by a /bb/ key, when its shape is right.
std::optional<wire::PeerId> bb_author(wire::ByteView key) {
  const std::string_view s(reinterpret_cast<const char*>(key.data()), key.size());
  if (!s.starts_with(kBb)) return std::nullopt;
  const auto rest = s.substr(kBb.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const auto name = rest.substr(slash + 1);
  if (name.empty() || name.size() > kMaxNameBytes || name.find('\0') != std::string_view::npos)
    return std::nullopt;
  auto peer = wire::PeerId::parse(rest.substr(0, slash));
  if (!peer) return std::nullopt;
  return *peer;
}

}  // namespace

std::string pk_key(const wire::PeerId& peer) {
  return std::string(kPk) + wire::to_string(peer.bytes());
}

std::string bb_key(const wire::PeerId& author, std::string_view name) {
  return std::string(kBb) + author.to_base58() + "/" + std::string(name);
}

wire::Bytes make_bb_record(const wire::Ed25519KeyPair& author, std::string_view key,
                           wire::ByteView data, std::uint64_t seq) {
  kad::BbRecord r;
  const wire::Bytes pub = author.public_key().to_protobuf();
  r.set_public_key(wire::to_string(pub));
  r.set_data(wire::to_string(data));
  r.set_seq(seq);
  const auto sig = author.sign(bb_signed_bytes(wire::as_bytes(key), seq, data));
  r.set_signature(std::string(sig.begin(), sig.end()));
  const std::string s = r.SerializeAsString();
  return wire::Bytes(s.begin(), s.end());
}

std::optional<BbRecordView> open_bb_record(wire::ByteView key, wire::ByteView value) {
  auto author = bb_author(key);
  if (!author) return std::nullopt;
  kad::BbRecord r;
  if (!r.ParseFromArray(value.data(), static_cast<int>(value.size())) || r.public_key().empty())
    return std::nullopt;
  auto pub = wire::Ed25519PublicKey::from_protobuf(wire::as_bytes(r.public_key()));
  if (!pub || pub->peer_id() != *author) return std::nullopt;
  if (!pub->verify(bb_signed_bytes(key, r.seq(), wire::as_bytes(r.data())),
                   wire::as_bytes(r.signature())))
    return std::nullopt;
  return BbRecordView{*author, wire::Bytes(r.data().begin(), r.data().end()), r.seq()};
}

boost::system::error_code validate_key(wire::ByteView key) {
  if (starts_with(key, kPk)) {
    if (!wire::PeerId::from_bytes(key.subspan(kPk.size()))) return make_error_code(errc::bad_key);
    return {};
  }
  if (starts_with(key, kBb))
    return bb_author(key) ? boost::system::error_code{} : make_error_code(errc::bad_key);
  return make_error_code(errc::unknown_namespace);
}

boost::system::error_code validate_record(wire::ByteView key, wire::ByteView value) {
  if (starts_with(key, kPk)) {
    auto peer = wire::PeerId::from_bytes(key.subspan(kPk.size()));
    if (!peer) return make_error_code(errc::bad_key);
    if (value.empty() || wire::PeerId::from_public_key_bytes(value) != *peer)
      return make_error_code(errc::bad_record);
    return {};
  }
  if (starts_with(key, kBb)) {
    if (!bb_author(key)) return make_error_code(errc::bad_key);
    if (!open_bb_record(key, value)) return make_error_code(errc::bad_record);
    return {};
  }
  return make_error_code(errc::unknown_namespace);
}

bool better_record(wire::ByteView key, wire::ByteView candidate, wire::ByteView current) {
  if (!starts_with(key, kBb)) return false;
  kad::BbRecord a, b;
  if (!a.ParseFromArray(candidate.data(), static_cast<int>(candidate.size()))) return false;
  if (!b.ParseFromArray(current.data(), static_cast<int>(current.size()))) return true;
  if (a.seq() != b.seq()) return a.seq() > b.seq();
  return std::lexicographical_compare(current.begin(), current.end(), candidate.begin(),
                                      candidate.end());
}

boost::system::error_code RecordStore::put(wire::ByteView key, wire::ByteView value,
                                           const wire::PeerId& from, std::uint64_t now_ns) {
  if (auto ec = validate_record(key, value)) return ec;
  const auto ttl = static_cast<std::uint64_t>(std::max<std::int64_t>(0, limits_.ttl.count()));
  const wire::Bytes k(key.begin(), key.end());
  auto it = records_.find(k);
  if (it != records_.end()) {
    if (it->second.expires_ns > now_ns && !better_record(key, value, it->second.value)) return {};
    erase(it);
  }
  if (records_.size() >= limits_.max_records ||
      bytes_ + key.size() + value.size() > limits_.max_bytes)
    return make_error_code(errc::store_full);
  auto& count = per_peer_[from];
  if (count >= limits_.max_records_per_peer) return make_error_code(errc::store_full);
  ++count;
  bytes_ += key.size() + value.size();
  records_.emplace(
      k, StoredRecord{wire::Bytes(value.begin(), value.end()), from, now_ns, now_ns + ttl});
  return {};
}

std::optional<StoredRecord> RecordStore::get(wire::ByteView key, std::uint64_t now_ns) const {
  auto it = records_.find(wire::Bytes(key.begin(), key.end()));
  if (it == records_.end() || it->second.expires_ns <= now_ns) return std::nullopt;
  return it->second;
}

void RecordStore::erase(std::map<wire::Bytes, StoredRecord>::iterator it) {
  auto p = per_peer_.find(it->second.from);
  if (p != per_peer_.end() && --p->second == 0) per_peer_.erase(p);
  bytes_ -= it->first.size() + it->second.value.size();
  records_.erase(it);
}

std::size_t RecordStore::sweep(std::uint64_t now_ns) {
  std::size_t dropped = 0;
  for (auto it = records_.begin(); it != records_.end();) {
    auto next = std::next(it);
    if (it->second.expires_ns <= now_ns) {
      erase(it);
      ++dropped;
    }
    it = next;
  }
  return dropped;
}

std::size_t RecordStore::records_of(const wire::PeerId& from) const {
  auto it = per_peer_.find(from);
  return it == per_peer_.end() ? 0 : it->second;
}

}  // namespace bb::dht

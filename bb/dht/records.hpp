// Value records (PUT_VALUE / GET_VALUE) and their validators. A record is stored only if the
// validator of its key's namespace accepts it, and of two records for one key the validator
// selects the better. Two namespaces:
//   /pk/<PeerId bytes>         the peer's public key (libp2p protobuf): valid when it is the key
//                              of that PeerId.
//   /bb/<PeerId base58>/<name> a BbRecord (proto/kad.proto) signed by that PeerId's key: the
//                              data, a sequence number (the higher wins) and the signature over
//                              "bb-dht-record:" ‖ key ‖ seq (8 bytes, big-endian) ‖ data. Only
//                              the author can write under its own PeerId.
// The store is bounded in records, bytes, and records per putting peer; records expire `ttl`
// after they were stored. Sans-IO: times are passed in.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/peer_id.hpp"

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bb::dht {

// Whether `key` is a key of a namespace we validate, well formed: errc::unknown_namespace,
// errc::bad_key.
boost::system::error_code validate_key(wire::ByteView key);
// errc::unknown_namespace, errc::bad_record, errc::bad_key.
boost::system::error_code validate_record(wire::ByteView key, wire::ByteView value);
// Of two valid records for `key`, is `candidate` better than `current`? (/bb/: higher seq, then
// the larger value bytes for a stable choice; /pk/: never, they are equal.)
bool better_record(wire::ByteView key, wire::ByteView candidate, wire::ByteView current);

std::string pk_key(const wire::PeerId& peer);  // "/pk/" ‖ the PeerId's bytes
std::string bb_key(const wire::PeerId& author, std::string_view name);
// A signed /bb/ record value. `name` is the part after /bb/<author>/ (1..200 bytes, no NUL).
wire::Bytes make_bb_record(const wire::Ed25519KeyPair& author, std::string_view key,
                           wire::ByteView data, std::uint64_t seq);
struct BbRecordView {
  wire::PeerId author;
  wire::Bytes data;
  std::uint64_t seq = 0;
};
// The content of a valid /bb/ record (validate_record first), nullopt otherwise.
std::optional<BbRecordView> open_bb_record(wire::ByteView key, wire::ByteView value);

struct RecordLimits {
  std::size_t max_records = 16'384;
  std::size_t max_bytes = std::size_t{64} << 20;  // keys + values
  std::size_t max_records_per_peer = 64;          // stored on behalf of one putting peer
  std::chrono::nanoseconds ttl = std::chrono::hours(48);
};

struct StoredRecord {
  wire::Bytes value;
  wire::PeerId from;  // who put it (ourselves for our own)
  std::uint64_t stored_ns = 0;
  std::uint64_t expires_ns = 0;
};

class RecordStore {
 public:
  explicit RecordStore(RecordLimits limits = {}) : limits_(limits) {}

  // Validates, then stores unless a better record is held already (then nothing changes and
  // no error). errc::store_full when a bound would be passed; validator errors as above.
  boost::system::error_code put(wire::ByteView key, wire::ByteView value, const wire::PeerId& from,
                                std::uint64_t now_ns);
  std::optional<StoredRecord> get(wire::ByteView key, std::uint64_t now_ns) const;
  std::size_t sweep(std::uint64_t now_ns);

  std::size_t size() const noexcept { return records_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t records_of(const wire::PeerId& from) const;

 private:
  void erase(std::map<wire::Bytes, StoredRecord>::iterator it);

  RecordLimits limits_;
  std::map<wire::Bytes, StoredRecord> records_;
  std::unordered_map<wire::PeerId, std::size_t> per_peer_;
  std::size_t bytes_ = 0;
};

}  // namespace bb::dht

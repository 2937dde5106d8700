// What flows through a pipeline, and how a stage says no.
#pragma once

#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bb::runtime {

enum class Direction : std::uint8_t { tx, rx };

// The placeholder PeerId of a default-constructed Message (PeerId::from_u64(0)), built once:
// copying it is much cheaper than building a PeerId for every message.
inline const wire::PeerId& unset_peer() {
  static const wire::PeerId peer = wire::PeerId::from_u64(0);
  return peer;
}

// One message on its way out to one destination peer (tx) or one delivered fill on its way in
// (rx). The payload is a view: the caller that runs the pipeline owns the bytes and keeps them
// alive until the run completes. Gates never change the payload; they pass it through.
struct Message {
  Direction direction = Direction::tx;
  // tx: the destination; rx: the authenticated remote that delivered it.
  wire::PeerId peer = unset_peer();
  // The author (rx: the envelope's src_peer_bytes when present, else `peer`; tx: ourselves).
  // Relays keep it, so dedup recognises a message that arrives by two paths. On rx an author
  // other than `peer` has been proven by its origin signature before the pipeline runs.
  wire::PeerId origin = unset_peer();
  // Per-origin message id (the envelope's correlation token; random, never 0 from bb).
  std::uint64_t message_id = 0;
  std::uint32_t fill_index = 0;
  // Where it goes inside the receiver: `/site/<id>` or `/component/<c>/op/<name>` bytes.
  wire::ByteView dest_suffix;
  wire::ByteView payload;
  bool trigger_only = false;
  std::uint64_t type_hash = 0;
  // The origin's Ed25519 signature over the message (wire/envelope.hpp, OriginFields), or
  // empty. tx: sent in the fill (a relayable message, or a forward of one); rx: verified by the
  // Node before the pipeline runs, so a stage may rely on `origin` being the author.
  wire::ByteView origin_signature;
  // Relative deadlines: the budget counts from `start_ns` (dispatch for tx, arrival for rx).
  // 0 means no budget.
  std::uint64_t start_ns = 0;
  std::uint64_t budget_ns = 0;
  // tx: sent as the RESPONSE to the request `message_id` (the envelope's correlation kind);
  // rx: it arrived as one.
  bool response = false;
  // What dest_suffix, payload and origin_signature view, when someone shares it (rx: the
  // decoded envelope): a stage that keeps the message past the run keeps this and the views,
  // instead of copying the bytes. Null: the bytes belong to the caller for the run only.
  std::shared_ptr<const void> storage;
  // `storage` holds little besides these bytes (rx: one block for the small messages of a
  // batch), so keeping it is cheaper than copying them; else it may be a whole envelope.
  bool storage_is_compact = false;
};

// The kinds of the original's OpError, for callers that branch on the class of a denial.
enum class DenyKind : std::uint8_t {
  blocked,           // blocklisted, not_allowlisted
  cooldown,          // backoff window still open
  unhealthy,         // peer marked down or suspected by the failure detector
  duplicate,         // already delivered
  timeout,           // deadline_exceeded
  bad_input,         // the message cannot be processed as given
  execution_failed,  // the stage failed (e.g. the transport could not send)
  other,
};

// Stable reason labels: part of bb's interface (events, logs, metrics, tests match on them).
namespace reason {
inline constexpr std::string_view blocklisted = "blocklisted";
inline constexpr std::string_view not_allowlisted = "not_allowlisted";
inline constexpr std::string_view cooldown = "cooldown";
inline constexpr std::string_view peer_down = "peer_down";
inline constexpr std::string_view duplicate = "duplicate";
inline constexpr std::string_view deadline_exceeded = "deadline_exceeded";
inline constexpr std::string_view cancelled = "cancelled";
// Outcomes of the wire ops and the Node.
inline constexpr std::string_view peer_resolve_failed = "peer_resolve_failed";  // no address
inline constexpr std::string_view peer_unreachable = "peer_unreachable";        // dial or handshake
inline constexpr std::string_view queue_full = "queue_full";  // no room before the deadline
inline constexpr std::string_view connection_lost = "connection_lost";  // before the receipt
inline constexpr std::string_view no_subscriber = "no_subscriber";      // nobody takes it
inline constexpr std::string_view stopped = "stopped";                  // the node stopped
// The sending peer (or the whole node) is over its memory limit in the resource manager and has
// nothing waiting in the inboxes whose reading would make room.
inline constexpr std::string_view resource_limit = "resource_limit";
// Authenticated origins: a fill that names another author than the connection's peer without
// that author's valid signature is refused on receipt (`forged_origin`); forward() of another
// author's message that carries no signature is denied before it is sent (`unsigned_origin`).
inline constexpr std::string_view forged_origin = "forged_origin";
inline constexpr std::string_view unsigned_origin = "unsigned_origin";
// Request/response (node/requests.hpp): nobody serves the requested name; a response nobody
// awaits (unknown or late token, or from another peer than the one asked); no response in time.
inline constexpr std::string_view no_service = "no_service";
inline constexpr std::string_view unknown_request = "unknown_request";
inline constexpr std::string_view timeout = "timeout";
}  // namespace reason

// Why a stage stopped a message. Downstream stages do not run; the caller is told.
struct Denial {
  DenyKind kind = DenyKind::other;
  std::string_view reason;  // a stable label (static storage)
  std::string detail;       // for people: which peer, how long, which stage
  std::string stage;        // filled in by the pipeline: the stage's name
};

// nullopt: the stage let the message through.
using Verdict = std::optional<Denial>;

}  // namespace bb::runtime

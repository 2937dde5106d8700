// bb.chat/AuthorGateRx: a topic validator that lets a message through only if the Node would
// hear its author directly: the author (Message::origin, proven by the message's signature) is
// checked against the Node's blocklist and allowlist, as PeerHealthGateRx checks the peer that
// delivered it. A denial is of kind `blocked`, so Gossipsub ignores the message: not shown, not
// relayed, and no penalty for the neighbour that relayed it (it did nothing wrong).
//
//   ps.set_validators(room, {runtime::make_node(kAuthorGateRx.domain, kAuthorGateRx.op_type)});
//
// The op registers itself when this file's object is linked: referring to kAuthorGateRx does so.
#pragma once

#include "bb/syscalls/ops.hpp"

namespace bb::chat {

extern const syscalls::OpId kAuthorGateRx;  // ("bb.chat", "AuthorGateRx")

}  // namespace bb::chat

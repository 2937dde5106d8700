// Shared set-up of the syscalls gate tests: one Node's peer tables on a manual clock, pipelines
// built from NodeProtos through the global op registry, and runs under the async test harness.
// Single-threaded like the tables it drives; every run_async call uses a fresh io_context, so no
// sleeper may be left on the clock when a run returns.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/proto/onnx.pb.h"
#include "bb/runtime/error.hpp"
#include "bb/runtime/events.hpp"
#include "bb/runtime/message.hpp"
#include "bb/runtime/node_builder.hpp"
#include "bb/runtime/op_registry.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/runtime/pipeline.hpp"
#include "bb/syscalls/ops.hpp"
#include "bb/wire/bytes.hpp"
#include "bb/wire/peer_id.hpp"
#include "tests/support/async_test.hpp"

#include <boost/system/system_error.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bb::syscalls::gate_test {

inline constexpr std::uint64_t kMs = 1'000'000;
inline constexpr std::uint64_t kSec = 1'000 * kMs;
// Every gate run here completes on virtual time; this real-time limit only catches hangs.
inline constexpr std::chrono::milliseconds kRunLimit = std::chrono::seconds(5);

inline wire::PeerId peer(std::uint64_t n) {
  return wire::PeerId::from_u64(n);
}

inline bb::onnx::NodeProto node(const OpId& op, std::string_view name = {}) {
  return runtime::make_node(op.domain, op.op_type, name);
}

// `times` failed sends to `p`: backoff windows, and past the governor's threshold, down.
inline void fail_sends(runtime::PeerTables& tables, const wire::PeerId& p, int times) {
  for (int i = 0; i < times; ++i) tables.on_send_failed(p, "peer_unreachable", "test failure");
}

// `op` with policy "drop": denied at once inside a backoff window instead of waiting for its end
// (PeerHealthGateTx and BackoffGateTx wait by default).
inline bb::onnx::NodeProto dropping(const OpId& op, std::string_view name = {}) {
  auto n = node(op, name);
  runtime::set_attribute(n, "policy", "drop");
  return n;
}

// The build error of `nodes`, or nullopt if the pipeline built.
inline std::optional<boost::system::system_error> build_error(
    const std::vector<bb::onnx::NodeProto>& nodes, const runtime::StageContext& ctx) {
  try {
    (void)runtime::Pipeline::build(nodes, ctx);
  } catch (const boost::system::system_error& e) {
    return e;
  }
  return std::nullopt;
}

class GateTest : public ::testing::Test {
 protected:
  runtime::Pipeline build(const std::vector<bb::onnx::NodeProto>& nodes) {
    return runtime::Pipeline::build(nodes, ctx_);
  }
  runtime::Pipeline build(const bb::onnx::NodeProto& single) {
    return build(std::vector<bb::onnx::NodeProto>{single});
  }
  runtime::Pipeline build(const OpId& op) { return build(node(op)); }

  // Runs `msg` through `pipeline` to completion; fails the test if the run would need the
  // clock to move (nothing advances it here).
  runtime::Verdict run(const runtime::Pipeline& pipeline, runtime::Message& msg) {
    return bb::test::run_async(pipeline.run(msg), kRunLimit);
  }

  // An outbound message to peer `to`, carrying payload_.
  runtime::Message tx(std::uint64_t to) {
    runtime::Message msg;
    msg.direction = runtime::Direction::tx;
    msg.peer = peer(to);
    msg.origin = peer(0);
    msg.message_id = 1;
    msg.payload = payload_;
    return msg;
  }

  // Fill `fill` of message `id` authored by `origin`, delivered by `from`, carrying `payload`.
  runtime::Message rx(std::uint64_t from, std::uint64_t origin, std::uint64_t id,
                      std::uint32_t fill = 0, std::string_view payload = "hello") {
    runtime::Message msg;
    msg.direction = runtime::Direction::rx;
    msg.peer = peer(from);
    msg.origin = peer(origin);
    msg.message_id = id;
    msg.fill_index = fill;
    msg.payload = wire::as_bytes(payload);
    return msg;
  }

  // A passing gate hands the caller's bytes on untouched: same view, same contents.
  void expect_payload_is(const runtime::Message& msg, wire::ByteView original,
                         std::string_view contents) {
    EXPECT_EQ(msg.payload.data(), original.data());
    EXPECT_EQ(msg.payload.size(), original.size());
    EXPECT_EQ(wire::as_chars(msg.payload), contents);
  }

  // ASSERT-style check usable as `ASSERT_NO_FATAL_FAILURE(expect_denied(...))`.
  static void expect_denied(const runtime::Verdict& verdict, runtime::DenyKind kind,
                            std::string_view reason, std::string_view stage) {
    ASSERT_TRUE(verdict.has_value()) << "expected a `" << reason << "` denial, got a pass";
    EXPECT_EQ(verdict->reason, reason) << verdict->detail;
    EXPECT_EQ(verdict->kind, kind) << verdict->detail;
    EXPECT_EQ(verdict->stage, stage) << verdict->detail;
  }
  static void expect_allowed(const runtime::Verdict& verdict) {
    EXPECT_FALSE(verdict.has_value())
        << "denied `" << verdict->reason << "` by " << verdict->stage << ": " << verdict->detail;
  }

  std::vector<runtime::Event> drain_events() {
    std::vector<runtime::Event> out;
    while (auto e = events_.try_next()) out.push_back(std::move(*e));
    return out;
  }

  static constexpr std::string_view kPayloadText = "payload bytes";
  const wire::ByteView payload_ = wire::as_bytes(kPayloadText);

  async::ManualClock clock_;
  runtime::EventQueue events_;
  runtime::PeerTables tables_{clock_, events_};
  runtime::StageContext ctx_{clock_, tables_};
};

}  // namespace bb::syscalls::gate_test

// custom_op: register your own op and put it into a TX pipeline next to bb's gates.
//
// The op, example.MaxPayload, denies messages whose payload is longer than its `max_bytes`
// attribute. The pipeline is PeerHealthGateTx -> example.MaxPayload -> BackoffGateTx ->
// example.Print (a stand-in for wire.Send that prints what would go out).
//
// Usage: custom_op [--max-bytes N]   (default 8)
#include "bb/async/clock.hpp"
#include "bb/runtime/attributes.hpp"
#include "bb/runtime/events.hpp"
#include "bb/runtime/node_builder.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/runtime/pipeline.hpp"
#include "bb/syscalls/ops.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace asio = boost::asio;
using namespace bb;

// [op] One op, one file in a real project: its identity, its stage, its registration.
namespace example {

constexpr std::string_view kDomain = "example";
constexpr std::string_view kMaxPayload = "MaxPayload";

class MaxPayload final : public runtime::Stage {
 public:
  explicit MaxPayload(const bb::onnx::NodeProto& node)
      : Stage(runtime::stage_name(node)),
        max_bytes_(runtime::uint_attribute(node, "max_bytes").value_or(1024)) {}

  asio::awaitable<runtime::Verdict> invoke(runtime::Message& msg) override {
    if (msg.payload.size() > max_bytes_) {
      co_return runtime::Denial{
          runtime::DenyKind::bad_input,
          "payload_too_large",
          std::to_string(msg.payload.size()) + " bytes > " + std::to_string(max_bytes_),
          {}};
    }
    co_return std::nullopt;  // the fast path: no suspension
  }

 private:
  std::uint64_t max_bytes_;  // parsed once, when the pipeline is built
};

std::unique_ptr<runtime::Stage> make_max_payload(const bb::onnx::NodeProto& node,
                                                 const runtime::StageContext&) {
  return std::make_unique<MaxPayload>(node);
}

BB_REGISTER_OP(max_payload, kDomain, kMaxPayload, &make_max_payload);

}  // namespace example
// [op]

namespace example {

class Print final : public runtime::Stage {
 public:
  using Stage::Stage;
  asio::awaitable<runtime::Verdict> invoke(runtime::Message& msg) override {
    std::cout << "send " << msg.peer.to_base58() << " \"" << wire::as_chars(msg.payload) << "\"\n";
    co_return std::nullopt;
  }
};

std::unique_ptr<runtime::Stage> make_print(const bb::onnx::NodeProto& node,
                                           const runtime::StageContext&) {
  return std::make_unique<Print>(runtime::stage_name(node));
}

BB_REGISTER_OP(print, kDomain, "Print", &make_print);

asio::awaitable<void> send_all(const runtime::Pipeline& tx, runtime::PeerTables& tables) {
  const wire::PeerId alice = wire::PeerId::from_u64(1), bob = wire::PeerId::from_u64(2);
  tables.block(bob);
  struct Send {
    wire::PeerId to;
    std::string text;
  };
  for (const auto& [to, text] :
       {Send{alice, "hello"}, Send{alice, "a rather long message"}, Send{bob, "hi bob"}}) {
    runtime::Message msg;
    msg.peer = to;
    msg.payload = wire::as_bytes(text);
    if (auto denial = co_await tx.run(msg)) {
      std::cout << "denied by " << denial->stage << ": " << denial->reason << " (" << denial->detail
                << ")\n";
    }
  }
}

}  // namespace example

int main(int argc, char** argv) {
  std::int64_t max_bytes = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--max-bytes" && i + 1 < argc) {
      max_bytes = std::atoll(argv[++i]);
    } else {
      std::cerr << "usage: custom_op [--max-bytes N]\n";
      return arg == "--help" ? 0 : 2;
    }
  }

  async::SteadyClock clock;
  runtime::EventQueue events;
  runtime::PeerTables tables(clock, events);

  // [pipeline] The default TX gates with the custom op inserted after the health gate.
  auto nodes = syscalls::default_tx_gates();
  auto limit = runtime::make_node(example::kDomain, example::kMaxPayload, "max-payload");
  runtime::set_attribute(limit, "max_bytes", max_bytes);
  nodes.insert(nodes.begin() + 1, limit);
  nodes.push_back(runtime::make_node(example::kDomain, "Print"));
  const runtime::StageContext ctx{clock, tables};
  const auto tx = runtime::Pipeline::build(nodes, ctx);  // throws on an unknown op or attribute
  // [pipeline]

  asio::io_context io(1);
  asio::co_spawn(io, example::send_all(tx, tables), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  return 0;
}

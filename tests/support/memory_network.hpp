// An in-memory transport double for pipeline tests: a set of nodes, each with its own tables,
// TX pipeline and RX pipeline, exchanging messages without sockets. A send runs the
// destination's RX pipeline inline and reports its verdict back, so a test can account for
// every message: delivered exactly once, or reported to the sender with its reason.
//
// Fault injection: unreachable nodes (send fails with `peer_unreachable`, which feeds backoff and
// health), and duplicated deliveries (the network delivers a second copy, which DedupGateRx must
// absorb).
//
// The stage "MemorySend" ends a TX pipeline (as the Node's own send stage ends its): it hands the
// message to the network and feeds the outcome into the sender's PeerTables.
#pragma once

#include "bb/async/clock.hpp"
#include "bb/runtime/events.hpp"
#include "bb/runtime/op_registry.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/runtime/pipeline.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bb::test {

inline constexpr std::string_view kTestDomain = "bb.test";
inline constexpr std::string_view kMemorySend = "MemorySend";

struct Delivered {
  wire::PeerId from;
  wire::PeerId origin;
  std::uint64_t message_id;
  std::string payload;
};

class MemoryNetwork;

class MemoryNode final {
 public:
  MemoryNode(MemoryNetwork& net, wire::PeerId id, async::Clock& clock);

  // Builds the pipelines; `tx_gates` get the MemorySend op appended.
  void build(std::vector<bb::onnx::NodeProto> tx_gates, const std::vector<bb::onnx::NodeProto>& rx);

  // Runs the TX pipeline for one message to `to`. nullopt: delivered (the receiver's RX
  // pipeline let it through); else the denial, from either side.
  boost::asio::awaitable<runtime::Verdict> send(const wire::PeerId& to, std::string payload,
                                                std::uint64_t message_id);

  boost::asio::awaitable<runtime::Verdict> send(const runtime::Message& msg);

  const wire::PeerId& id() const noexcept { return id_; }
  runtime::PeerTables& tables() noexcept { return tables_; }
  runtime::EventQueue& events() noexcept { return events_; }
  const std::vector<Delivered>& inbox() const noexcept { return inbox_; }

 private:
  friend class MemoryNetwork;
  boost::asio::awaitable<runtime::Verdict> receive(const runtime::Message& msg);

  MemoryNetwork& net_;
  wire::PeerId id_;
  async::Clock& clock_;
  runtime::EventQueue events_;
  runtime::PeerTables tables_;
  std::unique_ptr<runtime::Pipeline> tx_;
  std::unique_ptr<runtime::Pipeline> rx_;
  std::vector<Delivered> inbox_;
};

class MemoryNetwork {
 public:
  explicit MemoryNetwork(async::Clock& clock) : clock_(clock) {}

  MemoryNode& add(const wire::PeerId& id);
  MemoryNode* find(const wire::PeerId& id);

  // An unreachable node's sends and receives fail with `peer_unreachable`. Making it reachable
  // again stands for it reconnecting: every other node learns of the connection
  // (PeerTables::on_connected), as a dial or accept would report it.
  void set_reachable(const wire::PeerId& id, bool reachable);
  // Every n-th delivery (n > 0) is delivered twice; 0 turns it off.
  void duplicate_every(std::size_t n) { duplicate_every_ = n; }

  std::size_t duplicates_injected() const noexcept { return duplicates_injected_; }
  // Second copies that got through the receiver's RX pipeline: each is a message delivered twice.
  std::size_t duplicates_delivered() const noexcept { return duplicates_delivered_; }

 private:
  friend class MemoryNode;
  async::Clock& clock_;
  std::map<wire::PeerId, std::unique_ptr<MemoryNode>> nodes_;
  std::map<wire::PeerId, bool> unreachable_;
  std::size_t duplicate_every_ = 0;
  std::size_t deliveries_ = 0;
  std::size_t duplicates_injected_ = 0;
  std::size_t duplicates_delivered_ = 0;
};

}  // namespace bb::test

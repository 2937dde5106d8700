#include "tests/support/memory_network.hpp"

#include "bb/runtime/attributes.hpp"
#include "bb/runtime/node_builder.hpp"
#include "bb/runtime/stage.hpp"

namespace bb::test {

namespace {

using namespace runtime;

// The test twin of the Node's send stage: the last stage of a MemoryNode's TX pipeline.
class MemorySend final : public Stage {
 public:
  MemorySend(PeerTables& peers, MemoryNode& transport)
      : Stage(std::string(kMemorySend)), peers_(peers), transport_(&transport) {}

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    Verdict verdict = co_await transport_->send(msg);
    if (!verdict) {
      peers_.on_send_succeeded(msg.peer);
    } else if (verdict->kind == DenyKind::execution_failed) {
      peers_.on_send_failed(msg.peer, verdict->reason, verdict->detail, msg.message_id);
    }
    co_return verdict;
  }

 private:
  PeerTables& peers_;
  MemoryNode* transport_;
};

}  // namespace

MemoryNode::MemoryNode(MemoryNetwork& net, wire::PeerId id, async::Clock& clock)
    : net_(net), id_(std::move(id)), clock_(clock), tables_(clock, events_) {}

void MemoryNode::build(std::vector<bb::onnx::NodeProto> tx_gates,
                       const std::vector<bb::onnx::NodeProto>& rx) {
  const StageContext ctx{clock_, tables_};
  tx_ = std::make_unique<Pipeline>(
      Pipeline::build(tx_gates, ctx, std::make_unique<MemorySend>(tables_, *this)));
  rx_ = std::make_unique<Pipeline>(Pipeline::build(rx, ctx));
}

boost::asio::awaitable<Verdict> MemoryNode::send(const wire::PeerId& to, std::string payload,
                                                 std::uint64_t message_id) {
  Message msg;
  msg.direction = Direction::tx;
  msg.peer = to;
  msg.origin = id_;
  msg.message_id = message_id;
  msg.payload = wire::as_bytes(payload);
  msg.start_ns = clock_.now_ns();
  Verdict verdict = co_await tx_->run(msg);
  if (verdict && verdict->kind != DenyKind::execution_failed) {
    tables_.on_send_denied(to, *verdict, message_id);
  }
  co_return verdict;
}

boost::asio::awaitable<Verdict> MemoryNode::send(const Message& msg) {
  auto it = net_.unreachable_.find(msg.peer);
  MemoryNode* dest = net_.find(msg.peer);
  if (dest == nullptr || (it != net_.unreachable_.end() && it->second)) {
    co_return Denial{
        DenyKind::execution_failed, "peer_unreachable", "no route to " + msg.peer.to_base58(), {}};
  }
  Message in = msg;
  in.direction = Direction::rx;
  in.peer = id_;  // the authenticated sender, as a connection would report it
  in.start_ns = clock_.now_ns();
  Verdict verdict = co_await dest->receive(in);
  ++net_.deliveries_;
  if (net_.duplicate_every_ != 0 && net_.deliveries_ % net_.duplicate_every_ == 0) {
    ++net_.duplicates_injected_;
    Verdict again = co_await dest->receive(in);
    if (!again) ++net_.duplicates_delivered_;
  }
  co_return verdict;
}

boost::asio::awaitable<Verdict> MemoryNode::receive(const Message& msg) {
  Message in = msg;
  Verdict verdict = co_await rx_->run(in);
  if (!verdict) {
    inbox_.push_back(
        Delivered{in.peer, in.origin, in.message_id, std::string(wire::as_chars(in.payload))});
    tables_.on_heartbeat(in.peer);
  }
  co_return verdict;
}

MemoryNode& MemoryNetwork::add(const wire::PeerId& id) {
  auto node = std::make_unique<MemoryNode>(*this, id, clock_);
  auto& ref = *node;
  nodes_[id] = std::move(node);
  return ref;
}

void MemoryNetwork::set_reachable(const wire::PeerId& id, bool reachable) {
  unreachable_[id] = !reachable;
  if (!reachable) return;
  for (auto& [other, node] : nodes_) {
    if (other != id) node->tables().on_connected(id);
  }
}

MemoryNode* MemoryNetwork::find(const wire::PeerId& id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : it->second.get();
}

}  // namespace bb::test

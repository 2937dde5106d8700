#include "examples/chat/author_gate.hpp"

#include "bb/runtime/attributes.hpp"
#include "bb/runtime/op_registry.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/runtime/stage.hpp"

#include <memory>
#include <string>

namespace bb::chat {

const syscalls::OpId kAuthorGateRx{"bb.chat", "AuthorGateRx"};

namespace {

class AuthorGateRx final : public runtime::Stage {
 public:
  AuthorGateRx(const bb::onnx::NodeProto& node, runtime::PeerTables& peers)
      : Stage(runtime::stage_name(node)), peers_(peers) {}

  boost::asio::awaitable<runtime::Verdict> invoke(runtime::Message& msg) override {
    if (auto d = peers_.governor().check_inbound(msg.origin); !d.allowed()) {
      co_return runtime::Denial{
          runtime::DenyKind::blocked,
          runtime::label(*d.deny),
          "author " + msg.origin.to_base58() + " denied: " + std::string(runtime::label(*d.deny)),
          {}};
    }
    co_return std::nullopt;
  }

 private:
  runtime::PeerTables& peers_;
};

std::unique_ptr<runtime::Stage> make(const bb::onnx::NodeProto& node,
                                     const runtime::StageContext& ctx) {
  return std::make_unique<AuthorGateRx>(node, ctx.peers);
}

}  // namespace

BB_REGISTER_OP(chat_author_gate_rx, kAuthorGateRx.domain, kAuthorGateRx.op_type, &make);

}  // namespace bb::chat

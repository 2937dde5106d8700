// DeadlineCheck: relative deadlines. The budget counts from the message's start (dispatch on the
// way out, arrival on the way in), fixing the original, which compared a relative budget with the
// absolute clock. The budget is the smaller of the `deadline_ns` attribute (a static budget, INT
// nanoseconds) and the message's own budget (e.g. an envelope's remaining_deadline_ns); 0 or
// absent means none.
#include "bb/syscalls/detail/gate_common.hpp"

namespace bb::syscalls {

const OpId kDeadlineCheck{kSyscallDomain, "DeadlineCheck"};

namespace {

using namespace runtime;

class DeadlineCheck final : public Stage {
 public:
  DeadlineCheck(const bb::onnx::NodeProto& node, PeerTables& peers)
      : Stage(stage_name(node)),
        static_budget_ns_(uint_attribute(node, "deadline_ns").value_or(0)),
        peers_(peers) {}

  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    Verdict verdict;
    try_invoke(msg, verdict);
    co_return verdict;
  }

  bool try_invoke(Message& msg, Verdict& verdict) override {
    verdict.reset();
    std::uint64_t budget = static_budget_ns_;
    if (msg.budget_ns != 0 && (budget == 0 || msg.budget_ns < budget)) budget = msg.budget_ns;
    if (budget == 0) return true;
    const auto now = peers_.now_ns();
    const auto elapsed = now > msg.start_ns ? now - msg.start_ns : 0;
    if (elapsed >= budget) {
      verdict =
          detail::deny(DenyKind::timeout, reason::deadline_exceeded,
                       detail::ms(elapsed) + " elapsed of a " + detail::ms(budget) + " budget");
    }
    return true;
  }

 private:
  std::uint64_t static_budget_ns_;
  PeerTables& peers_;
};

std::unique_ptr<Stage> make(const bb::onnx::NodeProto& node, const StageContext& ctx) {
  return std::make_unique<DeadlineCheck>(node, ctx.peers);
}

}  // namespace

BB_REGISTER_OP(deadline_check, kDeadlineCheck.domain, kDeadlineCheck.op_type, &make);

}  // namespace bb::syscalls

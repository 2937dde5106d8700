#include "bb/runtime/pipeline.hpp"

#include "bb/proto/onnx.pb.h"
#include "bb/runtime/attributes.hpp"
#include "bb/runtime/error.hpp"

#include <boost/system/system_error.hpp>

namespace bb::runtime {
namespace {

[[noreturn]] void throw_unknown(const bb::onnx::NodeProto& node, std::size_t index,
                                const OpRegistry& registry) {
  std::string known;
  for (const auto& op : registry.ops()) {
    if (op.domain != node.domain()) continue;
    known += known.empty() ? "" : ", ";
    known += op.op_type;
  }
  throw boost::system::system_error(make_error_code(errc::unknown_op),
                                    "pipeline node " + std::to_string(index) + ", " +
                                        describe(node) +
                                        ": no op registered under this (domain, op_type)" +
                                        (known.empty() ? "; nothing is registered in that domain"
                                                       : "; registered there: " + known));
}

}  // namespace

Pipeline::~Pipeline() = default;

Pipeline Pipeline::build(const std::vector<bb::onnx::NodeProto>& nodes, const StageContext& ctx,
                         const OpRegistry& registry) {
  if (nodes.empty()) {
    throw boost::system::system_error(make_error_code(errc::empty_pipeline),
                                      "a pipeline needs at least one node");
  }
  Pipeline pipeline;
  pipeline.stages_.reserve(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& node = nodes[i];
    if (auto conflict = registry.conflict_for(node.domain(), node.op_type()); !conflict.empty()) {
      throw boost::system::system_error(make_error_code(errc::duplicate_op),
                                        "pipeline node " + std::to_string(i) + ": " + conflict);
    }
    const OpInfo* op = registry.find(node.domain(), node.op_type());
    if (op == nullptr) throw_unknown(node, i, registry);
    pipeline.stages_.push_back(op->factory(node, ctx));
  }
  return pipeline;
}

Pipeline Pipeline::build(const std::vector<bb::onnx::NodeProto>& nodes, const StageContext& ctx,
                         std::unique_ptr<Stage> last, const OpRegistry& registry) {
  Pipeline pipeline;
  if (!nodes.empty()) pipeline = build(nodes, ctx, registry);
  if (last) pipeline.stages_.push_back(std::move(last));
  if (pipeline.stages_.empty()) {
    throw boost::system::system_error(make_error_code(errc::empty_pipeline),
                                      "a pipeline needs at least one node");
  }
  return pipeline;
}

Pipeline Pipeline::build(const bb::onnx::GraphProto& graph, const StageContext& ctx,
                         const OpRegistry& registry) {
  return build(std::vector<bb::onnx::NodeProto>(graph.node().begin(), graph.node().end()), ctx,
               registry);
}

boost::asio::awaitable<Verdict> Pipeline::run(Message& msg) const {
  Verdict verdict;
  std::size_t next = 0;
  if (try_run(msg, verdict, next)) co_return verdict;
  co_return co_await resume(msg, next);
}

bool Pipeline::try_run(Message& msg, Verdict& verdict, std::size_t& next) const {
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    if (!stages_[i]->try_invoke(msg, verdict)) {
      next = i;
      return false;
    }
    if (verdict) {
      verdict->stage = stages_[i]->name();
      while (i-- > 0) stages_[i]->undo(msg);
      return true;
    }
  }
  verdict.reset();
  return true;
}

boost::asio::awaitable<Verdict> Pipeline::resume(Message& msg, std::size_t next) const {
  for (std::size_t i = next; i < stages_.size(); ++i) {
    Verdict verdict;
    if (i == next || !stages_[i]->try_invoke(msg, verdict)) {
      verdict = co_await stages_[i]->invoke(msg);
    }
    if (verdict) {
      verdict->stage = stages_[i]->name();
      while (i-- > 0) stages_[i]->undo(msg);
      co_return verdict;
    }
  }
  co_return std::nullopt;
}

std::vector<std::string_view> Pipeline::stage_names() const {
  std::vector<std::string_view> names;
  names.reserve(stages_.size());
  for (const auto& s : stages_) names.push_back(s->name());
  return names;
}

}  // namespace bb::runtime

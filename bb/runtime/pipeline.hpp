// A pipeline: ONNX NodeProtos resolved through the op registry and compiled once into a chain
// of stages. run() passes a message through the stages in order; the first denial stops it.
#pragma once

#include "bb/runtime/message.hpp"
#include "bb/runtime/op_registry.hpp"
#include "bb/runtime/stage.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string_view>
#include <vector>

namespace bb::onnx {
class GraphProto;
}

namespace bb::runtime {

// Thread rule: built and run on the owning Node's executor. A Pipeline may run many messages
// concurrently (each run is its own coroutine); it must outlive every run. Cancelling a run
// stops it at the current stage's next suspension point.
class Pipeline {
 public:
  // Resolves and compiles `nodes` in order. Throws boost::system::system_error: unknown_op
  // ("no op ... registered; registered ops in that domain: ..."), duplicate_op, attribute
  // errors, empty_pipeline.
  static Pipeline build(const std::vector<bb::onnx::NodeProto>& nodes, const StageContext& ctx,
                        const OpRegistry& registry = OpRegistry::global());
  static Pipeline build(const bb::onnx::GraphProto& graph, const StageContext& ctx,
                        const OpRegistry& registry = OpRegistry::global());
  // `nodes` (possibly none), then `last`: a stage of the pipeline owner's own making (the
  // Node's send and deliver stages), which no NodeProto names.
  static Pipeline build(const std::vector<bb::onnx::NodeProto>& nodes, const StageContext& ctx,
                        std::unique_ptr<Stage> last,
                        const OpRegistry& registry = OpRegistry::global());

  Pipeline(Pipeline&&) noexcept = default;
  Pipeline& operator=(Pipeline&&) noexcept = default;
  ~Pipeline();

  // nullopt when every stage let the message through; else the first denial, with `stage` set,
  // after the stages before it were asked to undo what they recorded (Stage::undo).
  boost::asio::awaitable<Verdict> run(Message& msg) const;

  // run() without a coroutine as far as the stages decide at once (Stage::try_invoke): true
  // with `verdict` when the run is over, else false and `next` is the stage to go on from:
  // `co_await resume(msg, next)` finishes the run exactly as run() would have.
  bool try_run(Message& msg, Verdict& verdict, std::size_t& next) const;
  boost::asio::awaitable<Verdict> resume(Message& msg, std::size_t next) const;

  std::size_t size() const noexcept { return stages_.size(); }
  std::vector<std::string_view> stage_names() const;

 private:
  Pipeline() = default;
  std::vector<std::unique_ptr<Stage>> stages_;
};

}  // namespace bb::runtime

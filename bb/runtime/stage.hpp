// A compiled pipeline stage: one op instance with its attributes already parsed.
#pragma once

#include "bb/runtime/message.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>

namespace bb::runtime {

// invoke() is a coroutine. On the fast path it completes without suspending (a table lookup);
// it may also suspend on a timer, a queue or I/O. Stages run on their Node's executor and are
// used by one pipeline run at a time per message, but one Stage object serves every message of
// its pipeline concurrently, so per-message state belongs in the Message or the coroutine frame.
// Cancellation: a cancelled run ends at the stage's next suspension point.
class Stage {
 public:
  explicit Stage(std::string name) : name_(std::move(name)) {}
  virtual ~Stage() = default;
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  virtual boost::asio::awaitable<Verdict> invoke(Message& msg) = 0;

  // The decision without a coroutine, when the stage can make it at once: true with `verdict`
  // set, else false and the pipeline awaits invoke(), which decides as if this was never called
  // (so a stage may implement only its fast path here, e.g. "the peer is healthy: pass"). Saves
  // a coroutine frame per stage and message; a stage that never suspends decides everything
  // here. Same rules as invoke().
  virtual bool try_invoke(Message& /*msg*/, Verdict& /*verdict*/) { return false; }

  // Called, in reverse order, on every stage that let `msg` through when a later stage denied
  // it: a stage that recorded something about the message (DedupGateRx) takes it back, so a
  // retry is judged afresh. Must not fail.
  virtual void undo(const Message& /*msg*/) noexcept {}

  // The NodeProto's name, or "<op_type>" when it has none.
  std::string_view name() const noexcept { return name_; }

 private:
  std::string name_;
};

}  // namespace bb::runtime

#include "bb/runtime/op_registry.hpp"

#include "bb/async/clock.hpp"
#include "bb/runtime/attributes.hpp"
#include "bb/runtime/error.hpp"
#include "bb/runtime/events.hpp"
#include "bb/runtime/node_builder.hpp"
#include "bb/runtime/peer_tables.hpp"
#include "bb/runtime/pipeline.hpp"
#include "tests/support/async_test.hpp"

#include <gtest/gtest.h>
#include <boost/system/system_error.hpp>

namespace bb::runtime {
namespace {

// A user's custom op: denies messages whose payload is longer than its `max_bytes` attribute.
class SizeLimit final : public Stage {
 public:
  SizeLimit(const bb::onnx::NodeProto& node)
      : Stage(stage_name(node)), max_(uint_attribute(node, "max_bytes").value_or(0)) {
    if (max_ == 0) throw_attribute_error(node, "max_bytes", "is required", true);
  }
  boost::asio::awaitable<Verdict> invoke(Message& msg) override {
    if (msg.payload.size() > max_) {
      co_return Denial{DenyKind::bad_input, "too_large", "payload over the limit", {}};
    }
    co_return std::nullopt;
  }

 private:
  std::uint64_t max_;
};

std::unique_ptr<Stage> make_size_limit(const bb::onnx::NodeProto& node, const StageContext&) {
  return std::make_unique<SizeLimit>(node);
}

// Counts what reached it.
int g_reached = 0;
class Count final : public Stage {
 public:
  using Stage::Stage;
  boost::asio::awaitable<Verdict> invoke(Message&) override {
    ++g_reached;
    co_return std::nullopt;
  }
};
std::unique_ptr<Stage> make_count(const bb::onnx::NodeProto& node, const StageContext&) {
  return std::make_unique<Count>(stage_name(node));
}

struct Fixture {
  async::ManualClock clock;
  EventQueue events;
  PeerTables tables{clock, events};
  StageContext ctx{clock, tables};
  OpRegistry registry;
  Fixture() {
    EXPECT_FALSE(registry.add({"example.user", "SizeLimit", &make_size_limit, __FILE__}));
    EXPECT_FALSE(registry.add({"example.user", "Count", &make_count, __FILE__}));
  }
};

TEST(OpRegistry, FindsByDomainAndOpType) {
  Fixture f;
  EXPECT_NE(f.registry.find("example.user", "SizeLimit"), nullptr);
  EXPECT_EQ(f.registry.find("example.user", "sizelimit"), nullptr);
  EXPECT_EQ(f.registry.find("other", "SizeLimit"), nullptr);
}

TEST(OpRegistry, DuplicateRegistrationIsAnError) {
  Fixture f;
  EXPECT_EQ(f.registry.add({"example.user", "SizeLimit", &make_count, __FILE__}),
            errc::duplicate_op);
  // The first registration stays.
  EXPECT_EQ(f.registry.find("example.user", "SizeLimit")->factory, &make_size_limit);
}

TEST(Pipeline, UnknownOpFailsAtBuildTimeNamingTheNode) {
  Fixture f;
  std::vector<bb::onnx::NodeProto> nodes{make_node("example.user", "Count"),
                                         make_node("example.user", "SizeLimmit", "limit")};
  try {
    (void)Pipeline::build(nodes, f.ctx, f.registry);
    FAIL() << "expected unknown_op";
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), errc::unknown_op);
    const std::string what = e.what();
    EXPECT_NE(what.find("pipeline node 1"), std::string::npos) << what;
    EXPECT_NE(what.find("SizeLimmit 'limit' (example.user)"), std::string::npos) << what;
    EXPECT_NE(what.find("registered there: SizeLimit, Count"), std::string::npos) << what;
  }
}

TEST(Pipeline, AttributeErrorsFailAtBuildTime) {
  Fixture f;
  try {
    (void)Pipeline::build({make_node("example.user", "SizeLimit")}, f.ctx, f.registry);
    FAIL() << "expected missing_attribute";
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), errc::missing_attribute);
  }
  auto node = make_node("example.user", "SizeLimit");
  set_attribute(node, "max_bytes", "ten");  // a STRING where an INT belongs
  try {
    (void)Pipeline::build({node}, f.ctx, f.registry);
    FAIL() << "expected bad_attribute";
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), errc::bad_attribute);
    EXPECT_NE(std::string(e.what()).find("'max_bytes' must be an INT"), std::string::npos);
  }
}

TEST(Pipeline, EmptyPipelineIsAnError) {
  Fixture f;
  EXPECT_THROW((void)Pipeline::build(std::vector<bb::onnx::NodeProto>{}, f.ctx, f.registry),
               boost::system::system_error);
}

TEST(Pipeline, CustomOpInsertedIntoAPipelineDeniesAndStopsDownstream) {
  Fixture f;
  auto limit = make_node("example.user", "SizeLimit", "limit-4");
  set_attribute(limit, "max_bytes", std::int64_t{4});
  auto pipeline =
      Pipeline::build({limit, make_node("example.user", "Count", "count")}, f.ctx, f.registry);
  EXPECT_EQ(pipeline.size(), 2u);
  EXPECT_EQ(pipeline.stage_names(), (std::vector<std::string_view>{"limit-4", "count"}));

  g_reached = 0;
  const std::string small = "abcd", big = "abcde";
  Message ok;
  ok.payload = wire::as_bytes(small);
  EXPECT_FALSE(test::run_async(pipeline.run(ok)));
  EXPECT_EQ(g_reached, 1);

  Message too_big;
  too_big.payload = wire::as_bytes(big);
  Verdict v = test::run_async(pipeline.run(too_big));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->reason, "too_large");
  EXPECT_EQ(v->kind, DenyKind::bad_input);
  EXPECT_EQ(v->stage, "limit-4");
  EXPECT_EQ(g_reached, 1);  // downstream did not run
}

TEST(Pipeline, BuildsFromAGraphProto) {
  Fixture f;
  bb::onnx::GraphProto graph;
  *graph.add_node() = make_node("example.user", "Count", "a");
  *graph.add_node() = make_node("example.user", "Count", "b");
  auto pipeline = Pipeline::build(graph, f.ctx, f.registry);
  g_reached = 0;
  Message m;
  EXPECT_FALSE(test::run_async(pipeline.run(m)));
  EXPECT_EQ(g_reached, 2);
}

}  // namespace
}  // namespace bb::runtime

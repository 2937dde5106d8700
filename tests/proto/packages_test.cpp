// bb's generated protobuf code lives in bb's own packages (C++ namespaces under bb::), so a
// program may link bb beside a library that uses the same schemas' global names (Debian's
// libonnx defines ::onnx::NodeProto). Package names are not on the wire: the bytes are those the
// field numbers and types give, checked here against encodings written out by hand.
#include "bb/proto/bb_core.pb.h"
#include "bb/proto/gossipsub.pb.h"
#include "bb/proto/kad.pb.h"
#include "bb/proto/libp2p.pb.h"
#include "bb/proto/onnx.pb.h"
#include "bb/proto/peerstore.pb.h"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

TEST(ProtoPackages, EveryGeneratedMessageIsInABbPackage) {
  EXPECT_EQ(bb::onnx::NodeProto().GetTypeName(), "bb.onnx.NodeProto");
  EXPECT_EQ(bb::onnx::GraphProto().GetTypeName(), "bb.onnx.GraphProto");
  EXPECT_EQ(bb::core::WireEnvelope().GetTypeName(), "bb.core.WireEnvelope");
  EXPECT_EQ(bb::libp2p::Identify().GetTypeName(), "bb.libp2p.Identify");
  EXPECT_EQ(bb::pubsub::pb::RPC().GetTypeName(), "bb.pubsub.pb.RPC");
  EXPECT_EQ(bb::kad::Message().GetTypeName(), "bb.kad.Message");
  EXPECT_EQ(bb::peerstore::PeerStoreFile().GetTypeName(), "bb.peerstore.PeerStoreFile");
}

// An op of a pipeline: name (3), op_type (4), an INT attribute (5) and domain (7).
TEST(ProtoPackages, OnnxNodeBytesAreTheFieldNumbersOwn) {
  bb::onnx::NodeProto node;
  node.set_name("rx");
  node.set_op_type("Dedup");
  node.set_domain("ai.bb");
  auto* attr = node.add_attribute();
  attr->set_name("k");
  attr->set_i(300);
  attr->set_type(bb::onnx::AttributeProto::INT);
  const std::string expected = bytes({0x1a, 2}) + "rx" +     // name = 3, length-delimited
                               bytes({0x22, 5}) + "Dedup" +  // op_type = 4
                               bytes({0x2a, 9,               // attribute = 5: 9 bytes follow
                                      0x0a, 1, 'k',          //   name = 1
                                      0x18, 0xac, 0x02,      //   i = 3, varint 300
                                      0xa0, 0x01, 2}) +      //   type = 20 (tag 0xa0 0x01), INT = 2
                               bytes({0x3a, 5}) +
                               "ai.bb";  // domain = 7
  EXPECT_EQ(node.SerializeAsString(), expected);

  bb::onnx::NodeProto parsed;
  ASSERT_TRUE(parsed.ParseFromString(expected));
  EXPECT_EQ(parsed.op_type(), "Dedup");
  EXPECT_EQ(parsed.attribute(0).i(), 300);
}

// The envelope every /bb/wire message travels in: fills (2), remaining_deadline_ns (4) and
// schema_version (7).
TEST(ProtoPackages, WireEnvelopeBytesAreTheFieldNumbersOwn) {
  bb::core::WireEnvelope env;
  auto* fill = env.add_fills();
  fill->set_dest_suffix("/site/1");
  fill->set_payload("hi");
  env.set_remaining_deadline_ns(1000);
  env.set_schema_version(1);
  const std::string expected = bytes({0x12, 13, 0x0a, 7}) + "/site/1" + bytes({0x12, 2}) + "hi" +
                               bytes({0x20, 0xe8, 0x07, 0x38, 0x01});
  EXPECT_EQ(env.SerializeAsString(), expected);
}

}  // namespace

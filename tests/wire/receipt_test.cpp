#include "bb/wire/receipt.hpp"

#include "bb/wire/frame.hpp"

#include <gtest/gtest.h>

namespace bb::wire {
namespace {

std::vector<std::pair<std::uint64_t, std::string>> decode_all(ByteView bytes) {
  FrameReader reader(kMaxReceiptBody);
  reader.append(bytes);
  std::vector<std::pair<std::uint64_t, std::string>> out;
  while (true) {
    auto frame = reader.next();
    EXPECT_TRUE(frame);
    if (!frame || !*frame) break;
    auto r = decode_receipt(**frame);
    EXPECT_TRUE(r) << r.error().message();
    if (!r) break;
    out.emplace_back(r->count, std::string(r->reason));
  }
  return out;
}

TEST(Receipt, RoundTripsRunsOfAcceptedAndRefused) {
  Bytes out;
  append_receipt(out, 1000);
  append_receipt(out, 2, "duplicate");
  append_receipt(out, 1, "rx:blocklisted");
  using V = std::vector<std::pair<std::uint64_t, std::string>>;
  EXPECT_EQ(decode_all(out), (V{{1000, ""}, {2, "duplicate"}, {1, "rx:blocklisted"}}));
  // 1000 accepted is a 3-byte frame: length 2, varint 0xe8 0x07.
  EXPECT_EQ(to_hex(ByteView(out).first(3)), "02e807");
}

TEST(Receipt, AnInvalidLabelIsSentAsRefused) {
  Bytes out;
  append_receipt(out, 1, "Not A Label!");
  ASSERT_EQ(decode_all(out).size(), 1u);
  EXPECT_EQ(decode_all(out)[0].second, "refused");
}

TEST(Receipt, RejectsMalformedBodies) {
  const auto malformed = make_error_code(errc::receipt_malformed);
  EXPECT_EQ(decode_receipt(Bytes{}).error(), malformed);           // no count
  EXPECT_EQ(decode_receipt(Bytes{0x00}).error(), malformed);       // count 0
  EXPECT_EQ(decode_receipt(Bytes{0x80}).error(), malformed);       // truncated varint
  EXPECT_EQ(decode_receipt(Bytes{0x01, 'A'}).error(), malformed);  // not a label
  EXPECT_EQ(decode_receipt(Bytes{0x01, 'a', ' ', 'b'}).error(), malformed);
  Bytes long_reason{0x01};
  long_reason.insert(long_reason.end(), kMaxReceiptReason + 1, 'a');
  EXPECT_EQ(decode_receipt(long_reason).error(), malformed);
  long_reason.pop_back();
  EXPECT_TRUE(decode_receipt(long_reason));
}

}  // namespace
}  // namespace bb::wire

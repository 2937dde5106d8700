#include "bb/wire/frame.hpp"

#include <gtest/gtest.h>

namespace bb::wire {
namespace {

Bytes framed(std::initializer_list<std::string_view> bodies) {
  Bytes out;
  for (auto b : bodies) append_frame(out, as_bytes(b));
  return out;
}

TEST(Frame, EncodesVarintLengthThenBody) {
  EXPECT_EQ(to_hex(framed({"abc"})), "03616263");
  EXPECT_EQ(to_hex(framed({""})), "00");
  Bytes big;
  append_frame(big, Bytes(300, 0xaa));
  EXPECT_EQ(to_hex(ByteView(big).first(2)), "ac02");
  EXPECT_EQ(big.size(), 302u);
  const auto h = frame_header(300);
  EXPECT_EQ(to_hex(h.view()), "ac02");
}

TEST(Frame, DecodesCompleteFrame) {
  const Bytes in = framed({"hello", "x"});
  auto f = decode_frame(in, 100);
  ASSERT_TRUE(f);
  ASSERT_TRUE(*f);
  EXPECT_EQ(as_chars((*f)->body), "hello");
  EXPECT_EQ((*f)->consumed, 6u);
}

TEST(Frame, PartialFrameWaitsForMoreBytes) {
  const Bytes in = framed({"hello"});
  for (std::size_t n = 0; n < in.size(); ++n) {
    auto f = decode_frame(ByteView(in).first(n), 100);
    ASSERT_TRUE(f) << n;
    EXPECT_FALSE(*f) << n;
  }
  // A length prefix that is itself split.
  Bytes big;
  append_frame(big, Bytes(200, 1));
  auto f = decode_frame(ByteView(big).first(1), 1000);
  ASSERT_TRUE(f);
  EXPECT_FALSE(*f);
}

TEST(Frame, RejectsOversizeBeforeTheBodyArrives) {
  Bytes header;
  append_varint(header, 17u << 20);  // 17 MiB announced, nothing else sent
  auto f = decode_frame(header, kDefaultMaxFrameBytes);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), errc::frame_too_large);
  EXPECT_TRUE(decode_frame(framed({"abcd"}), 4));
  EXPECT_EQ(decode_frame(framed({"abcde"}), 4).error(), errc::frame_too_large);
}

TEST(Frame, RejectsBadLengthPrefix) {
  EXPECT_EQ(decode_frame(from_hex("8100").value(), 100).error(), errc::varint_non_minimal);
  EXPECT_EQ(decode_frame(from_hex("ffffffffffffffffff01").value(), 100).error(),
            errc::varint_too_long);
}

TEST(FrameReader, ReassemblesFramesFedOneByteAtATime) {
  const Bytes in = framed({"one", "", "three", std::string(1000, 'z')});
  FrameReader reader(2000);
  std::vector<std::string> got;
  for (std::uint8_t b : in) {
    reader.append(ByteView(&b, 1));
    while (true) {
      auto next = reader.next();
      ASSERT_TRUE(next);
      if (!*next) break;
      got.emplace_back(as_chars(**next));
    }
  }
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "one");
  EXPECT_EQ(got[1], "");
  EXPECT_EQ(got[2], "three");
  EXPECT_EQ(got[3], std::string(1000, 'z'));
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameReader, PrepareCommitAndManyFramesInOneRead) {
  const Bytes in = framed({"a", "bb", "ccc"});
  FrameReader reader(100);
  auto dst = reader.prepare(in.size());
  ASSERT_GE(dst.size(), in.size());
  std::copy(in.begin(), in.end(), dst.begin());
  reader.commit(in.size());
  std::string all;
  while (auto next = reader.next().value()) all += as_chars(*next);
  EXPECT_EQ(all, "abbccc");
}

TEST(FrameReader, OversizeFramePoisonsTheReader) {
  FrameReader reader(10);
  reader.append(framed({"01234567890"}));
  EXPECT_EQ(reader.next().error(), errc::frame_too_large);
  reader.append(framed({"ok"}));
  EXPECT_EQ(reader.next().error(), errc::frame_too_large);
}

}  // namespace
}  // namespace bb::wire

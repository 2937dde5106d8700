// The bb-chat payloads (examples/chat/chat_line.hpp): round trips at the limits, and every way
// a peer's payload can be malformed gets its own code instead of being trusted.
#include "examples/chat/chat_line.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bb::chat {
namespace {

wire::Bytes bytes(std::initializer_list<int> values) {
  wire::Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

TEST(ChatLine, RoundTripsAtTheLimits) {
  const std::string name(kMaxNameBytes, 'n');
  const std::string text(kMaxTextBytes, 't');
  auto line = decode_line(encode_line(name, text));
  ASSERT_TRUE(line) << line.error().message();
  EXPECT_EQ(line->name, name);
  EXPECT_EQ(line->text, text);

  auto empty_text = decode_line(encode_line("a", ""));
  ASSERT_TRUE(empty_text);
  EXPECT_EQ(empty_text->name, "a");
  EXPECT_EQ(empty_text->text, "");
}

TEST(ChatLine, EncodesNameLengthNameText) {
  EXPECT_EQ(encode_line("ab", "hi"), bytes({2, 'a', 'b', 'h', 'i'}));
  EXPECT_EQ(encode_hello("ab", true), bytes({1, 'a', 'b'}));
  EXPECT_EQ(encode_hello("ab", false), bytes({0, 'a', 'b'}));
}

TEST(ChatLine, RefusesMalformedLines) {
  EXPECT_EQ(decode_line({}).error(), make_error_code(errc::truncated));
  EXPECT_EQ(decode_line(bytes({0x80})).error(), make_error_code(errc::truncated));
  EXPECT_EQ(decode_line(bytes({0x81, 0x00})).error(), make_error_code(errc::bad_name_length));
  EXPECT_EQ(decode_line(bytes({3, 'a', 'b'})).error(), make_error_code(errc::truncated));
  EXPECT_EQ(decode_line(bytes({0})).error(), make_error_code(errc::empty_name));
  EXPECT_EQ(decode_line(bytes({65})).error(), make_error_code(errc::name_too_long));
  EXPECT_EQ(decode_line(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})).error(),
            make_error_code(errc::name_too_long));
  EXPECT_EQ(decode_line(bytes({1, '\n', 'x'})).error(), make_error_code(errc::name_not_printable));
  auto too_long = encode_line("a", "");
  too_long.resize(too_long.size() + kMaxTextBytes + 1, 't');
  EXPECT_EQ(decode_line(too_long).error(), make_error_code(errc::text_too_long));
}

TEST(ChatLine, RefusesMalformedHellos) {
  EXPECT_EQ(decode_hello({}).error(), make_error_code(errc::truncated));
  EXPECT_EQ(decode_hello(bytes({2, 'a'})).error(), make_error_code(errc::unknown_flags));
  EXPECT_EQ(decode_hello(bytes({1})).error(), make_error_code(errc::empty_name));
  EXPECT_EQ(decode_hello(bytes({0, 0x7f})).error(), make_error_code(errc::name_not_printable));
  auto hello = decode_hello(bytes({1, 'z'}));
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->name, "z");
  EXPECT_TRUE(hello->want_reply);
}

TEST(ChatLine, PrintableReplacesControlCharacters) {
  EXPECT_EQ(printable("a\x1b[2Jb\tc\x7f"), "a?[2Jb\tc?");
  EXPECT_EQ(make_error_code(errc::text_too_long).message(), "text longer than 16384 bytes");
}

}  // namespace
}  // namespace bb::chat

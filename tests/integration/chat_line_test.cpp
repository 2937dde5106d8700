// The bb-chat payloads (examples/chat/chat_line.hpp): plain UTF-8 text on the room's topic,
// round trips at the limits, and every way a payload can be malformed gets its own code
// instead of being trusted.
#include "examples/chat/chat_line.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bb::chat {
namespace {

wire::Bytes text(std::string_view s) {
  const auto b = wire::as_bytes(s);
  return wire::Bytes(b.begin(), b.end());
}

TEST(ChatLine, IsPlainTextAnyTopicReaderCanShow) {
  EXPECT_EQ(encode_line("alice", "hello: world"), text("alice: hello: world"));
  EXPECT_EQ(encode_presence("alice", Kind::joined), text("* alice joined"));
  EXPECT_EQ(encode_presence("alice", Kind::left), text("* alice left"));
}

TEST(ChatLine, RoundTripsAtTheLimits) {
  const std::string name(kMaxNameBytes, 'n');
  const std::string body(kMaxTextBytes, 't');
  auto line = decode(encode_line(name, body));
  ASSERT_TRUE(line) << line.error().message();
  EXPECT_EQ(line->kind, Kind::line);
  EXPECT_EQ(line->name, name);
  EXPECT_EQ(line->text, body);

  auto empty_text = decode(encode_line("a", ""));
  ASSERT_TRUE(empty_text);
  EXPECT_EQ(empty_text->name, "a");
  EXPECT_EQ(empty_text->text, "");

  // Names that look like the other form still decode to what was encoded.
  for (const std::string odd : {"*", "* x joined", " ", "bob left", "caf\xc3\xa9"}) {
    auto l = decode(encode_line(odd, "hi"));
    ASSERT_TRUE(l) << odd;
    EXPECT_EQ(l->kind, Kind::line);
    EXPECT_EQ(l->name, odd);
    for (const Kind k : {Kind::joined, Kind::left}) {
      auto p = decode(encode_presence(odd, k));
      ASSERT_TRUE(p) << odd;
      EXPECT_EQ(p->kind, k);
      EXPECT_EQ(p->name, odd);
      EXPECT_EQ(p->text, "");
    }
  }
}

TEST(ChatLine, RefusesMalformedPayloads) {
  EXPECT_EQ(decode({}).error(), make_error_code(errc::unrecognized));
  EXPECT_EQ(decode(text("hello")).error(), make_error_code(errc::unrecognized));
  EXPECT_EQ(decode(text("alice:hi")).error(), make_error_code(errc::unrecognized));
  EXPECT_EQ(decode(text("* alice waved")).error(), make_error_code(errc::unrecognized));
  EXPECT_EQ(decode(text("alice joined")).error(), make_error_code(errc::unrecognized));
  EXPECT_EQ(decode(text(": hi")).error(), make_error_code(errc::empty_name));
  EXPECT_EQ(decode(text("*  joined")).error(), make_error_code(errc::empty_name));
  EXPECT_EQ(decode(text("* joined")).error(), make_error_code(errc::unrecognized));
  EXPECT_EQ(decode(text(std::string(kMaxNameBytes + 1, 'n') + ": hi")).error(),
            make_error_code(errc::name_too_long));
  EXPECT_EQ(decode(text("* " + std::string(kMaxNameBytes + 1, 'n') + " left")).error(),
            make_error_code(errc::name_too_long));
  EXPECT_EQ(decode(text("a\nb: hi")).error(), make_error_code(errc::name_not_printable));
  EXPECT_EQ(decode(text("* a\x7f joined")).error(), make_error_code(errc::name_not_printable));
  EXPECT_EQ(decode(text("a: " + std::string(kMaxTextBytes + 1, 't'))).error(),
            make_error_code(errc::text_too_long));
}

TEST(ChatLine, NamesHaveNoColon) {
  EXPECT_TRUE(check_name("alice"));
  EXPECT_EQ(check_name("").error(), make_error_code(errc::empty_name));
  EXPECT_EQ(check_name("a:b").error(), make_error_code(errc::name_has_colon));
  EXPECT_EQ(check_name("a\tb").error(), make_error_code(errc::name_not_printable));
  EXPECT_EQ(check_name(std::string(kMaxNameBytes + 1, 'n')).error(),
            make_error_code(errc::name_too_long));
}

TEST(ChatLine, PrintableReplacesControlCharacters) {
  EXPECT_EQ(printable("a\x1b[2Jb\tc\x7f"), "a?[2Jb\tc?");
  EXPECT_EQ(make_error_code(errc::text_too_long).message(), "text longer than 16384 bytes");
}

}  // namespace
}  // namespace bb::chat

#include "util/json_text.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(JsonSafeTextTest, ValidUtf8IsUnchanged) {
  EXPECT_EQ(JsonSafeText("plain/path"), "plain/path");
  EXPECT_EQ(JsonSafeText("r\xC3\xA9sum\xC3\xA9 \xF0\x9F\x98\x80"), "r\xC3\xA9sum\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(JsonSafeTextTest, InvalidBytesAreEscapedDeterministically) {
  EXPECT_EQ(JsonSafeText("odd-\xFF-root"), "odd-\\xFF-root");
  EXPECT_EQ(JsonSafeText("\xC3"), "\\xC3");              // truncated sequence
  EXPECT_EQ(JsonSafeText("\xC0\xAF"), "\\xC0\\xAF");      // overlong encoding
  EXPECT_EQ(JsonSafeText("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // surrogate
  EXPECT_EQ(JsonSafeText("a\xFF"), JsonSafeText("a\xFF"));
}

}  // namespace
}  // namespace cairn

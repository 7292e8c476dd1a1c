#include "config/duration.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

constexpr int64_t kS = kNsPerSecond;

TEST(DurationTest, ParsesUnitsAndCombinations) {
  EXPECT_EQ(*ParseDurationNs("90s"), 90 * kS);
  EXPECT_EQ(*ParseDurationNs("5m"), 300 * kS);
  EXPECT_EQ(*ParseDurationNs("1h"), 3600 * kS);
  EXPECT_EQ(*ParseDurationNs("7d"), 7 * 86400 * kS);
  EXPECT_EQ(*ParseDurationNs("1h30m"), 5400 * kS);
  EXPECT_EQ(*ParseDurationNs("1d2h3m4s"), (86400 + 7200 + 180 + 4) * kS);
  EXPECT_EQ(*ParseDurationNs("0s"), 0);
  EXPECT_EQ(*ParseDurationNs("2H"), 7200 * kS);  // unit letters are case-insensitive
  EXPECT_EQ(*ParseDurationNs("36500d"), 36500LL * 86400 * kS);
}

TEST(DurationTest, ErrorsSayWhatIsWrong) {
  auto expect_error = [](const char* text, const char* fragment) {
    auto r = ParseDurationNs(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(std::string("'") + text + "'"), std::string::npos) << r.status().message();
  };
  expect_error("", "empty");
  expect_error("90", "needs a unit");
  expect_error("1x", "unknown unit 'x'");
  expect_error("1w", "unknown unit 'w'");
  expect_error("h", "expected a number");
  expect_error("-5m", "negative");
  expect_error("30m1h", "out of order");
  expect_error("1h1h", "repeated");
  expect_error("1h 30m", "expected a number at ' '");
  expect_error("99999999999999999999s", "too long");
  expect_error("40000d", "too long");
  expect_error("36600d1h", "too long");
}

TEST(DurationTest, FormatIsTheInverseOfParse) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(5400 * kS), "1h30m");
  EXPECT_EQ(FormatDuration(7 * 86400 * kS), "7d");
  EXPECT_EQ(FormatDuration(1500 * 1000 * 1000), "1.5s");
  for (const char* text : {"90s", "1h30m", "7d", "1d2h3m4s", "59m59s"}) {
    auto ns = ParseDurationNs(text);
    ASSERT_TRUE(ns.ok());
    EXPECT_EQ(*ParseDurationNs(FormatDuration(*ns)), *ns) << text;
  }
  EXPECT_EQ(FormatDuration(90 * kS), "1m30s");
}

}  // namespace
}  // namespace cairn

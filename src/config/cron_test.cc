#include "config/cron.h"

#include <gtest/gtest.h>

#include <vector>

#include "config/timezone.h"

namespace cairn {
namespace {

CronExpr MustParse(const char* text) {
  auto c = CronExpr::Parse(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status().ToString();
  return *c;
}

// The next `n` matches after local time `from`, as "YYYY-MM-DD hh:mm:ss".
std::vector<std::string> Next(const char* expr, int64_t from, int n) {
  CronExpr c = MustParse(expr);
  std::vector<std::string> out;
  int64_t t = from;
  for (int i = 0; i < n; ++i) {
    auto m = c.NextMatch(t);
    if (!m) break;
    out.push_back(FormatCivil(*m));
    t = *m;
  }
  return out;
}

std::vector<std::string> Days(std::initializer_list<const char*> dates, const char* time = "00:00:00") {
  std::vector<std::string> out;
  for (const char* d : dates) out.push_back(std::string(d) + " " + time);
  return out;
}

TEST(CronTest, NextMatchIsStrictlyAfterAndMinuteAligned) {
  const int64_t jan1 = SecondsFromCivil(2024, 1, 1);
  EXPECT_EQ(Next("15 3 * * *", jan1, 2), (std::vector<std::string>{"2024-01-01 03:15:00", "2024-01-02 03:15:00"}));
  EXPECT_EQ(Next("15 3 * * *", SecondsFromCivil(2024, 1, 1, 3, 15), 1),
            std::vector<std::string>{"2024-01-02 03:15:00"});
  EXPECT_EQ(Next("15 3 * * *", SecondsFromCivil(2024, 1, 1, 3, 14, 59), 1),
            std::vector<std::string>{"2024-01-01 03:15:00"});
  EXPECT_EQ(Next("* * * * *", SecondsFromCivil(2024, 12, 31, 23, 59, 30), 1),
            std::vector<std::string>{"2025-01-01 00:00:00"});
  // Before the epoch works the same.
  EXPECT_EQ(Next("0 0 1 1 *", SecondsFromCivil(1969, 6, 1), 1), std::vector<std::string>{"1970-01-01 00:00:00"});
}

TEST(CronTest, ListsRangesAndSteps) {
  const int64_t t0 = SecondsFromCivil(2024, 5, 1) - 1;
  EXPECT_EQ(Next("*/15 0 * * *", t0, 5), (std::vector<std::string>{"2024-05-01 00:00:00", "2024-05-01 00:15:00",
                                                                    "2024-05-01 00:30:00", "2024-05-01 00:45:00",
                                                                    "2024-05-02 00:00:00"}));
  EXPECT_EQ(Next("1-30/10 0 * * *", t0, 4), (std::vector<std::string>{"2024-05-01 00:01:00", "2024-05-01 00:11:00",
                                                                      "2024-05-01 00:21:00", "2024-05-02 00:01:00"}));
  EXPECT_EQ(Next("50/5 0 * * *", t0, 3), (std::vector<std::string>{"2024-05-01 00:50:00", "2024-05-01 00:55:00",
                                                                   "2024-05-02 00:50:00"}));
  EXPECT_EQ(Next("0 1,3,22-23 * * *", t0, 5), (std::vector<std::string>{"2024-05-01 01:00:00", "2024-05-01 03:00:00",
                                                                        "2024-05-01 22:00:00", "2024-05-01 23:00:00",
                                                                        "2024-05-02 01:00:00"}));
}

TEST(CronTest, NamesAreCaseInsensitiveAndSevenIsSunday) {
  const int64_t t0 = SecondsFromCivil(2024, 9, 1) - 1;  // 2024-09-01 is a Sunday
  const auto weekdays = Days({"2024-09-02", "2024-09-03", "2024-09-04", "2024-09-05", "2024-09-06", "2024-09-09"});
  EXPECT_EQ(Next("0 0 * * MON-FRI", t0, 6), weekdays);
  EXPECT_EQ(Next("0 0 * * mon-fri", t0, 6), weekdays);
  EXPECT_EQ(Next("0 0 * * 1-5", t0, 6), weekdays);
  const auto sundays = Days({"2024-09-01", "2024-09-08"});
  EXPECT_EQ(Next("0 0 * * 0", t0, 2), sundays);
  EXPECT_EQ(Next("0 0 * * 7", t0, 2), sundays);
  EXPECT_EQ(Next("0 0 * * Sun", t0, 2), sundays);
  EXPECT_EQ(Next("0 0 * * 5-7", t0, 3), Days({"2024-09-01", "2024-09-06", "2024-09-07"}));
  // "N/step" runs to the field's top, which for day-of-week is 7 = Sunday
  // (found by the fuzzer: "7/4" once selected no day at all).
  EXPECT_EQ(Next("0 0 * * 7/4", t0, 2), sundays);
  EXPECT_EQ(Next("0 0 * * 6/1", t0, 2), Days({"2024-09-01", "2024-09-07"}));
  EXPECT_EQ(Next("0 0 1 jan,Jul *", t0, 2), Days({"2025-01-01", "2025-07-01"}));
  EXPECT_EQ(Next("0 0 1 FEB-APR *", t0, 3), Days({"2025-02-01", "2025-03-01", "2025-04-01"}));
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  const int64_t t0 = SecondsFromCivil(2024, 9, 1) - 1;
  // Vixie: Fridays OR the 13th (Oct 13 2024 is a Sunday).
  EXPECT_EQ(Next("0 0 13 * FRI", t0, 8), Days({"2024-09-06", "2024-09-13", "2024-09-20", "2024-09-27", "2024-10-04",
                                               "2024-10-11", "2024-10-13", "2024-10-18"}));
  // One side "*": the other alone decides.
  EXPECT_EQ(Next("0 0 13 * *", t0, 2), Days({"2024-09-13", "2024-10-13"}));
  EXPECT_EQ(Next("0 0 * * FRI", t0, 2), Days({"2024-09-06", "2024-09-13"}));
  // "*/2" restricts (odd days OR Mondays); "*/1" does not (Mondays only).
  EXPECT_EQ(Next("0 0 */2 * MON", t0, 5), Days({"2024-09-01", "2024-09-02", "2024-09-03", "2024-09-05", "2024-09-07"}));
  EXPECT_EQ(Next("0 0 */1 * MON", t0, 2), Days({"2024-09-02", "2024-09-09"}));
  // Restricted month still applies to both.
  EXPECT_EQ(Next("0 0 1 DEC SUN", t0, 3), Days({"2024-12-01", "2024-12-08", "2024-12-15"}));
}

TEST(CronTest, MonthEndsAndLeapYears) {
  EXPECT_EQ(Next("0 12 31 * *", SecondsFromCivil(2024, 4, 1), 4),
            Days({"2024-05-31", "2024-07-31", "2024-08-31", "2024-10-31"}, "12:00:00"));
  EXPECT_EQ(Next("0 0 30 * *", SecondsFromCivil(2025, 1, 31), 2), Days({"2025-03-30", "2025-04-30"}));
  EXPECT_EQ(Next("0 0 29 2 *", SecondsFromCivil(2024, 3, 1), 2), Days({"2028-02-29", "2032-02-29"}));
  // 2100 is not a leap year: eight years between two Feb 29ths, still found.
  EXPECT_EQ(Next("0 0 29 2 *", SecondsFromCivil(2096, 3, 1), 1), Days({"2104-02-29"}));
  EXPECT_EQ(Next("0 0 29 2 *", SecondsFromCivil(1999, 1, 1), 1), Days({"2000-02-29"}));
  // Feb 29 OR a Monday in February: Mondays fill the gap years.
  EXPECT_EQ(Next("0 0 29 2 MON", SecondsFromCivil(2025, 2, 20), 2), Days({"2025-02-24", "2026-02-02"}));
}

TEST(CronTest, MacrosExpand) {
  const int64_t t0 = SecondsFromCivil(2024, 9, 1, 10, 30);  // Sunday
  EXPECT_EQ(Next("@hourly", t0, 1), std::vector<std::string>{"2024-09-01 11:00:00"});
  EXPECT_EQ(Next("@daily", t0, 1), std::vector<std::string>{"2024-09-02 00:00:00"});
  EXPECT_EQ(Next("@midnight", t0, 1), std::vector<std::string>{"2024-09-02 00:00:00"});
  EXPECT_EQ(Next("@weekly", t0, 1), std::vector<std::string>{"2024-09-08 00:00:00"});
  EXPECT_EQ(Next("@monthly", t0, 1), std::vector<std::string>{"2024-10-01 00:00:00"});
  EXPECT_EQ(Next("@yearly", t0, 1), std::vector<std::string>{"2025-01-01 00:00:00"});
  EXPECT_EQ(Next("@ANNUALLY", t0, 1), std::vector<std::string>{"2025-01-01 00:00:00"});
  EXPECT_EQ(MustParse("  @daily ").text(), "@daily");
  EXPECT_EQ(MustParse("0\t0  * * *").text(), "0\t0  * * *");
}

TEST(CronTest, MatchesChecksOneMinute) {
  CronExpr c = MustParse("30 2 * * 1-5");
  EXPECT_TRUE(c.Matches(SecondsFromCivil(2024, 9, 2, 2, 30, 59)));  // Monday
  EXPECT_FALSE(c.Matches(SecondsFromCivil(2024, 9, 1, 2, 30)));     // Sunday
  EXPECT_FALSE(c.Matches(SecondsFromCivil(2024, 9, 2, 2, 31)));
}

TEST(CronTest, ErrorsNameTheFieldAndTheToken) {
  auto expect_error = [](const char* text, const std::string& fragment) {
    auto c = CronExpr::Parse(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(fragment), std::string::npos) << text << " -> " << c.status().message();
  };
  expect_error("", "expected 5 fields");
  expect_error("0 0 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  expect_error("0 0 * * * *", "got 6");
  expect_error("60 * * * *", "minute: 60 is out of range 0-59");
  expect_error("* 24 * * *", "hour: 24 is out of range 0-23");
  expect_error("* * 0 * *", "day-of-month: 0 is out of range 1-31");
  expect_error("* * * 13 *", "month: 13 is out of range 1-12");
  expect_error("* * * * 8", "day-of-week: 8 is out of range 0-7");
  expect_error("* * * FOO *", "month: bad token 'FOO' (expected 1-12 or JAN-DEC)");
  expect_error("* * * * MON-FOO", "day-of-week: bad token 'FOO' (expected 0-7 or SUN-SAT)");
  expect_error("0 0 * * JAN", "day-of-week: bad token 'JAN'");
  expect_error("MON 0 * * *", "minute: bad token 'MON'");
  expect_error("1a * * * *", "minute: bad token '1a'");
  expect_error("5-1 * * * *", "minute: range '5-1' runs backwards");
  expect_error("* * * * FRI-MON", "day-of-week: range 'FRI-MON' runs backwards");
  expect_error("*/0 * * * *", "minute: step must be at least 1");
  expect_error("*/90 * * * *", "minute: step 90 in '*/90' is larger than the field (0-59); for longer intervals use every:");
  expect_error("*/x * * * *", "minute: bad step 'x'");
  expect_error("*/ * * * *", "minute: bad step ''");
  expect_error("1,,2 * * * *", "minute: empty list item in '1,,2'");
  expect_error("1, * * * *", "minute: empty list item");
  expect_error("1- * * * *", "minute: missing value in '1-'");
  expect_error("99999999999 * * * *", "minute: 99999999999 is out of range 0-59");
  expect_error("0 0 30 2 *", "never matches: day-of-month 30 does not occur in month 2");
  expect_error("0 0 31 4,6,9,11 *", "never matches");
  expect_error("@reboot", "not supported");
  expect_error("@fortnightly", "unknown macro");
  // The expression is quoted in the message.
  expect_error("0 0 30 2 *", "cron '0 0 30 2 *'");
}

TEST(CronTest, RestrictedDayOfWeekMakesImpossibleDatesPossible) {
  // Feb 30 OR Sundays: runs on Sundays in February.
  EXPECT_EQ(Next("0 0 30 2 SUN", SecondsFromCivil(2025, 1, 1), 2), Days({"2025-02-02", "2025-02-09"}));
}

}  // namespace
}  // namespace cairn

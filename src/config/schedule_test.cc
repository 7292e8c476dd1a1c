#include "config/schedule.h"

#include "cairn/config.h"

#include <gtest/gtest.h>

#include <set>

#include "daemon/testing/time_test_util.h"

namespace cairn {
namespace {

using namespace cairn::testing;
using nlohmann::json;

Schedule MustParse(const json& j) {
  auto s = ParseSchedule(j, "t.yaml: service app-db: schedule");
  EXPECT_TRUE(s.ok()) << j.dump() << ": " << s.status().ToString();
  return s.ok() ? *s : Schedule();
}

Schedule CronIn(const char* expr, const char* zone) { return MustParse({{"cron", expr}, {"timezone", zone}}); }

// Fire times after `from` as UTC text.
std::vector<std::string> Fires(const Schedule& s, int64_t from, int n, int64_t anchor = 0) {
  std::vector<std::string> out;
  int64_t t = from;
  for (int i = 0; i < n; ++i) {
    auto f = s.NextAfter(t, anchor);
    if (!f) break;
    out.push_back(Utc(*f));
    t = *f;
  }
  return out;
}

TEST(ScheduleTest, ParsesTheConfigurationMapping) {
  Schedule every = MustParse({{"every", "1h"}, {"timezone", "Europe/Berlin"}, {"catch_up", "once"}, {"jitter", "5m"}});
  EXPECT_FALSE(every.is_cron());
  EXPECT_EQ(every.period_ns(), kHour);
  EXPECT_EQ(every.jitter_ns(), 5 * kMin);
  EXPECT_EQ(every.catch_up(), CatchUp::kOnce);
  EXPECT_EQ(every.timezone().name(), "Europe/Berlin");
  EXPECT_EQ(every.ToString(), "every 1h, jitter 5m");

  Schedule cron = MustParse({{"cron", "15 3 * * *"}, {"catch_up", "skip"}});
  ASSERT_TRUE(cron.is_cron());
  EXPECT_EQ(cron.cron()->text(), "15 3 * * *");
  EXPECT_EQ(cron.timezone().name(), "UTC");
  EXPECT_EQ(cron.catch_up(), CatchUp::kSkip);
  EXPECT_EQ(cron.ToString(), "cron '15 3 * * *' (UTC), catch_up skip");
  EXPECT_EQ(MustParse({{"cron", "@daily"}}).ToString(), "cron '@daily' (UTC)");
  EXPECT_EQ(Schedule().ToString(), "never");
  EXPECT_FALSE(Schedule().NextAfter(0, 0).has_value());

  // Keys the caller owns (check's read_data) pass through.
  auto check = ParseSchedule({{"every", "7d"}, {"read_data", "10%"}}, "check", {"read_data"});
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(check->period_ns(), 7 * kDay);
}

TEST(ScheduleTest, ErrorsNameTheKeyAndSuggest) {
  auto expect_error = [](const json& j, const std::string& fragment, StatusCode code = StatusCode::kInvalidArgument) {
    auto s = ParseSchedule(j, "t.yaml: service app-db: schedule");
    ASSERT_FALSE(s.ok()) << j.dump();
    EXPECT_EQ(s.status().code(), code) << s.status().ToString();
    EXPECT_EQ(s.status().message().rfind("t.yaml: service app-db: schedule: ", 0), 0u) << s.status().message();
    EXPECT_NE(s.status().message().find(fragment), std::string::npos) << j.dump() << " -> " << s.status().message();
  };
  expect_error({{"evry", "1h"}}, "unknown key 'evry' (did you mean 'every'?)");
  expect_error({{"every", "1h"}, {"timezon", "UTC"}}, "unknown key 'timezon' (did you mean 'timezone'?)");
  expect_error({{"every", "1h"}, {"catchup", "once"}}, "(did you mean 'catch_up'?)");
  expect_error({{"every", "1h"}, {"color", "red"}}, "unknown key 'color' (expected every, cron, timezone, catch_up, jitter)");
  expect_error(json::object(), "needs every: (an interval such as 1h) or cron:");
  expect_error({{"every", "1h"}, {"cron", "@daily"}}, "has both every: and cron:");
  expect_error({{"every", 3600}}, "every: needs a unit, e.g. '3600s'");
  expect_error({{"every", "0s"}}, "every: must be longer than zero");
  expect_error({{"every", "1x"}}, "every: duration '1x': unknown unit 'x'");
  expect_error({{"every", true}}, "every: must be a duration");
  expect_error({{"cron", "0 25 * * *"}}, "cron '0 25 * * *': hour: 25 is out of range 0-23");
  expect_error({{"cron", 5}}, "cron: must be a string");
  expect_error({{"cron", "0 0 30 2 *"}}, "never matches");
  expect_error({{"every", "1h"}, {"catch_up", "twice"}}, "catch_up: must be once or skip, not \"twice\"");
  expect_error({{"every", "1h"}, {"jitter", "1h"}}, "jitter: 1h must be shorter than the interval 1h");
  expect_error({{"every", "1h"}, {"jitter", 5}}, "jitter: needs a unit");
  expect_error({{"cron", "@daily"}, {"timezone", "Mars/Olympus"}}, "timezone: unknown time zone 'Mars/Olympus'",
               StatusCode::kNotFound);
  expect_error({{"cron", "@daily"}, {"timezone", "../../etc/passwd"}}, "timezone: time zone name");
  expect_error(json("1h"), "must be a mapping");
  EXPECT_EQ(DidYouMean("evry", {"every", "cron"}), "every");
  EXPECT_EQ(DidYouMean("xy", {"every", "cron"}), "");  // cairn/config.h's, shared by every key check
  EXPECT_EQ(DidYouMean("crn", {"every", "cron"}), "cron");
}

TEST(ScheduleTest, EveryIsAGridAroundTheAnchor) {
  Schedule s = *Schedule::Every(10 * kSec);
  const int64_t anchor = UtcNs(2024, 1, 1, 12, 0, 3);
  EXPECT_EQ(*s.NextAfter(anchor - 1, anchor), anchor);
  EXPECT_EQ(*s.NextAfter(anchor, anchor), anchor + 10 * kSec);   // strictly after
  EXPECT_EQ(*s.NextAfter(anchor + 1, anchor), anchor + 10 * kSec);
  EXPECT_EQ(*s.NextAfter(anchor + 25 * kSec, anchor), anchor + 30 * kSec);
  EXPECT_EQ(*s.NextAfter(anchor - 25 * kSec, anchor), anchor - 20 * kSec);
  EXPECT_FALSE(Schedule::Every(0).ok());
  EXPECT_FALSE(Schedule::Every(-5).ok());
}

TEST(ScheduleTest, EveryIgnoresDst) {
  // Across Berlin's spring-forward night, an hourly interval stays 3600 s.
  Schedule s = MustParse({{"every", "1h"}, {"timezone", "Europe/Berlin"}});
  const int64_t anchor = UtcNs(2024, 3, 30, 22);
  int64_t t = anchor - 1;
  for (int i = 0; i < 6; ++i) {
    const int64_t next = *s.NextAfter(t, anchor);
    EXPECT_EQ(next, anchor + i * kHour);
    t = next;
  }
}

TEST(ScheduleTest, FiresInCountsAndFindsTheLatest) {
  Schedule every = *Schedule::Every(kHour);
  Schedule::FireSpan span = every.FiresIn(0, 10 * kHour + 5, 0);
  EXPECT_EQ(span.count, 10);
  EXPECT_EQ(span.last_ns, 10 * kHour);
  EXPECT_EQ(every.FiresIn(kHour, kHour, 0).count, 0);
  EXPECT_EQ(every.FiresIn(kHour - 1, kHour, 0).count, 1);
  EXPECT_EQ(every.FiresIn(0, 1000 * kHour, 0, 50).count, 50);  // capped
  EXPECT_EQ(every.FiresIn(0, 1000 * kHour, 0, 50).last_ns, 1000 * kHour);

  Schedule cron = MustParse({{"cron", "0 */6 * * *"}});
  span = cron.FiresIn(UtcNs(2024, 1, 1), UtcNs(2024, 1, 3), 0);
  EXPECT_EQ(span.count, 8);
  EXPECT_EQ(span.last_ns, UtcNs(2024, 1, 3));
  span = cron.FiresIn(UtcNs(2024, 1, 1), UtcNs(2024, 2, 1), 0, 10);
  EXPECT_EQ(span.count, 10);
  EXPECT_EQ(span.last_ns, UtcNs(2024, 2, 1));  // cut short: reports the end
}

TEST(ScheduleTest, CronGapRunsOnceAfterTheGapBerlin) {
  Schedule s = CronIn("30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(Fires(s, UtcNs(2024, 3, 29, 12), 3), (std::vector<std::string>{
                                                     "2024-03-30 01:30:00",  // 02:30 CET
                                                     "2024-03-31 01:00:00",  // gap: 03:00 CEST
                                                     "2024-04-01 00:30:00",  // 02:30 CEST
                                                 }));
}

TEST(ScheduleTest, CronFoldRunsOnceAtTheFirstOccurrenceBerlin) {
  Schedule s = CronIn("30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(Fires(s, UtcNs(2024, 10, 26, 12), 2), (std::vector<std::string>{
                                                      "2024-10-27 00:30:00",  // 02:30 CEST, not 01:30 UTC too
                                                      "2024-10-28 01:30:00",  // 02:30 CET
                                                  }));
  // Asked from inside the repeated hour (second pass), the repeat is not a fire.
  EXPECT_EQ(Fires(s, UtcNs(2024, 10, 27, 1, 10), 1), std::vector<std::string>{"2024-10-28 01:30:00"});
}

TEST(ScheduleTest, CronDstNewYork) {
  EXPECT_EQ(Fires(CronIn("30 2 * * *", "America/New_York"), UtcNs(2024, 3, 9, 12), 3),
            (std::vector<std::string>{"2024-03-10 07:00:00", "2024-03-11 06:30:00", "2024-03-12 06:30:00"}));
  EXPECT_EQ(Fires(CronIn("30 1 * * *", "America/New_York"), UtcNs(2024, 11, 2, 12), 2),
            (std::vector<std::string>{"2024-11-03 05:30:00", "2024-11-04 06:30:00"}));
}

TEST(ScheduleTest, CronDstSydney) {
  // Southern hemisphere: the fold is in April, the gap in October.
  EXPECT_EQ(Fires(CronIn("30 2 * * *", "Australia/Sydney"), UtcNs(2024, 4, 6), 2),
            (std::vector<std::string>{"2024-04-06 15:30:00", "2024-04-07 16:30:00"}));
  EXPECT_EQ(Fires(CronIn("30 2 * * *", "Australia/Sydney"), UtcNs(2024, 10, 5), 2),
            (std::vector<std::string>{"2024-10-05 16:00:00", "2024-10-06 15:30:00"}));
}

TEST(ScheduleTest, FrequentCronOverDstDaysHasNoDuplicatesAndOneRunPerWallTime) {
  Schedule s = CronIn("*/15 * * * *", "Europe/Berlin");
  // Spring forward: 96 wall times, the 4 skipped ones merge with 03:00.
  const int64_t spring_from = UtcNs(2024, 3, 30, 23) - 1, spring_to = UtcNs(2024, 3, 31, 22) - 1;
  EXPECT_EQ(s.FiresIn(spring_from, spring_to, 0).count, 92);
  // Fall back: a 25-hour day, each of the 96 wall times once.
  const int64_t fall_from = UtcNs(2024, 10, 26, 22) - 1, fall_to = UtcNs(2024, 10, 27, 23) - 1;
  EXPECT_EQ(s.FiresIn(fall_from, fall_to, 0).count, 96);
  std::set<int64_t> seen;
  int64_t t = fall_from;
  while (true) {
    const int64_t f = *s.NextAfter(t, 0);
    if (f > fall_to) break;
    EXPECT_GT(f, t);
    EXPECT_TRUE(seen.insert(f).second);
    t = f;
  }
  // No fire inside the repeated hour's second pass (01:00-02:00 UTC).
  EXPECT_EQ(*s.NextAfter(UtcNs(2024, 10, 27, 0, 45), 0), UtcNs(2024, 10, 27, 2));
  // Hourly across spring forward: one fire per real hour.
  EXPECT_EQ(Fires(CronIn("0 * * * *", "Europe/Berlin"), UtcNs(2024, 3, 30, 23) - 1, 4),
            (std::vector<std::string>{"2024-03-30 23:00:00", "2024-03-31 00:00:00", "2024-03-31 01:00:00",
                                      "2024-03-31 02:00:00"}));
}

TEST(ScheduleTest, JitterIsDeterministicAndBounded) {
  Schedule s = MustParse({{"every", "1h"}, {"jitter", "5m"}});
  std::set<int64_t> distinct;
  for (int i = 0; i < 200; ++i) {
    const int64_t fire = i * kHour;
    const int64_t j = s.JitterNs("backup:app-db", fire);
    EXPECT_GE(j, 0);
    EXPECT_LT(j, 5 * kMin);
    EXPECT_EQ(j, s.JitterNs("backup:app-db", fire));  // a restart computes the same
    distinct.insert(j);
  }
  EXPECT_GT(distinct.size(), 190u);  // spread, not constant
  EXPECT_NE(s.JitterNs("backup:app-db", 0), s.JitterNs("backup:cache", 0));
  // A known value: the same on every build and platform (no std::hash), so
  // a daemon upgrade does not move fires either.
  EXPECT_EQ(s.JitterNs("backup:app-db", UtcNs(2024, 1, 1)), 139453995077);
  EXPECT_EQ(MustParse({{"every", "1h"}}).JitterNs("backup:app-db", 0), 0);

  // Cron: jitter never reaches the following fire.
  Schedule c = MustParse({{"cron", "* * * * *"}, {"jitter", "1h"}});
  for (int i = 0; i < 100; ++i) {
    const int64_t fire = UtcNs(2024, 1, 1) + i * kMin;
    EXPECT_LT(c.JitterNs("check:local", fire), kMin);
  }
}

}  // namespace
}  // namespace cairn

#include "cairn/retention.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <utility>

namespace cairn {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;

constexpr int64_t kNanosecondsPerSecond = 1'000'000'000;

// Parses "YYYY-MM-DD HH:MM[:SS]" as UTC.
int64_t UnixNanoseconds(const std::string& utc_time) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (std::sscanf(utc_time.c_str(), "%d-%d-%d %d:%d:%d", &year, &month, &day, &hour, &minute,
                  &second) < 5) {
    throw std::invalid_argument("bad test time: " + utc_time);
  }
  const sys_days date = std::chrono::year{year} / month / day;
  const seconds since_epoch = (date + hours{hour} + minutes{minute} + seconds{second}).time_since_epoch();
  return since_epoch.count() * kNanosecondsPerSecond;
}

// The time text doubles as the id, so expectations read as dates.
RetentionCandidate Snapshot(const std::string& utc_time, std::vector<std::string> tags = {}) {
  return {utc_time, UnixNanoseconds(utc_time), std::move(tags)};
}

std::vector<RetentionCandidate> Snapshots(const std::vector<std::string>& utc_times) {
  std::vector<RetentionCandidate> candidates;
  for (const std::string& time : utc_times) candidates.push_back(Snapshot(time));
  return candidates;
}

// Every day of 2023 at 02:00, and again at 14:00 on weekdays or 20:30 on weekends.
std::vector<RetentionCandidate> TwiceDaily2023() {
  std::vector<RetentionCandidate> candidates;
  for (sys_days day = std::chrono::year{2023} / 1 / 1; day <= std::chrono::year{2023} / 12 / 31;
       day += days{1}) {
    const std::chrono::year_month_day date{day};
    const std::chrono::weekday weekday{day};
    const bool weekend = weekday == std::chrono::Saturday || weekday == std::chrono::Sunday;
    for (const char* time_of_day : {"02:00", weekend ? "20:30" : "14:00"}) {
      char text[32];
      std::snprintf(text, sizeof text, "%04d-%02u-%02u %s", static_cast<int>(date.year()),
                    static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                    time_of_day);
      candidates.push_back(Snapshot(text));
    }
  }
  return candidates;
}

using KeptSnapshots = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The kept snapshots, newest first, with their reasons.
KeptSnapshots Kept(const std::vector<RetentionDecision>& decisions) {
  KeptSnapshots kept;
  for (const RetentionDecision& decision : decisions) {
    EXPECT_EQ(decision.keep, !decision.reasons.empty()) << decision.id;
    if (decision.keep) kept.emplace_back(decision.id, decision.reasons);
  }
  return kept;
}

KeptSnapshots KeptFor(const std::string& reason, const std::vector<std::string>& ids) {
  KeptSnapshots kept;
  for (const std::string& id : ids) kept.push_back({id, {reason}});
  return kept;
}

RetentionPolicy PolicyKeepingWithin(const std::string& duration_text) {
  RetentionPolicy policy;
  Result<seconds> within = ParseRetentionDuration(duration_text);
  EXPECT_TRUE(within.ok()) << within.status().ToString();
  if (within.ok()) policy.keep_within = *within;
  return policy;
}

// --- RetentionPolicy::Empty / Validate ---

TEST(RetentionPolicyTest, PolicyWithoutRulesIsRefused) {
  const RetentionPolicy policy;
  EXPECT_TRUE(policy.Empty());
  const Status status = policy.Validate();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "retention policy keeps nothing: give at least one --keep-* option");
}

TEST(RetentionPolicyTest, AnySingleRuleMakesThePolicyValid) {
  const std::vector<std::pair<std::string, std::function<void(RetentionPolicy&)>>> single_rules = {
      {"keep_last", [](RetentionPolicy& p) { p.keep_last = 1; }},
      {"keep_last unlimited", [](RetentionPolicy& p) { p.keep_last = -1; }},
      {"keep_hourly", [](RetentionPolicy& p) { p.keep_hourly = 1; }},
      {"keep_daily", [](RetentionPolicy& p) { p.keep_daily = 1; }},
      {"keep_weekly", [](RetentionPolicy& p) { p.keep_weekly = 1; }},
      {"keep_monthly", [](RetentionPolicy& p) { p.keep_monthly = 1; }},
      {"keep_yearly unlimited", [](RetentionPolicy& p) { p.keep_yearly = -1; }},
      {"keep_within", [](RetentionPolicy& p) { p.keep_within = hours{1}; }},
      {"keep_tags", [](RetentionPolicy& p) { p.keep_tags = {"prod"}; }},
  };
  for (const auto& [name, set_rule] : single_rules) {
    RetentionPolicy policy;
    set_rule(policy);
    EXPECT_FALSE(policy.Empty()) << name;
    EXPECT_TRUE(policy.Validate().ok()) << name;
  }
}

TEST(RetentionPolicyTest, NegativeKeepWithinIsRefused) {
  RetentionPolicy policy;
  policy.keep_within = seconds{-3600};
  EXPECT_EQ(policy.Validate().code(), StatusCode::kInvalidArgument);
}

TEST(RetentionPolicyTest, NegativeCountsOtherThanMinusOneAreRefused) {
  // --keep-last -3 was accepted as "keep all"; only -1 means unlimited.
  for (int n : {-2, -3, -100}) {
    RetentionPolicy policy;
    policy.keep_last = n;
    const Status st = policy.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << n;
    EXPECT_NE(st.message().find("keep-last " + std::to_string(n)), std::string::npos) << st.message();
    RetentionPolicy daily;
    daily.keep_daily = n;
    EXPECT_EQ(daily.Validate().code(), StatusCode::kInvalidArgument) << n;
  }
}

// --- ApplyRetention: ordering ---

TEST(ApplyRetentionTest, NoCandidatesGiveNoDecisions) {
  RetentionPolicy policy;
  policy.keep_last = 3;
  EXPECT_TRUE(ApplyRetention(policy, {}).empty());
}

TEST(ApplyRetentionTest, ReturnsOneDecisionPerCandidateNewestFirst) {
  RetentionPolicy policy;
  policy.keep_last = 2;
  const auto decisions = ApplyRetention(
      policy, Snapshots({"2024-01-02 00:00", "2024-03-01 00:00", "2023-12-31 23:00", "2024-02-15 12:00"}));
  ASSERT_EQ(decisions.size(), 4u);
  EXPECT_EQ(decisions[0].id, "2024-03-01 00:00");
  EXPECT_EQ(decisions[1].id, "2024-02-15 12:00");
  EXPECT_EQ(decisions[2].id, "2024-01-02 00:00");
  EXPECT_EQ(decisions[3].id, "2023-12-31 23:00");
  EXPECT_TRUE(decisions[0].keep);
  EXPECT_TRUE(decisions[1].keep);
  EXPECT_FALSE(decisions[2].keep);
  EXPECT_FALSE(decisions[3].keep);
  EXPECT_TRUE(decisions[2].reasons.empty());
  EXPECT_TRUE(decisions[3].reasons.empty());
}

TEST(ApplyRetentionTest, EqualTimesKeepTheirInputOrder) {
  // Enough ties that an unstable sort would reorder them.
  const int64_t same_time = UnixNanoseconds("2024-05-01 12:00");
  std::vector<RetentionCandidate> candidates = {{"older", UnixNanoseconds("2024-05-01 11:00"), {}}};
  std::vector<std::string> expected_order;
  for (char name = 'a'; name <= 'z'; ++name) {
    candidates.push_back({std::string("tie ") + name, same_time, {}});
    expected_order.push_back(candidates.back().id);
  }
  expected_order.push_back("older");

  RetentionPolicy keep_two;
  keep_two.keep_last = 2;
  const auto decisions = ApplyRetention(keep_two, candidates);
  std::vector<std::string> order;
  for (const RetentionDecision& decision : decisions) order.push_back(decision.id);
  EXPECT_EQ(order, expected_order);
  EXPECT_EQ(Kept(decisions), KeptFor("last snapshot", {"tie a", "tie b"}));

  RetentionPolicy one_per_day;
  one_per_day.keep_daily = 1;
  EXPECT_EQ(Kept(ApplyRetention(one_per_day, candidates)), KeptFor("daily snapshot", {"tie a"}));
}

// --- ApplyRetention: keep_last ---

TEST(ApplyRetentionTest, KeepLastKeepsTheNewestN) {
  RetentionPolicy policy;
  policy.keep_last = 3;
  const auto candidates = Snapshots({"2024-01-01 10:00", "2024-01-01 10:05", "2024-01-01 10:00:30",
                                     "2023-06-01 00:00", "2024-01-01 09:59:59"});
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("last snapshot", {"2024-01-01 10:05", "2024-01-01 10:00:30", "2024-01-01 10:00"}));
}

TEST(ApplyRetentionTest, KeepLastBeyondTheCountOrUnlimitedKeepsAll) {
  const auto candidates = Snapshots({"2024-01-03 00:00", "2024-01-01 00:00", "2024-01-02 00:00"});
  const KeptSnapshots all =
      KeptFor("last snapshot", {"2024-01-03 00:00", "2024-01-02 00:00", "2024-01-01 00:00"});
  for (int keep_last : {3, 10, -1}) {
    RetentionPolicy policy;
    policy.keep_last = keep_last;
    EXPECT_EQ(Kept(ApplyRetention(policy, candidates)), all) << "keep_last " << keep_last;
  }
}

// --- ApplyRetention: hourly ---

TEST(ApplyRetentionTest, KeepHourlyCountsOnlyHoursThatHaveSnapshots) {
  RetentionPolicy policy;
  policy.keep_hourly = 3;
  const auto candidates = Snapshots({"2024-05-06 10:59:59", "2024-05-06 10:00", "2024-05-06 09:30",
                                     "2024-05-06 09:05", "2024-05-06 07:45", "2024-05-06 07:00",
                                     "2024-05-05 23:59"});
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("hourly snapshot", {"2024-05-06 10:59:59", "2024-05-06 09:30", "2024-05-06 07:45"}));
}

TEST(ApplyRetentionTest, KeepHourlyOverAYear) {
  RetentionPolicy policy;
  policy.keep_hourly = 5;
  EXPECT_EQ(Kept(ApplyRetention(policy, TwiceDaily2023())),
            KeptFor("hourly snapshot", {"2023-12-31 20:30", "2023-12-31 02:00", "2023-12-30 20:30",
                                        "2023-12-30 02:00", "2023-12-29 14:00"}));
}

// --- ApplyRetention: daily ---

TEST(ApplyRetentionTest, KeepDailyOverAYearKeepsTheLastSnapshotOfEachDay) {
  RetentionPolicy policy;
  policy.keep_daily = 7;
  EXPECT_EQ(Kept(ApplyRetention(policy, TwiceDaily2023())),
            KeptFor("daily snapshot", {"2023-12-31 20:30", "2023-12-30 20:30", "2023-12-29 14:00",
                                       "2023-12-28 14:00", "2023-12-27 14:00", "2023-12-26 14:00",
                                       "2023-12-25 14:00"}));
}

TEST(ApplyRetentionTest, KeepDailyUnlimitedKeepsEveryDayOfTheYear) {
  RetentionPolicy policy;
  policy.keep_daily = -1;
  const KeptSnapshots kept = Kept(ApplyRetention(policy, TwiceDaily2023()));
  ASSERT_EQ(kept.size(), 365u);
  EXPECT_EQ(kept.front().first, "2023-12-31 20:30");
  EXPECT_EQ(kept[31].first, "2023-11-30 14:00");  // right after all 31 days of December
  EXPECT_EQ(kept.back().first, "2023-01-01 20:30");
  for (const auto& [id, reasons] : kept) EXPECT_NE(id.substr(11), "02:00") << id;
}

TEST(ApplyRetentionTest, DaysRunFromUtcMidnightToMidnight) {
  RetentionPolicy policy;
  policy.keep_daily = -1;
  const auto candidates = Snapshots({"2024-03-10 00:00:00", "2024-03-09 23:59:59",
                                     "2024-03-09 00:00:00", "2024-03-08 23:59:59"});
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("daily snapshot", {"2024-03-10 00:00:00", "2024-03-09 23:59:59", "2024-03-08 23:59:59"}));
}

TEST(ApplyRetentionTest, KeepDailyAcrossLeapDay) {
  RetentionPolicy policy;
  policy.keep_daily = 3;
  const auto candidates = Snapshots({"2024-03-01 00:30", "2024-02-29 23:00", "2024-02-29 01:00",
                                     "2024-02-28 22:00", "2024-02-27 10:00"});
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("daily snapshot", {"2024-03-01 00:30", "2024-02-29 23:00", "2024-02-28 22:00"}));
}

// --- ApplyRetention: weekly ---

TEST(ApplyRetentionTest, KeepWeeklyOverAYearKeepsSundays) {
  RetentionPolicy policy;
  policy.keep_weekly = 4;
  EXPECT_EQ(Kept(ApplyRetention(policy, TwiceDaily2023())),
            KeptFor("weekly snapshot",
                    {"2023-12-31 20:30", "2023-12-24 20:30", "2023-12-17 20:30", "2023-12-10 20:30"}));
}

TEST(ApplyRetentionTest, IsoWeekSpanningNewYearIsOneWeek) {
  // 2021-12-27 (Mon) to 2022-01-02 (Sun) is ISO week 2021-W52; 2022-W01 starts on Monday 2022-01-03.
  const auto candidates = Snapshots({"2022-01-10 00:00", "2022-01-09 23:59", "2022-01-03 00:00",
                                     "2022-01-02 23:59", "2022-01-01 12:00", "2021-12-31 12:00",
                                     "2021-12-27 00:00", "2021-12-26 23:59"});
  RetentionPolicy policy;
  policy.keep_weekly = 3;
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("weekly snapshot", {"2022-01-10 00:00", "2022-01-09 23:59", "2022-01-02 23:59"}));
  policy.keep_weekly = 4;
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("weekly snapshot",
                    {"2022-01-10 00:00", "2022-01-09 23:59", "2022-01-02 23:59", "2021-12-26 23:59"}));
}

TEST(ApplyRetentionTest, IsoWeek53IsOneWeek) {
  // 2020-W53 runs from Monday 2020-12-28 to Sunday 2021-01-03.
  const auto candidates = Snapshots({"2021-01-04 00:00", "2021-01-03 23:59", "2021-01-01 08:00",
                                     "2020-12-31 08:00", "2020-12-28 00:00", "2020-12-27 23:59"});
  RetentionPolicy policy;
  policy.keep_weekly = -1;
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("weekly snapshot", {"2021-01-04 00:00", "2021-01-03 23:59", "2020-12-27 23:59"}));
}

// --- ApplyRetention: monthly ---

TEST(ApplyRetentionTest, KeepMonthlyOverAYearKeepsMonthEnds) {
  const KeptSnapshots month_ends = KeptFor(
      "monthly snapshot",
      {"2023-12-31 20:30", "2023-11-30 14:00", "2023-10-31 14:00", "2023-09-30 20:30",
       "2023-08-31 14:00", "2023-07-31 14:00", "2023-06-30 14:00", "2023-05-31 14:00",
       "2023-04-30 20:30", "2023-03-31 14:00", "2023-02-28 14:00", "2023-01-31 14:00"});
  for (int keep_monthly : {12, 13, -1}) {
    RetentionPolicy policy;
    policy.keep_monthly = keep_monthly;
    EXPECT_EQ(Kept(ApplyRetention(policy, TwiceDaily2023())), month_ends) << "keep_monthly " << keep_monthly;
  }
}

TEST(ApplyRetentionTest, KeepMonthlyAtMonthBoundariesAndLeapFebruary) {
  const auto candidates = Snapshots({"2024-04-01 00:00", "2024-03-31 23:59", "2024-03-01 00:00",
                                     "2024-02-29 23:59", "2024-02-01 00:00", "2024-01-31 23:59",
                                     "2023-02-28 12:00"});
  RetentionPolicy policy;
  policy.keep_monthly = 4;
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("monthly snapshot",
                    {"2024-04-01 00:00", "2024-03-31 23:59", "2024-02-29 23:59", "2024-01-31 23:59"}));
  policy.keep_monthly = -1;
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("monthly snapshot", {"2024-04-01 00:00", "2024-03-31 23:59", "2024-02-29 23:59",
                                         "2024-01-31 23:59", "2023-02-28 12:00"}));
}

// --- ApplyRetention: yearly ---

TEST(ApplyRetentionTest, KeepYearlyKeepsTheLastSnapshotOfEachYear) {
  const auto candidates = Snapshots({"2023-03-03 08:00", "2021-07-01 12:00", "2021-01-01 00:00:00",
                                     "2020-12-31 23:59:59", "2020-01-01 00:00", "2019-06-01 06:00"});
  RetentionPolicy policy;
  policy.keep_yearly = 3;
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("yearly snapshot", {"2023-03-03 08:00", "2021-07-01 12:00", "2020-12-31 23:59:59"}));
  policy.keep_yearly = -1;
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("yearly snapshot", {"2023-03-03 08:00", "2021-07-01 12:00", "2020-12-31 23:59:59",
                                        "2019-06-01 06:00"}));
}

TEST(ApplyRetentionTest, PeriodsBeforeTheEpochRoundDown) {
  // 1970-01-01 was a Thursday, so its ISO week began on Monday 1969-12-29.
  const auto candidates = Snapshots({"1970-01-01 00:10", "1969-12-31 23:59", "1969-12-31 23:00",
                                     "1969-12-29 00:00", "1969-12-28 23:59"});
  RetentionPolicy hourly;
  hourly.keep_hourly = -1;
  EXPECT_EQ(Kept(ApplyRetention(hourly, candidates)),
            KeptFor("hourly snapshot", {"1970-01-01 00:10", "1969-12-31 23:59", "1969-12-29 00:00",
                                        "1969-12-28 23:59"}));
  RetentionPolicy weekly;
  weekly.keep_weekly = -1;
  EXPECT_EQ(Kept(ApplyRetention(weekly, candidates)),
            KeptFor("weekly snapshot", {"1970-01-01 00:10", "1969-12-28 23:59"}));
}

// --- ApplyRetention: combined counted rules ---

TEST(ApplyRetentionTest, CombinedRulesOverAYearListEveryRuleThatKept) {
  RetentionPolicy policy;
  policy.keep_last = 2;
  policy.keep_daily = 7;
  policy.keep_weekly = 4;
  policy.keep_monthly = 12;
  policy.keep_yearly = 1;
  const KeptSnapshots expected = {
      {"2023-12-31 20:30",
       {"last snapshot", "daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot"}},
      {"2023-12-31 02:00", {"last snapshot"}},
      {"2023-12-30 20:30", {"daily snapshot"}},
      {"2023-12-29 14:00", {"daily snapshot"}},
      {"2023-12-28 14:00", {"daily snapshot"}},
      {"2023-12-27 14:00", {"daily snapshot"}},
      {"2023-12-26 14:00", {"daily snapshot"}},
      {"2023-12-25 14:00", {"daily snapshot"}},
      {"2023-12-24 20:30", {"weekly snapshot"}},
      {"2023-12-17 20:30", {"weekly snapshot"}},
      {"2023-12-10 20:30", {"weekly snapshot"}},
      {"2023-11-30 14:00", {"monthly snapshot"}},
      {"2023-10-31 14:00", {"monthly snapshot"}},
      {"2023-09-30 20:30", {"monthly snapshot"}},
      {"2023-08-31 14:00", {"monthly snapshot"}},
      {"2023-07-31 14:00", {"monthly snapshot"}},
      {"2023-06-30 14:00", {"monthly snapshot"}},
      {"2023-05-31 14:00", {"monthly snapshot"}},
      {"2023-04-30 20:30", {"monthly snapshot"}},
      {"2023-03-31 14:00", {"monthly snapshot"}},
      {"2023-02-28 14:00", {"monthly snapshot"}},
      {"2023-01-31 14:00", {"monthly snapshot"}},
  };
  EXPECT_EQ(Kept(ApplyRetention(policy, TwiceDaily2023())), expected);
}

TEST(ApplyRetentionTest, HourlyAndDailyShareTheNewestSnapshotThenDiverge) {
  RetentionPolicy policy;
  policy.keep_hourly = 2;
  policy.keep_daily = 2;
  const auto candidates = Snapshots({"2024-06-02 18:40", "2024-06-02 18:10", "2024-06-02 09:00",
                                     "2024-06-01 22:00", "2024-06-01 21:00"});
  const KeptSnapshots expected = {
      {"2024-06-02 18:40", {"hourly snapshot", "daily snapshot"}},
      {"2024-06-02 09:00", {"hourly snapshot"}},
      {"2024-06-01 22:00", {"daily snapshot"}},
  };
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)), expected);
}

// --- ApplyRetention: keep_within ---

TEST(ApplyRetentionTest, KeepWithinIsMeasuredFromTheNewestSnapshot) {
  // Years old, so measuring from the current time instead would keep nothing.
  const auto candidates = Snapshots({"2015-06-10 12:00", "2015-06-09 18:00", "2015-06-08 12:00:01",
                                     "2015-06-08 12:00:00", "2015-06-01 00:00"});
  EXPECT_EQ(Kept(ApplyRetention(PolicyKeepingWithin("2d"), candidates)),
            KeptFor("within 2d", {"2015-06-10 12:00", "2015-06-09 18:00", "2015-06-08 12:00:01"}));
}

TEST(ApplyRetentionTest, KeepWithinExcludesSnapshotsExactlyTheDurationOld) {
  const int64_t newest = UnixNanoseconds("2024-01-01 00:00");
  const int64_t one_hour_ns = 3600 * kNanosecondsPerSecond;
  const std::vector<RetentionCandidate> candidates = {
      {"newest", newest, {}},
      {"one nanosecond inside", newest - one_hour_ns + 1, {}},
      {"exactly one hour old", newest - one_hour_ns, {}},
  };
  RetentionPolicy policy;
  policy.keep_within = hours{1};
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)),
            KeptFor("within 1h", {"newest", "one nanosecond inside"}));
}

TEST(ApplyRetentionTest, KeepWithinReasonUsesDaysAndHours) {
  const std::vector<std::pair<std::string, std::string>> duration_to_reason = {
      {"7d", "within 7d"},       {"1w", "within 7d"},       {"36h", "within 1d12h"},
      {"1m", "within 30d"},      {"1y", "within 365d"},     {"2y5m7d3h", "within 887d3h"},
      {"24h", "within 1d"},      {"5h", "within 5h"},
  };
  const std::vector<RetentionCandidate> single = {Snapshot("2024-01-01 00:00")};
  for (const auto& [duration, reason] : duration_to_reason) {
    EXPECT_EQ(Kept(ApplyRetention(PolicyKeepingWithin(duration), single)),
              KeptFor(reason, {"2024-01-01 00:00"}))
        << duration;
  }
  RetentionPolicy ninety_minutes;
  ninety_minutes.keep_within = minutes{90};
  EXPECT_EQ(Kept(ApplyRetention(ninety_minutes, single)), KeptFor("within 1h1800s", {"2024-01-01 00:00"}));
}

// --- ApplyRetention: keep_tags ---

TEST(ApplyRetentionTest, KeepTagsKeepsSnapshotsCarryingAnyOfTheTags) {
  RetentionPolicy policy;
  policy.keep_tags = {"prod", "monthly"};
  const std::vector<RetentionCandidate> candidates = {
      Snapshot("2024-01-05 10:00", {"monthly", "prod"}),
      Snapshot("2024-01-04 10:00", {"staging"}),
      Snapshot("2024-01-03 10:00"),
      Snapshot("2024-01-02 10:00", {"nightly", "monthly"}),
      Snapshot("2024-01-01 10:00", {"Prod"}),
  };
  const KeptSnapshots expected = {
      {"2024-01-05 10:00", {"tag prod", "tag monthly"}},
      {"2024-01-02 10:00", {"tag monthly"}},
  };
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)), expected);
}

TEST(ApplyRetentionTest, TagNamedTwiceInThePolicyGivesOneReason) {
  RetentionPolicy policy;
  policy.keep_tags = {"prod", "prod"};
  EXPECT_EQ(Kept(ApplyRetention(policy, {Snapshot("2024-01-01 00:00", {"prod"})})),
            KeptFor("tag prod", {"2024-01-01 00:00"}));
}

// --- ApplyRetention: every kind of rule at once ---

TEST(ApplyRetentionTest, ReasonsFollowThePolicyFieldOrder) {
  RetentionPolicy policy = PolicyKeepingWithin("1d");
  policy.keep_last = 1;
  policy.keep_daily = 1;
  policy.keep_tags = {"prod", "audit"};
  const std::vector<RetentionCandidate> candidates = {
      Snapshot("2024-02-10 08:00", {"audit", "prod"}),
      Snapshot("2024-02-09 09:00"),
      Snapshot("2024-02-09 08:00"),
      Snapshot("2024-02-01 08:00", {"audit"}),
      Snapshot("2024-01-01 08:00"),
  };
  const KeptSnapshots expected = {
      {"2024-02-10 08:00", {"last snapshot", "daily snapshot", "within 1d", "tag prod", "tag audit"}},
      {"2024-02-09 09:00", {"within 1d"}},
      {"2024-02-01 08:00", {"tag audit"}},
  };
  EXPECT_EQ(Kept(ApplyRetention(policy, candidates)), expected);
}

// --- ParseRetentionDuration ---

TEST(ParseRetentionDurationTest, AcceptsEveryUnitAndCombinations) {
  const std::vector<std::pair<std::string, int64_t>> text_to_seconds = {
      {"1h", 3600},
      {"48h", 172800},
      {"1d", 86400},
      {"7d", 604800},
      {"1w", 604800},
      {"1m", 2592000},
      {"1y", 31536000},
      {"2y5m7d3h", 76647600},
      {"3h2d", 183600},
      {"007d", 604800},
      {"0d", 0},
  };
  for (const auto& [text, expected_seconds] : text_to_seconds) {
    const Result<seconds> parsed = ParseRetentionDuration(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status().ToString();
    EXPECT_EQ(parsed->count(), expected_seconds) << text;
  }
}

TEST(ParseRetentionDurationTest, RejectsMalformedTextWithTheCause) {
  const std::vector<std::pair<std::string, std::string>> text_to_message = {
      {"", "invalid retention duration \"\": empty; use y, m, w, d or h, e.g. 7d or 2y5m"},
      {"d", "invalid retention duration \"d\": unit 'd' has no number before it"},
      {"7", "invalid retention duration \"7\": number 7 has no unit; use y, m, w, d or h, e.g. 7d or 2y5m"},
      {"2y5", "invalid retention duration \"2y5\": number 5 has no unit; use y, m, w, d or h, e.g. 7d or 2y5m"},
      {"7x", "invalid retention duration \"7x\": unknown unit 'x'; use y, m, w, d or h, e.g. 7d or 2y5m"},
      {"7D", "invalid retention duration \"7D\": unknown unit 'D'; use y, m, w, d or h, e.g. 7d or 2y5m"},
      {"1.5d", "invalid retention duration \"1.5d\": unknown unit '.'; use y, m, w, d or h, e.g. 7d or 2y5m"},
      {"-1d", "invalid retention duration \"-1d\": expected a number, found '-'"},
      {" 7d", "invalid retention duration \" 7d\": expected a number, found ' '"},
      {"7d ", "invalid retention duration \"7d \": expected a number, found ' '"},
      {"99999999999999999999d", "invalid retention duration \"99999999999999999999d\": too large"},
      {"300000000000y", "invalid retention duration \"300000000000y\": too large"},
  };
  for (const auto& [text, message] : text_to_message) {
    const Result<seconds> parsed = ParseRetentionDuration(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(parsed.status().message(), message);
  }
}

}  // namespace
}  // namespace cairn

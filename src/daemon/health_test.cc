#include "daemon/health.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kH = 3600 * kS;
constexpr int64_t kD = 24 * kH;
constexpr int64_t kNow = 1'800'000'000 * kS;

ServiceConfig Service(Json schedule, const std::string& type = "postgres") {
  ServiceConfig s;
  s.name = "app-db";
  s.type = type;
  s.targets = {"local", "offsite"};
  s.schedule = std::move(schedule);
  return s;
}

PointRecord Point(int64_t age_ns, std::vector<std::string> targets = {"local", "offsite"}) {
  PointRecord p;
  p.service = "app-db";
  p.id = "6fc69ea733a0125e";
  p.time_ns = kNow - age_ns;
  p.parts = {{"db.app", "stream", 100, std::nullopt}};
  for (auto& t : targets) p.targets.push_back(PointTarget{t, "x", 1, p.time_ns});
  return p;
}

TEST(HealthTest, AWeeklyScheduleIsNotStaleOnDayTwo) {
  ServiceConfig s = Service({{"cron", "0 3 * * 0"}});
  HealthInputs in;
  in.now_ns = kNow;
  in.newest = Point(2 * kD);
  ServiceHealth h = ComputeHealth(s, ServiceSchedules::Of(s), in);
  EXPECT_TRUE(h.recent.ok) << h.recent.detail;
  EXPECT_EQ(h.state, HealthState::kHealthy);
  in.newest = Point(9 * kD);  // 1.25 weeks is 8.75 days
  h = ComputeHealth(s, ServiceSchedules::Of(s), in);
  EXPECT_FALSE(h.recent.ok);
  EXPECT_EQ(h.state, HealthState::kStale);
}

TEST(HealthTest, FreshnessIsTheConfiguredValueOrDerivedFromTheSchedule) {
  ServiceConfig s = Service({{"every", "1h"}});
  EXPECT_EQ(FreshnessNs(s, ServiceSchedules::Of(s), 0, kNow), kH + kH / 4);
  EXPECT_EQ(FreshnessNs(s, ServiceSchedules::Of(s), 60, kNow), kH + kH / 4 + 60 * kS);  // plus the p95 duration
  s.freshness_ns = 2 * kH;
  EXPECT_EQ(FreshnessNs(s, ServiceSchedules::Of(s), 60, kNow), 2 * kH);
  EXPECT_EQ(FreshnessNs(Service(nullptr), ServiceSchedules::Of(Service(nullptr)), 60, kNow), 0);  // nothing to judge by
}

TEST(HealthTest, FailingWinsAndUnknownBeforeTheFirstPoint) {
  ServiceConfig s = Service({{"every", "1h"}});
  HealthInputs in;
  in.now_ns = kNow;
  EXPECT_EQ(ComputeHealth(s, ServiceSchedules::Of(s), in).state, HealthState::kUnknown);
  in.newest = Point(10 * 60 * kS);
  in.last_backup = JobStatus::kFailed;
  EXPECT_EQ(ComputeHealth(s, ServiceSchedules::Of(s), in).state, HealthState::kFailing);
  in.last_backup = JobStatus::kSucceeded;
  in.critical_alert_open = true;
  EXPECT_EQ(ComputeHealth(s, ServiceSchedules::Of(s), in).state, HealthState::kFailing);
}

TEST(HealthTest, CompleteNamesAMissingTargetAndASmallBackup) {
  ServiceConfig s = Service({{"every", "1h"}});
  HealthInputs in;
  in.now_ns = kNow;
  in.newest = Point(60 * kS, {"local"});
  ServiceHealth h = ComputeHealth(s, ServiceSchedules::Of(s), in);
  EXPECT_FALSE(h.complete.ok);
  EXPECT_NE(h.complete.detail.find("offsite"), std::string::npos) << h.complete.detail;
  in.newest = Point(60 * kS);
  EXPECT_TRUE(ComputeHealth(s, ServiceSchedules::Of(s), in).complete.ok);
  in.small_backup_alert_open = true;
  EXPECT_FALSE(ComputeHealth(s, ServiceSchedules::Of(s), in).complete.ok);
}

TEST(HealthTest, VerifiedNeedsAPassedDrillWithinThePeriod) {
  ServiceConfig s = Service({{"every", "1h"}});  // a database: daily drills by default
  HealthInputs in;
  in.now_ns = kNow;
  in.newest = Point(60 * kS);
  EXPECT_FALSE(ComputeHealth(s, ServiceSchedules::Of(s), in).verified.ok);
  DrillStatus d;
  d.service = s.name;
  d.success_ns = d.last_ns = kNow - 20 * kH;
  d.last_outcome = DrillOutcome::kPassed;
  d.success_duration_s = 14.2;
  in.drill = d;
  ServiceHealth h = ComputeHealth(s, ServiceSchedules::Of(s), in);
  EXPECT_TRUE(h.verified.ok) << h.verified.detail;
  EXPECT_EQ(h.verified_at_ns, d.success_ns);
  in.drill->success_ns = in.drill->last_ns = kNow - 2 * kD;
  EXPECT_FALSE(ComputeHealth(s, ServiceSchedules::Of(s), in).verified.ok);
  // A newer failed drill outweighs an older pass.
  in.drill->success_ns = kNow - 20 * kH;
  in.drill->last_ns = kNow - kH;
  in.drill->last_outcome = DrillOutcome::kFailed;
  h = ComputeHealth(s, ServiceSchedules::Of(s), in);
  EXPECT_FALSE(h.verified.ok);
  EXPECT_NE(h.verified.detail.find("failed"), std::string::npos);
  // Volumes have no drills unless asked for; verify: false turns them off.
  EXPECT_FALSE(VerifySchedule(Service(nullptr, "volume")).has_value());
  ServiceConfig off = Service(nullptr);
  off.verify = false;
  EXPECT_FALSE(VerifySchedule(off).has_value());
  EXPECT_TRUE(VerifySchedule(Service(nullptr)).has_value());
}

TEST(HealthTest, FormatAge) {
  EXPECT_EQ(FormatAge(30 * kS), "30 s");
  EXPECT_EQ(FormatAge(12 * 60 * kS), "12 min");
  EXPECT_EQ(FormatAge(3 * kH), "3 h");
  EXPECT_EQ(FormatAge(3 * kD), "3 d");
}

}  // namespace
}  // namespace cairn

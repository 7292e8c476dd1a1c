// The alert rules against a real (SQLite) catalog on a fake clock.
#include "daemon/alerts.h"

#include <gtest/gtest.h>

#include "daemon/testing/catalog_test_util.h"

namespace cairn {
namespace {

using catalog_testing::CatalogFixture;
using catalog_testing::IsOk;
using catalog_testing::kSecond;
using catalog_testing::kT0;
using catalog_testing::MakePoint;

constexpr int64_t kHour = 3600 * kSecond;

struct Sent {
  AlertRule rule;
  AlertEvent event;
  Severity severity;
  std::string service, target, message;
};

class AlertsTest : public CatalogFixture {
 protected:
  void SetUp() override {
    CatalogFixture::SetUp();
    ServiceConfig s;
    s.name = "app-db";
    s.type = "postgres";
    s.targets = {"local", "offsite"};
    s.schedule = Json{{"every", "1h"}};
    config_.services.push_back(s);
    TargetConfig local;
    local.name = "local";
    local.type = "repository";
    local.location = "/srv/backups/local";
    TargetConfig offsite = local;
    offsite.name = "offsite";
    offsite.location = "s3:https://s3.example.com/bucket";
    config_.targets = {local, offsite};
    for (const auto& svc : config_.services) schedules_[svc.name] = ServiceSchedules::Of(svc);
    MakeEngine();
  }
  void MakeEngine() {
    engine_ = std::make_unique<AlertEngine>(
        cat(), &clock_,
        [this](const AlertRecord& a, AlertEvent e) {
          sent_.push_back({a.rule, e, a.severity, a.service, a.target, a.message});
        },
        [this](const std::string&) -> Result<double> { return fill_; });
  }
  // A backup of app-db that ran `seconds` and ended with `status`, making
  // point `point_id` of `size` bytes (none when the status is failed).
  JobRecord Backup(JobStatus status, const std::string& point_id = "", uint64_t size = 1000, int seconds = 100,
                   const std::string& failed_target = "") {
    auto id = cat().InsertJob({JobKind::kBackup, "app-db", {"local", "offsite"}, Trigger::kSchedule, {}});
    EXPECT_TRUE(IsOk(id));
    EXPECT_TRUE(IsOk(cat().StartJob(*id)));
    const int64_t started = clock_.NowNs();
    clock_.Advance(seconds * kSecond);
    JobOutcome out;
    out.status = status;
    if (status == JobStatus::kFailed) out.error = "pg_dump: connection refused";
    if (!point_id.empty()) {
      out.point_id = point_id;
      for (const char* t : {"local", "offsite"}) {
        const bool failed = failed_target == t;
        TargetOutcome to;
        to.target = t;
        to.status = failed ? JobStatus::kFailed : JobStatus::kSucceeded;
        to.error = failed ? "s3: 503 Slow Down" : "";
        to.point_id = failed ? "" : point_id;
        to.size = size;
        out.targets.push_back(to);
        if (!failed) out.points.push_back(MakePoint("app-db", point_id, t, started, size));
      }
    }
    EXPECT_TRUE(IsOk(cat().FinishJob(*id, out)));
    auto job = cat().GetJob(*id);
    EXPECT_TRUE(IsOk(job));
    return *job;
  }
  JobRecord Other(JobKind kind, JobStatus status, const std::string& error, const std::string& service = "",
                  std::vector<std::string> targets = {"local"}) {
    auto id = cat().InsertJob({kind, service, std::move(targets), Trigger::kSchedule, {}});
    EXPECT_TRUE(IsOk(id));
    EXPECT_TRUE(IsOk(cat().StartJob(*id)));
    clock_.Advance(10 * kSecond);
    JobOutcome out;
    out.status = status;
    out.error = error;
    EXPECT_TRUE(IsOk(cat().FinishJob(*id, out)));
    return *cat().GetJob(*id);
  }
  std::vector<AlertRecord> Open() {
    auto page = cat().ListAlerts(AlertState::kOpen, PageRequest{100, ""});
    EXPECT_TRUE(IsOk(page));
    return page->items;
  }
  void Evaluate() { engine_->Evaluate(config_, schedules_, thresholds_); }

  Config config_;
  std::map<std::string, ServiceSchedules> schedules_;
  AlertThresholds thresholds_;
  double fill_ = 40;
  std::vector<Sent> sent_;
  std::unique_ptr<AlertEngine> engine_;
};

TEST_F(AlertsTest, AFailedBackupOpensOneCriticalAlertThatCountsRepeatsAndResolvesOnSuccess) {
  engine_->JobEnded(Backup(JobStatus::kFailed), thresholds_);
  engine_->JobEnded(Backup(JobStatus::kFailed), thresholds_);
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kJobFailed);
  EXPECT_EQ(open[0].severity, Severity::kCritical);
  EXPECT_EQ(open[0].occurrences, 2);
  EXPECT_NE(open[0].message.find("connection refused"), std::string::npos) << open[0].message;
  ASSERT_EQ(sent_.size(), 1u);  // a repeat is not notified again
  EXPECT_EQ(sent_[0].event, AlertEvent::kOpened);

  engine_->JobEnded(Backup(JobStatus::kSucceeded, "1111111111111111"), thresholds_);
  EXPECT_TRUE(Open().empty());
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].event, AlertEvent::kResolved);
  EXPECT_EQ(sent_[1].rule, AlertRule::kJobFailed);
}

TEST_F(AlertsTest, APartialBackupNamesTheTargetMissingThePoint) {
  engine_->JobEnded(Backup(JobStatus::kPartial, "2222222222222222", 1000, 100, "offsite"), thresholds_);
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].severity, Severity::kWarning);
  EXPECT_EQ(open[0].target, "offsite");
  EXPECT_NE(open[0].message.find("missing on target offsite"), std::string::npos) << open[0].message;
  EXPECT_NE(open[0].message.find("503"), std::string::npos) << open[0].message;
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "3333333333333333"), thresholds_);
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, APointMuchSmallerThanThePreviousOneIsSuspicious) {
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "4444444444444444", 10'000'000), thresholds_);
  EXPECT_TRUE(Open().empty());
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "5555555555555555", 200), thresholds_);
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kSmallBackup);
  EXPECT_NE(open[0].message.find("0% of the previous one (444444444444"), std::string::npos) << open[0].message;
  // Back to a normal size (compared with the small one, which it dwarfs).
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "6666666666666666", 9'000'000), thresholds_);
  EXPECT_TRUE(Open().empty());
  // The ratio is configurable: 0 turns the rule off.
  thresholds_.small_backup_ratio = 0;
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "7777777777777777", 1), thresholds_);
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, OverdueCountsFromTheLastSuccessOrFromWhenTheServiceWasFirstWatched) {
  Evaluate();
  EXPECT_TRUE(Open().empty());
  // Never backed up: 1.25 x 1 h plus p95 (none yet) = 75 min.
  clock_.Advance(70 * 60 * kSecond);
  Evaluate();
  EXPECT_TRUE(Open().empty());
  clock_.Advance(10 * 60 * kSecond);
  Evaluate();
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kOverdue);
  EXPECT_NE(open[0].message.find("no successful backup yet"), std::string::npos) << open[0].message;
  // Judged again: still one alert, no second notification.
  Evaluate();
  EXPECT_EQ(Open().size(), 1u);
  EXPECT_EQ(sent_.size(), 1u);

  engine_->JobEnded(Backup(JobStatus::kSucceeded, "8888888888888888"), thresholds_);
  Evaluate();
  EXPECT_TRUE(Open().empty());
  EXPECT_EQ(sent_.back().event, AlertEvent::kResolved);

  // A schedule that silently stopped: the newest success ages past freshness.
  clock_.Advance(2 * kHour);
  Evaluate();
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_NE(open[0].message.find("newest successful backup of app-db is 2 h old"), std::string::npos)
      << open[0].message;
}

TEST_F(AlertsTest, AWeeklyScheduleIsNotOverdueOnDayTwo) {
  config_.services[0].schedule = Json{{"cron", "0 3 * * 0"}};
  schedules_["app-db"] = ServiceSchedules::Of(config_.services[0]);
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "9999999999999999"), thresholds_);
  clock_.Advance(48 * kHour);
  Evaluate();
  EXPECT_TRUE(Open().empty());
  clock_.Advance(8 * 24 * kHour);
  Evaluate();
  EXPECT_EQ(Open().size(), 1u);
}

TEST_F(AlertsTest, AJobRunningMuchLongerThanUsualIsStuckUntilItEnds) {
  thresholds_.stuck_floor_ns = 0;
  for (const char* id : {"a000000000000001", "a000000000000002", "a000000000000003"})
    engine_->JobEnded(Backup(JobStatus::kSucceeded, id, 1000, 100), thresholds_);
  auto id = cat().InsertJob({JobKind::kBackup, "app-db", {"local"}, Trigger::kSchedule, {}});
  ASSERT_TRUE(IsOk(cat().StartJob(*id)));
  clock_.Advance(250 * kSecond);
  Evaluate();
  EXPECT_TRUE(Open().empty());  // 250 s < 3 x 100 s
  clock_.Advance(100 * kSecond);
  Evaluate();
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kStuck);
  EXPECT_NE(open[0].message.find("job " + std::to_string(*id)), std::string::npos) << open[0].message;
  JobOutcome cancelled;
  cancelled.status = JobStatus::kCancelled;
  ASSERT_TRUE(IsOk(cat().FinishJob(*id, cancelled)));
  Evaluate();
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, TooFewRunsOrTheFloorKeepShortJobsFromBeingStuck) {
  for (const char* id : {"b000000000000001", "b000000000000002", "b000000000000003"})
    engine_->JobEnded(Backup(JobStatus::kSucceeded, id, 1000, 2), thresholds_);
  auto id = cat().InsertJob({JobKind::kBackup, "app-db", {"local"}, Trigger::kSchedule, {}});
  ASSERT_TRUE(IsOk(cat().StartJob(*id)));
  clock_.Advance(30 * kSecond);  // 15 x its usual 2 s, but below the 60 s floor
  Evaluate();
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, ALocalTargetAboveTheFillThresholdAlertsAndS3IsNeverMeasured) {
  fill_ = 95;
  Evaluate();
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kTargetFull);
  EXPECT_EQ(open[0].target, "local");  // offsite is S3: no fill level
  EXPECT_NE(open[0].message.find("95% full (alert at 90%)"), std::string::npos) << open[0].message;
  fill_ = 50;
  Evaluate();
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, FileSystemUsedPercentMeasuresTheNearestExistingDirectory) {
  auto used = FileSystemUsedPercent(dir_.path() + "/not/yet/created");
  ASSERT_TRUE(IsOk(used));
  EXPECT_GT(*used, 0);
  EXPECT_LE(*used, 100);
}

TEST_F(AlertsTest, AnUnreachableTargetAlertsUntilASyncReadsIt) {
  // Not there before anything was written to it: the first backup creates it.
  engine_->SyncEnded({{"unreachable", Json::object()}, {"missing", {{"local", "no such directory"}}}});
  EXPECT_TRUE(Open().empty());
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "d000000000000001"), thresholds_);
  engine_->SyncEnded({{"unreachable", {{"offsite", "connect timed out"}}}, {"missing", Json::object()}});
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kTargetUnreachable);
  EXPECT_EQ(open[0].severity, Severity::kCritical);
  EXPECT_NE(open[0].message.find("connect timed out"), std::string::npos);
  engine_->SyncEnded({{"unreachable", Json::object()}, {"missing", {{"local", "no such directory"}}}});
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].target, "local");
  EXPECT_NE(open[0].message.find("is not there"), std::string::npos);
  engine_->SyncEnded({{"unreachable", Json::object()}, {"missing", Json::object()}});
  EXPECT_TRUE(Open().empty());
  // A backup that reaches a target clears its alert before the next sync.
  engine_->SyncEnded({{"unreachable", {{"offsite", "connect timed out"}}}, {"missing", Json::object()}});
  ASSERT_EQ(Open().size(), 1u);
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "d000000000000002"), thresholds_);
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, FailedChecksAndDrillsAreCriticalAndNameTheCause) {
  engine_->JobEnded(Other(JobKind::kCheck, JobStatus::kFailed, "pack 3fa2b1 is truncated; run cairn repair"),
                    thresholds_);
  engine_->JobEnded(Other(JobKind::kDrill, JobStatus::kFailed, "validation: table orders has 0 rows, expected 12",
                          "app-db", {"local"}),
                    thresholds_);
  auto open = Open();
  ASSERT_EQ(open.size(), 2u);
  for (const auto& a : open) {
    EXPECT_EQ(a.severity, Severity::kCritical);
    if (a.rule == AlertRule::kCheckFailed) EXPECT_NE(a.message.find("pack 3fa2b1"), std::string::npos);
    else EXPECT_NE(a.message.find("table orders"), std::string::npos);
  }
  engine_->JobEnded(Other(JobKind::kCheck, JobStatus::kSucceeded, ""), thresholds_);
  engine_->JobEnded(Other(JobKind::kDrill, JobStatus::kSucceeded, "", "app-db"), thresholds_);
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, ARestartNeitherRepeatsNorForgetsOpenConditions) {
  Evaluate();  // first watched now
  clock_.Advance(3 * kHour);
  Evaluate();
  ASSERT_EQ(Open().size(), 1u);
  ASSERT_EQ(sent_.size(), 1u);
  MakeEngine();  // the daemon restarted
  Evaluate();
  EXPECT_EQ(sent_.size(), 1u);
  engine_->JobEnded(Backup(JobStatus::kSucceeded, "c000000000000001"), thresholds_);
  Evaluate();
  EXPECT_TRUE(Open().empty());
  EXPECT_EQ(sent_.back().event, AlertEvent::kResolved);
}

TEST_F(AlertsTest, ConditionsAboutAServiceNoLongerConfiguredResolve) {
  Evaluate();  // first watched now
  clock_.Advance(3 * kHour);
  Evaluate();
  ASSERT_EQ(Open().size(), 1u);
  config_.services.clear();
  schedules_.clear();
  Evaluate();
  EXPECT_TRUE(Open().empty());
}

TEST_F(AlertsTest, AFailingNotificationChannelAlertsOnceAndResolves) {
  engine_->ChannelHealth("ops-hook", true, "HTTP 500");
  engine_->ChannelHealth("ops-hook", true, "HTTP 500");
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kNotificationFailing);
  EXPECT_EQ(open[0].occurrences, 1);
  engine_->ChannelHealth("ops-hook", false, "");
  EXPECT_TRUE(Open().empty());
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

TEST_F(AlertsTest, AContinuousArchiveThatFallsBehindOrHasAGapAlertsUntilItIsCurrent) {
  thresholds_.archive_lag_ns = 300 * kSecond;
  ArchiveState a;
  a.service = "app-db";
  a.current_ns = a.watched_ns = clock_.NowNs();
  auto evaluate = [&](std::vector<ArchiveState> archives) {
    engine_->Evaluate(config_, schedules_, thresholds_, archives);
  };
  evaluate({a});
  EXPECT_TRUE(Open().empty());
  clock_.Advance(240 * kSecond);  // 4 min behind: under the threshold
  evaluate({a});
  EXPECT_TRUE(Open().empty());
  clock_.Advance(120 * kSecond);
  evaluate({a});
  auto open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].rule, AlertRule::kArchiveBehind);
  EXPECT_EQ(open[0].service, "app-db");
  EXPECT_NE(open[0].message.find("behind"), std::string::npos) << open[0].message;
  EXPECT_NE(open[0].message.find("streamer is down"), std::string::npos) << open[0].message;
  a.current_ns = clock_.NowNs();  // the streamer caught up
  evaluate({a});
  EXPECT_TRUE(Open().empty());
  EXPECT_EQ(sent_.back().event, AlertEvent::kResolved);

  a.gap = "mysql-bin.000002";
  evaluate({a});
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_NE(open[0].message.find("has a gap (mysql-bin.000002 is missing)"), std::string::npos) << open[0].message;
  a.gap.clear();  // a new base backup opened a window again
  evaluate({a});
  EXPECT_TRUE(Open().empty());

  // A streamer that never delivered anything counts from when it was first streamed.
  a.current_ns = 0;
  a.watched_ns = clock_.NowNs();
  clock_.Advance(360 * kSecond);
  evaluate({a});
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_NE(open[0].message.find("cannot start"), std::string::npos) << open[0].message;
  // The service no longer archives: nothing can clear the condition, so it resolves.
  evaluate({});
  EXPECT_TRUE(Open().empty());

  // A service's freshness shorter than the lag limit is the limit.
  evaluate({});
  a.trouble.clear();
  a.current_ns = clock_.NowNs();
  a.freshness_ns = 60 * kSecond;
  clock_.Advance(90 * kSecond);
  evaluate({a});
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_NE(open[0].message.find("(alert at 1 min)"), std::string::npos) << open[0].message;
  evaluate({});
  a.freshness_ns = 0;

  // What the streamer found wrong is in the message, e.g. a failing archive_command.
  a.current_ns = clock_.NowNs();
  clock_.Advance(360 * kSecond);
  a.trouble = "PostgreSQL's archive_command fails for 000000010000000000000007";
  evaluate({a});
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_NE(open[0].message.find("behind"), std::string::npos) << open[0].message;
  EXPECT_NE(open[0].message.find("The streamer says: PostgreSQL's archive_command fails for 000000010000000000000007"),
            std::string::npos)
      << open[0].message;
}

}  // namespace
}  // namespace cairn

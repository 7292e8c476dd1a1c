// Jobs and job logs in the SQLite catalog.
#include <gtest/gtest.h>

#include <set>

#include "daemon/catalog.h"
#include "daemon/testing/catalog_test_util.h"

namespace cairn {
namespace {

using catalog_testing::CatalogFixture;
using catalog_testing::IsOk;
using catalog_testing::kSecond;
using catalog_testing::kT0;
using catalog_testing::MakePoint;

class CatalogJobsTest : public CatalogFixture {
 protected:
  JobId Queue(const std::string& service, JobKind kind = JobKind::kBackup,
              std::vector<std::string> targets = {"local"}) {
    auto id = cat().InsertJob({kind, service, std::move(targets), Trigger::kSchedule});
    EXPECT_TRUE(IsOk(id));
    return id.ok() ? *id : 0;
  }
  // A job queued, run for `seconds` and ended with `status`.
  JobId Run(const std::string& service, JobStatus status, int seconds = 10, JobKind kind = JobKind::kBackup) {
    JobId id = Queue(service, kind);
    EXPECT_TRUE(IsOk(cat().StartJob(id)));
    clock_.Advance(seconds * kSecond);
    JobOutcome out;
    out.status = status;
    out.bytes_read = 5000;
    out.bytes_added = 700;
    if (status == JobStatus::kFailed) out.error = "pg_dump failed (exit 1)";
    EXPECT_TRUE(IsOk(cat().FinishJob(id, out)));
    clock_.Advance(kSecond);
    return id;
  }
  std::vector<JobId> AllIds(const JobFilter& filter, int limit) {
    std::vector<JobId> ids;
    PageRequest page{limit, ""};
    for (int guard = 0; guard < 10000; ++guard) {
      auto p = cat().ListJobs(filter, page);
      EXPECT_TRUE(IsOk(p));
      if (!p.ok()) break;
      for (const auto& j : p->items) ids.push_back(j.id);
      if (p->next_cursor.empty()) break;
      page.cursor = p->next_cursor;
    }
    return ids;
  }
};

TEST_F(CatalogJobsTest, LifecycleRecordsTimesStatusResultAndProgress) {
  auto id = cat().InsertJob({JobKind::kBackup, "app-db", {"local", "s3"}, Trigger::kApi});
  ASSERT_TRUE(IsOk(id));
  auto queued = cat().GetJob(*id);
  ASSERT_TRUE(IsOk(queued));
  EXPECT_EQ(queued->status, JobStatus::kQueued);
  EXPECT_EQ(queued->queued_ns, kT0);
  EXPECT_EQ(queued->started_ns, 0);
  EXPECT_EQ(queued->targets, (std::vector<std::string>{"local", "s3"}));
  EXPECT_EQ(queued->trigger, Trigger::kApi);
  EXPECT_TRUE(queued->progress.is_null());

  // Progress before the start is refused: the job is not running.
  EXPECT_EQ(cat().UpdateProgress(*id, {{"bytes_done", 1}}).code(), StatusCode::kInvalidArgument);
  clock_.Advance(2 * kSecond);
  ASSERT_TRUE(IsOk(cat().StartJob(*id)));
  EXPECT_EQ(cat().StartJob(*id).code(), StatusCode::kInvalidArgument);  // already running
  clock_.Advance(kSecond);
  ASSERT_TRUE(IsOk(cat().UpdateProgress(*id, {{"bytes_done", 100}, {"bytes_total", 400}})));
  auto running = cat().GetJob(*id);
  ASSERT_TRUE(IsOk(running));
  EXPECT_EQ(running->status, JobStatus::kRunning);
  EXPECT_EQ(running->started_ns, kT0 + 2 * kSecond);
  EXPECT_EQ(running->progress["bytes_total"], 400);
  EXPECT_EQ(running->progress_ns, kT0 + 3 * kSecond);

  clock_.Advance(7 * kSecond);
  JobOutcome out;
  out.status = JobStatus::kSucceeded;
  out.bytes_read = 123456;
  out.bytes_added = 789;
  out.point_id = "6fc69ea733a0125e";
  out.result = {{"files", 3}};
  ASSERT_TRUE(IsOk(cat().FinishJob(*id, out)));
  auto done = cat().GetJob(*id);
  ASSERT_TRUE(IsOk(done));
  EXPECT_EQ(done->status, JobStatus::kSucceeded);
  EXPECT_EQ(done->ended_ns, kT0 + 10 * kSecond);
  EXPECT_DOUBLE_EQ(done->duration_s(), 8.0);
  EXPECT_EQ(done->bytes_read, 123456u);
  EXPECT_EQ(done->bytes_added, 789u);
  EXPECT_EQ(done->point_id, "6fc69ea733a0125e");
  EXPECT_EQ(done->result["files"], 3);
  // The brief form: everything but the JSON columns.
  auto brief = cat().GetJobBrief(*id);
  ASSERT_TRUE(IsOk(brief));
  EXPECT_EQ(brief->status, JobStatus::kSucceeded);
  EXPECT_EQ(brief->trigger, Trigger::kApi);
  EXPECT_EQ(brief->ended_ns, done->ended_ns);
  EXPECT_EQ(brief->point_id, done->point_id);
  EXPECT_EQ(brief->targets, done->targets);
  EXPECT_TRUE(brief->result.is_null());
  EXPECT_TRUE(cat().GetJobBrief(9999).status().IsNotFound());

  // An ended job does not change again.
  EXPECT_EQ(cat().FinishJob(*id, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cat().UpdateProgress(*id, {{"x", 1}}).code(), StatusCode::kInvalidArgument);
  out.status = JobStatus::kRunning;
  EXPECT_EQ(cat().FinishJob(*id, out).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(cat().GetJob(9999).status().IsNotFound());
  EXPECT_TRUE(cat().StartJob(9999).IsNotFound());
}

TEST_F(CatalogJobsTest, QueuedJobCanBeCancelledWithoutStarting) {
  JobId id = Queue("app-db");
  JobOutcome out;
  out.status = JobStatus::kCancelled;
  ASSERT_TRUE(IsOk(cat().FinishJob(id, out)));
  auto job = cat().GetJob(id);
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->status, JobStatus::kCancelled);
  EXPECT_EQ(job->duration_s(), 0);
  // A cancelled backup says nothing about the target: no status row.
  auto status = cat().ListServiceStatus();
  ASSERT_TRUE(IsOk(status));
  EXPECT_TRUE(status->empty());
}

TEST_F(CatalogJobsTest, CursorsVisitEveryJobOnceNewestFirst) {
  std::vector<JobId> made;
  for (int i = 0; i < 237; ++i) made.push_back(Queue(i % 3 == 0 ? "a" : "b"));
  std::vector<JobId> expected(made.rbegin(), made.rend());
  EXPECT_EQ(AllIds({}, 50), expected);
  EXPECT_EQ(AllIds({}, 1), expected);
  EXPECT_EQ(AllIds({}, 1000), expected);

  JobFilter only_a;
  only_a.service = "a";
  std::vector<JobId> a;
  for (JobId id : expected)
    if ((id - made.front()) % 3 == 0) a.push_back(id);
  EXPECT_EQ(AllIds(only_a, 7), a);
}

TEST_F(CatalogJobsTest, CursorsStayStableWhileJobsArrive) {
  std::vector<JobId> before;
  for (int i = 0; i < 120; ++i) before.push_back(Queue("svc"));
  auto first = cat().ListJobs({}, {50, ""});
  ASSERT_TRUE(IsOk(first));
  ASSERT_EQ(first->items.size(), 50u);
  std::vector<JobId> seen;
  for (const auto& j : first->items) seen.push_back(j.id);
  // New jobs arrive between the pages: they are newer than the cursor.
  for (int i = 0; i < 30; ++i) Queue("svc");
  std::string cursor = first->next_cursor;
  while (!cursor.empty()) {
    auto page = cat().ListJobs({}, {50, cursor});
    ASSERT_TRUE(IsOk(page));
    for (const auto& j : page->items) seen.push_back(j.id);
    cursor = page->next_cursor;
  }
  EXPECT_EQ(seen, std::vector<JobId>(before.rbegin(), before.rend()));
}

TEST_F(CatalogJobsTest, FiltersByServiceStatusAndKindTogether) {
  Run("a", JobStatus::kSucceeded);
  JobId a_failed = Run("a", JobStatus::kFailed);
  Run("b", JobStatus::kFailed);
  JobId a_check_failed = Run("a", JobStatus::kFailed, 3, JobKind::kCheck);
  Queue("a");

  JobFilter f;
  f.service = "a";
  f.status = JobStatus::kFailed;
  EXPECT_EQ(AllIds(f, 50), (std::vector<JobId>{a_check_failed, a_failed}));
  f.kind = JobKind::kBackup;
  EXPECT_EQ(AllIds(f, 50), (std::vector<JobId>{a_failed}));
  JobFilter queued;
  queued.status = JobStatus::kQueued;
  EXPECT_EQ(AllIds(queued, 50).size(), 1u);
  auto page = cat().ListJobs(f, {50, ""});
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->items[0].error, "pg_dump failed (exit 1)");
}

TEST_F(CatalogJobsTest, AJobAndItsSchedulerStateAreWrittenTogether) {
  NewJob job;
  job.kind = JobKind::kBackup;
  job.service = "app";
  job.request = Json{{"task_key", "backup:app"}, {"scheduled_ns", 42}};
  auto id = cat().InsertJob(job, SchedulerState{"backup:app", Json{{"cursor", 42}}});
  ASSERT_TRUE(IsOk(id));
  auto state = cat().GetSchedulerState("backup:app");
  ASSERT_TRUE(IsOk(state) && state->has_value());
  EXPECT_EQ((**state).state["cursor"], 42);
  auto queued = cat().ListQueuedJobs();
  ASSERT_TRUE(IsOk(queued));
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].request["task_key"], "backup:app");
  ASSERT_TRUE(IsOk(cat().SetJobPid(*id, 4242)));
  EXPECT_EQ(cat().GetJob(*id)->pid, 4242);
  // A state without a key is refused before anything is written.
  EXPECT_FALSE(cat().InsertJob(job, SchedulerState{"", Json::object()}).ok());
  EXPECT_EQ(cat().ListQueuedJobs()->size(), 1u);
}

TEST_F(CatalogJobsTest, MalformedCursorIsRefused) {
  Queue("a");
  EXPECT_EQ(cat().ListJobs({}, {50, "zz"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cat().ListJobs({}, {50, "6a7c"}).status().code(), StatusCode::kInvalidArgument);  // "j|" no id
  // A cursor of another list (points) is not a jobs cursor.
  EXPECT_EQ(cat().ListJobs({}, {50, "707c317c61"}).status().code(), StatusCode::kInvalidArgument);  // "p|1|a"
}

TEST_F(CatalogJobsTest, MarkInterruptedEndsRunningJobsOnly) {
  JobId done = Run("a", JobStatus::kSucceeded);
  JobId running = Queue("a");
  ASSERT_TRUE(IsOk(cat().StartJob(running)));
  JobId queued = Queue("b", JobKind::kPrune);
  clock_.Advance(5 * kSecond);
  auto marked = cat().MarkInterrupted("the daemon stopped unexpectedly (killed or crashed) while this job ran");
  ASSERT_TRUE(IsOk(marked));
  ASSERT_EQ(marked->size(), 1u);
  EXPECT_EQ((*marked)[0].id, running);
  // A queued job waits for the restarted daemon's scheduler.
  auto still = cat().ListQueuedJobs();
  ASSERT_TRUE(IsOk(still));
  ASSERT_EQ(still->size(), 1u);
  EXPECT_EQ((*still)[0].id, queued);
  for (const auto& j : *marked) {
    EXPECT_EQ(j.status, JobStatus::kInterrupted);
    EXPECT_EQ(j.ended_ns, clock_.NowNs());
    EXPECT_NE(j.error.find("stopped unexpectedly"), std::string::npos);
  }
  auto untouched = cat().GetJob(done);
  ASSERT_TRUE(IsOk(untouched));
  EXPECT_EQ(untouched->status, JobStatus::kSucceeded);
  auto again = cat().MarkInterrupted("again");
  ASSERT_TRUE(IsOk(again));
  EXPECT_TRUE(again->empty());
  // An interrupted backup is not a failed backup: the status row keeps the success.
  auto status = cat().ListServiceStatus();
  ASSERT_TRUE(IsOk(status));
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].last_job, done);
}

TEST_F(CatalogJobsTest, CountsAreTotalsOfEndedJobsPlusLiveQueue) {
  Run("a", JobStatus::kSucceeded);
  Run("b", JobStatus::kSucceeded);
  Run("a", JobStatus::kFailed);
  Run("a", JobStatus::kSucceeded, 1, JobKind::kCheck);
  JobId r = Queue("a");
  ASSERT_TRUE(IsOk(cat().StartJob(r)));
  Queue("a");
  Queue("b");
  auto counts = cat().CountJobs();
  ASSERT_TRUE(IsOk(counts));
  auto count = [&](JobKind k, JobStatus s) {
    for (const auto& c : *counts)
      if (c.kind == k && c.status == s) return c.count;
    return int64_t{-1};
  };
  EXPECT_EQ(count(JobKind::kBackup, JobStatus::kSucceeded), 2);
  EXPECT_EQ(count(JobKind::kBackup, JobStatus::kFailed), 1);
  EXPECT_EQ(count(JobKind::kCheck, JobStatus::kSucceeded), 1);
  EXPECT_EQ(count(JobKind::kBackup, JobStatus::kRunning), 1);
  EXPECT_EQ(count(JobKind::kBackup, JobStatus::kQueued), 2);
  EXPECT_EQ(count(JobKind::kPrune, JobStatus::kSucceeded), -1);
}

TEST_F(CatalogJobsTest, RecentDurationsAreNewestSuccessesOfServiceAndKind) {
  Run("a", JobStatus::kSucceeded, 10);
  Run("a", JobStatus::kSucceeded, 20);
  Run("a", JobStatus::kFailed, 99);
  Run("a", JobStatus::kSucceeded, 30, JobKind::kCheck);
  Run("b", JobStatus::kSucceeded, 40);
  Run("a", JobStatus::kSucceeded, 50);
  auto d = cat().RecentDurations("a", JobKind::kBackup, 2);
  ASSERT_TRUE(IsOk(d));
  EXPECT_EQ(*d, (std::vector<double>{50, 20}));
  d = cat().RecentDurations("a", JobKind::kBackup, 100);
  ASSERT_TRUE(IsOk(d));
  EXPECT_EQ(*d, (std::vector<double>{50, 20, 10}));
}

TEST_F(CatalogJobsTest, FinishingABackupUpdatesStatusRowPointAndCountersTogether) {
  JobId id = Queue("app-db", JobKind::kBackup, {"local", "s3"});
  ASSERT_TRUE(IsOk(cat().StartJob(id)));
  clock_.Advance(30 * kSecond);
  JobOutcome out;
  out.status = JobStatus::kPartial;
  out.error = "s3: connection refused";
  out.targets = {{"local", JobStatus::kSucceeded, "", "p1", 5000, 400},
                 {"s3", JobStatus::kFailed, "connection refused", "", 0, 0}};
  out.points = {MakePoint("app-db", "p1", "local", kT0, 5000)};
  ASSERT_TRUE(IsOk(cat().FinishJob(id, out)));

  auto status = cat().ListServiceStatus();
  ASSERT_TRUE(IsOk(status));
  ASSERT_EQ(status->size(), 2u);
  const auto& local = (*status)[0];
  const auto& s3 = (*status)[1];
  EXPECT_EQ(local.target, "local");
  EXPECT_EQ(local.last_status, JobStatus::kSucceeded);
  EXPECT_EQ(local.success_job, id);
  EXPECT_EQ(local.success_ended_ns, kT0 + 30 * kSecond);
  EXPECT_DOUBLE_EQ(local.success_duration_s, 30);
  EXPECT_EQ(local.success_size, 5000u);
  EXPECT_EQ(local.success_added, 400u);
  EXPECT_EQ(local.success_point, "p1");
  EXPECT_EQ(local.points, 1);
  EXPECT_EQ(s3.last_status, JobStatus::kFailed);
  EXPECT_EQ(s3.last_error, "connection refused");
  EXPECT_EQ(s3.success_job, 0);
  EXPECT_EQ(s3.points, 0);
  auto point = cat().GetPoint("app-db", "p1");
  ASSERT_TRUE(IsOk(point));
  EXPECT_EQ(point->targets.size(), 1u);

  // A later failure changes the last status but keeps the last success.
  JobId failed = Run("app-db", JobStatus::kFailed);
  status = cat().ListServiceStatus();
  ASSERT_TRUE(IsOk(status));
  EXPECT_EQ((*status)[0].last_job, failed);
  EXPECT_EQ((*status)[0].last_status, JobStatus::kFailed);
  EXPECT_EQ((*status)[0].success_job, id);
}

TEST_F(CatalogJobsTest, AFailedFinishLeavesNothingBehind) {
  JobId id = Queue("app-db");
  ASSERT_TRUE(IsOk(cat().StartJob(id)));
  JobOutcome out;
  out.status = JobStatus::kSucceeded;
  out.points = {MakePoint("app-db", "p1", "local", kT0)};
  DrillRecord drill;  // about a point that is not cached: the whole finish fails
  drill.service = "app-db";
  drill.point_id = "nope";
  out.drills = {drill};
  EXPECT_TRUE(cat().FinishJob(id, out).IsNotFound());
  auto job = cat().GetJob(id);
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->status, JobStatus::kRunning);
  EXPECT_TRUE(cat().GetPoint("app-db", "p1").status().IsNotFound());
  auto counts = cat().CountJobs();
  ASSERT_TRUE(IsOk(counts));
  for (const auto& c : *counts) EXPECT_FALSE(IsFinal(c.status)) << ToString(c.status);
  auto status = cat().ListServiceStatus();
  ASSERT_TRUE(IsOk(status));
  EXPECT_TRUE(status->empty());
}

TEST_F(CatalogJobsTest, ImportKeepsHistoryAndDerivedRows) {
  std::vector<JobRecord> history;
  for (int i = 0; i < 5; ++i) {
    JobRecord j;
    j.kind = JobKind::kBackup;
    j.service = "app-db";
    j.targets = {"local"};
    j.status = i == 4 ? JobStatus::kFailed : JobStatus::kSucceeded;
    j.queued_ns = kT0 + i * 3600 * kSecond;
    j.started_ns = j.queued_ns + kSecond;
    j.ended_ns = j.started_ns + (i + 1) * kSecond;
    j.bytes_read = 1000 + i;
    j.point_id = "p" + std::to_string(i);
    history.push_back(j);
  }
  ASSERT_TRUE(IsOk(cat().ImportJobs(history)));
  auto status = cat().ListServiceStatus();
  ASSERT_TRUE(IsOk(status));
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].last_status, JobStatus::kFailed);
  EXPECT_EQ((*status)[0].success_point, "p3");
  EXPECT_EQ((*status)[0].success_size, 1003u);
  auto d = cat().RecentDurations("app-db", JobKind::kBackup, 10);
  ASSERT_TRUE(IsOk(d));
  EXPECT_EQ(*d, (std::vector<double>{4, 3, 2, 1}));
  JobRecord running;
  running.status = JobStatus::kRunning;
  EXPECT_EQ(cat().ImportJobs({running}).code(), StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------ logs

TEST_F(CatalogJobsTest, LogLinesAreReadAfterASequenceNumber) {
  JobId id = Queue("app-db");
  ASSERT_TRUE(IsOk(cat().AppendLog(id, {{0, 0, LogLevel::kInfo, "probe ok"},
                                        {0, kT0 - kSecond, LogLevel::kWarning, "slow"}})));
  ASSERT_TRUE(IsOk(cat().AppendLog(id, {{0, 0, LogLevel::kError, "part db failed"}})));
  auto all = cat().ReadLog(id, 0, 100);
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->lines.size(), 3u);
  EXPECT_EQ(all->lines[0].seq, 1);
  EXPECT_EQ(all->lines[0].time_ns, kT0);
  EXPECT_EQ(all->lines[1].time_ns, kT0 - kSecond);
  EXPECT_EQ(all->lines[1].level, LogLevel::kWarning);
  EXPECT_EQ(all->lines[2].text, "part db failed");
  EXPECT_EQ(all->last_seq, 3);
  EXPECT_EQ(all->dropped, 0);
  EXPECT_EQ(all->status, JobStatus::kQueued);

  auto tail = cat().ReadLog(id, 2, 100);
  ASSERT_TRUE(IsOk(tail));
  ASSERT_EQ(tail->lines.size(), 1u);
  EXPECT_EQ(tail->lines[0].seq, 3);
  auto none = cat().ReadLog(id, 3, 100);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->lines.empty());
  auto limited = cat().ReadLog(id, 0, 2);
  ASSERT_TRUE(IsOk(limited));
  EXPECT_EQ(limited->lines.size(), 2u);
  auto job = cat().GetJob(id);
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->log_lines, 3);
  EXPECT_TRUE(cat().AppendLog(777, {{0, 0, LogLevel::kInfo, "x"}}).IsNotFound());
  EXPECT_TRUE(cat().ReadLog(777, 0, 10).status().IsNotFound());
}

TEST_F(CatalogJobsTest, LogCapKeepsTheHeadAndTheNewestLines) {
  SqliteCatalogOptions options;
  options.log_cap_bytes = 64 * 1024;
  Reopen(options);
  JobId id = Queue("app-db");
  const std::string filler(90, 'x');
  const int total = 5000;  // 5000 x ~100 bytes = ~500 KB through a 64 KiB cap
  for (int batch = 0; batch < total / 100; ++batch) {
    std::vector<LogLine> lines;
    for (int i = 0; i < 100; ++i) {
      int n = batch * 100 + i + 1;
      lines.push_back({0, 0, LogLevel::kInfo, "line " + std::to_string(n) + " " + filler});
    }
    ASSERT_TRUE(IsOk(cat().AppendLog(id, lines)));
  }
  auto log = cat().ReadLog(id, 0, 10000);
  ASSERT_TRUE(IsOk(log));
  size_t bytes = 0;
  for (const auto& l : log->lines) bytes += l.text.size();
  EXPECT_LE(bytes, 64u * 1024);
  EXPECT_GT(bytes, 40u * 1024);  // the cap is used, not emptied
  EXPECT_EQ(log->last_seq, total);
  EXPECT_EQ(static_cast<int64_t>(log->lines.size()) + log->dropped, total);
  ASSERT_GT(log->head_end_seq, 0);
  // The head is whole and in order...
  for (int64_t s = 1; s <= log->head_end_seq; ++s) EXPECT_EQ(log->lines[s - 1].seq, s);
  EXPECT_EQ(log->lines[0].text.rfind("line 1 ", 0), 0u);
  // ...then a gap of exactly `dropped` lines, then the newest lines up to the last.
  const auto& after_gap = log->lines[log->head_end_seq];
  EXPECT_EQ(after_gap.seq, log->head_end_seq + log->dropped + 1);
  EXPECT_EQ(log->lines.back().seq, total);
  for (size_t i = log->head_end_seq + 1; i < log->lines.size(); ++i)
    EXPECT_EQ(log->lines[i].seq, log->lines[i - 1].seq + 1);
  auto job = cat().GetJob(id);
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->log_dropped, log->dropped);
  EXPECT_EQ(job->log_lines, total);
}

TEST_F(CatalogJobsTest, OverlongLineIsCutAtACharacterBoundary) {
  JobId id = Queue("app-db");
  std::string text;
  while (text.size() < 20000) text += "é";  // two bytes each
  ASSERT_TRUE(IsOk(cat().AppendLog(id, {{0, 0, LogLevel::kInfo, text}})));
  auto log = cat().ReadLog(id, 0, 10);
  ASSERT_TRUE(IsOk(log));
  ASSERT_EQ(log->lines.size(), 1u);
  const std::string& got = log->lines[0].text;
  EXPECT_LT(got.size(), 9000u);
  EXPECT_NE(got.find("[line cut at 8 KiB]"), std::string::npos);
  EXPECT_NO_THROW((void)Json(got).dump());  // valid UTF-8
}

}  // namespace
}  // namespace cairn

#include "daemon/scheduler.h"

#include <gtest/gtest.h>

#include "daemon/testing/memory_scheduler_store.h"
#include "daemon/testing/time_test_util.h"

namespace cairn {
namespace {

using namespace cairn::testing;

const int64_t kT0 = UtcNs(2024, 1, 1, 12);

Schedule Every(int64_t ns, CatchUp c = CatchUp::kOnce) {
  Schedule s = *Schedule::Every(ns);
  s.set_catch_up(c);
  return s;
}

Schedule Cron(const char* expr, const char* zone = "UTC") {
  auto tz = TimeZone::Load(zone);
  EXPECT_TRUE(tz.ok());
  return Schedule::Cron(*CronExpr::Parse(expr), *tz);
}

JobRequest Request(JobKind kind, std::string service, std::vector<TargetUse> targets, Trigger trigger) {
  JobRequest r;
  r.kind = kind;
  r.service = std::move(service);
  r.targets = std::move(targets);
  r.trigger = trigger;
  return r;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void Open() {
    auto r = Scheduler::Open(&store_, &clock_, options_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    s_ = std::move(*r);
    ASSERT_TRUE(s_->SetTasks(tasks_).ok());
  }
  // The daemon dies and starts again: running jobs become interrupted.
  void Restart() {
    s_.reset();
    store_.Restart();
    Open();
  }
  std::vector<Job> Poll() {
    PollResult r = s_->Poll();
    for (const Status& st : r.errors) ADD_FAILURE() << st.ToString();
    return r.start;
  }
  void Finish(JobId id, JobStatus status = JobStatus::kSucceeded) {
    ASSERT_TRUE(s_->Finished(id, status).ok());
    store_.SetStatus(id, status);
  }
  // Runs every job Poll starts to completion at once; returns them.
  std::vector<Job> PollAndFinish() {
    std::vector<Job> jobs = Poll();
    for (const Job& j : jobs) Finish(j.id);
    return jobs;
  }
  std::string WaitingOn(JobId id) {
    for (const QueuedJobInfo& q : s_->ListQueue())
      if (q.job.id == id) return q.waiting_on;
    return "(not queued)";
  }

  FakeClock clock_{kT0};
  MemorySchedulerStore store_;
  SchedulerOptions options_;
  std::vector<Task> tasks_;
  std::unique_ptr<Scheduler> s_;
};

TEST_F(SchedulerTest, NewEveryTaskRunsRightAwayThenOnItsGrid) {
  tasks_ = {BackupTask("app-db", {"local", "offsite"}, Every(10 * kSec))};
  Open();
  std::vector<Job> jobs = Poll();
  ASSERT_EQ(jobs.size(), 1u);
  const Job& j = jobs[0];
  EXPECT_EQ(j.request.kind, JobKind::kBackup);
  EXPECT_EQ(j.request.service, "app-db");
  EXPECT_EQ(j.request.task_key, "backup:app-db");
  EXPECT_EQ(j.request.targets, (std::vector<TargetUse>{{"local", LockMode::kShared}, {"offsite", LockMode::kShared}}));
  EXPECT_EQ(j.request.trigger, Trigger::kSchedule);
  EXPECT_EQ(j.request.scheduled_ns, kT0);
  EXPECT_EQ(j.request.missed, 0);
  EXPECT_EQ(j.started_ns, kT0);
  EXPECT_EQ(store_.jobs().at(j.id).status, JobStatus::kRunning);
  EXPECT_EQ(s_->ListRunning().size(), 1u);
  Finish(j.id);
  EXPECT_EQ(s_->NextWakeNs(), kT0 + 10 * kSec);
  clock_.Set(kT0 + 9 * kSec);
  EXPECT_TRUE(Poll().empty());
  clock_.Set(kT0 + 10 * kSec);
  jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.scheduled_ns, kT0 + 10 * kSec);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
}

TEST_F(SchedulerTest, CronTaskFiresOnlyAtMatchingMinutes) {
  clock_.Set(UtcNs(2024, 1, 1, 12, 2, 30));
  tasks_ = {PruneTask("local", Cron("*/5 * * * *"))};
  Open();
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(s_->NextWakeNs(), UtcNs(2024, 1, 1, 12, 5));
  clock_.Set(UtcNs(2024, 1, 1, 12, 5));
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.kind, JobKind::kPrune);
  EXPECT_EQ(jobs[0].request.service, "");
  EXPECT_EQ(jobs[0].request.targets, (std::vector<TargetUse>{{"local", LockMode::kExclusive}}));
  EXPECT_EQ(jobs[0].request.scheduled_ns, UtcNs(2024, 1, 1, 12, 5));
}

TEST_F(SchedulerTest, TheLoopSleepsExactlyUntilNextWake) {
  options_.max_concurrent_jobs = 2;
  tasks_ = {BackupTask("a", {"local"}, Every(7 * kSec)), PruneTask("other", Cron("* * * * *"))};
  Open();
  int backups = 0, prunes = 0;
  for (int i = 0; i < 200; ++i) {
    std::vector<Job> jobs = PollAndFinish();
    EXPECT_FALSE(jobs.empty()) << "woke at " << Utc(clock_.NowNs()) << " for nothing";
    for (const Job& j : jobs) {
      EXPECT_EQ(j.request.trigger, Trigger::kSchedule);
      EXPECT_EQ(j.request.scheduled_ns, clock_.NowNs());
      (j.request.kind == JobKind::kBackup ? backups : prunes)++;
    }
    ASSERT_TRUE(s_->NextWakeNs().has_value());
    ASSERT_GT(*s_->NextWakeNs(), clock_.NowNs());
    clock_.Set(*s_->NextWakeNs());
  }
  const int64_t elapsed = clock_.NowNs() - kT0;
  EXPECT_NEAR(backups, elapsed / (7 * kSec) + 1, 1);
  EXPECT_NEAR(prunes, elapsed / kMin + 1, 1);
}

TEST_F(SchedulerTest, CatchUpOnceAfterDowntimeIsOneJobCountingTheMissedFires) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kSec))};
  Open();
  ASSERT_EQ(PollAndFinish().size(), 1u);  // the first run, at kT0
  s_.reset();                             // the daemon stops...
  clock_.Set(kT0 + 105 * kSec);           // ...and misses the fires at +10s ... +100s
  store_.Restart();
  Open();
  std::vector<Job> jobs = Poll();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kCatchUp);
  EXPECT_EQ(jobs[0].request.missed, 10);
  EXPECT_EQ(jobs[0].request.scheduled_ns, kT0 + 100 * kSec);
  EXPECT_TRUE(Poll().empty());
  Finish(jobs[0].id);
  EXPECT_TRUE(Poll().empty());
  // Back on the schedule: the next fire is the grid's next after now.
  EXPECT_EQ(s_->NextWakeNs(), kT0 + 110 * kSec);
  clock_.Set(kT0 + 110 * kSec);
  jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  EXPECT_EQ(jobs[0].request.missed, 0);
}

TEST_F(SchedulerTest, CatchUpSkipRunsNothingAndReportsTheMissedOnTheNextRun) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kSec, CatchUp::kSkip))};
  Open();
  ASSERT_EQ(PollAndFinish().size(), 1u);
  s_.reset();
  clock_.Set(kT0 + 105 * kSec);
  store_.Restart();
  Open();
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(store_.states().at("backup:app-db").missed, 10);
  EXPECT_EQ(s_->NextWakeNs(), kT0 + 110 * kSec);
  clock_.Set(kT0 + 110 * kSec);
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  EXPECT_EQ(jobs[0].request.missed, 10);
  EXPECT_EQ(store_.jobs().size(), 2u);
}

TEST_F(SchedulerTest, CatchUpHappensOnceThoughTheDaemonRestartsAtEveryStep) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(kHour))};
  Open();
  ASSERT_EQ(PollAndFinish().size(), 1u);
  s_.reset();
  clock_.Set(kT0 + 50 * kHour + 30 * kMin);  // two days down
  for (int round = 0; round < 6; ++round) {
    store_.Restart();
    Open();
    std::vector<Job> jobs = Poll();
    if (round == 0) {
      ASSERT_EQ(jobs.size(), 1u);
      EXPECT_EQ(jobs[0].request.trigger, Trigger::kCatchUp);
      EXPECT_EQ(jobs[0].request.missed, 50);
    } else {
      EXPECT_TRUE(jobs.empty()) << "round " << round;  // the catch-up was interrupted, not repeated
    }
    clock_.Advance(kMin);
    s_.reset();
  }
  store_.Restart();
  Open();
  int catch_ups = 0;
  for (const auto& [id, rec] : store_.jobs()) catch_ups += rec.job.request.trigger == Trigger::kCatchUp;
  EXPECT_EQ(catch_ups, 1);
  EXPECT_EQ(s_->NextWakeNs(), kT0 + 51 * kHour);
}

TEST_F(SchedulerTest, AQueuedJobSurvivesARestartAndAbsorbsTheFiresMissedMeanwhile) {
  tasks_ = {BackupTask("a-blocker", {"local"}, Every(kDay)), BackupTask("app-db", {"local"}, Every(kHour))};
  Open();
  std::vector<Job> first = Poll();  // both due; the cap of 1 starts the blocker
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].request.service, "a-blocker");
  ASSERT_EQ(s_->ListQueue().size(), 1u);
  const JobId queued = s_->ListQueue()[0].job.id;
  s_.reset();
  clock_.Set(kT0 + 3 * kHour + kMin);
  store_.Restart();  // the running job is interrupted; the queued one is still queued
  Open();
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].id, queued);  // it runs; the fires since are no second job
  EXPECT_EQ(jobs[0].request.service, "app-db");
  EXPECT_TRUE(PollAndFinish().empty());
  clock_.Set(kT0 + 4 * kHour);
  jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  EXPECT_EQ(jobs[0].request.missed, 3);
}

TEST_F(SchedulerTest, TheEveryAnchorSurvivesRestarts) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kSec))};
  Open();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(PollAndFinish().size(), 1u);
    clock_.Advance(10 * kSec);
  }
  s_.reset();
  clock_.Set(kT0 + 27 * kSec);
  store_.Restart();
  Open();  // restarts do not shift the grid to +27s
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(s_->NextWakeNs(), kT0 + 30 * kSec);
  EXPECT_EQ(store_.states().at("backup:app-db").anchor_ns, kT0);
}

TEST_F(SchedulerTest, AClockJumpForwardIsACatchUpAndSmallLatenessIsNot) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kMin))};
  Open();
  ASSERT_EQ(PollAndFinish().size(), 1u);
  clock_.Set(kT0 + 10 * kMin + 2 * kSec);  // woke 2 s late: still on time
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  EXPECT_EQ(jobs[0].request.missed, 0);
  clock_.Set(kT0 + 75 * kMin);  // suspended for an hour: +20 ... +70 min missed
  jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kCatchUp);
  EXPECT_EQ(jobs[0].request.missed, 6);
  EXPECT_EQ(jobs[0].request.scheduled_ns, kT0 + 70 * kMin);
  // Woken just after a fire, with earlier ones missed: the on-time fire runs
  // as scheduled and reports the others.
  clock_.Set(kT0 + 110 * kMin + 3 * kSec);
  jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  EXPECT_EQ(jobs[0].request.missed, 3);
}

TEST_F(SchedulerTest, AClockThatGoesBackFarContinuesFromNowAndASmallStepWaits) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kMin))};
  Open();
  ASSERT_EQ(PollAndFinish().size(), 1u);
  clock_.Set(kT0 + 10 * kMin);
  ASSERT_EQ(PollAndFinish().size(), 1u);
  clock_.Set(kT0 + 10 * kMin - 5 * kSec);  // NTP steps back 5 s: no second run of +10min
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(s_->NextWakeNs(), kT0 + 20 * kMin);
  clock_.Set(kT0 - 3 * kDay);  // the clock was wrong by days
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(store_.states().at("backup:app-db").cursor_ns, kT0 - 3 * kDay);
  EXPECT_EQ(s_->NextWakeNs(), kT0 - 3 * kDay + 10 * kMin);  // same grid, from now
  clock_.Set(kT0 - 3 * kDay + 10 * kMin);
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
}

TEST_F(SchedulerTest, FiresWhileAJobRunsAreCoalescedNotPiledUp) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kSec))};
  Open();
  std::vector<Job> jobs = Poll();
  ASSERT_EQ(jobs.size(), 1u);
  const JobId long_job = jobs[0].id;
  for (int64_t t = 10; t <= 30; t += 10) {  // the backup takes 35 s
    ASSERT_EQ(s_->NextWakeNs(), kT0 + t * kSec);
    clock_.Set(kT0 + t * kSec);
    EXPECT_TRUE(Poll().empty());
    EXPECT_TRUE(s_->ListQueue().empty());
  }
  clock_.Set(kT0 + 35 * kSec);
  Finish(long_job);
  EXPECT_TRUE(Poll().empty());
  clock_.Set(kT0 + 40 * kSec);
  jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  EXPECT_EQ(jobs[0].request.missed, 3);
}

TEST_F(SchedulerTest, FiresThatPassWithoutAPollAreCoalescedWhenTheJobFinishes) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kSec))};
  Open();
  std::vector<Job> jobs = Poll();
  ASSERT_EQ(jobs.size(), 1u);
  clock_.Set(kT0 + 25 * kSec);  // the loop was busy; no Poll at +10 s and +20 s
  Finish(jobs[0].id);
  EXPECT_TRUE(Poll().empty());  // not a catch-up: they passed while the job ran
  EXPECT_EQ(store_.states().at("backup:app-db").missed, 2);
}

TEST_F(SchedulerTest, TheGlobalCapLimitsRunningJobs) {
  tasks_ = {BackupTask("a", {"ta"}, Every(kHour)), BackupTask("b", {"tb"}, Every(kHour)),
            BackupTask("c", {"tc"}, Every(kHour))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].request.service, "a");
  ASSERT_EQ(s_->ListQueue().size(), 2u);
  for (const QueuedJobInfo& q : s_->ListQueue()) EXPECT_EQ(q.waiting_on, "waiting for a free slot: 1 of 1 running");
  s_->SetMaxConcurrentJobs(2);
  EXPECT_EQ(s_->NextWakeNs(), clock_.NowNs());  // something may start now
  std::vector<Job> more = Poll();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].request.service, "b");
  EXPECT_EQ(WaitingOn(s_->ListQueue()[0].job.id), "waiting for a free slot: 2 of 2 running");
  Finish(started[0].id);
  more = Poll();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].request.service, "c");
  EXPECT_EQ(s_->ListRunning().size(), 2u);
}

TEST_F(SchedulerTest, OneJobPerServiceAtATime) {
  options_.max_concurrent_jobs = 4;
  tasks_ = {BackupTask("app-db", {"local"}, Every(kHour)), VerifyTask("app-db", "local", Every(kHour))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].request.kind, JobKind::kBackup);
  ASSERT_EQ(s_->ListQueue().size(), 1u);
  const Job drill = s_->ListQueue()[0].job;
  EXPECT_EQ(drill.request.kind, JobKind::kDrill);
  EXPECT_EQ(drill.request.task_key, "verify:app-db");
  EXPECT_EQ(WaitingOn(drill.id), "waiting for backup of app-db (job " + std::to_string(started[0].id) + ") to finish");
  Finish(started[0].id);
  started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].id, drill.id);
}

TEST_F(SchedulerTest, PruneAndBackupsOfOneTargetExcludeEachOtherOthersProceed) {
  options_.max_concurrent_jobs = 4;
  tasks_ = {BackupTask("app-db", {"local"}, Every(kHour)), BackupTask("cache", {"offsite"}, Every(kHour)),
            PruneTask("local", Every(kDay))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 2u);  // both backups; the prune waits
  const JobId db = started[0].id, cache = started[1].id;
  EXPECT_EQ(started[0].request.service, "app-db");
  ASSERT_EQ(s_->ListQueue().size(), 1u);
  const JobId prune = s_->ListQueue()[0].job.id;
  EXPECT_EQ(WaitingOn(prune), "waiting for backup of app-db (job " + std::to_string(db) + ") to release target local");
  Finish(db);
  started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].id, prune);
  // Now a backup of app-db waits for the prune, while cache (another target) runs on.
  auto manual = s_->Enqueue(Request(JobKind::kBackup, "app-db", {{"local", LockMode::kShared}}, Trigger::kApi));
  ASSERT_TRUE(manual.ok()) << manual.status().ToString();
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(WaitingOn(*manual), "waiting for prune of target local (job " + std::to_string(prune) + ") to finish");
  Finish(cache);
  auto cache_again = s_->Enqueue(Request(JobKind::kBackup, "cache", {{"offsite", LockMode::kShared}}, Trigger::kManual));
  ASSERT_TRUE(cache_again.ok());
  started = Poll();
  ASSERT_EQ(started.size(), 1u);  // overtakes the blocked app-db backup
  EXPECT_EQ(started[0].id, *cache_again);
  Finish(prune);
  started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].id, *manual);
}

TEST_F(SchedulerTest, AWaitingPruneIsNotStarvedByLaterBackups) {
  options_.max_concurrent_jobs = 4;
  tasks_ = {BackupTask("a", {"local"}, Every(kHour)), PruneTask("local", Every(kDay))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 1u);
  const JobId backup_a = started[0].id;
  const JobId prune = s_->ListQueue()[0].job.id;
  // A backup of b could share the target with a, but the prune asked first.
  auto b = s_->Enqueue(Request(JobKind::kBackup, "b", {{"local", LockMode::kShared}}, Trigger::kManual));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(WaitingOn(*b), "waiting for prune of target local (job " + std::to_string(prune) +
                               "), queued before it for target local");
  Finish(backup_a);
  started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].id, prune);
  Finish(prune);
  started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].id, *b);
}

TEST_F(SchedulerTest, EnqueueRefusesWhileTheServiceHasAJob) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(kHour)), PruneTask("local", Every(kDay))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 1u);
  auto again = s_->Enqueue(Request(JobKind::kRestore, "app-db", {{"local", LockMode::kShared}}, Trigger::kApi));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.status().message(), "service app-db already has a job: backup of app-db (job " +
                                          std::to_string(started[0].id) + ") is running");
  auto run_now = s_->RunNow("backup:app-db");
  ASSERT_FALSE(run_now.ok());
  EXPECT_EQ(run_now.status().code(), StatusCode::kAlreadyExists);
  // The same job of a target alone is refused too.
  auto prune = s_->RunNow("prune:local", Trigger::kApi);
  ASSERT_FALSE(prune.ok());
  EXPECT_NE(prune.status().message().find("prune of target local"), std::string::npos);
  EXPECT_NE(prune.status().message().find("is queued"), std::string::npos);
  EXPECT_EQ(s_->RunNow("backup:nope").status().code(), StatusCode::kNotFound);
  Finish(started[0].id);
  started = Poll();  // the scheduled prune
  ASSERT_EQ(started.size(), 1u);
  Finish(started[0].id);
  JobRequest restore = Request(JobKind::kRestore, "app-db", {{"local", LockMode::kShared}}, Trigger::kApi);
  restore.args = {{"point", "abc"}};
  auto ok = s_->Enqueue(restore);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  started = Poll();
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].request.args["point"], "abc");
  EXPECT_EQ(store_.jobs().at(*ok).job.request.trigger, Trigger::kApi);
}

TEST_F(SchedulerTest, RunNowDoesNotMoveTheSchedule) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(kHour))};
  Open();
  ASSERT_EQ(PollAndFinish().size(), 1u);
  clock_.Set(kT0 + 20 * kMin);
  auto id = s_->RunNow("backup:app-db");
  ASSERT_TRUE(id.ok());
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kManual);
  EXPECT_EQ(jobs[0].request.task_key, "backup:app-db");
  EXPECT_EQ(jobs[0].request.scheduled_ns, 0);
  EXPECT_EQ(s_->NextWakeNs(), kT0 + kHour);
}

TEST_F(SchedulerTest, CancelRemovesOnlyQueuedJobs) {
  tasks_ = {BackupTask("a", {"ta"}, Every(kHour)), BackupTask("b", {"tb"}, Every(kHour))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 1u);
  const JobId queued = s_->ListQueue()[0].job.id;
  EXPECT_EQ(s_->Cancel(started[0].id).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s_->Cancel(999).code(), StatusCode::kNotFound);
  ASSERT_TRUE(s_->Cancel(queued).ok());
  EXPECT_TRUE(s_->ListQueue().empty());
  EXPECT_EQ(store_.jobs().at(queued).status, JobStatus::kCancelled);
  Finish(started[0].id);
  EXPECT_TRUE(Poll().empty());  // the cancelled fire is not re-run
  EXPECT_EQ(s_->Finished(started[0].id, JobStatus::kSucceeded).code(), StatusCode::kNotFound);
}

TEST_F(SchedulerTest, PausedTasksDoNotFireAndResumeWithoutCatchUp) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kSec))};
  Open();
  ASSERT_EQ(PollAndFinish().size(), 1u);
  ASSERT_TRUE(s_->Pause("backup:app-db").ok());
  EXPECT_FALSE(s_->NextWakeNs().has_value());
  EXPECT_TRUE(s_->ListTasks()[0].state.paused);
  EXPECT_TRUE(s_->ListTasks()[0].next_runs_ns.empty());
  clock_.Set(kT0 + 95 * kSec);
  EXPECT_TRUE(Poll().empty());
  Restart();  // paused is persisted
  EXPECT_TRUE(Poll().empty());
  EXPECT_TRUE(s_->ListTasks()[0].state.paused);
  ASSERT_TRUE(s_->Resume("backup:app-db").ok());
  EXPECT_TRUE(Poll().empty());  // the fires during the pause are not caught up
  EXPECT_EQ(s_->NextWakeNs(), kT0 + 100 * kSec);
  clock_.Set(kT0 + 100 * kSec);
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  EXPECT_EQ(jobs[0].request.missed, 0);
  EXPECT_EQ(s_->Pause("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(s_->Resume("nope").code(), StatusCode::kNotFound);
}

TEST_F(SchedulerTest, SetTasksOnReloadKeepsStateOfKeptKeys) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(10 * kSec)), BackupTask("old", {"local"}, Every(kHour))};
  options_.max_concurrent_jobs = 3;
  Open();
  ASSERT_EQ(PollAndFinish().size(), 2u);
  clock_.Set(kT0 + 10 * kSec);
  ASSERT_EQ(PollAndFinish().size(), 1u);
  ASSERT_TRUE(s_->Pause("backup:old").ok());
  const TaskState before = store_.states().at("backup:app-db");
  clock_.Set(kT0 + 13 * kSec);
  // Reload: app-db's interval changes, "old" goes, "new" comes.
  ASSERT_TRUE(s_->SetTasks({BackupTask("app-db", {"local", "offsite"}, Every(20 * kSec)),
                            BackupTask("new", {"local"}, Every(kHour))})
                  .ok());
  EXPECT_EQ(store_.states().at("backup:app-db"), before);
  EXPECT_EQ(store_.states().count("backup:old"), 0u);
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);  // the new task runs right away, app-db does not
  EXPECT_EQ(jobs[0].request.service, "new");
  EXPECT_EQ(s_->NextRuns("backup:app-db", 2), (std::vector<int64_t>{kT0 + 20 * kSec, kT0 + 40 * kSec}));
  clock_.Set(kT0 + 20 * kSec);
  jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.targets.size(), 2u);  // the new definition
  // Switching to cron keeps the cursor: no run for fires before the switch.
  ASSERT_TRUE(s_->SetTasks({BackupTask("app-db", {"local"}, Cron("* * * * *"))}).ok());
  EXPECT_EQ(s_->NextWakeNs(), kT0 + kMin);
}

TEST_F(SchedulerTest, SetTasksRefusesBadKeysAndChangesNothing) {
  tasks_ = {BackupTask("a", {"local"}, Every(kHour))};
  Open();
  Task unnamed = BackupTask("b", {"local"}, Every(kHour));
  unnamed.key = "";
  EXPECT_EQ(s_->SetTasks({unnamed}).code(), StatusCode::kInvalidArgument);
  Status dup = s_->SetTasks({BackupTask("x", {"l"}, Every(kHour)), BackupTask("x", {"m"}, Every(kHour))});
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("backup:x"), std::string::npos);
  ASSERT_EQ(s_->ListTasks().size(), 1u);
  EXPECT_EQ(s_->ListTasks()[0].task.key, "backup:a");
}

TEST_F(SchedulerTest, JitterDelaysEachFireDeterministically) {
  Schedule s = Every(kHour);
  s.set_jitter_ns(5 * kMin);
  tasks_ = {BackupTask("app-db", {"local"}, s)};
  Open();
  const int64_t j0 = s.JitterNs("backup:app-db", kT0);
  ASSERT_GT(j0, 0);
  EXPECT_TRUE(Poll().empty());
  EXPECT_EQ(s_->NextWakeNs(), kT0 + j0);
  Restart();  // a restart does not re-roll it
  EXPECT_EQ(s_->NextWakeNs(), kT0 + j0);
  clock_.Set(kT0 + j0);
  std::vector<Job> jobs = PollAndFinish();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.scheduled_ns, kT0);  // the nominal time is recorded
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);
  const int64_t j1 = s.JitterNs("backup:app-db", kT0 + kHour);
  EXPECT_EQ(s_->NextWakeNs(), kT0 + kHour + j1);
  EXPECT_EQ(s_->NextRuns("backup:app-db", 1), std::vector<int64_t>{kT0 + kHour + j1});
}

TEST_F(SchedulerTest, StoreFailuresAreReportedAndRetriedWithoutDoubleRuns) {
  tasks_ = {BackupTask("app-db", {"local"}, Every(kHour))};
  Open();
  store_.set_failing(true);
  PollResult r = s_->Poll();
  EXPECT_TRUE(r.start.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message().find("task backup:app-db"), std::string::npos);
  EXPECT_EQ(s_->NextWakeNs(), kT0 + options_.retry_delay_ns);  // no busy loop
  store_.set_failing(false);
  clock_.Set(kT0 + options_.retry_delay_ns);
  std::vector<Job> jobs = Poll();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.trigger, Trigger::kSchedule);  // 10 s late is on time
  EXPECT_TRUE(Poll().empty());
  // A failure to mark a job started keeps it queued and retries later.
  auto manual = s_->Enqueue(Request(JobKind::kBackup, "other", {{"x", LockMode::kShared}}, Trigger::kManual));
  ASSERT_TRUE(manual.ok());
  Finish(jobs[0].id);
  store_.set_failing(true);
  r = s_->Poll();
  EXPECT_TRUE(r.start.empty());
  EXPECT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(s_->ListQueue().size(), 1u);
  store_.set_failing(false);
  EXPECT_TRUE(Poll().empty());  // not before the retry time
  clock_.Advance(options_.retry_delay_ns);
  jobs = Poll();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].id, *manual);
}

TEST_F(SchedulerTest, ListTasksShowsNextRunsAndActiveJobs) {
  clock_.Set(UtcNs(2024, 3, 30, 12));
  tasks_ = {BackupTask("app-db", {"local"}, Cron("30 2 * * *", "Europe/Berlin")), PruneTask("local", Every(kDay))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 1u);  // the prune, right away
  std::vector<TaskInfo> tasks = s_->ListTasks(3);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].task.key, "backup:app-db");
  EXPECT_EQ(tasks[0].next_runs_ns, (std::vector<int64_t>{UtcNs(2024, 3, 31, 1), UtcNs(2024, 4, 1, 0, 30),
                                                         UtcNs(2024, 4, 2, 0, 30)}));
  EXPECT_FALSE(tasks[0].active_job.has_value());
  EXPECT_EQ(tasks[1].task.key, "prune:local");
  EXPECT_EQ(tasks[1].active_job, started[0].id);
  EXPECT_EQ(tasks[1].task.schedule.ToString(), "every 1d");
}

TEST_F(SchedulerTest, CronInATimeZoneRunsOnceOnBothDstDays) {
  clock_.Set(UtcNs(2024, 3, 29));
  tasks_ = {BackupTask("app-db", {"local"}, Cron("30 2 * * *", "Europe/Berlin"))};
  Open();
  std::vector<int64_t> runs;
  while (clock_.NowNs() < UtcNs(2024, 11, 1)) {
    for (const Job& j : PollAndFinish()) runs.push_back(j.request.scheduled_ns);
    clock_.Set(*s_->NextWakeNs());
  }
  // One run per day: Mar 29 .. Oct 31 inclusive, DST days included.
  EXPECT_EQ(static_cast<int64_t>(runs.size()), (DaysFromCivil(2024, 11, 1) - DaysFromCivil(2024, 3, 29)));
  EXPECT_NE(std::find(runs.begin(), runs.end(), UtcNs(2024, 3, 31, 1)), runs.end());       // gap: at 03:00 CEST
  EXPECT_NE(std::find(runs.begin(), runs.end(), UtcNs(2024, 10, 27, 0, 30)), runs.end());  // fold: first 02:30
  EXPECT_EQ(std::find(runs.begin(), runs.end(), UtcNs(2024, 10, 27, 1, 30)), runs.end());
}

TEST_F(SchedulerTest, RecoveredQueuedJobsKeepTheirOrder) {
  tasks_ = {BackupTask("a", {"t"}, Every(kDay)), BackupTask("b", {"t"}, Every(kDay)),
            BackupTask("c", {"t"}, Every(kDay))};
  Open();
  std::vector<Job> started = Poll();
  ASSERT_EQ(started.size(), 1u);
  std::vector<JobId> queued;
  for (const QueuedJobInfo& q : s_->ListQueue()) queued.push_back(q.job.id);
  ASSERT_EQ(queued.size(), 2u);
  Restart();
  std::vector<JobId> after;
  for (const QueuedJobInfo& q : s_->ListQueue()) after.push_back(q.job.id);
  EXPECT_EQ(after, queued);
  EXPECT_EQ(store_.jobs().at(started[0].id).status, JobStatus::kInterrupted);
  std::vector<Job> now = Poll();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].id, queued[0]);
}

}  // namespace
}  // namespace cairn

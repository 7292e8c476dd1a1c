// The scheduler under kills: the "daemon" is recreated from the persisted
// store at every possible point, and the accounting of fires must still add
// up: no fire gets two jobs, none is lost, a downtime is caught up once.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "daemon/scheduler.h"
#include "daemon/testing/memory_scheduler_store.h"
#include "daemon/testing/time_test_util.h"

namespace cairn {
namespace {

using namespace cairn::testing;

const int64_t kT0 = UtcNs(2024, 3, 30, 23);  // Berlin's spring-forward night follows

Schedule Every(int64_t ns, CatchUp c = CatchUp::kOnce, int64_t jitter = 0) {
  Schedule s = *Schedule::Every(ns);
  s.set_catch_up(c).set_jitter_ns(jitter);
  return s;
}

// A daemon loop around the scheduler, with simulated jobs that take time.
class Daemon {
 public:
  Daemon(std::vector<Task> tasks, int max_jobs) : tasks_(std::move(tasks)) { options_.max_concurrent_jobs = max_jobs; }

  // Starts (again) from the store at the current time. A crash while starting
  // restarts at once.
  void Boot() {
    do {
      s_.reset();
      store.Restart();
      ends_.clear();
      auto r = Scheduler::Open(&store, &clock, options_);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      s_ = std::move(*r);
      (void)s_->SetTasks(tasks_);
    } while (store.crashed());
  }
  void Kill() { s_.reset(); }
  bool up() const { return s_ != nullptr; }

  // One pass of the loop at the current time: jobs that are done end, then
  // Poll. A crash (the store dies mid-write) restarts at once, and the new
  // daemon polls.
  void Step(const std::function<int64_t()>& duration) {
    for (auto it = ends_.begin(); it != ends_.end() && !store.crashed();) {
      if (it->second > clock.NowNs()) {
        ++it;
        continue;
      }
      const JobId id = it->first;
      it = ends_.erase(it);
      store.SetStatus(id, JobStatus::kSucceeded);
      (void)s_->Finished(id, JobStatus::kSucceeded);
    }
    if (!store.crashed()) Poll(duration);
    while (store.crashed()) {
      Boot();
      Poll(duration);
    }
  }
  void RunNow(const std::string& key) {
    (void)s_->RunNow(key);
    if (store.crashed()) Boot();
  }
  void Poll(const std::function<int64_t()>& duration) {
    PollResult r = s_->Poll();
    for (const Job& j : r.start) ends_[j.id] = clock.NowNs() + duration();
  }
  std::optional<int64_t> NextWake() const { return s_->NextWakeNs(); }
  bool Idle() const { return ends_.empty() && s_->ListQueue().empty(); }

  FakeClock clock{kT0};
  MemorySchedulerStore store;

 private:
  std::vector<Task> tasks_;
  SchedulerOptions options_;
  std::unique_ptr<Scheduler> s_;
  std::map<JobId, int64_t> ends_;
};

// Checks that the jobs recorded for `task` account for each of its fires
// exactly once: every job stands for the fires since the previous one (its
// own, if on schedule, plus `missed`), fires after the last job are in the
// state's `missed`, and nothing due is left behind.
void CheckAccounting(const Daemon& d, const Task& task, int64_t first_seen) {
  SCOPED_TRACE(task.key);
  ASSERT_TRUE(d.store.states().count(task.key));
  const TaskState& st = d.store.states().at(task.key);
  const int64_t anchor = st.anchor_ns.value_or(0);
  if (!task.schedule.is_cron()) {
    EXPECT_EQ(anchor, first_seen);  // kills never moved the grid
  }
  int64_t prev = first_seen - 1;
  int64_t fires_in_jobs = 0;
  for (const auto& [id, rec] : d.store.jobs()) {  // in creation order
    const JobRequest& r = rec.job.request;
    if (r.task_key != task.key || (r.trigger != Trigger::kSchedule && r.trigger != Trigger::kCatchUp)) continue;
    ASSERT_GT(r.scheduled_ns, prev) << "job " << id << " repeats a fire";
    const int64_t n = task.schedule.FiresIn(prev, r.scheduled_ns, anchor).count;
    EXPECT_EQ(n, r.missed + (r.trigger == Trigger::kSchedule ? 1 : 0))
        << "job " << id << " at " << Utc(r.scheduled_ns) << " (" << ToString(r.trigger) << ")";
    fires_in_jobs += n;
    prev = r.scheduled_ns;
  }
  EXPECT_EQ(task.schedule.FiresIn(prev, st.cursor_ns, anchor).count, st.missed);
  EXPECT_GE(st.cursor_ns, prev);
  const std::optional<int64_t> next = task.schedule.NextAfter(st.cursor_ns, anchor);
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(*next + task.schedule.JitterNs(task.key, *next), d.clock.NowNs()) << "a due fire was lost";
  EXPECT_GT(fires_in_jobs, 0);
}

int CountJobs(const Daemon& d, const std::string& key, Trigger trigger) {
  int n = 0;
  for (const auto& [id, rec] : d.store.jobs())
    n += rec.job.request.task_key == key && rec.job.request.trigger == trigger;
  return n;
}

void Settle(Daemon& d) {
  for (int i = 0; i < 5000 && !d.Idle(); ++i) {
    d.clock.Advance(kSec);
    d.Step([] { return kSec; });
  }
  ASSERT_TRUE(d.Idle());
  for (const auto& [id, rec] : d.store.jobs()) EXPECT_NE(rec.status, JobStatus::kQueued) << "job " << id;
}

std::vector<Task> ScenarioTasks() {
  return {BackupTask("app-db", {"local"}, Every(10 * kSec)), PruneTask("local", Every(30 * kSec)),
          BackupTask("cache", {"offsite"}, Every(20 * kSec, CatchUp::kSkip))};
}

// Up for 60 s, down until 125 s, up until 200 s; jobs take 4 s; one slot.
// The "daemon" crashes at the n-th store write (before or after it lands).
void RunScenario(Daemon& d, int crash_at, bool after) {
  if (crash_at > 0) d.store.CrashAtWrite(crash_at, after);
  d.Boot();
  for (int64_t t = 0; t <= 200; ++t) {
    d.clock.Set(kT0 + t * kSec);
    if (t == 60) d.Kill();
    if (t == 125) d.Boot();
    if (d.up()) d.Step([] { return 4 * kSec; });
  }
  Settle(d);
}

TEST(SchedulerKillTest, CrashAtEveryWriteNeverRunsAFireTwiceNorLosesOne) {
  Daemon clean(ScenarioTasks(), 1);
  RunScenario(clean, 0, false);
  const int writes = clean.store.writes();
  ASSERT_GT(writes, 40);
  for (const Task& t : ScenarioTasks()) CheckAccounting(clean, t, kT0);
  EXPECT_EQ(CountJobs(clean, "backup:app-db", Trigger::kCatchUp), 1);
  EXPECT_EQ(CountJobs(clean, "prune:local", Trigger::kCatchUp), 1);
  EXPECT_EQ(CountJobs(clean, "backup:cache", Trigger::kCatchUp), 0);  // catch_up: skip

  for (int n = 1; n <= writes + 1; ++n) {
    for (bool after : {false, true}) {
      SCOPED_TRACE("crash at write " + std::to_string(n) + (after ? " after it" : " before it"));
      Daemon d(ScenarioTasks(), 1);
      RunScenario(d, n, after);
      for (const Task& t : ScenarioTasks()) CheckAccounting(d, t, kT0);
      // The downtime is caught up exactly once, wherever the crash fell.
      EXPECT_EQ(CountJobs(d, "backup:app-db", Trigger::kCatchUp), 1);
      EXPECT_EQ(CountJobs(d, "prune:local", Trigger::kCatchUp), 1);
      EXPECT_EQ(CountJobs(d, "backup:cache", Trigger::kCatchUp), 0);
      if (HasFailure()) return;
    }
  }
}

TEST(SchedulerKillTest, RandomKillsDowntimesAndSlowJobsKeepTheAccounts) {
  auto tz = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(tz.ok());
  Schedule nightly = Schedule::Cron(*CronExpr::Parse("*/10 * * * *"), *tz);
  nightly.set_jitter_ns(2 * kMin);
  const std::vector<Task> tasks = {
      BackupTask("app-db", {"local", "offsite"}, Every(7 * kMin, CatchUp::kOnce, 3 * kMin)),
      BackupTask("cache", {"local"}, Every(13 * kMin, CatchUp::kSkip)),
      VerifyTask("app-db", "local", Every(kHour)),
      PruneTask("local", nightly),
      CheckTask("offsite", Every(45 * kMin)),
  };
  for (uint32_t seed = 1; seed <= 16; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
    Daemon d(tasks, 1 + static_cast<int>(seed % 3));
    d.Boot();
    auto duration = [&] { return static_cast<int64_t>(rng() % (25 * 60)) * kSec; };
    for (int step = 0; step < 1000; ++step) {
      // Sleep until the next wake or an earlier event (a job's end, an API call).
      const std::optional<int64_t> wake = d.NextWake();
      int64_t next = d.clock.NowNs() + static_cast<int64_t>(1 + rng() % 300) * kSec;
      if (wake && *wake < next && *wake > d.clock.NowNs()) next = *wake;
      d.clock.Set(next);
      if (chance(4)) {  // killed, down for up to three hours
        d.Kill();
        d.clock.Advance(static_cast<int64_t>(rng() % (3 * 3600)) * kSec);
        d.Boot();
      }
      if (chance(5)) d.store.CrashAtWrite(1 + static_cast<int>(rng() % 4), chance(50));
      if (chance(3)) d.RunNow(tasks[rng() % tasks.size()].key);
      d.Step(duration);
    }
    d.store.CrashAtWrite(1 << 30, false);  // no more crashes
    Settle(d);
    for (const Task& t : tasks) CheckAccounting(d, t, kT0);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace cairn

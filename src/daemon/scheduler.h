// The scheduler of `cairn serve`: a deterministic state machine that turns
// task schedules into jobs and decides when queued jobs may start. It has no
// threads, never sleeps and does no I/O of its own (its store persists, its
// clock tells the time); the daemon loop drives it:
//
//   auto s = Scheduler::Open(&store, SystemClock(), options);   // reloads state and queued jobs
//   s->SetTasks(TasksFromConfig(config));                        // again on every reload
//   loop:
//     PollResult r = s->Poll();           // records due fires as queued jobs, starts what may start
//     for (const Job& j : r.start) launch j (the store already marked it running);
//     log r.errors;                       // store failures; retried on a later Poll
//     on a job's end:  s->Finished(id, status);
//     on API calls:    s->Enqueue(request) / RunNow(key) / Cancel(id) / Pause(key) / Resume(key)
//     sleep until s->NextWakeNs() or the next event (job end, API call, reload), then Poll again.
//
// Job ids come from the store: AddQueuedJob records the job (in the catalog,
// which assigns the id) in the same transaction that advances the task's
// cursor, so a job exists in the catalog before the scheduler hands it out.
// Semantics (docs/scheduling.md):
//  - Fires missed while the daemon was down (or asleep, or while the clock
//    jumped) are caught up exactly once: with catch_up once, one job with
//    Trigger::kCatchUp and `missed` = the number of fires it stands for; with
//    skip, none (the count goes to the next job). Either way the schedule
//    then continues with its next fire after now.
//  - A fire while a job of the same task is queued or running does not pile
//    up: it is coalesced and counted in the `missed` of the task's next job.
//  - Queue rules and lock modes: job_queue.h.
//
// Not thread-safe: one thread (the daemon loop) calls every method.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/clock.h"
#include "cairn/status.h"
#include "daemon/job_queue.h"
#include "config/schedule.h"
#include "daemon/scheduler_store.h"

namespace cairn {

// A scheduled task: what runs (a job kind for a service and/or targets) and
// when. Later task kinds (check, verify) are tasks with another kind.
struct Task {
  std::string key;                   // unique and stable across reloads: "backup:app-db", "prune:local"
  JobKind kind = JobKind::kBackup;
  std::string service;               // "" for tasks of targets alone
  std::vector<TargetUse> targets;
  Schedule schedule;
  nlohmann::json args;               // copied into each job's request (e.g. check's read_data)
};

// The task kinds the configuration has today and will have; keys are
// "<name>:<service or target>".
Task BackupTask(const std::string& service, const std::vector<std::string>& targets, Schedule schedule);
Task PruneTask(const std::string& target, Schedule schedule);  // exclusive lock
Task CheckTask(const std::string& target, Schedule schedule, nlohmann::json args = nlohmann::json::object(),
               LockMode mode = LockMode::kShared);
Task VerifyTask(const std::string& service, const std::string& target, Schedule schedule);  // a restore drill

struct SchedulerOptions {
  int max_concurrent_jobs = 1;  // server.max_concurrent_jobs
  // A fire handled later than this after its (jittered) time, or one that
  // fell before this scheduler was opened, counts as missed.
  int64_t on_time_tolerance_ns = 60 * int64_t{1'000'000'000};
  // When the clock goes back by more than this before a task's cursor (an
  // NTP fix after a wrong RTC), the task continues from now instead of
  // waiting for the clock to catch up; smaller steps back just wait.
  int64_t clock_back_limit_ns = 3600 * int64_t{1'000'000'000};
  // After a store error, how long before the failed step is tried again.
  int64_t retry_delay_ns = 10 * int64_t{1'000'000'000};
};

struct PollResult {
  std::vector<Job> start;      // start these now, in order; the store has marked them running
  std::vector<Status> errors;  // store failures; the affected steps are retried later
};

struct TaskInfo {
  Task task;
  TaskState state;
  std::vector<int64_t> next_runs_ns;   // upcoming fires, jitter included; empty while paused
  std::optional<JobId> active_job;     // queued or running job of the task
};

struct QueuedJobInfo {
  Job job;
  std::string waiting_on;  // "" if it starts at the next Poll
};

class Scheduler {
 public:
  // Loads task states and queued jobs from `store`. Both `store` and `clock`
  // must outlive the scheduler. The moment of opening matters: fires before
  // it are "missed" (the daemon was not running).
  static Result<std::unique_ptr<Scheduler>> Open(SchedulerStore* store, Clock* clock,
                                                 SchedulerOptions options = {});

  // Replaces the task set (start-up and config reload). Kept keys keep their
  // state even if their schedule changed; new keys start now (an every:
  // task's first run is right away); states of removed keys are deleted.
  // InvalidArgument for empty or duplicate keys (nothing changes then). A
  // store error is returned after the tasks were applied anyway (their new
  // states are written with their first fire).
  Status SetTasks(std::vector<Task> tasks);
  void SetMaxConcurrentJobs(int n) { queue_.set_max_running(n); }

  // Handles due fires and starts what may start, at the clock's now.
  PollResult Poll();
  // A running job ended. NotFound if `id` is not running. Fires of its task
  // that passed while it ran are coalesced here.
  Status Finished(JobId id, JobStatus status);

  // A manual or API job. AlreadyExists (HTTP 409) when the service already
  // has a job queued or running, or, for a job of targets alone, when the
  // same job is.
  Result<JobId> Enqueue(JobRequest request);
  // A run of task `key` now (Trigger kManual or kApi), outside its schedule.
  Result<JobId> RunNow(const std::string& key, Trigger trigger = Trigger::kManual);
  // Removes a queued job (the store records it cancelled). NotFound if not
  // queued; InvalidArgument if running (stop it, then call Finished).
  Status Cancel(JobId id);
  // Pause stops a task's fires; Resume continues with the first fire after
  // now (fires during the pause are neither run nor caught up).
  Status Pause(const std::string& key);
  Status Resume(const std::string& key);

  // When Poll next has something to do: the clock's now if a job may start,
  // else the earliest upcoming fire (or retry); nullopt if nothing is
  // scheduled. Events (Finished, Enqueue, ...) may make it earlier.
  std::optional<int64_t> NextWakeNs() const;

  std::vector<TaskInfo> ListTasks(size_t next_runs = 5) const;
  std::vector<QueuedJobInfo> ListQueue() const;
  const std::vector<Job>& ListRunning() const { return queue_.running(); }
  // The next `n` fire times of task `key`, jitter included.
  std::vector<int64_t> NextRuns(const std::string& key, size_t n) const;

 private:
  struct Entry {
    Task task;
    TaskState state;
    int64_t retry_at_ns = 0;  // after a store error: not before this
  };

  Scheduler(SchedulerStore* store, Clock* clock, SchedulerOptions options);
  std::optional<int64_t> NextFire(const Entry& e) const;  // nominal
  int64_t Effective(const Entry& e, int64_t fire_ns) const;
  // The fires due at `now` that the task has not dealt with.
  Schedule::FireSpan DueSpan(const Entry& e, int64_t now) const;
  Status HandleFire(Entry& e, int64_t now);
  Status Coalesce(Entry& e, int64_t now);
  JobRequest RequestFor(const Entry& e, Trigger trigger) const;
  Result<JobId> Admit(JobRequest request, int64_t now, const std::optional<TaskState>& state);

  SchedulerStore* store_;
  Clock* clock_;
  SchedulerOptions options_;
  int64_t opened_ns_;
  std::map<std::string, Entry> tasks_;              // by key: deterministic order
  std::map<std::string, TaskState> unclaimed_;     // loaded, not yet matched by SetTasks
  JobQueue queue_;
  int64_t start_retry_at_ns_ = 0;
};

}  // namespace cairn

// What the scheduler persists, and the interface the daemon's catalog
// implements for it (an in-memory version for tests is in
// daemon/testing/memory_scheduler_store.h).
//
// The store holds two things: per task, a small TaskState; and the queued
// jobs. The one rule that makes "every fire runs at most once and none is
// lost" hold across kills at any point is in AddQueuedJob: a fire's job and
// the task state that marks the fire as dealt with are written in ONE
// transaction. So after a crash either both exist (the job is loaded back as
// queued, the fire is not due again) or neither (the fire is still due and is
// handed out after the restart, as a catch-up). docs/scheduling.md walks
// through every crash point.
//
// Thread-safety: called from the scheduler's thread only; implementations
// need no locking of their own beyond what their backend requires.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "daemon/job_queue.h"

namespace cairn {

struct TaskState {
  // The latest nominal fire time dealt with: handed out as a job, caught up,
  // skipped or coalesced. A new task starts just before the moment it was
  // first seen. Fires strictly after it are still to come.
  int64_t cursor_ns = 0;
  // Origin of an every: grid (fires at anchor + k * period). Set when the
  // task is first seen with an every: schedule, kept across restarts and
  // schedule edits.
  std::optional<int64_t> anchor_ns;
  // Paused from the dashboard: no fires until resumed.
  bool paused = false;
  // Fires since the task's last job that got no run of their own (coalesced
  // while a job of the task was active, or skipped); reported by the next job.
  int64_t missed = 0;

  bool operator==(const TaskState&) const = default;
};

class SchedulerStore {
 public:
  virtual ~SchedulerStore() = default;

  // Every saved task state, by task key.
  virtual Result<std::map<std::string, TaskState>> LoadTaskStates() = 0;
  // Jobs added by AddQueuedJob that have not left the queue, in the order
  // they were added. The daemon deals with jobs that were running when it
  // stopped (they are "interrupted"); the scheduler never sees them again.
  virtual Result<std::vector<Job>> LoadQueuedJobs() = 0;

  virtual Status SaveTaskState(const std::string& key, const TaskState& state) = 0;
  virtual Status DeleteTaskState(const std::string& key) = 0;

  // Records a new queued job and returns its id. When `task_state` is set it
  // is saved for request.task_key in the SAME transaction: both or neither
  // must be durable after a crash.
  virtual Result<JobId> AddQueuedJob(const JobRequest& request, int64_t queued_ns,
                                     const std::optional<TaskState>& task_state) = 0;
  // Queued job `id` leaves the queue: JobStatus::kRunning when it starts,
  // kCancelled when it is cancelled. It is no longer in LoadQueuedJobs.
  virtual Status LeaveQueue(JobId id, JobStatus status, int64_t now_ns) = 0;
};

}  // namespace cairn

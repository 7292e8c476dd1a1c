// An in-memory SchedulerStore that behaves like the catalog would, for tests:
// it also remembers every job's status, can simulate the daemon's start-up
// (running jobs become interrupted) and can "crash" at the n-th write so that
// tests can recreate the scheduler from whatever was persisted by then.
// Not thread-safe.
#pragma once

#include <map>
#include <string>

#include "daemon/scheduler_store.h"

namespace cairn {

class MemorySchedulerStore : public SchedulerStore {
 public:
  struct JobRecord {
    Job job;
    JobStatus status = JobStatus::kQueued;
  };

  Result<std::map<std::string, TaskState>> LoadTaskStates() override;
  Result<std::vector<Job>> LoadQueuedJobs() override;
  Status SaveTaskState(const std::string& key, const TaskState& state) override;
  Status DeleteTaskState(const std::string& key) override;
  Result<JobId> AddQueuedJob(const JobRequest& request, int64_t queued_ns,
                             const std::optional<TaskState>& task_state) override;
  Status LeaveQueue(JobId id, JobStatus status, int64_t now_ns) override;

  // The daemon's own catalog updates (a job ended) and its start-up step
  // (jobs that were running when it died are interrupted); clears a crash
  // that happened (a planned one stays planned).
  void SetStatus(JobId id, JobStatus status) { jobs_.at(id).status = status; }
  void Restart();

  // The n-th write from now on (1-based) and all later ones until Restart
  // fail, as if the process died just before it; with `after`, the n-th
  // write is applied and the process dies just after it.
  void CrashAtWrite(int n, bool after);
  bool crashed() const { return crashed_; }
  int writes() const { return writes_; }
  // Makes every write fail with an IOError (a full or broken disk) until reset.
  void set_failing(bool failing) { failing_ = failing; }

  const std::map<std::string, TaskState>& states() const { return states_; }
  const std::map<JobId, JobRecord>& jobs() const { return jobs_; }

 private:
  // Whether the next write may happen; false also when it is applied and then "crashes".
  Status BeginWrite(bool* apply);
  Status EndWrite();

  std::map<std::string, TaskState> states_;
  std::map<JobId, JobRecord> jobs_;
  JobId next_id_ = 1;
  int writes_ = 0;
  int crash_at_ = 0;  // 0: no crash planned
  bool crash_after_ = false;
  bool crashed_ = false;
  bool failing_ = false;
};

}  // namespace cairn

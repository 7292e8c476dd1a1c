#include "daemon/testing/memory_scheduler_store.h"

namespace cairn {

Status MemorySchedulerStore::BeginWrite(bool* apply) {
  *apply = false;
  if (failing_) return Status::IOError("store: disk failure (simulated)");
  if (crashed_) return Status::Aborted("store: the process has crashed (simulated)");
  ++writes_;
  if (crash_at_ != 0 && writes_ == crash_at_) {
    crash_at_ = 0;
    crashed_ = true;
    *apply = crash_after_;
    return *apply ? Status::Ok() : Status::Aborted("store: crash before write (simulated)");
  }
  *apply = true;
  return Status::Ok();
}

Status MemorySchedulerStore::EndWrite() {
  // A write that was applied and then "crashed": durable, but the caller
  // never learns it succeeded (the process is gone).
  if (crashed_) return Status::Aborted("store: crash after write (simulated)");
  return Status::Ok();
}

void MemorySchedulerStore::CrashAtWrite(int n, bool after) {
  crash_at_ = writes_ + n;
  crash_after_ = after;
  crashed_ = false;
}

void MemorySchedulerStore::Restart() {
  crashed_ = false;
  for (auto& [id, rec] : jobs_)
    if (rec.status == JobStatus::kRunning) rec.status = JobStatus::kInterrupted;
}

Result<std::map<std::string, TaskState>> MemorySchedulerStore::LoadTaskStates() {
  if (failing_) return Status::IOError("store: disk failure (simulated)");
  return states_;
}

Result<std::vector<Job>> MemorySchedulerStore::LoadQueuedJobs() {
  if (failing_) return Status::IOError("store: disk failure (simulated)");
  std::vector<Job> out;
  for (const auto& [id, rec] : jobs_)
    if (rec.status == JobStatus::kQueued) out.push_back(rec.job);
  return out;
}

Status MemorySchedulerStore::SaveTaskState(const std::string& key, const TaskState& state) {
  bool apply;
  CAIRN_RETURN_IF_ERROR(BeginWrite(&apply));
  if (apply) states_[key] = state;
  return EndWrite();
}

Status MemorySchedulerStore::DeleteTaskState(const std::string& key) {
  bool apply;
  CAIRN_RETURN_IF_ERROR(BeginWrite(&apply));
  if (apply) states_.erase(key);
  return EndWrite();
}

Result<JobId> MemorySchedulerStore::AddQueuedJob(const JobRequest& request, int64_t queued_ns,
                                                 const std::optional<TaskState>& task_state) {
  bool apply;
  CAIRN_RETURN_IF_ERROR(BeginWrite(&apply));
  const JobId id = next_id_++;
  if (apply) {  // one transaction: the job and the task state together
    JobRecord rec;
    rec.job.id = id;
    rec.job.request = request;
    rec.job.queued_ns = queued_ns;
    jobs_[id] = rec;
    if (task_state) states_[request.task_key] = *task_state;
  }
  CAIRN_RETURN_IF_ERROR(EndWrite());
  return id;
}

Status MemorySchedulerStore::LeaveQueue(JobId id, JobStatus status, int64_t now_ns) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.status != JobStatus::kQueued)
    return Status::NotFound("job " + std::to_string(id) + " is not queued");
  bool apply;
  CAIRN_RETURN_IF_ERROR(BeginWrite(&apply));
  if (apply) {
    it->second.status = status;
    it->second.job.started_ns = status == JobStatus::kRunning ? now_ns : 0;
  }
  return EndWrite();
}

}  // namespace cairn

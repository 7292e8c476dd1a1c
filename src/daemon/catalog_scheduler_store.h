// The scheduler's persistent state in the catalog: task states as opaque
// JSON rows, queued jobs as job rows whose `request` column holds the
// JobRequest. AddQueuedJob writes both in one catalog transaction, which is
// what "every fire runs at most once and none is lost" rests on
// (daemon/scheduler_store.h, docs/scheduling.md).
// Thread-safety: as the Catalog (safe from any thread).
#pragma once

#include "daemon/catalog.h"
#include "daemon/scheduler_store.h"

namespace cairn {

class CatalogSchedulerStore : public SchedulerStore {
 public:
  explicit CatalogSchedulerStore(Catalog& catalog) : catalog_(catalog) {}

  Result<std::map<std::string, TaskState>> LoadTaskStates() override;
  Result<std::vector<Job>> LoadQueuedJobs() override;
  Status SaveTaskState(const std::string& key, const TaskState& state) override;
  Status DeleteTaskState(const std::string& key) override;
  Result<JobId> AddQueuedJob(const JobRequest& request, int64_t queued_ns,
                             const std::optional<TaskState>& task_state) override;
  Status LeaveQueue(JobId id, JobStatus status, int64_t now_ns) override;

 private:
  Catalog& catalog_;
};

// JobRequest <-> the JSON kept in the job row.
Json JobRequestToJson(const JobRequest& r);
Result<JobRequest> JobRequestFromJson(const Json& j);

}  // namespace cairn

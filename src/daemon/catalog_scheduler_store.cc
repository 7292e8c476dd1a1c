#include "daemon/catalog_scheduler_store.h"

namespace cairn {
namespace {

Json StateToJson(const TaskState& s) {
  Json j = {{"cursor_ns", s.cursor_ns}, {"paused", s.paused}, {"missed", s.missed}};
  j["anchor_ns"] = s.anchor_ns ? Json(*s.anchor_ns) : Json(nullptr);
  return j;
}

TaskState StateFromJson(const Json& j) {
  TaskState s;
  if (!j.is_object()) return s;
  s.cursor_ns = j.value("cursor_ns", int64_t{0});
  s.paused = j.value("paused", false);
  s.missed = j.value("missed", int64_t{0});
  if (j.contains("anchor_ns") && j["anchor_ns"].is_number_integer()) s.anchor_ns = j["anchor_ns"].get<int64_t>();
  return s;
}

}  // namespace

Json JobRequestToJson(const JobRequest& r) {
  Json targets = Json::array();
  for (const TargetUse& t : r.targets)
    targets.push_back({{"target", t.target}, {"mode", t.mode == LockMode::kExclusive ? "exclusive" : "shared"}});
  return {{"kind", std::string(ToString(r.kind))},
          {"service", r.service},
          {"targets", targets},
          {"trigger", std::string(ToString(r.trigger))},
          {"task_key", r.task_key},
          {"scheduled_ns", r.scheduled_ns},
          {"missed", r.missed},
          {"args", r.args.is_null() ? Json::object() : r.args}};
}

Result<JobRequest> JobRequestFromJson(const Json& j) {
  if (!j.is_object()) return Status::Corruption("queued job has no request");
  try {
    JobRequest r;
    auto kind = ParseJobKind(j.value("kind", ""));
    auto trigger = ParseTrigger(j.value("trigger", ""));
    if (!kind || !trigger) return Status::Corruption("queued job has an unknown kind or trigger");
    r.kind = *kind;
    r.trigger = *trigger;
    r.service = j.value("service", "");
    for (const Json& t : j.value("targets", Json::array()))
      r.targets.push_back({t.value("target", ""), t.value("mode", "shared") == "exclusive" ? LockMode::kExclusive
                                                                                           : LockMode::kShared});
    r.task_key = j.value("task_key", "");
    r.scheduled_ns = j.value("scheduled_ns", int64_t{0});
    r.missed = j.value("missed", int64_t{0});
    r.args = j.value("args", Json::object());
    return r;
  } catch (const Json::exception& e) {
    return Status::Corruption(std::string("queued job request is malformed: ") + e.what());
  }
}

Result<std::map<std::string, TaskState>> CatalogSchedulerStore::LoadTaskStates() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<SchedulerState> rows, catalog_.ListSchedulerStates());
  std::map<std::string, TaskState> out;
  for (const SchedulerState& row : rows) out[row.key] = StateFromJson(row.state);
  return out;
}

Result<std::vector<Job>> CatalogSchedulerStore::LoadQueuedJobs() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<JobRecord> rows, catalog_.ListQueuedJobs());
  std::vector<Job> out;
  for (const JobRecord& row : rows) {
    auto request = JobRequestFromJson(row.request);
    if (!request.ok()) {
      // A row this daemon cannot run (written by a newer one?) must not block
      // the queue: it ends, saying why.
      JobOutcome cancelled;
      cancelled.status = JobStatus::kCancelled;
      cancelled.error = request.status().message();
      (void)catalog_.FinishJob(row.id, cancelled);
      continue;
    }
    out.push_back(Job{row.id, std::move(request).value(), row.queued_ns, 0});
  }
  return out;
}

Status CatalogSchedulerStore::SaveTaskState(const std::string& key, const TaskState& state) {
  return catalog_.PutSchedulerState({key, StateToJson(state)});
}

Status CatalogSchedulerStore::DeleteTaskState(const std::string& key) { return catalog_.DeleteSchedulerState(key); }

Result<JobId> CatalogSchedulerStore::AddQueuedJob(const JobRequest& request, int64_t queued_ns,
                                                  const std::optional<TaskState>& task_state) {
  NewJob job;
  job.kind = request.kind;
  job.service = request.service;
  for (const TargetUse& t : request.targets) job.targets.push_back(t.target);
  job.trigger = request.trigger;
  job.request = JobRequestToJson(request);
  std::optional<SchedulerState> state;
  if (task_state) state = SchedulerState{request.task_key, StateToJson(*task_state)};
  return catalog_.InsertJob(job, state);
}

Status CatalogSchedulerStore::LeaveQueue(JobId id, JobStatus status, int64_t now_ns) {
  if (status == JobStatus::kRunning) return catalog_.StartJob(id);
  JobOutcome outcome;
  outcome.status = status;
  outcome.error = status == JobStatus::kCancelled ? "cancelled before it started" : "";
  return catalog_.FinishJob(id, outcome);
}

}  // namespace cairn

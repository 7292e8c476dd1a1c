#include "daemon/scheduler.h"

#include <algorithm>
#include <limits>
#include <set>

namespace cairn {
namespace {

Task MakeTask(std::string key, JobKind kind, std::string service, std::vector<TargetUse> targets, Schedule schedule,
              nlohmann::json args) {
  Task t;
  t.key = std::move(key);
  t.kind = kind;
  t.service = std::move(service);
  t.targets = std::move(targets);
  t.schedule = std::move(schedule);
  t.args = std::move(args);
  return t;
}

std::string JobState(const JobQueue& q, const Job& j) {
  return Describe(j.request) + " (job " + std::to_string(j.id) + ") is " + (q.IsRunning(j.id) ? "running" : "queued");
}

}  // namespace

Task BackupTask(const std::string& service, const std::vector<std::string>& targets, Schedule schedule) {
  std::vector<TargetUse> uses;
  for (const std::string& t : targets) uses.push_back({t, LockMode::kShared});
  return MakeTask("backup:" + service, JobKind::kBackup, service, std::move(uses), std::move(schedule),
                  nlohmann::json::object());
}

Task PruneTask(const std::string& target, Schedule schedule) {
  return MakeTask("prune:" + target, JobKind::kPrune, "", {{target, LockMode::kExclusive}}, std::move(schedule),
                  nlohmann::json::object());
}

Task CheckTask(const std::string& target, Schedule schedule, nlohmann::json args, LockMode mode) {
  return MakeTask("check:" + target, JobKind::kCheck, "", {{target, mode}}, std::move(schedule), std::move(args));
}

Task VerifyTask(const std::string& service, const std::string& target, Schedule schedule) {
  return MakeTask("verify:" + service, JobKind::kDrill, service, {{target, LockMode::kShared}}, std::move(schedule),
                  nlohmann::json::object());
}

Scheduler::Scheduler(SchedulerStore* store, Clock* clock, SchedulerOptions options)
    : store_(store), clock_(clock), options_(options), opened_ns_(clock->NowNs()),
      queue_(options.max_concurrent_jobs) {}

Result<std::unique_ptr<Scheduler>> Scheduler::Open(SchedulerStore* store, Clock* clock, SchedulerOptions options) {
  std::unique_ptr<Scheduler> s(new Scheduler(store, clock, options));
  auto states = store->LoadTaskStates();
  if (!states.ok()) return states.status().WithContext("loading the scheduler's task states");
  s->unclaimed_ = std::move(*states);
  auto jobs = store->LoadQueuedJobs();
  if (!jobs.ok()) return jobs.status().WithContext("loading queued jobs");
  for (Job& j : *jobs) s->queue_.Add(std::move(j));
  return s;
}

Status Scheduler::SetTasks(std::vector<Task> tasks) {
  std::set<std::string> keys;
  for (const Task& t : tasks) {
    if (t.key.empty()) return Status::InvalidArgument("a scheduled task needs a key");
    if (!keys.insert(t.key).second) return Status::InvalidArgument("two scheduled tasks have the key '" + t.key + "'");
  }
  const int64_t now = clock_->NowNs();
  Status first_error;
  auto note = [&](const Status& st) {
    if (!st.ok() && first_error.ok()) first_error = st;
  };
  std::map<std::string, Entry> next;
  for (Task& t : tasks) {
    Entry e;
    bool dirty = false;
    if (auto it = tasks_.find(t.key); it != tasks_.end()) {
      e.state = it->second.state;
      e.retry_at_ns = it->second.retry_at_ns;
    } else if (auto u = unclaimed_.find(t.key); u != unclaimed_.end()) {
      e.state = u->second;
    } else {
      // New: fires strictly after the cursor count, so an every: task whose
      // grid starts now runs right away and a cron task at its next match.
      e.state.cursor_ns = now - 1;
      if (!t.schedule.is_cron()) e.state.anchor_ns = now;
      dirty = true;
    }
    if (!t.schedule.is_cron() && !e.state.anchor_ns) {
      // Switched from cron to every: the grid continues from the last fire.
      e.state.anchor_ns = e.state.cursor_ns;
      dirty = true;
    }
    if (dirty) note(store_->SaveTaskState(t.key, e.state).WithContext("saving the state of task " + t.key));
    e.task = std::move(t);
    next.emplace(e.task.key, std::move(e));
  }
  std::set<std::string> gone;
  for (const auto& [key, e] : tasks_) gone.insert(key);
  for (const auto& [key, s] : unclaimed_) gone.insert(key);
  for (const std::string& key : gone)
    if (!next.count(key)) note(store_->DeleteTaskState(key).WithContext("deleting the state of task " + key));
  tasks_ = std::move(next);
  unclaimed_.clear();
  return first_error;
}

std::optional<int64_t> Scheduler::NextFire(const Entry& e) const {
  return e.task.schedule.NextAfter(e.state.cursor_ns, e.state.anchor_ns.value_or(0));
}

int64_t Scheduler::Effective(const Entry& e, int64_t fire_ns) const {
  const int64_t j = e.task.schedule.JitterNs(e.task.key, fire_ns);
  return fire_ns > std::numeric_limits<int64_t>::max() - j ? std::numeric_limits<int64_t>::max() : fire_ns + j;
}

Schedule::FireSpan Scheduler::DueSpan(const Entry& e, int64_t now) const {
  constexpr int64_t kMaxCount = 1'000'000;
  const Schedule& s = e.task.schedule;
  const int64_t anchor = e.state.anchor_ns.value_or(0);
  Schedule::FireSpan span = s.FiresIn(e.state.cursor_ns, now, anchor, kMaxCount);
  // A fire counts from its jittered time on; jitter stays below the gap to
  // the next fire, so only the latest fire of a span can still be pending.
  if (span.count > 1 && span.count < kMaxCount && Effective(e, span.last_ns) > now)
    span = s.FiresIn(e.state.cursor_ns, span.last_ns - 1, anchor, kMaxCount);
  else if (span.count == 1 && Effective(e, span.last_ns) > now)
    span = {};
  return span;
}

Status Scheduler::Coalesce(Entry& e, int64_t now) {
  const Schedule::FireSpan span = DueSpan(e, now);
  if (span.count == 0) return Status::Ok();
  TaskState next = e.state;
  next.cursor_ns = span.last_ns;
  next.missed += span.count;
  CAIRN_RETURN_IF_ERROR(store_->SaveTaskState(e.task.key, next));
  e.state = next;
  return Status::Ok();
}

JobRequest Scheduler::RequestFor(const Entry& e, Trigger trigger) const {
  JobRequest r;
  r.kind = e.task.kind;
  r.service = e.task.service;
  r.targets = e.task.targets;
  r.trigger = trigger;
  r.task_key = e.task.key;
  r.args = e.task.args;
  return r;
}

Result<JobId> Scheduler::Admit(JobRequest request, int64_t now, const std::optional<TaskState>& state) {
  CAIRN_ASSIGN_OR_RETURN(JobId id, store_->AddQueuedJob(request, now, state));
  Job job;
  job.id = id;
  job.request = std::move(request);
  job.queued_ns = now;
  queue_.Add(std::move(job));
  return id;
}

Status Scheduler::HandleFire(Entry& e, int64_t now) {
  // Never two jobs of one task: a fire while one is queued or running is
  // counted on the task's next job instead.
  if (queue_.ActiveForTask(e.task.key)) return Coalesce(e, now);
  const Schedule::FireSpan span = DueSpan(e, now);
  if (span.count == 0) return Status::Ok();

  TaskState next = e.state;
  next.cursor_ns = span.last_ns;
  // On time: this scheduler was running when the latest fire came due and
  // handles it promptly. Otherwise every fire of the span was missed (down,
  // suspended, clock jump).
  const int64_t due = Effective(e, span.last_ns);
  const bool on_time = due >= opened_ns_ && due <= now && now - due <= options_.on_time_tolerance_ns;
  Trigger trigger = Trigger::kSchedule;
  int64_t missed = e.state.missed + span.count - 1;
  if (!on_time) {
    if (e.task.schedule.catch_up() == CatchUp::kSkip) {
      next.missed += span.count;
      CAIRN_RETURN_IF_ERROR(store_->SaveTaskState(e.task.key, next));
      e.state = next;
      return Status::Ok();
    }
    trigger = Trigger::kCatchUp;
    missed = e.state.missed + span.count;
  }
  next.missed = 0;
  JobRequest r = RequestFor(e, trigger);
  r.scheduled_ns = span.last_ns;
  r.missed = missed;
  // The job and the cursor that consumes its fires go to the store together.
  auto id = Admit(std::move(r), now, next);
  if (!id.ok()) return id.status();
  e.state = next;
  return Status::Ok();
}

PollResult Scheduler::Poll() {
  PollResult result;
  const int64_t now = clock_->NowNs();
  // A clock set back before the opening: the scheduler has been running all
  // along, so fires from now on are on time.
  opened_ns_ = std::min(opened_ns_, now);
  auto failed = [&](Entry& e, const Status& st) {
    result.errors.push_back(st.WithContext("task " + e.task.key));
    e.retry_at_ns = now + options_.retry_delay_ns;
  };

  std::vector<std::pair<int64_t, Entry*>> due;
  for (auto& [key, e] : tasks_) {
    if (now < e.retry_at_ns) continue;
    if (e.state.cursor_ns > now && e.state.cursor_ns - now > options_.clock_back_limit_ns) {
      TaskState next = e.state;
      next.cursor_ns = now;
      Status st = store_->SaveTaskState(key, next);
      if (!st.ok()) {
        failed(e, st);
        continue;
      }
      e.state = next;
    }
    if (e.state.paused) continue;
    const std::optional<int64_t> fire = NextFire(e);
    if (!fire) continue;
    const int64_t at = Effective(e, *fire);
    if (at <= now) due.emplace_back(at, &e);
  }
  // Earliest first, then by key (the map's order, kept by the stable sort).
  std::stable_sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [at, e] : due) {
    Status st = HandleFire(*e, now);
    if (!st.ok()) failed(*e, st);
  }

  if (now < start_retry_at_ns_) return result;
  while (const std::optional<JobId> id = queue_.FirstStartable()) {
    Status st = store_->LeaveQueue(*id, JobStatus::kRunning, now);
    if (!st.ok()) {
      result.errors.push_back(st.WithContext("starting job " + std::to_string(*id)));
      start_retry_at_ns_ = now + options_.retry_delay_ns;
      break;
    }
    queue_.Start(*id, now);
    result.start.push_back(*queue_.Find(*id));
  }
  return result;
}

Status Scheduler::Finished(JobId id, JobStatus status) {
  std::optional<Job> job = queue_.Finish(id);
  if (!job) return Status::NotFound("job " + std::to_string(id) + " is not running");
  auto it = tasks_.find(job->request.task_key);
  if (it == tasks_.end() || it->second.state.paused || queue_.ActiveForTask(it->first)) return Status::Ok();
  return Coalesce(it->second, clock_->NowNs()).WithContext("task " + it->first);
}

Result<JobId> Scheduler::Enqueue(JobRequest request) {
  if (const Job* active = queue_.ActiveForService(request.service))
    return Status::AlreadyExists("service " + request.service + " already has a job: " + JobState(queue_, *active));
  if (request.service.empty())
    if (const Job* active = queue_.ActiveLike(request))
      return Status::AlreadyExists("the same job already exists: " + JobState(queue_, *active));
  return Admit(std::move(request), clock_->NowNs(), std::nullopt);
}

Result<JobId> Scheduler::RunNow(const std::string& key, Trigger trigger) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return Status::NotFound("no scheduled task '" + key + "'");
  return Enqueue(RequestFor(it->second, trigger));
}

Status Scheduler::Cancel(JobId id) {
  if (queue_.IsRunning(id))
    return Status::InvalidArgument("job " + std::to_string(id) + " is running; stop it, then report it finished");
  if (!queue_.Find(id)) return Status::NotFound("job " + std::to_string(id) + " is not queued");
  CAIRN_RETURN_IF_ERROR(store_->LeaveQueue(id, JobStatus::kCancelled, clock_->NowNs()));
  queue_.Cancel(id);
  return Status::Ok();
}

Status Scheduler::Pause(const std::string& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return Status::NotFound("no scheduled task '" + key + "'");
  if (it->second.state.paused) return Status::Ok();
  TaskState next = it->second.state;
  next.paused = true;
  CAIRN_RETURN_IF_ERROR(store_->SaveTaskState(key, next));
  it->second.state = next;
  return Status::Ok();
}

Status Scheduler::Resume(const std::string& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return Status::NotFound("no scheduled task '" + key + "'");
  if (!it->second.state.paused) return Status::Ok();
  TaskState next = it->second.state;
  next.paused = false;
  next.cursor_ns = std::max(next.cursor_ns, clock_->NowNs());
  CAIRN_RETURN_IF_ERROR(store_->SaveTaskState(key, next));
  it->second.state = next;
  return Status::Ok();
}

std::optional<int64_t> Scheduler::NextWakeNs() const {
  const int64_t now = clock_->NowNs();
  std::optional<int64_t> wake;
  auto consider = [&](int64_t t) {
    if (!wake || t < *wake) wake = t;
  };
  for (const auto& [key, e] : tasks_) {
    if (e.state.cursor_ns > now && e.state.cursor_ns - now > options_.clock_back_limit_ns) {
      consider(std::max(now, e.retry_at_ns));
      continue;
    }
    if (e.state.paused) continue;
    if (const std::optional<int64_t> fire = NextFire(e)) consider(std::max(Effective(e, *fire), e.retry_at_ns));
  }
  if (queue_.FirstStartable()) consider(std::max(now, start_retry_at_ns_));
  return wake;
}

std::vector<int64_t> Scheduler::NextRuns(const std::string& key, size_t n) const {
  std::vector<int64_t> out;
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.state.paused) return out;
  const Entry& e = it->second;
  int64_t t = e.state.cursor_ns;
  while (out.size() < n) {
    const std::optional<int64_t> fire = e.task.schedule.NextAfter(t, e.state.anchor_ns.value_or(0));
    if (!fire) break;
    out.push_back(Effective(e, *fire));
    t = *fire;
  }
  return out;
}

std::vector<TaskInfo> Scheduler::ListTasks(size_t next_runs) const {
  std::vector<TaskInfo> out;
  for (const auto& [key, e] : tasks_) {
    TaskInfo info{e.task, e.state, NextRuns(key, next_runs), std::nullopt};
    if (const Job* j = queue_.ActiveForTask(key)) info.active_job = j->id;
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<QueuedJobInfo> Scheduler::ListQueue() const {
  std::vector<QueuedJobInfo> out;
  for (const Job& j : queue_.queued()) out.push_back({j, queue_.WaitingOn(j.id)});
  return out;
}

}  // namespace cairn

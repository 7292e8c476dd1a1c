// The daemon's answers about jobs, alerts, schedules, configuration and
// metrics, and the requests that queue jobs (docs/api.md).
#include <algorithm>

#include "cairn/system.h"
#include "daemon/daemon.h"
#include "daemon/daemon_json.h"
#include "daemon/metrics.h"

namespace cairn {
namespace {

constexpr int kLogPage = 1000;

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// The raw schedule of a task, from the configuration (for the Schedule object).
Json TaskSchedule(const Config& config, const Task& task) {
  if (task.kind == JobKind::kBackup || task.kind == JobKind::kDrill) {
    const ServiceConfig* s = config.FindService(task.service);
    if (!s) return nullptr;
    if (task.kind == JobKind::kBackup) return s->schedule;
    return s->verify.is_object() ? s->verify : Json{{"every", "1d"}};
  }
  const TargetConfig* t = task.targets.empty() ? nullptr : config.FindTarget(task.targets.front().target);
  if (!t) return nullptr;
  return task.kind == JobKind::kPrune ? t->prune : t->check;
}

// The targets a service's job uses: one named in the request, or all.
Result<std::vector<TargetUse>> TargetUses(const ServiceConfig& s, const std::optional<std::string>& target) {
  std::vector<TargetUse> uses;
  if (target) {
    if (std::find(s.targets.begin(), s.targets.end(), *target) == s.targets.end())
      return Status::InvalidArgument("service " + s.name + " has no target named '" + *target + "'");
    uses.push_back({*target, LockMode::kShared});
  } else {
    for (const std::string& t : s.targets) uses.push_back({t, LockMode::kShared});
  }
  return uses;
}

}  // namespace

Json Daemon::Health() {
  return {{"status", "ok"},
          {"version", CAIRN_VERSION},
          {"uptime_s", static_cast<double>(clock_->NowNs() - started_ns_) / 1e9}};
}

bool Daemon::ConfigLoaded() { return config() != nullptr; }

Json Daemon::ConfigStatus() {
  std::lock_guard lock(mu_);
  return {{"ok", config_error_.empty()},
          {"file", options_.config_path},
          {"loaded_at", TimeOrNull(config_loaded_ns_)},
          {"error", config_error_.empty() ? Json(nullptr) : Json(config_error_)}};
}

Json Daemon::JobToJson(const JobRecord& job) const {
  Json progress = job.status == JobStatus::kRunning ? runner_.Progress(job.id) : Json(nullptr);
  if (progress.is_null() && job.status == JobStatus::kRunning) progress = job.progress;
  if (progress.is_object()) {
    for (const char* key : {"part", "target"})
      if (progress.contains(key) && progress[key] == "") progress[key] = nullptr;
  }
  Json waiting = nullptr;
  if (job.status == JobStatus::kQueued) {
    std::lock_guard lock(views_mu_);
    auto it = views_.waiting.find(job.id);
    if (it != views_.waiting.end() && !it->second.empty()) waiting = it->second;
  }
  Json params = job.request.is_object() && job.request.contains("args") ? job.request["args"] : Json::object();
  if (params.is_object()) params.erase("forget_after");
  return {{"id", job.id},
          {"kind", ToString(job.kind)},
          {"service", job.service.empty() ? Json(nullptr) : Json(job.service)},
          {"targets", job.targets},
          {"trigger", ToString(job.trigger)},
          {"missed", job.request.is_object() ? job.request.value("missed", int64_t{0}) : 0},
          {"status", ToString(job.status)},
          {"queued_at", TimeOrNull(job.queued_ns)},
          {"started_at", TimeOrNull(job.started_ns)},
          {"ended_at", TimeOrNull(job.ended_ns)},
          {"duration_s", job.ended_ns && job.started_ns ? Json(job.duration_s()) : Json(nullptr)},
          {"bytes_read", job.bytes_read},
          {"bytes_added", job.bytes_added},
          {"point_id", job.point_id.empty() ? Json(nullptr) : Json(job.point_id)},
          {"error", job.error.empty() ? Json(nullptr) : Json(job.error)},
          {"waiting_on", waiting},
          {"progress", progress},
          {"params", params},
          {"result", job.result}};
}

// ------------------------------------------------------------------ requests

Result<JobId> Daemon::StartBackup(const std::string& service, const std::optional<std::string>& target,
                                  const Actor& actor) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  const ServiceConfig* s = config->FindService(service);
  if (!s) return Status::NotFound("no service named '" + service + "' in the configuration");
  JobRequest r;
  r.kind = JobKind::kBackup;
  r.service = service;
  r.trigger = Trigger::kApi;
  CAIRN_ASSIGN_OR_RETURN(r.targets, TargetUses(*s, target));
  r.args = {{"point_kind", "manual"}};
  return EnqueueRequest(std::move(r), actor, "backup");
}

Result<JobId> Daemon::StartRestore(const std::string& service, const Json& request, const Actor& actor) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  const ServiceConfig* s = config->FindService(service);
  if (!s) return Status::NotFound("no service named '" + service + "' in the configuration");
  auto field = [&](const char* key) -> std::optional<std::string> {
    if (!request.contains(key) || request[key].is_null()) return std::nullopt;
    if (!request[key].is_string()) return std::string("\x01");  // wrong type: refused below
    return request[key].get<std::string>();
  };
  const std::string mode = field("mode").value_or("new-instance");
  if (mode != "new-instance" && mode != "overwrite")
    return Status::InvalidArgument("field 'mode' must be \"new-instance\" or \"overwrite\"");
  if (mode == "overwrite" && field("confirm") != service)
    return Status::Aborted("an overwrite restore replaces the data of " + service +
                           ": set \"confirm\" to the service name to go ahead");
  const std::optional<std::string> at = field("at");
  if (at && !ArchivesContinuously(*s))
    return Status::Unsupported("point-in-time recovery (\"at\") is not enabled for service " + service +
                               ": it needs archive: stream on a PostgreSQL or MariaDB service (docs/pitr.md)");
  // With "at" the job picks its base backup itself (the newest physical
  // point before the time, on a target that holds the WAL).
  std::string point;
  if (!at) {
    CAIRN_ASSIGN_OR_RETURN(point, catalog_.ResolvePointId(service, field("point").value_or("latest")));
  }
  JobRequest r;
  r.kind = JobKind::kRestore;
  r.service = service;
  r.trigger = Trigger::kApi;
  std::optional<std::string> target = field("target");
  CAIRN_ASSIGN_OR_RETURN(r.targets, TargetUses(*s, target));
  const std::optional<std::string> as = field("as");
  if (as && !ValidName(*as)) return Status::InvalidArgument("field 'as' must be a name ([A-Za-z0-9_.-]+)");
  int port = 0;
  if (request.contains("port") && !request["port"].is_null()) {
    if (!request["port"].is_number_integer() || request["port"].get<int64_t>() < 1 || request["port"].get<int64_t>() > 65535)
      return Status::InvalidArgument("field 'port' must be 1-65535");
    port = request["port"].get<int>();
  }
  r.args = {{"point", point}, {"mode", mode}, {"target", target.value_or("")}, {"as", as.value_or("")},
            {"port", port}, {"safety_backup", true}, {"at", at.value_or("")}};
  return EnqueueRequest(std::move(r), actor, mode == "overwrite" ? "overwrite restore" : "restore");
}

Result<JobId> Daemon::StartVerify(const std::string& service, const std::string& point, const Actor& actor) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  const ServiceConfig* s = config->FindService(service);
  if (!s) return Status::NotFound("no service named '" + service + "' in the configuration");
  CAIRN_ASSIGN_OR_RETURN(std::string id, catalog_.ResolvePointId(service, point.empty() ? "latest" : point));
  JobRequest r;
  r.kind = JobKind::kDrill;
  r.service = service;
  r.trigger = Trigger::kApi;
  for (const std::string& t : s->targets) r.targets.push_back({t, LockMode::kShared});
  r.args = {{"point", id}};
  return EnqueueRequest(std::move(r), actor, "restore drill");
}

// ------------------------------------------------------------------ jobs

Result<Json> Daemon::ListJobs(const JobListFilter& filter, int limit, const std::string& cursor) {
  JobFilter f;
  f.service = filter.service;
  f.status = filter.status;
  f.kind = filter.kind;
  CAIRN_ASSIGN_OR_RETURN(Page<JobRecord> page, catalog_.ListJobs(f, PageRequest{limit, cursor}));
  Json jobs = Json::array();
  for (const JobRecord& j : page.items) jobs.push_back(JobToJson(j));
  return Json{{"jobs", jobs}, {"next_cursor", page.next_cursor.empty() ? Json(nullptr) : Json(page.next_cursor)}};
}

Result<Json> Daemon::GetJob(JobId id) {
  CAIRN_ASSIGN_OR_RETURN(JobRecord job, catalog_.GetJob(id));
  return JobToJson(job);
}

Result<Json> Daemon::JobLog(JobId id, int64_t after) {
  CAIRN_ASSIGN_OR_RETURN(LogChunk chunk, catalog_.ReadLog(id, after, kLogPage));
  Json lines = Json::array();
  int64_t next = after;
  for (const LogLine& l : chunk.lines) {
    lines.push_back({{"seq", l.seq}, {"time", FormatTime(l.time_ns)}, {"level", ToString(l.level)}, {"text", l.text}});
    next = std::max(next, l.seq);
  }
  // Lines the cap dropped are skipped over: the next read starts after them.
  if (chunk.dropped && next <= chunk.head_end_seq + chunk.dropped && next >= chunk.head_end_seq)
    next = std::max(next, std::min(chunk.last_seq, chunk.head_end_seq + chunk.dropped));
  return Json{{"lines", lines},
              {"next_after", next},
              {"dropped", chunk.dropped},
              {"done", IsFinal(chunk.status) && next >= chunk.last_seq}};
}

Status Daemon::CancelJob(JobId id, const Actor& actor) {
  CAIRN_ASSIGN_OR_RETURN(JobRecord job, catalog_.GetJob(id));
  if (IsFinal(job.status))
    return Status::AlreadyExists("job " + std::to_string(id) + " has already ended (" +
                                 std::string(ToString(job.status)) + ")");
  Status st;
  if (job.status == JobStatus::kQueued) {
    {
      std::lock_guard lock(mu_);
      st = scheduler_->Cancel(id);
      RefreshViews();
      wake_ = true;
    }
    cv_.notify_all();
    if (st.IsNotFound() || st.code() == StatusCode::kInvalidArgument) st = runner_.Cancel(id);  // it just started
  } else {
    st = runner_.Cancel(id);
  }
  if (st.IsNotFound()) {
    // Between the read and now it ended: a cancel that lost the race.
    auto now = catalog_.GetJob(id);
    if (now.ok() && IsFinal(now->status))
      return Status::AlreadyExists("job " + std::to_string(id) + " has already ended");
    return st;
  }
  if (st.ok()) {
    (void)catalog_.AppendLog(id, {LogLine{0, 0, LogLevel::kWarning, "cancel requested by " + actor.name}});
    PublishJob(id);
  }
  return st;
}

// ------------------------------------------------------------------ alerts

Result<Json> Daemon::ListAlerts(bool open, int limit, const std::string& cursor) {
  CAIRN_ASSIGN_OR_RETURN(Page<AlertRecord> page, catalog_.ListAlerts(open ? AlertState::kOpen : AlertState::kResolved,
                                                                     PageRequest{limit, cursor}));
  Json alerts = Json::array();
  for (const AlertRecord& a : page.items) alerts.push_back(AlertToJson(a));
  return Json{{"alerts", alerts}, {"next_cursor", page.next_cursor.empty() ? Json(nullptr) : Json(page.next_cursor)}};
}

Result<Json> Daemon::AckAlert(int64_t id, const Actor& actor) {
  CAIRN_RETURN_IF_ERROR(catalog_.AckAlert(id, actor.name));
  CAIRN_ASSIGN_OR_RETURN(AlertRecord a, catalog_.GetAlert(id));
  Json j = AlertToJson(a);
  Publish(ApiEvent{"alert", j});
  if (!a.service.empty()) Publish(ApiEvent{"service", {{"name", a.service}}});
  return j;
}

// ------------------------------------------------------------------ schedules

Result<Json> Daemon::ListSchedules() {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  const Views v = views();
  Json list = Json::array();
  for (const auto& [key, info] : v.tasks) {
    const Task& t = info.task;
    Json next = Json::array();
    for (int64_t ns : info.next_runs_ns) next.push_back(FormatTime(ns));
    // The task's last run: its newest job (a page of its kind is enough).
    Json last_run = nullptr;
    JobFilter f;
    f.kind = t.kind;
    if (!t.service.empty()) f.service = t.service;
    auto page = catalog_.ListJobs(f, PageRequest{50, ""});
    if (page.ok()) {
      for (const JobRecord& j : page->items) {
        const bool same_target = t.service.empty() ? (!t.targets.empty() && j.targets.size() == 1 &&
                                                      j.targets[0] == t.targets[0].target)
                                                   : true;
        if (!same_target) continue;
        if (j.started_ns) {
          last_run = FormatTime(j.started_ns);
          break;
        }
      }
    }
    list.push_back({{"key", key},
                    {"kind", ToString(t.kind)},
                    {"service", t.service.empty() ? Json(nullptr) : Json(t.service)},
                    {"target", t.service.empty() && !t.targets.empty() ? Json(t.targets[0].target) : Json(nullptr)},
                    {"schedule", ScheduleJson(TaskSchedule(*config, t), info.state.paused)},
                    {"paused", info.state.paused},
                    {"next_runs", next},
                    {"last_run", last_run},
                    {"job_id", info.active_job ? Json(*info.active_job) : Json(nullptr)}});
  }
  return Json{{"schedules", list}};
}

Result<Json> Daemon::SetSchedulePaused(const std::string& key, bool paused, const Actor& actor) {
  (void)actor;  // the server's audit log names who did it
  {
    std::lock_guard lock(mu_);
    Status st = paused ? scheduler_->Pause(key) : scheduler_->Resume(key);
    if (!st.ok()) return st;
    RefreshViews();
    wake_ = true;
  }
  cv_.notify_all();
  CAIRN_ASSIGN_OR_RETURN(Json all, ListSchedules());
  for (const Json& s : all["schedules"])
    if (s["key"] == key) {
      if (s["service"].is_string()) Publish(ApiEvent{"service", {{"name", s["service"]}}});
      return s;
    }
  return Status::NotFound("no schedule '" + key + "'");
}

Status Daemon::TestNotification(std::optional<int> channel, const Actor& actor) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  (void)actor;  // the server audits who asked
  if (config->notifications.empty())
    return Status::InvalidArgument("no notification channel is configured (notifications: in " + config->path + ")");
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> results, notifier_.SendTest(channel));
  // One failure fails the test: the operator pressed the button to see it work.
  std::string failed;
  const size_t first = channel ? static_cast<size_t>(*channel) : 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i] == "ok") continue;
    const size_t index = first + i;
    const std::string name = index < config->notifications.size() ? config->notifications[index].name
                                                                    : std::to_string(index);
    failed += (failed.empty() ? "" : "; ") + name + ": " + results[i];
  }
  if (!failed.empty()) return Status::IOError("the test notification failed: " + failed);
  return Status::Ok();
}

Result<std::string> Daemon::Metrics() {
  CAIRN_ASSIGN_OR_RETURN(MetricsSnapshot snapshot, catalog_.Metrics());
  return RenderMetrics(snapshot, PitrWindows());
}

}  // namespace cairn

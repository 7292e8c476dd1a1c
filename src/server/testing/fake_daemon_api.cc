#include "server/testing/fake_daemon_api.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace cairn::server_testing {
namespace {

Json Job(JobId id) {
  return Json{{"id", id},          {"kind", "backup"},  {"service", "app-db"}, {"targets", {"local"}},
              {"trigger", "api"},  {"missed", 0},       {"status", "queued"},  {"queued_at", "2026-12-06T10:15:00Z"},
              {"started_at", nullptr}, {"ended_at", nullptr}, {"duration_s", nullptr}, {"bytes_read", 0},
              {"bytes_added", 0},  {"point_id", nullptr}, {"error", nullptr}, {"waiting_on", nullptr},
              {"progress", nullptr}, {"params", Json::object()}, {"result", nullptr}};
}

Json Alert(int64_t id) {
  return Json{{"id", id},         {"rule", "job_failed"}, {"severity", "critical"}, {"service", "app-db"},
              {"target", nullptr}, {"message", "backup failed"}, {"first_seen", "2026-12-06T10:15:00Z"},
              {"last_seen", "2026-12-06T10:15:00Z"}, {"count", 1}, {"acked_at", nullptr}, {"acked_by", nullptr},
              {"resolved_at", nullptr}};
}

Json Schedule(const std::string& key, bool paused) {
  return Json{{"key", key},
              {"kind", "backup"},
              {"service", "app-db"},
              {"target", nullptr},
              {"schedule", {{"every", "1h"}, {"cron", nullptr}, {"timezone", "UTC"}, {"catch_up", "once"},
                            {"jitter", nullptr}, {"paused", paused}}},
              {"paused", paused},
              {"next_runs", Json::array()},
              {"last_run", nullptr},
              {"job_id", nullptr}};
}

}  // namespace

void FakeDaemonApi::FailMethod(const std::string& method, Status status) {
  std::lock_guard lock(mu_);
  failures_[method] = std::move(status);
}

void FakeDaemonApi::ClearFailures() {
  std::lock_guard lock(mu_);
  failures_.clear();
}

void FakeDaemonApi::SetFile(std::string name, std::string content, size_t piece, long fail_after,
                            long stall_after) {
  std::lock_guard lock(mu_);
  file_name_ = std::move(name);
  file_content_ = std::move(content);
  file_piece_ = std::max<size_t>(1, piece);
  file_fail_after_ = fail_after;
  file_stall_after_ = stall_after;
}

std::vector<FakeDaemonApi::Call> FakeDaemonApi::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

FakeDaemonApi::Call FakeDaemonApi::last_call() const {
  std::lock_guard lock(mu_);
  return calls_.empty() ? Call{} : calls_.back();
}

size_t FakeDaemonApi::call_count(const std::string& method) const {
  std::lock_guard lock(mu_);
  return std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) { return c.method == method; });
}

void FakeDaemonApi::ClearCalls() {
  std::lock_guard lock(mu_);
  calls_.clear();
}

size_t FakeDaemonApi::active_subscriptions() const {
  std::lock_guard lock(sub_mu_);
  return subscribers_.size();
}

void FakeDaemonApi::Emit(const ApiEvent& event) {
  std::vector<std::function<void(const ApiEvent&)>> targets;
  {
    std::lock_guard lock(sub_mu_);
    for (const auto& [id, cb] : subscribers_) targets.push_back(cb);
  }
  for (const auto& cb : targets) cb(event);
}

Status FakeDaemonApi::Record(const std::string& method, Json args, const Actor* actor) {
  std::lock_guard lock(mu_);
  calls_.push_back(Call{method, std::move(args), actor ? actor->name : "", actor ? actor->role : Role::kRead});
  auto it = failures_.find(method);
  return it == failures_.end() ? Status::Ok() : it->second;
}

Json FakeDaemonApi::Health() { return Json{{"status", "ok"}, {"version", "0.1.0"}, {"uptime_s", 12.5}}; }

Json FakeDaemonApi::ConfigStatus() {
  (void)Record("ConfigStatus", Json::object());
  return ConfigStatusJson();
}

Json FakeDaemonApi::ConfigStatusJson() const {
  if (config_loaded)
    return Json{{"ok", true}, {"file", "/etc/cairn/cairn.yaml"}, {"loaded_at", "2026-12-06T10:00:00Z"}, {"error", nullptr}};
  return Json{{"ok", false}, {"file", "/etc/cairn/cairn.yaml"}, {"loaded_at", nullptr},
              {"error", "cairn.yaml: service app: unknown key 'prot'"}};
}

Result<Json> FakeDaemonApi::ListServices() {
  CAIRN_RETURN_IF_ERROR(Record("ListServices", Json::object()));
  return Json{{"services", Json::array({Json{{"name", "app-db"}, {"type", "postgres"}}})},
              {"summary", {{"services", 1}, {"healthy", 1}, {"failing", 0}, {"stale", 0}, {"unknown", 0}, {"alerts_open", 0}}},
              {"config", ConfigStatusJson()}};
}

Result<Json> FakeDaemonApi::GetService(const std::string& name) {
  CAIRN_RETURN_IF_ERROR(Record("GetService", Json{{"name", name}}));
  return Json{{"name", name}, {"type", "postgres"}};
}

Result<Json> FakeDaemonApi::ListPoints(const std::string& service, int limit, const std::string& cursor) {
  CAIRN_RETURN_IF_ERROR(Record("ListPoints", Json{{"service", service}, {"limit", limit}, {"cursor", cursor}}));
  return Json{{"points", Json::array({Json{{"id", "6fc69ea733a0125e"}, {"service", service}}})}, {"next_cursor", nullptr}};
}

Result<Json> FakeDaemonApi::GetPoint(const std::string& service, const std::string& point) {
  CAIRN_RETURN_IF_ERROR(Record("GetPoint", Json{{"service", service}, {"point", point}}));
  return Json{{"id", "6fc69ea733a0125e"}, {"service", service}, {"manifest", Json::object()}};
}

Result<Json> FakeDaemonApi::ServiceHistory(const std::string& service, int days) {
  CAIRN_RETURN_IF_ERROR(Record("ServiceHistory", Json{{"service", service}, {"days", days}}));
  return Json{{"points", Json::array()}, {"drills", Json::array()}, {"jobs", Json::array()}};
}

Result<Json> FakeDaemonApi::Calendar(int days, const std::string& time_zone) {
  CAIRN_RETURN_IF_ERROR(Record("Calendar", Json{{"days", days}, {"tz", time_zone}}));
  return Json{{"days", Json::array()}, {"services", Json::array()}};
}

Result<Json> FakeDaemonApi::ListFiles(const std::string& service, const std::string& point, const std::string& path) {
  CAIRN_RETURN_IF_ERROR(Record("ListFiles", Json{{"service", service}, {"point", point}, {"path", path}}));
  return Json{{"path", path}, {"entries", Json::array()}};
}

Status FakeDaemonApi::DownloadFile(const std::string& service, const std::string& point, const std::string& path,
                                   const std::function<void(const FileDownload&)>& start,
                                   const std::function<bool(ByteView)>& sink) {
  CAIRN_RETURN_IF_ERROR(Record("DownloadFile", Json{{"service", service}, {"point", point}, {"path", path}}));
  std::string name, content;
  size_t piece;
  long fail_after, stall_after;
  {
    std::lock_guard lock(mu_);
    name = file_name_;
    content = file_content_;
    piece = file_piece_;
    fail_after = file_fail_after_;
    stall_after = file_stall_after_;
  }
  start(FileDownload{name, content.size()});
  for (size_t off = 0; off < content.size(); off += piece) {
    if (fail_after >= 0 && off >= static_cast<size_t>(fail_after)) return Status::IOError("pack unreadable");
    while (stall_after >= 0 && off >= static_cast<size_t>(stall_after)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!sink(ByteView())) return Status::Aborted("client went away");
    }
    const size_t n = std::min(piece, content.size() - off);
    if (!sink(AsBytes(std::string_view(content).substr(off, n)))) return Status::Aborted("client went away");
  }
  return Status::Ok();
}

Result<JobId> FakeDaemonApi::StartBackup(const std::string& service, const std::optional<std::string>& target,
                                         const Actor& actor) {
  CAIRN_RETURN_IF_ERROR(Record("StartBackup", Json{{"service", service}, {"target", target ? Json(*target) : Json()}}, &actor));
  std::lock_guard lock(mu_);
  return next_job_++;
}

Result<JobId> FakeDaemonApi::StartRestore(const std::string& service, const Json& request, const Actor& actor) {
  CAIRN_RETURN_IF_ERROR(Record("StartRestore", Json{{"service", service}, {"request", request}}, &actor));
  std::lock_guard lock(mu_);
  return next_job_++;
}

Result<JobId> FakeDaemonApi::StartVerify(const std::string& service, const std::string& point, const Actor& actor) {
  CAIRN_RETURN_IF_ERROR(Record("StartVerify", Json{{"service", service}, {"point", point}}, &actor));
  std::lock_guard lock(mu_);
  return next_job_++;
}

Result<Json> FakeDaemonApi::ListJobs(const JobListFilter& filter, int limit, const std::string& cursor) {
  Json args{{"service", filter.service ? Json(*filter.service) : Json()},
            {"status", filter.status ? Json(std::string(ToString(*filter.status))) : Json()},
            {"kind", filter.kind ? Json(std::string(ToString(*filter.kind))) : Json()},
            {"limit", limit},
            {"cursor", cursor}};
  CAIRN_RETURN_IF_ERROR(Record("ListJobs", args));
  return Json{{"jobs", Json::array({Job(41)})}, {"next_cursor", nullptr}};
}

Result<Json> FakeDaemonApi::GetJob(JobId id) {
  CAIRN_RETURN_IF_ERROR(Record("GetJob", Json{{"id", id}}));
  return Job(id);
}

Result<Json> FakeDaemonApi::JobLog(JobId id, int64_t after) {
  CAIRN_RETURN_IF_ERROR(Record("JobLog", Json{{"id", id}, {"after", after}}));
  return Json{{"lines", Json::array()}, {"next_after", after}, {"dropped", 0}, {"done", false}};
}

Status FakeDaemonApi::CancelJob(JobId id, const Actor& actor) { return Record("CancelJob", Json{{"id", id}}, &actor); }

Result<Json> FakeDaemonApi::ListAlerts(bool open, int limit, const std::string& cursor) {
  CAIRN_RETURN_IF_ERROR(Record("ListAlerts", Json{{"open", open}, {"limit", limit}, {"cursor", cursor}}));
  return Json{{"alerts", Json::array({Alert(7)})}, {"next_cursor", nullptr}};
}

Result<Json> FakeDaemonApi::AckAlert(int64_t id, const Actor& actor) {
  CAIRN_RETURN_IF_ERROR(Record("AckAlert", Json{{"id", id}}, &actor));
  Json a = Alert(id);
  a["acked_by"] = actor.name;
  return a;
}

Result<Json> FakeDaemonApi::ListSchedules() {
  CAIRN_RETURN_IF_ERROR(Record("ListSchedules", Json::object()));
  return Json{{"schedules", Json::array({Schedule("backup:app-db", false)})}};
}

Result<Json> FakeDaemonApi::SetSchedulePaused(const std::string& key, bool paused, const Actor& actor) {
  CAIRN_RETURN_IF_ERROR(Record("SetSchedulePaused", Json{{"key", key}, {"paused", paused}}, &actor));
  return Schedule(key, paused);
}

Status FakeDaemonApi::TestNotification(std::optional<int> channel, const Actor& actor) {
  return Record("TestNotification", Json{{"channel", channel ? Json(*channel) : Json()}}, &actor);
}

Result<std::string> FakeDaemonApi::Metrics() {
  CAIRN_RETURN_IF_ERROR(Record("Metrics", Json::object()));
  return std::string("# TYPE cairn_jobs_running gauge\ncairn_jobs_running 0\n");
}

int64_t FakeDaemonApi::Subscribe(std::function<void(const ApiEvent&)> callback) {
  std::lock_guard lock(sub_mu_);
  const int64_t id = next_subscription_++;
  subscribers_[id] = std::move(callback);
  return id;
}

void FakeDaemonApi::Unsubscribe(int64_t id) {
  std::lock_guard lock(sub_mu_);
  subscribers_.erase(id);
}

}  // namespace cairn::server_testing

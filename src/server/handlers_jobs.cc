// Jobs and their logs, alerts, schedules, test notifications.
#include <cstdint>

#include "server/api_server_core.h"
#include "server/http_util.h"

namespace cairn {
namespace {

constexpr int kMaxPageLimit = 500;

void Reply(ApiServer::Core& core, ApiRequest& r, Result<Json> result) {
  if (!result.ok()) return core.Fail(r, result.status());
  SendJson(r.res, 200, *result);
}

// POSTs that take no fields still accept {} (or nothing), and nothing else.
bool NoInput(ApiServer::Core& core, ApiRequest& r) {
  BodyFields fields(r.body);
  if (!core.FinishBody(r, fields)) return false;
  QueryReader q(r.query);
  return core.FinishQuery(r, q);
}

}  // namespace

void HandleJobList(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  JobListFilter filter;
  filter.service = q.Text("service");
  const std::optional<std::string> status = q.Text("status");
  const std::optional<std::string> kind = q.Text("kind");
  const int limit = q.Int("limit", 50, 1, kMaxPageLimit);
  const std::string cursor = q.Cursor();
  if (!core.FinishQuery(r, q)) return;
  if (filter.service && !IsServiceName(*filter.service)) {
    SendError(r.res, 400, "query parameter 'service' is not a service name");
    return;
  }
  if (status && !(filter.status = ParseJobStatus(*status))) {
    SendError(r.res, 400, "query parameter 'status' must be queued, running, succeeded, partial, failed, "
                          "cancelled or interrupted");
    return;
  }
  if (kind && !(filter.kind = ParseJobKind(*kind))) {
    SendError(r.res, 400, "query parameter 'kind' must be backup, restore, forget, prune, check, copy or drill");
    return;
  }
  Reply(core, r, core.daemon.ListJobs(filter, limit, cursor));
}

void HandleJobGet(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.GetJob(r.match.params.id));
}

void HandleJobLog(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  const int64_t after = q.Int64("after", 0, 0, INT64_MAX);
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.JobLog(r.match.params.id, after));
}

void HandleJobCancel(ApiServer::Core& core, ApiRequest& r) {
  if (!NoInput(core, r)) return;
  const JobId id = r.match.params.id;
  const Status st = core.daemon.CancelJob(id, r.who.actor);
  Json details{{"job_id", id}};
  if (!st.ok()) details["error"] = st.message();
  core.Audit(r, "job.cancel", std::move(details));
  if (!st.ok()) return core.Fail(r, st);
  SendJson(r.res, 202, Json::object());
}

void HandleAlertList(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  const std::string state_text = q.Text("state").value_or("open");
  const int limit = q.Int("limit", 50, 1, kMaxPageLimit);
  const std::string cursor = q.Cursor();
  if (!core.FinishQuery(r, q)) return;
  std::optional<AlertState> state;
  if (state_text == "open") state = AlertState::kOpen;
  else if (state_text == "resolved") state = AlertState::kResolved;
  if (!state) {
    SendError(r.res, 400, "query parameter 'state' must be open or resolved");
    return;
  }
  Reply(core, r, core.daemon.ListAlerts(*state == AlertState::kOpen, limit, cursor));
}

void HandleAlertAck(ApiServer::Core& core, ApiRequest& r) {
  if (!NoInput(core, r)) return;
  const int64_t id = r.match.params.id;
  auto alert = core.daemon.AckAlert(id, r.who.actor);
  Json details{{"alert_id", id}};
  if (!alert.ok()) details["error"] = alert.status().message();
  core.Audit(r, "alert.ack", std::move(details));
  Reply(core, r, std::move(alert));
}

void HandleScheduleList(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.ListSchedules());
}

void HandleSchedulePause(ApiServer::Core& core, ApiRequest& r, bool paused) {
  if (!NoInput(core, r)) return;
  const std::string& key = r.match.params.key;
  auto entry = core.daemon.SetSchedulePaused(key, paused, r.who.actor);
  Json details{{"key", key}};
  if (!entry.ok()) details["error"] = entry.status().message();
  core.Audit(r, paused ? "schedule.pause" : "schedule.resume", std::move(details));
  Reply(core, r, std::move(entry));
}

void HandleNotificationTest(ApiServer::Core& core, ApiRequest& r) {
  BodyFields fields(r.body);
  const std::optional<int64_t> channel = fields.Int("channel", 0, 1000000);
  if (!core.FinishBody(r, fields)) return;
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  const std::optional<int> index = channel ? std::optional<int>(static_cast<int>(*channel)) : std::nullopt;
  const Status st = core.daemon.TestNotification(index, r.who.actor);
  Json details{{"channel", channel ? Json(*channel) : Json(nullptr)}};
  if (!st.ok()) details["error"] = st.message();
  core.Audit(r, "notification.test", std::move(details));
  if (!st.ok()) return core.Fail(r, st);
  SendJson(r.res, 202, Json::object());
}

}  // namespace cairn

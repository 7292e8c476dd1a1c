// Services, restore points, history, calendar, file listings, and the
// requests that start backups, restores and drills.
#include "cairn/service.h"
#include "cairn/system.h"
#include "server/api_server_core.h"
#include "server/http_util.h"

namespace cairn {
namespace {

constexpr int kMaxPageLimit = 500;

void Reply(ApiServer::Core& core, ApiRequest& r, Result<Json> result) {
  if (!result.ok()) return core.Fail(r, result.status());
  SendJson(r.res, 200, *result);
}

void Accepted(ApiServer::Core& core, ApiRequest& r, const Result<JobId>& job, const std::string& action,
              Json details) {
  if (!job.ok()) {
    details["error"] = job.status().message();
    core.Audit(r, action, std::move(details));
    return core.Fail(r, job.status());
  }
  details["job_id"] = *job;
  core.Audit(r, action, std::move(details));
  SendJson(r.res, 202, Json{{"job_id", *job}});
}

Json OrNull(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }

std::optional<RestoreMode> ParseRestoreMode(std::string_view text) {
  if (text == "new-instance") return RestoreMode::kNewInstance;
  if (text == "overwrite") return RestoreMode::kOverwrite;
  return std::nullopt;
}

}  // namespace

void HandleServiceList(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.ListServices());
}

void HandleServiceGet(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.GetService(r.match.params.service));
}

void HandlePointList(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  const int limit = q.Int("limit", 50, 1, kMaxPageLimit);
  const std::string cursor = q.Cursor();
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.ListPoints(r.match.params.service, limit, cursor));
}

void HandlePointGet(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.GetPoint(r.match.params.service, r.match.params.point));
}

void HandleServiceHistory(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  const int days = q.Int("days", 90, 1, 3660);
  if (!core.FinishQuery(r, q)) return;
  Reply(core, r, core.daemon.ServiceHistory(r.match.params.service, days));
}

void HandleCalendar(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  const int days = q.Int("days", 30, 1, 366);
  const std::string tz = q.Text("tz").value_or("UTC");
  if (!core.FinishQuery(r, q)) return;
  if (!IsTimeZoneName(tz)) {
    SendError(r.res, 400, "query parameter 'tz' is not a time zone name (e.g. UTC, Europe/Berlin)");
    return;
  }
  Reply(core, r, core.daemon.Calendar(days, tz));
}

void HandleFileList(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  const std::string path = q.Text("path").value_or("/");
  if (!core.FinishQuery(r, q)) return;
  if (Status st = CheckSnapshotPath(path, /*allow_root=*/true); !st.ok()) {
    SendError(r.res, 400, "query parameter 'path': " + st.message());
    return;
  }
  Reply(core, r, core.daemon.ListFiles(r.match.params.service, r.match.params.point, path));
}

void HandleBackupStart(ApiServer::Core& core, ApiRequest& r) {
  BodyFields fields(r.body);
  const std::optional<std::string> target = fields.String("target");
  if (!core.FinishBody(r, fields)) return;
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  if (target && !IsServiceName(*target)) {
    SendError(r.res, 400, "field 'target' is not a target name");
    return;
  }
  const std::string& service = r.match.params.service;
  Accepted(core, r, core.daemon.StartBackup(service, target, r.who.actor), "backup",
           Json{{"service", service}, {"target", OrNull(target)}});
}

void HandleRestoreStart(ApiServer::Core& core, ApiRequest& r) {
  BodyFields fields(r.body);
  std::optional<std::string> point = fields.String("point");
  const std::string mode_text = fields.String("mode").value_or("new-instance");
  const std::optional<std::string> confirm = fields.String("confirm");
  const std::optional<std::string> target = fields.String("target");
  const std::optional<std::string> as = fields.String("as");
  const std::optional<int64_t> port = fields.Int("port", 1, 65535);
  const std::optional<std::string> at = fields.String("at");
  if (!core.FinishBody(r, fields)) return;
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  auto bad = [&](const std::string& why) { SendError(r.res, 400, why); };
  const std::optional<RestoreMode> mode = ParseRestoreMode(mode_text);
  if (!mode) return bad("field 'mode' must be \"new-instance\" or \"overwrite\"");
  if (point && at) return bad("give \"point\" or \"at\" (point-in-time recovery), not both");
  if (point) {
    std::string normalized;
    if (!ParsePointRef(*point, &normalized)) return bad("field 'point' must be \"latest\" or 4 to 64 hex digits");
    point = normalized;
  } else if (!at) {
    point = "latest";
  }
  if (at && *at != "latest" && !ParseTime(*at).ok())
    return bad("field 'at' must be \"latest\" or an RFC 3339 UTC time (2026-12-06T10:15:00Z)");
  if (target && !IsServiceName(*target)) return bad("field 'target' is not a target name");
  if (as && !IsServiceName(*as)) return bad("field 'as' must be letters, digits, '_', '.' and '-'");
  const std::string& service = r.match.params.service;
  if (*mode == RestoreMode::kOverwrite) {
    if (r.who.actor.role < Role::kAdmin) {
      SendError(r.res, 403, "an overwrite restore needs the admin role; " + r.who.audit_actor + " has " +
                                std::string(ToString(r.who.actor.role)));
      return;
    }
    if (confirm != service) {
      SendError(r.res, 409, "an overwrite restore replaces the data of " + service +
                                ": set \"confirm\" to the service name to go ahead");
      return;
    }
  }
  const Json request = {{"point", OrNull(point)}, {"mode", mode_text},  {"confirm", OrNull(confirm)},
                        {"target", OrNull(target)}, {"as", OrNull(as)}, {"port", port ? Json(*port) : Json(nullptr)},
                        {"at", OrNull(at)}};
  Json details = request;
  details.erase("confirm");
  details["service"] = service;
  Accepted(core, r, core.daemon.StartRestore(service, request, r.who.actor), "restore", std::move(details));
}

void HandleVerifyStart(ApiServer::Core& core, ApiRequest& r) {
  BodyFields fields(r.body);
  const std::string point_text = fields.String("point").value_or("latest");
  if (!core.FinishBody(r, fields)) return;
  QueryReader q(r.query);
  if (!core.FinishQuery(r, q)) return;
  std::string point;
  if (!ParsePointRef(point_text, &point)) {
    SendError(r.res, 400, "field 'point' must be \"latest\" or 4 to 64 hex digits");
    return;
  }
  const std::string& service = r.match.params.service;
  Accepted(core, r, core.daemon.StartVerify(service, point, r.who.actor), "verify",
           Json{{"service", service}, {"point", point}});
}

}  // namespace cairn

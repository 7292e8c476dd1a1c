// cairn/ops.h: the operations the command line and the daemon share.
#include "cairn/ops.h"

#include <algorithm>
#include <filesystem>

#include "cairn/system.h"
#include "ops/replay_capture.h"
#include "targets/repository/repository_target.h"

namespace cairn {
namespace {

const ServiceConfig* FindServiceOr(const Config& config, const std::string& name, Status* st) {
  const ServiceConfig* s = config.FindService(name);
  if (!s) *st = Status::NotFound("no service named '" + name + "' in " + config.path);
  return s;
}

// The service's targets in config order, or just `only` (which must be one of them).
Result<std::vector<TargetConfig>> TargetsOf(const Config& config, const ServiceConfig& service,
                                            const std::vector<std::string>& only, const OpHooks& hooks) {
  std::vector<TargetConfig> out;
  for (const std::string& name : only)
    if (std::find(service.targets.begin(), service.targets.end(), name) == service.targets.end())
      return Status::NotFound("service " + service.name + " has no target named '" + name + "'");
  for (const std::string& name : service.targets) {
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    TargetConfig t = *config.FindTarget(name);
    t.context = hooks.context;
    out.push_back(std::move(t));
  }
  return out;
}

void Log(const OpHooks& hooks, const std::string& line) {
  if (hooks.log) hooks.log(line);
}

std::string TempDirOf(const ServiceConfig& service) {
  if (!service.temp_dir.empty()) return service.temp_dir;
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

// Stores `point`, held by `from`, on `to` as the same point; returns it as `to` holds it.
Result<RestorePoint> SendPoint(const ServiceConfig& service, const TargetConfig& from, const RestorePoint& point,
                               const TargetConfig& to, const OpHooks& hooks) {
  if (from.type == "repository" && to.type == "repository") {
    // Between repositories only missing blobs move, already encrypted for the destination.
    CAIRN_ASSIGN_OR_RETURN(ServiceCopyResult copied, CopyServicePoints(service, from, to, {point.id}));
    if (copied.copied.empty() && copied.present.empty())
      return Status::IOError("restore point " + point.id + " was not copied");
    CAIRN_ASSIGN_OR_RETURN(auto dest, OpenTarget(to));
    CAIRN_ASSIGN_OR_RETURN(std::vector<RestorePoint> there, dest->List(service.name));
    for (RestorePoint& p : there)
      if (p.id == point.id) return p;
    return Status::IOError("restore point " + point.id + " is not listed on " + to.name + " after the copy");
  }
  CAIRN_ASSIGN_OR_RETURN(auto source, OpenTarget(from));
  CAIRN_ASSIGN_OR_RETURN(auto reader, source->Open(point));
  CAIRN_ASSIGN_OR_RETURN(auto capture, ReplayCapture::Make(point, reader.get(), TempDirOf(service)));
  CAIRN_ASSIGN_OR_RETURN(auto dest, OpenTarget(to));
  CAIRN_RETURN_IF_ERROR(dest->Initialize());
  StoreRequest request;
  request.service = service.name;
  request.point_id = point.id;
  request.kind = point.kind;
  request.time_ns = point.time_ns;
  request.capture = capture.get();
  request.progress = hooks.progress;
  request.manifest = point.manifest;
  for (const char* key : {"parts", "size", "duration_s"}) request.manifest.erase(key);
  return dest->Store(request);
}

}  // namespace

Result<ServicePoint> FindPoint(const std::vector<ServicePoint>& points, const std::string& wanted,
                               const std::string& service) {
  if (wanted == "latest") {
    for (auto it = points.rbegin(); it != points.rend(); ++it)
      if (it->point.status == "complete" && it->point.kind != "safety") return *it;
    return Status::NotFound("service " + service + " has no restore point yet");
  }
  if (wanted.size() < 4) return Status::InvalidArgument("restore point id '" + wanted + "' is too short");
  const ServicePoint* found = nullptr;
  for (const auto& p : points) {
    if (p.point.id.compare(0, wanted.size(), wanted) != 0) continue;
    if (found && found->point.id != p.point.id)
      return Status::InvalidArgument("restore point id '" + wanted + "' is ambiguous");
    found = &p;
  }
  if (!found) return Status::NotFound("service " + service + " has no restore point " + wanted);
  return *found;
}

Result<std::vector<ServicePoint>> ListPoints(const Config& config, const std::string& service_name,
                                             const std::string& target, std::vector<std::string>* unreachable) {
  Status st;
  const ServiceConfig* service = FindServiceOr(config, service_name, &st);
  if (!service) return st;
  if (!target.empty() && std::find(service->targets.begin(), service->targets.end(), target) == service->targets.end())
    return Status::NotFound("service " + service_name + " has no target named '" + target + "'");
  std::vector<std::string> problems;
  CAIRN_ASSIGN_OR_RETURN(auto points, ListServicePoints(config, *service, target, &problems));
  if (points.empty() && !problems.empty()) return Status::IOError(problems.front());
  if (unreachable) *unreachable = std::move(problems);
  return points;
}

bool BackupRunResult::partial() const {
  bool failed = false;
  for (const auto& t : targets) failed = failed || !t.status.ok();
  return point.has_value() && failed;
}

Result<BackupRunResult> BackupToTargets(const Config& config, const BackupRequest& request, const OpHooks& hooks) {
  Status st;
  const ServiceConfig* service = FindServiceOr(config, request.service, &st);
  if (!service) return st;
  CAIRN_ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, TargetsOf(config, *service, request.targets, hooks));
  // Repository targets first: a point captured there can be sent to every
  // other kind of target; one captured into Borg only to other Borg targets
  // without a second read of the service.
  std::stable_partition(targets.begin(), targets.end(), [](const TargetConfig& t) { return t.type == "repository"; });

  BackupRunResult run;
  ServiceBackupOptions options;
  options.kind = request.kind;
  options.point_id = NewPointId();
  options.time_ns = NowNs();
  options.progress = hooks.progress;
  options.log = hooks.log;
  size_t primary = targets.size();
  Status first_error;
  for (size_t i = 0; i < targets.size(); ++i) {
    CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));
    if (hooks.progress) hooks.progress->SetPhase(Phase::kCapturing, "", targets[i].name);
    auto stored = BackupService(*service, targets[i], options);
    if (stored.ok()) {
      run.point = *stored;
      run.targets.push_back({targets[i].name, Status::Ok(), false, *stored});
      primary = i;
      break;
    }
    // A target that refused the point (full, locked, unreachable, a wrong
    // password) hands the capture on to the next target; a capture that
    // failed on the service's side would fail there too, and is not
    // repeated against a production database.
    if (first_error.ok()) first_error = stored.status();
    run.targets.push_back({targets[i].name, stored.status(), false, std::nullopt});
    const StatusCode code = stored.status().code();
    const bool target_side = code == StatusCode::kNoSpace || code == StatusCode::kLocked ||
                             code == StatusCode::kWrongPassword || stored.status().message().starts_with("target ");
    if (!target_side || i + 1 == targets.size()) return stored.status();
    if (hooks.warn) hooks.warn(stored.status().message() + "; capturing into " + targets[i + 1].name + " instead");
  }
  if (!run.point) return first_error.ok() ? Status::InvalidArgument("service has no targets") : first_error;
  for (size_t i = primary + 1; i < targets.size(); ++i) {
    CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));
    if (hooks.progress) hooks.progress->SetPhase(Phase::kCopying, "", targets[i].name);
    Log(hooks, "sending restore point " + run.point->id + " to " + targets[i].name);
    auto sent = SendPoint(*service, targets[primary], *run.point, targets[i], hooks);
    if (!sent.ok() && CheckContext(hooks.context).code() == StatusCode::kAborted) return CheckContext(hooks.context);
    if (!sent.ok() && hooks.warn) hooks.warn("target " + targets[i].name + ": " + sent.status().message());
    if (sent.ok()) run.targets.push_back({targets[i].name, Status::Ok(), true, *sent});
    else run.targets.push_back({targets[i].name, sent.status().WithContext("target " + targets[i].name), true, std::nullopt});
  }
  // Report in the configuration's order.
  std::stable_sort(run.targets.begin(), run.targets.end(), [&](const TargetStoreResult& a, const TargetStoreResult& b) {
    auto pos = [&](const std::string& n) { return std::find(service->targets.begin(), service->targets.end(), n); };
    return pos(a.target) < pos(b.target);
  });
  return run;
}

Result<RestoreRun> RestoreFromTargets(const Config& config, const ServiceRestoreRequest& request,
                                      const OpHooks& hooks) {
  Status st;
  const ServiceConfig* service = FindServiceOr(config, request.service, &st);
  if (!service) return st;
  std::vector<std::string> unreachable;
  RestoreRun run;
  std::optional<RecoveryPlan> plan;
  if (!request.at.empty()) {
    CAIRN_ASSIGN_OR_RETURN(plan, PlanRecovery(config, request.service, request.at, request.target, hooks));
    run.point = ServicePoint{plan->point, {plan->target}};
    run.target = plan->target;
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto points, ListPoints(config, request.service, request.target, &unreachable));
    for (const auto& u : unreachable)
      if (hooks.warn) hooks.warn(u);
    CAIRN_ASSIGN_OR_RETURN(ServicePoint chosen, FindPoint(points, request.point, request.service));
    run.point = chosen;
    run.target = chosen.targets.front();
  }
  const ServicePoint& chosen = run.point;
  TargetConfig from = *config.FindTarget(run.target);
  from.context = hooks.context;
  ServiceRestoreOptions options;
  options.mode = request.mode;
  options.new_name = request.new_name;
  options.port = request.port;
  options.safety_backup = request.safety_backup;
  options.progress = hooks.progress;
  options.log = hooks.log;
  if (plan) {
    options.recovery.enabled = true;
    options.recovery.target_time_ns = plan->target_ns;
    options.recovery.wal_names = plan->wal_names;
    options.recovery.fetch_wal = plan->fetch;
    Log(hooks, "point-in-time recovery of " + service->name + " to " +
                   (plan->target_ns ? FormatTime(plan->target_ns) : std::string("the newest archived WAL")) +
                   " from base backup " + chosen.point.id + " (" + FormatTime(chosen.point.time_ns).substr(0, 19) +
                   ") on " + from.name);
  }
  Log(hooks, "restoring " + service->name + " from restore point " + chosen.point.id + " (" +
                 FormatTime(chosen.point.time_ns).substr(0, 19) + ") on " + from.name);
  CAIRN_ASSIGN_OR_RETURN(run.result, RestoreService(*service, from, chosen.point, options));
  return run;
}

Result<std::vector<ForgetTargetResult>> ForgetService(const Config& config, const std::string& service_name,
                                                      const std::string& target, bool dry_run, const OpHooks& hooks) {
  Status st;
  const ServiceConfig* service = FindServiceOr(config, service_name, &st);
  if (!service) return st;
  std::vector<std::string> only;
  if (!target.empty()) only.push_back(target);
  CAIRN_ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, TargetsOf(config, *service, only, hooks));
  std::vector<ForgetTargetResult> out;
  for (const TargetConfig& t : targets) {
    if (t.retention.Empty()) {
      if (!target.empty()) return Status::InvalidArgument("target " + t.name + " has no retention policy");
      continue;
    }
    CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));
    if (hooks.progress) hooks.progress->SetPhase(Phase::kForgetting, "", t.name);
    ForgetTargetResult r{t.name, Status::Ok(), {}};
    auto opened = OpenTarget(t);
    // A target with a prune schedule frees the space then, not after every forget.
    auto decisions = opened.ok() ? (*opened)->ApplyRetention(service->name, dry_run, /*compact=*/t.prune.is_null())
                                 : Result<std::vector<RetentionDecision>>(opened.status());
    if (decisions.ok()) r.decisions = std::move(decisions).value();
    else r.status = decisions.status();
    out.push_back(std::move(r));
  }
  // WAL follows the base backups: what no kept physical point needs goes.
  if (service->type == "postgres" || service->type == "mysql") {
    auto wal = ForgetWal(config, service->name, dry_run, hooks);
    if (wal.ok()) {
      for (const auto& w : *wal)
        if (!w.status.ok() && hooks.warn) hooks.warn("WAL retention on " + w.target + ": " + w.status.message());
    } else if (hooks.warn) {
      hooks.warn("WAL retention: " + wal.status().message());
    }
  }
  return out;
}

Result<std::vector<TargetCheckResult>> CheckTargets(const Config& config, const std::string& target,
                                                    const TargetCheckOptions& options, const OpHooks& hooks) {
  std::vector<TargetCheckResult> out;
  for (TargetConfig t : config.targets) {
    if (!target.empty() && t.name != target) continue;
    CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));
    t.context = hooks.context;
    if (hooks.progress) hooks.progress->SetPhase(Phase::kChecking, "", t.name);
    auto opened = OpenTarget(t);
    TargetCheckResult r{t.name, Status::Ok(), {}};
    r.status = opened.ok() ? (*opened)->Check(options, &r.report) : opened.status();
    out.push_back(std::move(r));
  }
  if (!target.empty() && out.empty()) return Status::NotFound("no target named '" + target + "'");
  return out;
}

Json PointToJson(const ServicePoint& sp) {
  const RestorePoint& p = sp.point;
  Json parts = Json::array();
  for (Json part : p.manifest.value("parts", Json::array())) {
    if (!part.contains("files")) part["files"] = nullptr;  // docs/api.md: present, null for streams
    parts.push_back(std::move(part));
  }
  const Json fp = p.manifest.value("fingerprint", Json::object());
  const Json reasons = InexactReasons(fp);
  return {{"id", p.id},
          {"point_id", p.id},
          {"service", p.service},
          {"time", FormatTime(p.time_ns)},
          {"kind", p.kind},
          {"status", p.manifest.contains("repaired") ? "damaged" : p.status},
          {"size", p.size},
          {"added", p.stored},
          {"stored", p.stored},
          {"duration_s", p.duration_s},
          {"parts", parts},
          {"targets", sp.targets},
          {"server_version", p.manifest.value("server_version", "")},
          {"inexact_reasons", reasons},
          {"fingerprint", fp}};
}

Json RestoreRunToJson(const RestoreRun& run, RestoreMode mode) {
  const ServiceRestoreResult& r = run.result;
  const FingerprintDiff& v = r.validation;
  return {{"mode", mode == RestoreMode::kOverwrite ? "overwrite" : "new-instance"},
          {"point_id", run.point.point.id},
          {"target", run.target},
          {"summary", r.outcome.summary},
          {"connection", r.outcome.connection},
          {"stop_hint", r.outcome.stop_hint},
          {"state", r.state},
          {"validation",
           {{"ok", v.ok()}, {"exact", v.exact}, {"structure_only", v.structure_only}, {"differences", v.differences}}},
          {"safety_point_id", r.safety ? Json(r.safety->id) : Json(nullptr)}};
}

Json BackupRunToJson(const BackupRunResult& run) {
  Json targets = Json::object();
  for (const auto& t : run.targets)
    targets[t.target] = t.status.ok() ? (t.copied ? "copied" : "stored") : "failed: " + t.status.message();
  return {{"point_id", run.point ? Json(run.point->id) : Json(nullptr)},
          {"size", run.point ? run.point->size : 0},
          {"added", run.point ? run.point->stored : 0},
          {"duration_s", run.point ? run.point->duration_s : 0.0},
          {"partial", run.partial()},
          {"targets", targets}};
}

}  // namespace cairn

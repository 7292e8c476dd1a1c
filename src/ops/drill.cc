// Restore drills (cairn/ops.h, docs/verification.md): a point restored into
// a scratch instance, validated, checked by the engine's own tool, timed,
// and torn down.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "cairn/ops.h"
#include "cairn/system.h"
#include "util/staging.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

std::string ScratchParent(const ServiceConfig& s) { return s.temp_dir.empty() ? "/var/tmp" : s.temp_dir; }
std::string ScratchPrefix(const ServiceConfig& s) { return "cairn-drill-" + s.name + "-"; }

bool Inside(const std::string& path, const std::string& dir) {
  const std::string p = fs::path(path).lexically_normal().string();
  return p.starts_with(dir + "/");
}

// The sandbox must not be the service: a drill that wrote into the live
// database or directory would be the disaster it is meant to rule out.
Status Guard(const ServiceConfig& live, const DrillSandbox& sb, const std::string& scratch) {
  auto setting = [](const ServiceConfig& c, const char* key) {
    return c.settings.contains(key) ? c.settings[key].dump() : std::string();
  };
  const std::string refuse = "the drill of " + live.name + " would touch the service itself (";
  if (sb.mode == RestoreMode::kOverwrite) {
    // An overwrite goes only to a server the drill started below its scratch
    // directory, reached through a socket there.
    const std::string host = sb.service.settings.value("host", std::string());
    const std::string socket = sb.service.settings.value("socket", std::string());
    const std::string path = sb.service.settings.value("path", std::string());
    if (!Inside(host, scratch) && !Inside(socket, scratch) && !Inside(path, scratch))
      return Status::Aborted(refuse + "an overwrite outside its scratch directory " + scratch + ")");
    for (const char* key : {"data_dir", "path", "paths"})
      if (!setting(live, key).empty() && setting(live, key) == setting(sb.service, key))
        return Status::Aborted(refuse + key + " " + setting(live, key) + ")");
  } else {
    if (sb.new_name.empty() || sb.new_name[0] != '/' || !Inside(sb.new_name, scratch))
      return Status::Aborted(refuse + "a new instance at '" + sb.new_name + "', outside " + scratch + ")");
    const std::string live_port = setting(live, "port");
    if (sb.port > 0 && !live_port.empty() && live_port == std::to_string(sb.port))
      return Status::Aborted(refuse + "port " + live_port + ")");
  }
  if (!live.volumes.empty() && !Inside(sb.volumes_new_name, scratch))
    return Status::Aborted(refuse + "its volumes would be restored outside " + scratch + ")");
  return Status::Ok();
}

// Owns the scratch directory: whatever happens, processes working in it are
// stopped and it is removed when the drill is done.
class Scratch {
 public:
  explicit Scratch(std::string dir) : dir_(std::move(dir)) {}
  ~Scratch() {
    if (dir_.empty()) return;
    StopProcessesIn(dir_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

void Say(const OpHooks& hooks, const std::string& line) {
  if (hooks.log) hooks.log(line);
}

}  // namespace

Status CleanDrillLeftovers(const Config& config, const std::string& service_name, const OpHooks& hooks) {
  const ServiceConfig* s = config.FindService(service_name);
  if (!s) return Status::NotFound("no service named '" + service_name + "' in " + config.path);
  return RemoveStaleStaging(ScratchParent(*s), ScratchPrefix(*s), hooks.log);
}

Result<DrillRun> DrillService(const Config& config, const DrillRequest& request, const OpHooks& hooks) {
  const ServiceConfig* service = config.FindService(request.service);
  if (!service) return Status::NotFound("no service named '" + request.service + "' in " + config.path);
  std::vector<std::string> unreachable;
  CAIRN_ASSIGN_OR_RETURN(auto points, ListPoints(config, request.service, request.target, &unreachable));
  for (const auto& u : unreachable)
    if (hooks.warn) hooks.warn(u);
  CAIRN_ASSIGN_OR_RETURN(ServicePoint chosen, FindPoint(points, request.point, request.service));
  CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));
  CAIRN_RETURN_IF_ERROR(CleanDrillLeftovers(config, request.service, hooks));

  DrillRun run;
  run.point = chosen;
  run.target = chosen.targets.front();
  TargetConfig from = *config.FindTarget(run.target);
  from.context = hooks.context;
  if (hooks.progress) hooks.progress->SetPhase(Phase::kDrilling, "", run.target);

  const std::string parent = ScratchParent(*service);
  std::error_code ec;
  fs::create_directories(parent, ec);
  CAIRN_ASSIGN_OR_RETURN(std::string dir, MakeStagingDir(parent, ScratchPrefix(*service)));
  Scratch scratch(dir);
  // Service users (postgres, mysql) must reach their own subdirectories.
  if (::chmod(dir.c_str(), 0711) != 0) return Status::FromErrno(errno, "cannot set the mode of " + dir);
  Say(hooks, "restore drill of " + service->name + " point " + chosen.point.id + " (" +
                 FormatTime(chosen.point.time_ns).substr(0, 19) + ") from " + from.name + " in " + dir);

  CAIRN_ASSIGN_OR_RETURN(auto source, MakeSource(*service));
  auto sandbox = source->PrepareDrill(chosen.point.manifest, dir, hooks.log);
  if (!sandbox.ok()) {
    if (sandbox.status().code() == StatusCode::kUnsupported) return sandbox.status();
    run.failure = "cannot set up the scratch instance: " + sandbox.status().message();
    return run;
  }
  // New-instance sandboxes restore with the service's own configuration.
  if (sandbox->service.type.empty()) sandbox->service = *service;
  sandbox->service.name = service->name;
  CAIRN_RETURN_IF_ERROR(Guard(*service, *sandbox, dir));
  CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));

  const auto t0 = std::chrono::steady_clock::now();
  ServiceRestoreOptions options;
  options.mode = sandbox->mode;
  options.new_name = sandbox->new_name;
  options.volumes_new_name = sandbox->volumes_new_name;
  options.port = sandbox->port;
  options.safety_backup = false;  // the scratch instance holds nothing worth keeping
  options.progress = hooks.progress;
  options.log = hooks.log;
  auto restored = RestoreService(sandbox->service, from, chosen.point, options);
  if (!restored.ok()) {
    CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));  // a cancel is not a failed drill
    run.failure = "the restore failed: " + restored.status().message();
    return run;
  }
  // The source describes an overwrite of a scratch server as "in place":
  // true for the scratch server, misleading about the service. Say where.
  run.summary = sandbox->mode == RestoreMode::kOverwrite
                    ? "restored point " + chosen.point.id + " into a scratch server in " + dir +
                          " (the service itself is not touched)"
                    : restored->outcome.summary;
  run.validation = restored->validation;
  run.validated = true;
  if (!run.validation.ok()) {
    run.failure = "validation against the backup's fingerprint failed: " + run.validation.differences.front() +
                  (run.validation.differences.size() > 1
                       ? " (and " + std::to_string(run.validation.differences.size() - 1) + " more)"
                       : "");
  }
  CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));
  if (hooks.progress) hooks.progress->SetPhase(Phase::kChecking);
  if (sandbox->check) {
    auto checked = sandbox->check(restored->outcome);
    if (checked.ok()) {
      run.check = *checked;
      Say(hooks, "consistency check: " + run.check);
    } else {
      CAIRN_RETURN_IF_ERROR(CheckContext(hooks.context));
      run.check = checked.status().message();
      if (run.failure.empty()) run.failure = "the consistency check failed: " + run.check;
    }
  }
  run.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.passed = run.failure.empty();
  Say(hooks, run.passed ? "drill passed in " + std::to_string(run.duration_s) + " s"
                        : "drill failed: " + run.failure);
  return run;
}

Json DrillRunToJson(const DrillRun& run) {
  return {{"point_id", run.point.point.id},
          {"target", run.target},
          {"passed", run.passed},
          {"failure", run.failure.empty() ? Json(nullptr) : Json(run.failure)},
          {"check", run.check},
          {"summary", run.summary},
          {"duration_s", run.duration_s},
          {"validation",
           !run.validated ? Json(nullptr) : Json{{"ok", run.validation.ok()},
            {"exact", run.validation.exact},
            {"differences", run.validation.differences},
            {"structure_only", run.validation.structure_only}}}};
}

}  // namespace cairn

#include "daemon/job_exec.h"

#include "cairn/ops.h"
#include "cairn/system.h"

namespace cairn {
namespace {

class Job {
 public:
  Job(const JobSpec& spec, const OpContext& context, JobProgress& progress,
      const std::function<void(const Json&)>& emit)
      : spec_(spec), context_(context), progress_(progress), emit_(emit) {
    hooks_.context = &context_;
    hooks_.progress = &progress_;
    hooks_.log = [this](const std::string& m) { Log("info", m); };
    hooks_.warn = [this](const std::string& m) { Log("warning", m); };
  }

  int Run() {
    auto config = LoadConfig(spec_.config_path);
    if (!config.ok()) return Fail(config.status());
    config_ = std::move(config).value();
    if (spec_.sync) return Sync();
    switch (spec_.kind) {
      case JobKind::kBackup: return Backup();
      case JobKind::kRestore: return Restore();
      case JobKind::kForget: return Forget();
      case JobKind::kPrune: return Prune();
      case JobKind::kCheck: return Check();
      case JobKind::kDrill: return Drill();
      default: return Fail(Status::Unsupported(std::string("jobs of kind ") + std::string(ToString(spec_.kind)) +
                                               " are not run by this cairn"));
    }
  }

 private:
  void Log(const char* level, const std::string& text) { emit_({{"event", "log"}, {"level", level}, {"text", text}}); }

  void Points(const std::string& target, const std::string& service, bool replace,
              const std::vector<RestorePoint>& points) {
    Json list = Json::array();
    for (const auto& p : points) list.push_back(RestorePointToJson(p));
    emit_({{"event", "points"}, {"target", target}, {"service", service.empty() ? Json(nullptr) : Json(service)},
           {"replace", replace}, {"points", list}});
  }

  void Removed(const std::string& target, const std::string& service, const std::vector<std::string>& ids) {
    if (!ids.empty()) emit_({{"event", "removed"}, {"target", target}, {"service", service}, {"point_ids", ids}});
  }

  int Finish(const char* status, const Status& error, Json result, Json extra = Json::object()) {
    Json r = {{"event", "result"}, {"status", status}, {"error", error.ok() ? Json(nullptr) : Json(error.message())},
              {"result", std::move(result)}};
    for (auto& [k, v] : extra.items()) r[k] = v;
    emit_(r);
    return std::string(status) == "succeeded" ? 0 : std::string(status) == "partial" ? 3 : 1;
  }

  int Fail(const Status& st) {
    const bool cancelled = st.code() == StatusCode::kAborted && context_.Done();
    return Finish(cancelled ? "cancelled" : "failed", st, Json(nullptr));
  }

  int Backup() {
    BackupRequest request;
    request.service = spec_.service;
    request.targets = spec_.targets;
    request.kind = spec_.args.value("point_kind", "manual");
    auto run = BackupToTargets(config_, request, hooks_);
    if (!run.ok()) return Fail(run.status());
    Json targets = Json::array();
    for (const auto& t : run->targets) {
      if (t.point) Points(t.target, spec_.service, /*replace=*/false, {*t.point});
      targets.push_back({{"target", t.target},
                         {"status", t.status.ok() ? "succeeded" : "failed"},
                         {"error", t.status.ok() ? Json(nullptr) : Json(t.status.message())},
                         {"point_id", t.point ? Json(t.point->id) : Json("")},
                         {"size", t.point ? t.point->size : 0},
                         {"added", t.point ? t.point->stored : 0}});
    }
    Json result = BackupRunToJson(*run);
    // Retention follows every scheduled backup, per target (docs/daemon.md).
    if (spec_.args.value("forget_after", false)) {
      progress_.SetPhase(Phase::kForgetting);
      auto forgot = ForgetService(config_, spec_.service, "", /*dry_run=*/false, hooks_);
      if (!forgot.ok()) {
        Log("warning", "retention after the backup: " + forgot.status().message());
      } else {
        Json removed = Json::object();
        for (const auto& f : *forgot) {
          std::vector<std::string> ids;
          for (const auto& d : f.decisions)
            if (!d.keep) ids.push_back(d.id);
          Removed(f.target, spec_.service, ids);
          removed[f.target] = ids;
          if (!f.status.ok()) Log("warning", "retention on " + f.target + ": " + f.status.message());
        }
        result["forgotten"] = removed;
      }
    }
    const RestorePoint& p = *run->point;
    Json extra = {{"point_id", p.id}, {"bytes_read", p.size}, {"bytes_added", p.stored}, {"targets", targets}};
    if (run->partial()) {
      std::string why;
      for (const auto& t : run->targets)
        if (!t.status.ok()) why += (why.empty() ? "" : "; ") + t.status.message();
      return Finish("partial", Status::IOError(why), result, extra);
    }
    return Finish("succeeded", Status::Ok(), result, extra);
  }

  int Restore() {
    ServiceRestoreRequest request;
    request.service = spec_.service;
    request.point = spec_.args.value("point", "latest");
    request.mode = spec_.args.value("mode", "new-instance") == "overwrite" ? RestoreMode::kOverwrite
                                                                              : RestoreMode::kNewInstance;
    request.target = spec_.args.value("target", "");
    request.new_name = spec_.args.value("as", "");
    request.port = spec_.args.value("port", 0);
    request.safety_backup = spec_.args.value("safety_backup", true);
    request.at = spec_.args.value("at", "");
    if (!request.at.empty()) request.point.clear();
    auto run = RestoreFromTargets(config_, request, hooks_);
    if (!run.ok()) return Fail(run.status());
    if (run->result.safety) Points(run->result.safety->target, spec_.service, false, {*run->result.safety});
    Json result = RestoreRunToJson(*run, request.mode);
    Json extra = {{"point_id", run->point.point.id}, {"bytes_read", run->point.point.size}};
    const FingerprintDiff& v = run->result.validation;
    if (!v.ok())
      return Finish("failed",
                    Status::Corruption("restored, but validation failed: " + v.differences.front() + " (" +
                                       std::to_string(v.differences.size()) + " difference(s)); " +
                                       run->result.state),
                    result, extra);
    return Finish("succeeded", Status::Ok(), result, extra);
  }

  int Forget() {
    const std::string only = spec_.targets.size() == 1 ? spec_.targets[0] : "";
    auto forgot = ForgetService(config_, spec_.service, only, /*dry_run=*/false, hooks_);
    if (!forgot.ok()) return Fail(forgot.status());
    Json result = Json::object();
    Status first;
    for (const auto& f : *forgot) {
      std::vector<std::string> ids;
      for (const auto& d : f.decisions)
        if (!d.keep) ids.push_back(d.id);
      Removed(f.target, spec_.service, ids);
      result[f.target] = {{"removed", ids}, {"error", f.status.ok() ? Json(nullptr) : Json(f.status.message())}};
      if (!f.status.ok() && first.ok()) first = f.status;
    }
    return first.ok() ? Finish("succeeded", first, result) : Finish("failed", first, result);
  }

  int Prune() {
    Json result = Json::object();
    Status first;
    for (const std::string& name : spec_.targets) {
      const TargetConfig* tc = config_.FindTarget(name);
      if (!tc) return Fail(Status::NotFound("no target named '" + name + "' in " + config_.path));
      TargetConfig t = *tc;
      t.context = &context_;
      progress_.SetPhase(Phase::kPruning, "", name);
      auto target = OpenTarget(t);
      Status st = target.ok() ? (*target)->Compact() : target.status();
      result[name] = st.ok() ? Json("compacted") : Json("failed: " + st.message());
      if (!st.ok() && first.ok()) first = st;
    }
    return first.ok() ? Finish("succeeded", first, result) : Finish("failed", first, result);
  }

  // A scheduled check reads `read_data` of the packs per run, rotating: the
  // daemon numbers the runs (args.rotation) so that every pack is read once
  // per ceil(1/share) runs.
  int Check() {
    TargetCheckOptions options;
    options.read_share = spec_.args.value("read_data", 0.0);
    options.rotation = spec_.args.value("rotation", int64_t{0});
    Json result = Json::object();
    Status first;
    for (const std::string& name : spec_.targets) {
      auto checked = CheckTargets(config_, name, options, hooks_);
      if (!checked.ok()) return Fail(checked.status());
      for (const auto& c : *checked) {
        result[c.target] = {{"status", c.status.ok() ? "ok" : "failed"},
                            {"error", c.status.ok() ? Json(nullptr) : Json(c.status.message())},
                            {"packs", c.report.packs},
                            {"packs_read", c.report.packs_read},
                            {"read_share", options.read_share},
                            {"rotation", options.rotation},
                            {"repair", c.report.repair.empty() ? Json(nullptr) : Json(c.report.repair)}};
        if (c.status.ok())
          Log("info", "target " + c.target + ": " + std::to_string(c.report.packs_read) + " of " +
                          std::to_string(c.report.packs) + " packs read, no errors");
        if (!c.status.ok() && first.ok()) first = c.status;
      }
    }
    return first.ok() ? Finish("succeeded", first, result) : Finish("failed", first, result);
  }

  // A restore drill; with args.cleanup only the leftovers of a drill that
  // was killed (the runner asks for this when a drill died without a result).
  int Drill() {
    if (spec_.args.value("cleanup", false)) {
      Status st = CleanDrillLeftovers(config_, spec_.service, hooks_);
      return st.ok() ? Finish("succeeded", st, Json::object()) : Fail(st);
    }
    DrillRequest request;
    request.service = spec_.service;
    request.point = spec_.args.value("point", "latest");
    request.target = spec_.args.value("target", "");
    auto run = DrillService(config_, request, hooks_);
    if (!run.ok() && run.status().IsNotFound() && request.point == "latest") {
      // A scheduled drill before the first backup: nothing to prove yet
      // (the backup's own alerts say why there is no point).
      Log("info", "no restore point to verify yet: " + run.status().message());
      return Finish("succeeded", Status::Ok(), {{"skipped", "no restore point to verify yet"}});
    }
    if (!run.ok()) return Fail(run.status());
    Json result = DrillRunToJson(*run);
    Json drill = {{"target", run->target},
                  {"passed", run->passed},
                  {"duration_s", run->duration_s},
                  {"details", {{"check", run->check}, {"failure", result["failure"]}, {"summary", run->summary}}}};
    Json extra = {{"point_id", run->point.point.id}, {"bytes_read", run->point.point.size}, {"drill", drill}};
    if (!run->passed) return Finish("failed", Status::Corruption("restore drill failed: " + run->failure), result, extra);
    return Finish("succeeded", Status::Ok(), result, extra);
  }

  // Every target's points for the daemon's cache (picks up points written by
  // the CLI or other hosts); a target that cannot be read is named, and its
  // cached points stay: a repository that is not there (an unmounted disk)
  // is not a repository without points. A target never written to is
  // "missing" too; the alerts tell the two apart by what the cache holds.
  int Sync() {
    Json unreachable = Json::object(), missing = Json::object();
    for (TargetConfig t : config_.targets) {
      if (!spec_.targets.empty() && std::find(spec_.targets.begin(), spec_.targets.end(), t.name) == spec_.targets.end())
        continue;
      t.context = &context_;
      auto target = OpenTarget(t);
      auto points = target.ok() ? (*target)->List("") : Result<std::vector<RestorePoint>>(target.status());
      if (!points.ok()) {
        (points.status().IsNotFound() ? missing : unreachable)[t.name] = points.status().message();
        continue;
      }
      Points(t.name, "", /*replace=*/true, *points);
    }
    // The recoverable window of every streamed service (docs/pitr.md), for
    // the service page and the metrics; the lag comes from the streamer.
    Json pitr = Json::object();
    for (const ServiceConfig& s : config_.services) {
      if (!ArchivesContinuously(s)) continue;
      auto status = WalStatusOf(config_, s.name, hooks_);
      if (!status.ok()) continue;
      for (const WalTargetStatus& w : *status)
        if (w.status.ok() && w.from_ns > 0) {
          pitr[s.name] = {{"window_start_ns", w.from_ns}, {"window_end_ns", w.to_ns}, {"target", w.target}};
          break;
        }
      // Nothing recoverable because of a gap (a gap before the newest
      // complete base only shrank the window): the alert engine's concern.
      if (!pitr.contains(s.name))
        for (const WalTargetStatus& w : *status)
          if (w.status.ok() && !w.gaps.empty()) {
            pitr[s.name] = {{"gap", w.gaps.front()}, {"target", w.target}};
            break;
          }
    }
    return Finish("succeeded", Status::Ok(), {{"unreachable", unreachable}, {"missing", missing}, {"pitr", pitr}});
  }

  const JobSpec& spec_;
  const OpContext& context_;
  JobProgress& progress_;
  const std::function<void(const Json&)>& emit_;
  OpHooks hooks_;
  Config config_;
};

}  // namespace

int RunJobProcess(const JobSpec& spec, const OpContext& context, JobProgress& progress,
                  const std::function<void(const Json&)>& emit) {
  Job job(spec, context, progress, emit);
  try {
    return job.Run();
  } catch (const std::exception& e) {  // the job's boundary: report, never die silently
    emit({{"event", "result"}, {"status", "failed"}, {"error", std::string("internal error: ") + e.what()},
          {"result", nullptr}});
    return 1;
  }
}

}  // namespace cairn

// The configuration-file commands: a service is the unit (docs/services.md).
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cairn/config.h"
#include "cairn/repository.h"
#include "cairn/ops.h"
#include "cairn/service_jobs.h"
#include "cairn/system.h"
#include "cli/common.h"
#include "daemon/catalog.h"
#include "daemon/catalog_sqlite.h"

namespace cairn {
namespace {

// Lowers this process's CPU and I/O priority (nice 10, best-effort level 7)
// before any thread starts, so that they and the dump tools inherit it. A
// process-wide change, so it belongs to the command line, not the library.
void LowerOwnPriority() {
  ::setpriority(PRIO_PROCESS, 0, 10);
  constexpr int kIoprioWhoProcess = 1, kClassBestEffort = 2, kClassShift = 13;
  ::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, (kClassBestEffort << kClassShift) | 7);
}

struct ServiceGlobals {
  std::string config_path;
  bool json = false;
  bool quiet = false;
};

Config LoadConfigOrThrow(const ServiceGlobals& g) {
  std::string path = g.config_path;
  if (path.empty())
    if (const char* env = std::getenv("CAIRN_CONFIG")) path = env;
  if (path.empty()) path = "/etc/cairn/cairn.yaml";
  Config config = ValueOrThrow(LoadConfig(path));
  for (const auto& w : config.warnings) std::fprintf(stderr, "warning: %s\n", OneLine(w).c_str());
  return config;
}

const ServiceConfig& ServiceOrThrow(const Config& c, const std::string& name) {
  const ServiceConfig* s = c.FindService(name);
  if (!s) throw CommandError{Status::NotFound("no service named '" + name + "' in " + c.path)};
  return *s;
}

const TargetConfig& TargetOrThrow(const Config& c, const ServiceConfig& s, const std::string& name) {
  for (const auto& t : s.targets)
    if (t == name) return *c.FindTarget(t);
  throw CommandError{Status::NotFound("service " + s.name + " has no target named '" + name + "'")};
}

std::function<void(const std::string&)> Log(const ServiceGlobals& g) {
  return [&g](const std::string& m) {
    if (!g.json && !g.quiet) std::printf("%s\n", m.c_str());
    std::fflush(stdout);
  };
}

// One line per reason the point's fingerprint is not (wholly) exact.
void PrintInexactReasons(const RestorePoint& p, const char* indent) {
  for (const std::string& r : InexactReasons(p.manifest.value("fingerprint", json::object())))
    std::printf("%sfingerprint structure-only for %s\n", indent, r.c_str());
}

std::string PartNames(const RestorePoint& p) {
  std::string out;
  for (const auto& part : p.manifest.value("parts", json::array()))
    out += (out.empty() ? "" : ",") + part.value("name", std::string("?"));
  return out;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

OpHooks Hooks(const ServiceGlobals& g) {
  OpHooks hooks;
  hooks.log = Log(g);
  hooks.warn = [](const std::string& w) { std::fprintf(stderr, "warning: %s\n", OneLine(w).c_str()); };
  return hooks;
}

// The daemon's catalog, when `cairn serve` has one for this configuration:
// restore drills live there (docs/verification.md). nullptr otherwise.
std::unique_ptr<Catalog> DaemonCatalog(const Config& c) {
  const std::string path = c.server.data_dir + "/catalog.db";
  if (::access(path.c_str(), R_OK) != 0) return nullptr;
  auto catalog = OpenSqliteCatalog(path);
  return catalog.ok() ? std::move(catalog).value() : nullptr;
}

// "2026-12-06 05:12 in 3.1 s" for a passed drill of the point, else "".
std::string VerifiedText(Catalog* catalog, const std::string& service, const std::string& point, json* out) {
  if (!catalog) return "";
  auto p = catalog->GetPoint(service, point);
  if (!p.ok() || !p->last_passed) return "";
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%s in %.1f s", FormatTime(p->last_passed->verified_ns).substr(0, 16).c_str(),
                p->last_passed->duration_s);
  if (out) *out = {{"at", FormatTime(p->last_passed->verified_ns)}, {"duration_s", p->last_passed->duration_s}};
  return buf;
}

bool Confirm(const std::string& service) {
  if (!isatty(STDIN_FILENO)) return false;
  std::fprintf(stderr, "This replaces the current data of %s. Type the service name to continue: ", service.c_str());
  std::string line;
  std::getline(std::cin, line);
  return line == service;
}

}  // namespace

void AddServiceCommands(CLI::App& app, int& exit_code) {
  static ServiceGlobals g;
  app.add_option("--config,-c", g.config_path, "Configuration file (or CAIRN_CONFIG; default /etc/cairn/cairn.yaml)");
  app.fallthrough();
  auto add_output = [&](CLI::App* cmd) {
    cmd->add_flag("--json", g.json, "Machine-readable output on stdout");
    cmd->add_flag("--quiet,-q", g.quiet, "Only errors");
  };

  // service list
  auto* service = app.add_subcommand("service", "Services in the configuration file");
  service->require_subcommand(1);
  auto* service_list = service->add_subcommand("list", "List the configured services");
  add_output(service_list);
  service_list->callback([&] {
    Config c = LoadConfigOrThrow(g);
    json out = json::array();
    for (const auto& s : c.services) {
      out.push_back({{"name", s.name}, {"type", s.type}, {"targets", s.targets}, {"volumes", s.volumes}});
      if (!g.json)
        std::printf("%-20s %-9s targets: %s%s\n", s.name.c_str(), s.type.c_str(), Join(s.targets, ", ").c_str(),
                    s.volumes.empty() ? "" : ("  volumes: " + Join(s.volumes, ", ")).c_str());
    }
    if (g.json) std::cout << Dump(out) << "\n";
  });

  // config check
  auto* config_cmd = app.add_subcommand("config", "The configuration file");
  config_cmd->require_subcommand(1);
  auto* config_check = config_cmd->add_subcommand("check", "Validate the configuration file and show what was understood");
  add_output(config_check);
  config_check->callback([&] {
    Config c = LoadConfigOrThrow(g);
    json described = DescribeConfig(c);
    if (g.json) {
      std::cout << Dump(described) << "\n";
      return;
    }
    std::printf("%s is valid: %zu target(s), %zu service(s)\n", c.path.c_str(), c.targets.size(), c.services.size());
    for (const auto& t : described["targets"]) {
      std::printf("target %s: %s at %s", t["name"].get<std::string>().c_str(), t["type"].get<std::string>().c_str(),
                  t["location"].get<std::string>().c_str());
      if (!t["retention"].empty()) std::printf(", retention %s", Dump(t["retention"]).c_str());
      if (!t["settings"].empty()) std::printf(", settings %s", Dump(t["settings"]).c_str());
      std::printf("\n");
    }
    for (const auto& s : described["services"]) {
      std::printf("service %s: %s, targets %s", s["name"].get<std::string>().c_str(),
                  s["type"].get<std::string>().c_str(), Dump(s["targets"]).c_str());
      if (!s["volumes"].empty()) std::printf(", volumes %s", Dump(s["volumes"]).c_str());
      if (!s["settings"].empty()) std::printf(", settings %s", Dump(s["settings"]).c_str());
      std::printf("\n");
    }
  });

  // backup
  static std::string backup_service, backup_target;
  auto* backup = app.add_subcommand("backup", "Back up a service now (to its targets, or one with --target)");
  backup->add_option("SERVICE", backup_service, "Service name")->required();
  backup->add_option("--target,-t", backup_target, "Only this target");
  add_output(backup);
  backup->callback([&] {
    Config c = LoadConfigOrThrow(g);
    const ServiceConfig& s = ServiceOrThrow(c, backup_service);
    if (!backup_target.empty()) TargetOrThrow(c, s, backup_target);
    LowerOwnPriority();
    BackupRequest request;
    request.service = s.name;
    if (!backup_target.empty()) request.targets = {backup_target};
    BackupRunResult run = ValueOrThrow(BackupToTargets(c, request, Hooks(g)));
    const RestorePoint& p = *run.point;
    std::vector<std::string> held, failed;
    for (const auto& t : run.targets) (t.status.ok() ? held : failed).push_back(t.target);
    if (g.json) {
      json j = PointToJson(ServicePoint{p, held});
      j["result"] = BackupRunToJson(run);
      std::cout << Dump(j) << "\n";
    } else if (!g.quiet) {
      std::printf("restore point %s of %s on %s: %s, %s added, %.1f s, parts %s\n", p.id.c_str(), s.name.c_str(),
                  Join(held, ", ").c_str(), HumanBytes(static_cast<double>(p.size)).c_str(),
                  HumanBytes(static_cast<double>(p.stored)).c_str(), p.duration_s, PartNames(p).c_str());
      PrintInexactReasons(p, "  ");
    }
    if (run.partial()) {
      std::string why;
      for (const auto& t : run.targets)
        if (!t.status.ok()) why += (why.empty() ? "" : "; ") + t.status.message();
      throw CommandError{Status::IOError("restore point " + p.id + " is on " + Join(held, ", ") + " but not on " +
                                         Join(failed, ", ") + ": " + why)};
    }
  });

  // backups
  static std::string list_service, list_target;
  auto* backups = app.add_subcommand("backups", "Restore points of a service on all its targets");
  backups->add_option("SERVICE", list_service, "Service name")->required();
  backups->add_option("--target,-t", list_target, "Only this target");
  add_output(backups);
  backups->callback([&] {
    Config c = LoadConfigOrThrow(g);
    const ServiceConfig& s = ServiceOrThrow(c, list_service);
    if (!list_target.empty()) TargetOrThrow(c, s, list_target);
    std::vector<std::string> unreachable;
    // Nothing could be read (a wrong password, a server down): an error, and
    // no empty table that reads like "this service has no backups".
    auto points = ValueOrThrow(ListPoints(c, s.name, list_target, &unreachable));
    std::unique_ptr<Catalog> catalog = DaemonCatalog(c);
    if (g.json) {
      json out = {{"service", s.name}, {"points", json::array()}, {"unreachable_targets", unreachable}};
      for (const auto& p : points) {
        json jp = PointToJson(p);
        jp["verified"] = nullptr;
        VerifiedText(catalog.get(), s.name, p.point.id, &jp["verified"]);
        out["points"].push_back(std::move(jp));
      }
      std::cout << Dump(out) << "\n";
    } else {
      std::printf("%-16s  %-19s  %-9s  %10s  %-10s  %-24s  %-16s  %s\n", "ID", "TIME (UTC)", "KIND", "SIZE", "STATUS",
                  "PARTS", "TARGETS", "VERIFIED");
      for (const auto& p : points) {
        const std::string verified = VerifiedText(catalog.get(), s.name, p.point.id, nullptr);
        std::printf("%-16s  %-19s  %-9s  %10s  %-10s  %-24s  %-16s  %s\n", p.point.id.c_str(),
                    FormatTime(p.point.time_ns).substr(0, 19).c_str(), p.point.kind.c_str(),
                    HumanBytes(static_cast<double>(p.point.size)).c_str(), p.point.status.c_str(),
                    PartNames(p.point).c_str(), Join(p.targets, ",").c_str(),
                    verified.empty() ? "-" : verified.c_str());
        PrintInexactReasons(p.point, "    ");
      }
      std::printf("%zu restore point(s)\n", points.size());
      for (const auto& u : unreachable) std::printf("warning: %s\n", u.c_str());
    }
    if (!unreachable.empty()) exit_code = kExitFailure;
  });

  // restore
  static std::string restore_service, restore_point, restore_mode, restore_target, restore_as;
  static int restore_port = 0;
  static bool restore_yes = false, no_safety = false;
  auto* restore = app.add_subcommand("restore", "Restore a service's restore point (overwrite or new instance)");
  restore->add_option("SERVICE", restore_service, "Service name")->required();
  static std::string restore_at;
  restore->add_option("POINT", restore_point, "Restore point id (or a unique prefix), or latest");
  restore->add_option("--at", restore_at,
                      "Point-in-time recovery: replay archived WAL up to this time (RFC 3339, e.g. "
                      "2026-12-06T04:40:00Z), or latest (docs/pitr.md)");
  restore->add_option("--mode", restore_mode, "overwrite | new-instance")
      ->required()
      ->check(CLI::IsMember({"overwrite", "new-instance"}));
  restore->add_option("--target,-t", restore_target, "Read the restore point from this target");
  restore->add_option("--as", restore_as, "new-instance: name of the new database / path");
  restore->add_option("--port", restore_port, "new-instance servers: port (default: a free one)");
  restore->add_flag("--yes,-y", restore_yes, "Overwrite without asking");
  restore->add_flag("--no-safety-backup", no_safety, "Overwrite without first backing up the current state");
  add_output(restore);
  restore->callback([&] {
    Config c = LoadConfigOrThrow(g);
    const ServiceConfig& s = ServiceOrThrow(c, restore_service);
    if (!restore_target.empty()) TargetOrThrow(c, s, restore_target);
    if (restore_point.empty() == restore_at.empty())
      throw CommandError{Status::InvalidArgument(
          restore_at.empty() ? "name a restore point (or latest), or a time with --at"
                             : "give a restore point or --at, not both (--at picks its base backup itself)")};
    ServiceRestoreRequest request;
    request.service = s.name;
    request.point = restore_point;
    request.at = restore_at;
    request.mode = restore_mode == "overwrite" ? RestoreMode::kOverwrite : RestoreMode::kNewInstance;
    request.target = restore_target;
    request.new_name = restore_as;
    request.port = restore_port;
    request.safety_backup = !no_safety;
    if (request.mode == RestoreMode::kOverwrite && !restore_yes && !Confirm(s.name))
      throw CommandError{Status::Aborted("overwrite of " + s.name + " not confirmed; nothing changed (use --yes)")};
    RestoreRun run = ValueOrThrow(RestoreFromTargets(c, request, Hooks(g)));
    const ServiceRestoreResult& r = run.result;
    const FingerprintDiff& v = r.validation;
    if (g.json) {
      json out = RestoreRunToJson(run, request.mode);
      out["validation"]["inexact_reasons"] = InexactReasons(run.point.point.manifest.value("fingerprint", json::object()));
      std::cout << Dump(out) << "\n";
    } else if (!g.quiet) {
      std::printf("%s\n", r.outcome.summary.c_str());
      if (!r.outcome.connection.empty()) std::printf("connect: %s\n", Dump(r.outcome.connection).c_str());
      if (!r.outcome.stop_hint.empty()) std::printf("stop it with: %s\n", r.outcome.stop_hint.c_str());
      if (r.safety) std::printf("safety backup of the replaced state: restore point %s\n", r.safety->id.c_str());
      std::printf("validation: %s (%s fingerprint%s)\n", v.ok() ? "passed" : "FAILED",
                  v.exact ? "exact" : "structure-only",
                  v.structure_only.empty() ? "" : (", structure-only for " + Join(v.structure_only, ", ")).c_str());
      PrintInexactReasons(run.point.point, "  ");
      for (const auto& d : v.differences) std::printf("  %s\n", d.c_str());
    }
    if (!v.ok())
      throw CommandError{Status::Corruption("restored, but validation failed: " + v.differences.front() + " (" +
                                            std::to_string(v.differences.size()) + " difference(s)); " +
                                            r.state)};
  });

  // verify: a restore drill by hand
  static std::string verify_service, verify_point = "latest", verify_target;
  auto* verify = app.add_subcommand(
      "verify", "Restore drill: restore a point into a scratch instance, validate and check it, remove it again");
  verify->add_option("SERVICE", verify_service, "Service name")->required();
  verify->add_option("POINT", verify_point, "Restore point id (or a unique prefix), or latest (default)");
  verify->add_option("--target,-t", verify_target, "Read the restore point from this target");
  add_output(verify);
  verify->callback([&] {
    Config c = LoadConfigOrThrow(g);
    const ServiceConfig& s = ServiceOrThrow(c, verify_service);
    if (!verify_target.empty()) TargetOrThrow(c, s, verify_target);
    LowerOwnPriority();
    // Ctrl-C and SIGTERM cancel: the drill then stops its scratch servers
    // and removes its directory before the command exits.
    OpContext context;
    CancelOnSignals cancel(&context);
    OpHooks hooks = Hooks(g);
    hooks.context = &context;
    DrillRun run = ValueOrThrow(DrillService(c, DrillRequest{s.name, verify_point, verify_target}, hooks));
    // A drill by hand counts like a scheduled one where the daemon keeps
    // its verdicts (its catalog knows the point once it synced it).
    if (std::unique_ptr<Catalog> catalog = DaemonCatalog(c)) {
      DrillRecord d;
      d.service = s.name;
      d.point_id = run.point.point.id;
      d.target = run.target;
      d.verified_ns = NowNs();
      d.duration_s = run.duration_s;
      d.outcome = run.passed ? DrillOutcome::kPassed : DrillOutcome::kFailed;
      d.details = {{"check", run.check}, {"failure", run.failure}, {"summary", run.summary}, {"by", "cli"}};
      auto recorded = catalog->RecordDrill(d);
      if (!recorded.ok() && !g.quiet)
        std::fprintf(stderr, "warning: the drill was not recorded in the daemon's catalog: %s\n",
                     OneLine(recorded.status().message()).c_str());
    }
    if (g.json) {
      std::cout << Dump(DrillRunToJson(run)) << "\n";
    } else if (!g.quiet) {
      if (!run.summary.empty()) std::printf("%s\n", run.summary.c_str());
      if (!run.check.empty()) std::printf("consistency check: %s\n", run.check.c_str());
      if (run.validated)
        std::printf("validation: %s (%s fingerprint)\n", run.validation.ok() ? "passed" : "FAILED",
                    run.validation.exact ? "exact" : "structure-only");
      else
        std::printf("validation: not reached\n");
      for (const auto& d : run.validation.differences) std::printf("  %s\n", d.c_str());
      std::printf("restore drill of point %s %s in %.1f s\n", run.point.point.id.c_str(),
                  run.passed ? "PASSED" : "FAILED", run.duration_s);
    }
    if (!run.passed) throw CommandError{Status::Corruption("restore drill failed: " + run.failure)};
  });

  // wal: continuous archiving and point-in-time recovery (docs/pitr.md)
  static std::string wal_service;
  auto* wal = app.add_subcommand("wal", "Continuous archiving of a PostgreSQL service's WAL or a MariaDB service's binary logs (point-in-time recovery)");
  wal->require_subcommand(1);
  auto* wal_stream = wal->add_subcommand(
      "stream", "Stream the service's WAL or binary logs into its repository targets until stopped (cairn serve runs this)");
  wal_stream->add_option("SERVICE", wal_service, "Service name")->required();
  static double mark_current_every = 30;
  wal_stream->add_option("--mark-current-every", mark_current_every,
                         "Seconds between marks that an idle archive is current (the window's end moves on)")
      ->check(CLI::Range(1.0, 3600.0));
  wal_stream->callback([&] {
    Config c = LoadConfigOrThrow(g);
    ServiceOrThrow(c, wal_service);
    OpContext context;
    CancelOnSignals cancel(&context);
    OpHooks hooks = Hooks(g);
    hooks.context = &context;
    WalStreamOptions options;
    options.mark_current_interval_ns = static_cast<int64_t>(mark_current_every * 1e9);
    Status st = StreamWal(c, wal_service, hooks, options);
    // Stopped by a signal after the last upload: the normal way to end.
    if (!st.ok() && !(st.code() == StatusCode::kAborted && context.Done())) throw CommandError{st};
  });
  // archive: command: PostgreSQL calls these, one process per file.
  static std::string wal_path, wal_name, wal_target;
  auto* wal_push = wal->add_subcommand(
      "push", "archive_command of an archive: command service: store WAL file PATH (%p) in every repository target");
  wal_push->add_option("SERVICE", wal_service, "Service name")->required();
  wal_push->add_option("PATH", wal_path, "The WAL file (%p)")->required();
  add_output(wal_push);
  wal_push->callback([&] {
    Config c = LoadConfigOrThrow(g);
    ServiceOrThrow(c, wal_service);
    WalPushResult pushed = ValueOrThrow(PushWal(c, wal_service, wal_path, Hooks(g)));
    if (g.json)
      std::cout << Dump(Json{{"name", pushed.name}, {"bytes", pushed.bytes}, {"skipped", pushed.skipped},
                             {"targets", pushed.targets}})
                << "\n";
  });
  auto* wal_get = wal->add_subcommand(
      "get", "restore_command of an archive: command service: write archived WAL file NAME (%f) to DEST (%p); "
             "exit 1 when it is not archived, 126 when a target cannot be read (recovery stops instead of ending early)");
  wal_get->add_option("SERVICE", wal_service, "Service name")->required();
  wal_get->add_option("NAME", wal_name, "The WAL file's name (%f)")->required();
  wal_get->add_option("DEST", wal_path, "Where to write it (%p)")->required();
  wal_get->add_option("--target", wal_target, "Only this target");
  wal_get->callback([&] {
    Config c = LoadConfigOrThrow(g);
    ServiceOrThrow(c, wal_service);
    Status st = GetWal(c, wal_service, wal_name, wal_path, wal_target, Hooks(g));
    if (st.IsNotFound()) {
      // The normal end of an archive recovery: PostgreSQL asks for the next
      // file until there is none. One quiet line, exit 1.
      std::fprintf(stderr, "%s\n", st.message().c_str());
      exit_code = kExitFailure;
      return;
    }
    if (st.code() == StatusCode::kIOError) {
      // PostgreSQL treats an exit status above 125 as fatal: recovery stops
      // rather than promoting on what may be an incomplete archive.
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
      exit_code = kExitWalUnreadable;
      return;
    }
    if (!st.ok()) throw CommandError{st};
  });
  auto* wal_status = wal->add_subcommand("status", "The recoverable window, the archive lag and any gap, per target");
  wal_status->add_option("SERVICE", wal_service, "Service name")->required();
  add_output(wal_status);
  wal_status->callback([&] {
    Config c = LoadConfigOrThrow(g);
    ServiceOrThrow(c, wal_service);
    auto status = ValueOrThrow(WalStatusOf(c, wal_service, Hooks(g)));
    bool trouble = false;
    for (const auto& t : status) trouble = trouble || !t.status.ok() || !t.gaps.empty() || t.from_point.empty();
    if (g.json) {
      std::cout << Dump(WalStatusToJson(status)) << "\n";
    } else {
      for (const auto& t : status) {
        if (!t.status.ok()) {
          std::printf("%s: %s\n", t.target.c_str(), t.status.message().c_str());
          continue;
        }
        std::printf("%s: %zu archived file(s), newest %s\n", t.target.c_str(), t.files,
                    t.head.empty() ? "(none)" : t.head.c_str());
        if (!t.from_point.empty())
          std::printf("  recoverable from %s (base backup %s) to %s, archive lag %.0f s\n",
                      FormatTime(t.from_ns).substr(0, 19).c_str(), t.from_point.c_str(),
                      FormatTime(t.to_ns).substr(0, 19).c_str(), static_cast<double>(t.lag_ns) / 1e9);
        else
          std::printf("  not recoverable: no physical restore point with all of its log archived after it\n");
        if (!t.gaps.empty())
          std::printf("  gap: %zu file(s) missing, first %s\n", t.gaps.size(), t.gaps.front().c_str());
      }
    }
    if (trouble) exit_code = kExitFailure;
  });

  // forget: each target's own retention policy
  static std::string forget_service, forget_target;
  static bool forget_dry_run = false;
  auto* forget = app.add_subcommand("forget", "Apply each target's retention policy to a service's restore points");
  forget->add_option("SERVICE", forget_service, "Service name")->required();
  forget->add_option("--target,-t", forget_target, "Only this target");
  forget->add_flag("--dry-run,-n", forget_dry_run, "Show what would be removed, change nothing");
  add_output(forget);
  forget->callback([&] {
    Config c = LoadConfigOrThrow(g);
    const ServiceConfig& s = ServiceOrThrow(c, forget_service);
    if (!forget_target.empty()) TargetOrThrow(c, s, forget_target);
    auto results = ValueOrThrow(ForgetService(c, s.name, forget_target, forget_dry_run, Hooks(g)));
    json out = json::array();
    Status first_error;
    for (const auto& r : results) {
      json jt = {{"target", r.target}, {"keep", json::array()}, {"remove", json::array()},
                 {"error", r.status.ok() ? json(nullptr) : json(r.status.message())}};
      size_t removed = 0;
      for (const auto& d : r.decisions) {
        jt[d.keep ? "keep" : "remove"].push_back({{"id", d.id}, {"reasons", d.reasons}});
        removed += !d.keep;
        if (!g.json && !g.quiet)
          std::printf("%-10s %-16.16s %-6s %s\n", r.target.c_str(), d.id.c_str(), d.keep ? "keep" : "remove",
                      Join(d.reasons, ", ").c_str());
      }
      if (!g.json && !g.quiet && r.status.ok())
        std::printf("%s: %s %zu restore point(s)\n", r.target.c_str(), forget_dry_run ? "would remove" : "removed",
                    removed);
      if (!r.status.ok() && first_error.ok()) first_error = r.status;
      out.push_back(jt);
    }
    if (g.json) std::cout << Dump(out) << "\n";
    ThrowIfError(first_error);
  });

  // copy
  static std::string copy_service, copy_from, copy_to;
  static std::vector<std::string> copy_points;
  auto* copy = app.add_subcommand("copy", "Copy restore points between two repository targets (only missing data moves)");
  copy->add_option("SERVICE", copy_service, "Service name")->required();
  copy->add_option("POINT", copy_points, "Restore point ids (default: every point the destination lacks)");
  copy->add_option("--from", copy_from, "Source target")->required();
  copy->add_option("--to", copy_to, "Destination target")->required();
  add_output(copy);
  copy->callback([&] {
    Config c = LoadConfigOrThrow(g);
    const ServiceConfig& s = ServiceOrThrow(c, copy_service);
    const TargetConfig* from = c.FindTarget(copy_from);
    const TargetConfig* to = c.FindTarget(copy_to);
    if (!from) throw CommandError{Status::NotFound("no target named '" + copy_from + "'")};
    if (!to) throw CommandError{Status::NotFound("no target named '" + copy_to + "'")};
    // The same id rule as restore: "latest" or a unique prefix of at least 4 digits.
    std::vector<std::string> ids;
    if (!copy_points.empty()) {
      std::vector<std::string> unreachable;
      auto points = ValueOrThrow(ListPoints(c, s.name, from->name, &unreachable));
      for (const std::string& wanted : copy_points) ids.push_back(ValueOrThrow(FindPoint(points, wanted, s.name)).point.id);
    }
    ServiceCopyResult r = ValueOrThrow(CopyServicePoints(s, *from, *to, ids));
    if (g.json) {
      std::cout << Dump({{"copied", r.copied}, {"already_present", r.present}, {"bytes_copied", r.bytes_copied},
                         {"bytes_stored", r.bytes_stored}, {"blobs_copied", r.blobs_copied},
                         {"blobs_skipped", r.blobs_skipped}})
                << "\n";
    } else if (!g.quiet) {
      std::printf("copied %zu restore point(s) from %s to %s (%zu already there): %s of new data, %s stored\n",
                  r.copied.size(), copy_from.c_str(), copy_to.c_str(), r.present.size(),
                  HumanBytes(static_cast<double>(r.bytes_copied)).c_str(),
                  HumanBytes(static_cast<double>(r.bytes_stored)).c_str());
    }
  });

  // check
  static std::string check_target;
  static bool check_read_data = false;
  auto* check = app.add_subcommand("check", "Verify the integrity of the configured targets");
  check->add_option("--target,-t", check_target, "Only this target");
  check->add_flag("--read-data", check_read_data, "Also read and verify every stored byte");
  add_output(check);
  check->callback([&] {
    Config c = LoadConfigOrThrow(g);
    auto results = ValueOrThrow(CheckTargets(c, check_target, TargetCheckOptions{check_read_data ? 1.0 : 0.0, 0}, Hooks(g)));
    json out = json::array();
    bool all_ok = true;
    for (const auto& r : results) {
      all_ok = all_ok && r.status.ok();
      out.push_back({{"target", r.target}, {"ok", r.status.ok()}, {"error", r.status.ok() ? "" : r.status.message()}});
      if (!g.json && !g.quiet) std::printf("%-12s %s\n", r.target.c_str(), r.status.ok() ? "ok" : r.status.message().c_str());
    }
    if (g.json) std::cout << Dump(out) << "\n";
    if (!all_ok) throw CommandError{Status::Corruption("check found errors (see above)")};
  });
}

}  // namespace cairn

// The daemon's answers about services, restore points and their files
// (docs/api.md). Everything here is read from the catalog and the daemon's
// views; the only reads of a repository are file browsing and downloads.
#include <algorithm>
#include <cmath>
#include <set>

#include "cairn/system.h"
#include "config/schedule.h"
#include "config/timezone.h"
#include "daemon/daemon.h"
#include "daemon/daemon_json.h"
#include "daemon/health.h"

namespace cairn {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kDay = 86400 * kSecond;
// An opened repository for browsing is reused for this long, unless the
// point asked for is newer than it.
constexpr int64_t kFilesReuseNs = 300 * kSecond;

// One line per thing an overwrite restore replaces (docs/api.md, `replaces`).
std::vector<std::string> Replaces(const ServiceConfig& s) {
  const Json& k = s.settings;
  auto text = [&](const char* key, const std::string& def = "") {
    return k.contains(key) && k[key].is_string() ? k[key].get<std::string>() : def;
  };
  auto where = [&](int default_port) {
    if (k.contains("socket")) return "the server at socket " + text("socket");
    const int port = k.contains("port") && k["port"].is_number_integer() ? k["port"].get<int>() : default_port;
    return text("host", "localhost") + ":" + std::to_string(port);
  };
  auto databases = [&]() -> std::string {
    if (!k.contains("databases") || (k["databases"].is_string() && k["databases"] == "all")) return "every database";
    std::string out;
    const Json& d = k["databases"];
    if (d.is_string()) return "database " + d.get<std::string>();
    for (const Json& x : d)
      if (x.is_string()) out += (out.empty() ? "" : ", ") + x.get<std::string>();
    return (d.size() == 1 ? "database " : "databases ") + out;
  };
  std::vector<std::string> out;
  const bool physical = text("method") == "physical";
  if (s.type == "postgres") {
    out.push_back(physical ? "the whole PostgreSQL cluster in " + text("data_dir", "its data directory") + " (" + where(5432) + ")"
                           : "PostgreSQL " + databases() + " on " + where(5432) + " (and the roles)");
  } else if (s.type == "mysql") {
    out.push_back(physical ? "the whole MariaDB server in " + text("data_dir", "its data directory") + " (" + where(3306) + ")"
                           : "MariaDB " + databases() + " on " + where(3306));
  } else if (s.type == "redis") {
    out.push_back("every key of Redis at " + where(6379));
  } else if (s.type == "sqlite") {
    out.push_back("SQLite database " + text("path"));
  } else if (s.type == "volume") {
    if (k.contains("path") && k["path"].is_string()) out.push_back("directory " + text("path") + " (and everything in it)");
    if (k.contains("paths"))
      for (const Json& p : k["paths"].is_array() ? k["paths"] : Json::array({k["paths"]}))
        if (p.is_string()) out.push_back("directory " + p.get<std::string>() + " (and everything in it)");
  }
  for (const std::string& v : s.volumes) out.push_back("directory " + v + " (and everything in it)");
  return out;
}

std::vector<std::string> Volumes(const ServiceConfig& s) {
  std::vector<std::string> out;
  if (s.type == "volume") {
    const Json& k = s.settings;
    if (k.contains("path") && k["path"].is_string()) out.push_back(k["path"].get<std::string>());
    if (k.contains("paths"))
      for (const Json& p : k["paths"].is_array() ? k["paths"] : Json::array({k["paths"]}))
        if (p.is_string()) out.push_back(p.get<std::string>());
  }
  out.insert(out.end(), s.volumes.begin(), s.volumes.end());
  return out;
}

Json RetentionJson(const RetentionPolicy& r) {
  Json j = Json::object();
  if (r.keep_last) j["keep_last"] = r.keep_last;
  if (r.keep_hourly) j["keep_hourly"] = r.keep_hourly;
  if (r.keep_daily) j["keep_daily"] = r.keep_daily;
  if (r.keep_weekly) j["keep_weekly"] = r.keep_weekly;
  if (r.keep_monthly) j["keep_monthly"] = r.keep_monthly;
  if (r.keep_yearly) j["keep_yearly"] = r.keep_yearly;
  if (r.keep_within.count()) j["keep_within"] = FormatAge(r.keep_within.count() * kSecond);
  if (!r.keep_tags.empty()) j["keep_tags"] = r.keep_tags;
  return j;
}

// Calls `each` on the rows of every page, newest first, until it returns
// false or the pages run out. The pages start small and grow (32, 128, 512,
// then 1000): most walks stop at the start of a range after a few rows, and
// the calendar walks each service's backup jobs (with 200 services, pages
// of 1000 made GET /calendar take 1.5 s).
template <typename T, typename Fetch, typename Each>
Status ForEachNewest(Fetch fetch, Each each) {
  std::string cursor;
  int limit = 32;
  do {
    Result<Page<T>> page = fetch(PageRequest{limit, cursor});
    if (!page.ok()) return page.status();
    for (const T& row : page->items)
      if (!each(row)) return Status::Ok();
    cursor = page->next_cursor;
    limit = std::min(1000, limit * 4);
  } while (!cursor.empty());
  return Status::Ok();
}

}  // namespace

struct Daemon::ServiceContext {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const std::map<std::string, ServiceSchedules>> schedules;
  const ServiceSchedules& Of(const ServiceConfig& s) const {
    static const ServiceSchedules kNone;
    auto it = schedules->find(s.name);
    return it == schedules->end() ? kNone : it->second;
  }
  Views views;
  std::map<std::string, ServiceOverview> overview;
  std::map<std::string, int64_t> alerts_open;    // by service
  std::set<std::string> critical_open;          // services with an open critical alert
  std::set<std::string> small_backup_open;
  std::map<std::string, PitrMetrics> pitr;      // streamed services' windows, read once per listing
  int64_t alerts_total = 0;
  int64_t now_ns = 0;
};

Result<std::shared_ptr<const Config>> Daemon::RequireConfig() const {
  auto c = config();
  if (!c) return Status::IOError("configuration not loaded");
  return c;
}

double Daemon::P95BackupSeconds(const std::string& service) {
  {
    std::lock_guard lock(views_mu_);
    auto it = p95_.find(service);
    if (it != p95_.end()) return it->second;
  }
  auto durations = catalog_.RecentDurations(service, JobKind::kBackup, 20);
  const double p95 = durations.ok() ? P95Seconds(std::move(durations).value()) : 0;
  std::lock_guard lock(views_mu_);
  p95_[service] = p95;
  return p95;
}

Result<Daemon::ServiceContext> Daemon::LoadServiceContext() {
  ServiceContext ctx;
  CAIRN_ASSIGN_OR_RETURN(ctx.config, RequireConfig());
  ctx.schedules = schedules();
  ctx.views = views();
  ctx.now_ns = clock_->NowNs();
  for (PitrMetrics& p : PitrWindows()) ctx.pitr[p.service] = std::move(p);
  CAIRN_ASSIGN_OR_RETURN(std::vector<ServiceOverview> overview, catalog_.ServicesOverview());
  for (auto& o : overview) ctx.overview[o.service] = std::move(o);
  std::string cursor;
  do {  // open alerts are few; a page of 1000 is one read
    CAIRN_ASSIGN_OR_RETURN(Page<AlertRecord> page, catalog_.ListAlerts(AlertState::kOpen, PageRequest{1000, cursor}));
    for (const AlertRecord& a : page.items) {
      ++ctx.alerts_total;
      if (a.service.empty()) continue;
      ++ctx.alerts_open[a.service];
      if (a.severity == Severity::kCritical) ctx.critical_open.insert(a.service);
      if (a.rule == AlertRule::kSmallBackup) ctx.small_backup_open.insert(a.service);
    }
    cursor = page.next_cursor;
  } while (!cursor.empty());
  return ctx;
}

Json Daemon::ServiceJson(const ServiceConfig& s, const ServiceContext& ctx) {
  Json j = {{"name", s.name}, {"type", s.type}, {"targets", s.targets}};
  const auto task = ctx.views.tasks.find("backup:" + s.name);
  const bool paused = task != ctx.views.tasks.end() && task->second.state.paused;
  j["schedule"] = s.schedule.is_null() ? Json(nullptr) : ScheduleJson(s.schedule, paused);
  j["next_run"] = task != ctx.views.tasks.end() && !task->second.next_runs_ns.empty()
                      ? Json(FormatTime(task->second.next_runs_ns.front()))
                      : Json(nullptr);
  const double p95 = P95BackupSeconds(s.name);
  const int64_t freshness = FreshnessNs(s, ctx.Of(s), p95, ctx.now_ns);
  j["freshness_s"] = freshness ? Json(static_cast<double>(freshness) / 1e9) : Json(nullptr);

  HealthInputs in;
  in.now_ns = ctx.now_ns;
  in.p95_backup_s = p95;
  in.critical_alert_open = ctx.critical_open.count(s.name) > 0;
  in.small_backup_alert_open = ctx.small_backup_open.count(s.name) > 0;
  const auto o = ctx.overview.find(s.name);
  JobId last_job = 0;
  if (o != ctx.overview.end()) {
    in.newest = o->second.newest_point;
    in.drill = o->second.drill;
    for (const ServiceTargetStatus& t : o->second.targets)
      if (t.last_job > last_job && t.last_status) {
        last_job = t.last_job;
        in.last_backup = t.last_status;
      }
  }
  if (in.newest) {
    const PointRecord& p = *in.newest;
    Json targets = Json::array();
    for (const PointTarget& t : p.targets) targets.push_back(t.target);
    j["last_backup"] = {{"point_id", p.id},      {"time", FormatTime(p.time_ns)},
                        {"kind", ToString(p.kind)}, {"status", ToString(p.status)},
                        {"size", p.size},        {"added", p.added},
                        {"duration_s", p.duration_s}, {"targets", targets}};
  } else {
    j["last_backup"] = nullptr;
  }
  j["last_job"] = nullptr;
  if (last_job) {
    auto job = catalog_.GetJobBrief(last_job);
    if (job.ok())
      j["last_job"] = {{"id", job->id},
                       {"kind", ToString(job->kind)},
                       {"status", ToString(job->status)},
                       {"trigger", ToString(job->trigger)},
                       {"started_at", TimeOrNull(job->started_ns)},
                       {"ended_at", TimeOrNull(job->ended_ns)},
                       {"error", job->error.empty() ? Json(nullptr) : Json(job->error)}};
  }
  j["running_job"] = nullptr;
  if (auto a = ctx.views.active.find(s.name); a != ctx.views.active.end()) {
    auto job = catalog_.GetJob(a->second);
    if (job.ok() && !IsFinal(job->status)) j["running_job"] = JobToJson(*job);
  }
  ServiceHealth h = ComputeHealth(s, ctx.Of(s), in);
  j["health"] = {{"state", ToString(h.state)},
                 {"recent", {{"ok", h.recent.ok}, {"detail", h.recent.detail}}},
                 {"complete", {{"ok", h.complete.ok}, {"detail", h.complete.detail}}},
                 {"verified",
                  {{"ok", h.verified.ok},
                   {"detail", h.verified.detail},
                   {"at", TimeOrNull(h.verified_at_ns)},
                   {"duration_s", h.verified_at_ns ? Json(h.verified_duration_s) : Json(nullptr)}}}};
  const auto alerts = ctx.alerts_open.find(s.name);
  j["alerts_open"] = alerts == ctx.alerts_open.end() ? 0 : alerts->second;
  j["size"] = in.newest ? Json(in.newest->size) : Json(nullptr);
  j["pitr"] = nullptr;
  if (auto p = ctx.pitr.find(s.name); p != ctx.pitr.end())
    j["pitr"] = {{"window_start", TimeOrNull(p->second.window_start_ns)},
                 {"window_end", TimeOrNull(p->second.window_end_ns)},
                 {"lag_s", p->second.lag_s}};
  return j;
}

Result<Json> Daemon::ListServices() {
  CAIRN_ASSIGN_OR_RETURN(ServiceContext ctx, LoadServiceContext());
  std::vector<Json> list;
  for (const ServiceConfig& s : ctx.config->services) list.push_back(ServiceJson(s, ctx));
  auto rank = [](const Json& j) {
    const std::string st = j["health"]["state"];
    return st == "failing" ? 0 : st == "stale" ? 1 : st == "unknown" ? 2 : 3;
  };
  std::stable_sort(list.begin(), list.end(), [&](const Json& a, const Json& b) {
    const int ra = rank(a), rb = rank(b);
    return ra != rb ? ra < rb : a["name"].get<std::string>() < b["name"].get<std::string>();
  });
  std::map<std::string, int> counts;
  for (const Json& j : list) ++counts[j["health"]["state"].get<std::string>()];
  return Json{{"services", list},
              {"summary",
               {{"services", list.size()},
                {"healthy", counts["healthy"]},
                {"failing", counts["failing"]},
                {"stale", counts["stale"]},
                {"unknown", counts["unknown"]},
                {"alerts_open", ctx.alerts_total}}},
              {"config", ConfigStatus()}};
}

Result<Json> Daemon::GetService(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(ServiceContext ctx, LoadServiceContext());
  const ServiceConfig* s = ctx.config->FindService(name);
  if (!s) return Status::NotFound("no service named '" + name + "' in the configuration");
  Json j = ServiceJson(*s, ctx);
  Json retention = Json::object();
  for (const std::string& t : s->targets)
    if (const TargetConfig* tc = ctx.config->FindTarget(t)) retention[t] = RetentionJson(tc->retention);
  j["retention"] = retention;
  if (ctx.Of(*s).verify) {
    j["verify"] = s->verify.is_object() ? s->verify : Json{{"every", "1d"}};
  } else {
    j["verify"] = nullptr;
  }
  j["volumes"] = Volumes(*s);
  const auto o = ctx.overview.find(name);
  j["rpo_achieved_s"] = nullptr;
  j["rto_measured_s"] = nullptr;
  if (o != ctx.overview.end()) {
    if (o->second.newest_point)
      j["rpo_achieved_s"] = static_cast<double>(ctx.now_ns - o->second.newest_point->time_ns) / 1e9;
    if (o->second.drill && o->second.drill->success_ns) j["rto_measured_s"] = o->second.drill->success_duration_s;
  }
  j["replaces"] = Replaces(*s);
  return j;
}

Result<Json> Daemon::ListPoints(const std::string& service, int limit, const std::string& cursor) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  if (!config->FindService(service)) return Status::NotFound("no service named '" + service + "' in the configuration");
  CAIRN_ASSIGN_OR_RETURN(Page<PointRecord> page, catalog_.ListPoints(service, PageRequest{limit, cursor}));
  Json points = Json::array();
  for (const PointRecord& p : page.items) points.push_back(PointRecordToJson(p));
  return Json{{"points", points}, {"next_cursor", page.next_cursor.empty() ? Json(nullptr) : Json(page.next_cursor)}};
}

Result<Json> Daemon::GetPoint(const std::string& service, const std::string& point) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  if (!config->FindService(service)) return Status::NotFound("no service named '" + service + "' in the configuration");
  CAIRN_ASSIGN_OR_RETURN(std::string id, catalog_.ResolvePointId(service, point));
  CAIRN_ASSIGN_OR_RETURN(PointRecord p, catalog_.GetPoint(service, id));
  Json j = PointRecordToJson(p);
  auto manifest = catalog_.GetManifest(service, id);
  j["manifest"] = manifest.ok() ? Json::parse(*manifest, nullptr, false) : Json(nullptr);
  if (j["manifest"].is_discarded()) j["manifest"] = nullptr;
  return j;
}

Result<Json> Daemon::ServiceHistory(const std::string& service, int days) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  if (!config->FindService(service)) return Status::NotFound("no service named '" + service + "' in the configuration");
  const int64_t cutoff = clock_->NowNs() - days * kDay;
  Json points = Json::array(), drills = Json::array(), jobs = Json::array();
  CAIRN_RETURN_IF_ERROR(ForEachNewest<PointRecord>(
      [&](const PageRequest& page) { return catalog_.ListPoints(service, page); },
      [&](const PointRecord& p) {
        if (p.time_ns < cutoff) return false;
        points.push_back({{"time", FormatTime(p.time_ns)}, {"size", p.size}, {"added", p.added},
                          {"duration_s", p.duration_s}, {"kind", ToString(p.kind)}, {"status", ToString(p.status)}});
        if (p.last_drill && p.last_drill->verified_ns >= cutoff)
          drills.push_back({{"time", FormatTime(p.last_drill->verified_ns)},
                            {"duration_s", p.last_drill->duration_s},
                            {"outcome", ToString(p.last_drill->outcome)}});
        return true;
      }));
  // Jobs that did not make a point (the points show the others).
  JobFilter filter;
  filter.service = service;
  CAIRN_RETURN_IF_ERROR(ForEachNewest<JobRecord>(
      [&](const PageRequest& page) { return catalog_.ListJobs(filter, page); },
      [&](const JobRecord& job) {
        if (job.queued_ns < cutoff) return false;
        if (job.status == JobStatus::kFailed || job.status == JobStatus::kPartial ||
            job.status == JobStatus::kInterrupted)
          jobs.push_back({{"time", FormatTime(job.started_ns ? job.started_ns : job.queued_ns)},
                          {"kind", ToString(job.kind)},
                          {"status", ToString(job.status)},
                          {"duration_s", job.ended_ns ? Json(job.duration_s()) : Json(nullptr)}});
        return true;
      }));
  std::reverse(points.begin(), points.end());
  std::reverse(jobs.begin(), jobs.end());
  std::sort(drills.begin(), drills.end(), [](const Json& a, const Json& b) { return a["time"] < b["time"]; });
  return Json{{"points", points}, {"drills", drills}, {"jobs", jobs}};
}

Result<Json> Daemon::Calendar(int days, const std::string& time_zone) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  auto tz = TimeZone::Load(time_zone.empty() ? "UTC" : time_zone);
  if (!tz.ok()) return Status::InvalidArgument("tz: " + tz.status().message());
  const Views v = views();
  const auto ctx_schedules = schedules();
  const int64_t now = clock_->NowNs();
  // Day boundaries in the zone, as UTC ns: [starts[i], starts[i+1]).
  const int64_t today_local = tz->ToLocal(now / kSecond);
  const int64_t today = today_local >= 0 ? today_local / 86400 : (today_local - 86399) / 86400;
  std::vector<int64_t> starts;
  Json day_names = Json::array();
  for (int64_t d = today - days + 1; d <= today + 1; ++d) {
    const LocalResolution r = tz->ToUtc(d * 86400);
    starts.push_back(r.first * kSecond);
    if (d <= today) day_names.push_back(FormatCivil(d * 86400).substr(0, 10));
  }
  auto day_of = [&](int64_t t) -> int {
    auto it = std::upper_bound(starts.begin(), starts.end(), t);
    const long i = static_cast<long>(it - starts.begin()) - 1;
    return i >= 0 && i < days ? static_cast<int>(i) : -1;
  };
  Json services = Json::array();
  for (const ServiceConfig& s : config->services) {
    std::vector<std::string> cells(days, "none");
    std::vector<bool> ok(days, false), failed(days, false);
    int64_t first_seen = now;  // the oldest activity seen in the range
    bool older = false;        // activity before the range: every day counts
    CAIRN_ASSIGN_OR_RETURN(PointStamps stamps, catalog_.PointStampsSince(s.name, starts.front()));
    older = stamps.older;
    for (const PointStamp& p : stamps.points) {
      first_seen = std::min(first_seen, p.time_ns);
      const int d = day_of(p.time_ns);
      if (d >= 0 && p.status == PointStatus::kComplete && p.kind != PointKind::kSafety) ok[d] = true;
    }
    JobFilter filter;
    filter.service = s.name;
    filter.kind = JobKind::kBackup;
    CAIRN_RETURN_IF_ERROR(ForEachNewest<JobRecord>(
        [&](const PageRequest& page) { return catalog_.ListJobs(filter, page); },
        [&](const JobRecord& j) {
          if (j.queued_ns < starts.front()) return !(older = true);
          first_seen = std::min(first_seen, j.queued_ns);
          const int d = day_of(j.queued_ns);
          if (d >= 0 && (j.status == JobStatus::kFailed || j.status == JobStatus::kInterrupted)) failed[d] = true;
          return true;
        }));
    const std::optional<Schedule>& schedule = ctx_schedules->count(s.name) ? ctx_schedules->at(s.name).backup
                                                                           : std::optional<Schedule>();
    const auto task = v.tasks.find("backup:" + s.name);
    const int64_t anchor = task != v.tasks.end() && task->second.state.anchor_ns ? *task->second.state.anchor_ns : 0;
    for (int d = 0; d < days; ++d) {
      if (ok[d]) cells[d] = "ok";
      else if (failed[d]) cells[d] = "failed";
      else if (schedule && (older || starts[d + 1] > first_seen) && starts[d] < now) {
        // Due: a fire of the schedule fell in the day (before now) after the
        // service was first seen.
        const int64_t from = std::max(starts[d], older ? starts[d] : first_seen) - 1;
        const int64_t until = std::min(starts[d + 1] - 1, now);
        if (until > from && schedule->FiresIn(from, until, anchor, 1).count > 0) cells[d] = "missing";
      }
    }
    services.push_back({{"name", s.name}, {"cells", cells}});
  }
  return Json{{"days", day_names}, {"services", services}};
}

// ------------------------------------------------------------------ files

struct Daemon::FileSource {
  std::shared_ptr<PointFiles> files;
  std::string native_id;
  Json manifest;
};

Result<std::shared_ptr<PointFiles>> Daemon::FilesOf(const TargetConfig& target, int64_t cached_ns) {
  const int64_t now = clock_->NowNs();
  {
    std::lock_guard lock(files_mu_);
    auto it = files_.find(target.name);
    if (it != files_.end() && it->second.opened_ns >= cached_ns && now - it->second.opened_ns < kFilesReuseNs)
      return it->second.files;
  }
  // Opened outside the lock: it derives the key and loads the index.
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<PointFiles> opened, PointFiles::Open(target));
  std::shared_ptr<PointFiles> shared(std::move(opened));
  std::lock_guard lock(files_mu_);
  files_[target.name] = OpenFiles{shared, now};
  return shared;
}

Result<Daemon::FileSource> Daemon::ResolveFiles(const std::string& service, const std::string& point) {
  CAIRN_ASSIGN_OR_RETURN(auto config, RequireConfig());
  const ServiceConfig* s = config->FindService(service);
  if (!s) return Status::NotFound("no service named '" + service + "' in the configuration");
  CAIRN_ASSIGN_OR_RETURN(std::string id, catalog_.ResolvePointId(service, point));
  CAIRN_ASSIGN_OR_RETURN(PointRecord p, catalog_.GetPoint(service, id));
  CAIRN_ASSIGN_OR_RETURN(std::string manifest_text, catalog_.GetManifest(service, id));
  Json manifest = Json::parse(manifest_text, nullptr, false);
  if (!manifest.is_object()) return Status::Corruption("the cached manifest of point " + id + " is unreadable");
  Status last = Status::NotFound("point " + id + " is on no Cairn repository target: its files cannot be browsed "
                                 "(Borg targets are restored whole)");
  for (const PointTarget& pt : p.targets) {
    const TargetConfig* tc = config->FindTarget(pt.target);
    if (!tc || tc->type != "repository") continue;
    // The cache time of the point on the target: an index loaded before it
    // lacks its data.
    auto files = FilesOf(*tc, pt.cached_ns);
    if (!files.ok()) {
      last = files.status();
      continue;
    }
    return FileSource{*files, pt.native_id, std::move(manifest)};
  }
  return last;
}

Result<Json> Daemon::ListFiles(const std::string& service, const std::string& point, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(FileSource src, ResolveFiles(service, point));
  CAIRN_ASSIGN_OR_RETURN(std::vector<PointFileEntry> entries, src.files->List(src.native_id, src.manifest, path));
  Json list = Json::array();
  for (const PointFileEntry& e : entries) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", e.mode);
    list.push_back({{"name", e.name}, {"type", e.type}, {"size", e.size}, {"mtime", TimeOrNull(e.mtime_ns)},
                    {"mode", mode}});
  }
  return Json{{"path", path}, {"entries", list}};
}

Status Daemon::DownloadFile(const std::string& service, const std::string& point, const std::string& path,
                            const std::function<void(const FileDownload&)>& start,
                            const std::function<bool(ByteView)>& sink) {
  CAIRN_ASSIGN_OR_RETURN(FileSource src, ResolveFiles(service, point));
  return src.files->Read(
      src.native_id, src.manifest, path, [&](const std::string& name, uint64_t size) { start(FileDownload{name, size}); },
      sink);
}

}  // namespace cairn

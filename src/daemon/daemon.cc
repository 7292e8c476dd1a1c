// The daemon's lifecycle: configuration, tasks, the loop, job starts and ends.
// The answers to the HTTP layer are in daemon_api_impl.cc.
#include "daemon/daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "cairn/system.h"
#include "config/schedule.h"
#include "daemon/daemon_json.h"

namespace cairn {
namespace {

int64_t FileMtimeNs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Whether `pid` is still a Cairn job process (its pid may have been reused).
bool IsJobProcess(int64_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), {});
  return cmdline.find(std::string("__job") + '\0') != std::string::npos ||
         (cmdline.size() >= 5 && cmdline.compare(cmdline.size() - 5, 5, "__job") == 0);
}

std::string RotationKey(const std::string& target) { return "check.rotation." + target; }

// The alert thresholds of the configuration's `alerts:` section.
AlertThresholds ThresholdsOf(const Config& config) {
  AlertThresholds t;
  t.archive_lag_ns = static_cast<int64_t>(config.alerts.archive_lag_seconds * 1e9);
  t.small_backup_ratio = config.alerts.small_backup_ratio;
  t.disk_full_percent = config.alerts.disk_full_percent;
  t.stuck_factor = config.alerts.stuck_factor;
  return t;
}

}  // namespace

Daemon::Daemon(DaemonOptions options, Catalog& catalog)
    : options_(std::move(options)),
      catalog_(catalog),
      clock_(options_.clock ? options_.clock : SystemClock()),
      store_(catalog),
      runner_(catalog, JobRunnerOptions{options_.cairn_binary, options_.cancel_grace_ns,
                                        [this](const ApiEvent& e) {
                                          if (e.event == "job") PublishJob(e.data.value("id", JobId{0}));
                                          else Publish(e);
                                        }}),
      alerts_(catalog, clock_, [this](const AlertRecord& a, AlertEvent e) { OnAlert(a, e); }),
      notifier_(catalog, clock_, [this] { return config(); }),
      streamers_(options_.cairn_binary, options_.config_path, SystemClock(), 10'000'000'000) {
  notifier_.SetChannelHealthCallback([this](const std::string& channel, bool failing, const std::string& error) {
    alerts_.ChannelHealth(channel, failing, error);
  });
}

Result<std::unique_ptr<Daemon>> Daemon::Start(DaemonOptions options, Catalog& catalog) {
  if (options.cairn_binary.empty()) return Status::InvalidArgument("the daemon needs the cairn binary's path");
  std::unique_ptr<Daemon> d(new Daemon(std::move(options), catalog));
  CAIRN_RETURN_IF_ERROR(d->Init());
  return d;
}

Status Daemon::Init() {
  started_ns_ = clock_->NowNs();
  CAIRN_ASSIGN_OR_RETURN(Config config, LoadConfig(options_.config_path));
  // Jobs a killed daemon left running: their processes die with their
  // parent (PR_SET_PDEATHSIG), but one may still be winding down.
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<JobRecord> interrupted,
      catalog_.MarkInterrupted("the daemon stopped while this job ran (killed or crashed); the service's next job "
                               "cleans up what it left"));
  for (const JobRecord& job : interrupted) {
    if (IsJobProcess(job.pid)) ::kill(-static_cast<pid_t>(job.pid), SIGKILL);
    // A drill's scratch servers outlive its process: stop them now.
    if (job.kind == JobKind::kDrill && !job.service.empty())
      (void)catalog_.AppendLog(job.id, runner_.CleanUpDrill(options_.config_path, job.service));
  }
  SchedulerOptions so;
  so.max_concurrent_jobs = config.server.max_concurrent_jobs;
  CAIRN_ASSIGN_OR_RETURN(scheduler_, Scheduler::Open(&store_, clock_, so));
  {
    std::lock_guard lock(mu_);
    CAIRN_RETURN_IF_ERROR(ApplyConfig(std::move(config)));
    config_mtime_ns_ = FileMtimeNs(options_.config_path);
    StartSync();
  }
  loop_ = std::thread(&Daemon::Loop, this);
  alerts_thread_ = std::thread(&Daemon::AlertLoop, this);
  notifier_.Start();
  return Status::Ok();
}

Daemon::~Daemon() { Stop(); }

void Daemon::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  if (alerts_thread_.joinable()) alerts_thread_.join();
  notifier_.Stop();
  streamers_.StopAll();
  runner_.StopAll();
}

std::shared_ptr<const Config> Daemon::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

std::shared_ptr<const std::map<std::string, ServiceSchedules>> Daemon::schedules() const {
  std::lock_guard lock(mu_);
  return schedules_;
}

std::vector<Task> Daemon::TasksFor(const Config& config) const {
  std::vector<Task> tasks;
  for (const ServiceConfig& s : config.services) {
    if (!s.schedule.is_null()) {
      auto schedule = ParseSchedule(s.schedule, "service " + s.name + ": schedule");
      if (schedule.ok()) tasks.push_back(BackupTask(s.name, s.targets, *schedule));
    }
    // Restore drills: `verify:` or the type's default (daily for databases).
    if (auto verify = VerifySchedule(s); verify && !s.targets.empty())
      tasks.push_back(VerifyTask(s.name, s.targets.front(), *verify));
  }
  for (const TargetConfig& t : config.targets) {
    if (!t.prune.is_null()) {
      auto schedule = ParseSchedule(t.prune, "target " + t.name + ": prune");
      if (schedule.ok()) tasks.push_back(PruneTask(t.name, *schedule));
    }
    if (!t.check.is_null()) {
      auto schedule = ParseSchedule(t.check, "target " + t.name + ": check", {"read_data"});
      auto share = ParseReadData(t.check.value("read_data", Json()), "target " + t.name);
      if (schedule.ok())
        tasks.push_back(CheckTask(t.name, *schedule, Json{{"read_data", share.ok() ? *share : 0.0}}));
    }
  }
  return tasks;
}

Status Daemon::ApplyConfig(Config config) {
  auto shared = std::make_shared<const Config>(std::move(config));
  CAIRN_RETURN_IF_ERROR(scheduler_->SetTasks(TasksFor(*shared)));
  auto schedules = std::make_shared<std::map<std::string, ServiceSchedules>>();
  for (const ServiceConfig& s : shared->services) (*schedules)[s.name] = ServiceSchedules::Of(s);
  schedules_ = std::move(schedules);
  scheduler_->SetMaxConcurrentJobs(shared->server.max_concurrent_jobs);
  config_ = std::move(shared);
  config_error_.clear();
  config_loaded_ns_ = clock_->NowNs();
  RefreshViews();
  return Status::Ok();
}

void Daemon::RefreshViews() {
  Views v;
  for (const QueuedJobInfo& q : scheduler_->ListQueue()) {
    v.waiting[q.job.id] = q.waiting_on;
    if (!q.job.request.service.empty()) v.active.emplace(q.job.request.service, q.job.id);
  }
  for (const Job& j : scheduler_->ListRunning())
    if (!j.request.service.empty()) v.active[j.request.service] = j.id;
  for (TaskInfo& t : scheduler_->ListTasks(5)) v.tasks[t.task.key] = std::move(t);
  std::lock_guard lock(views_mu_);
  views_ = std::move(v);
}

Daemon::Views Daemon::views() const {
  std::lock_guard lock(views_mu_);
  return views_;
}

Status Daemon::Reload() {
  auto loaded = LoadConfig(options_.config_path);
  Status st;
  {
    std::lock_guard lock(mu_);
    config_mtime_ns_ = FileMtimeNs(options_.config_path);
    if (!loaded.ok()) {
      // Half a configuration is worse than the last good one: keep it, say why.
      config_error_ = loaded.status().message();
      st = loaded.status();
    } else {
      st = ApplyConfig(std::move(loaded).value());
      if (!st.ok()) config_error_ = st.message();
      else StartSync();
    }
    wake_ = true;
  }
  cv_.notify_all();
  Publish(ApiEvent{"config", ConfigStatus()});
  return st;
}

void Daemon::Loop() {
  std::unique_lock lock(mu_);
  int64_t next_config_check = 0;
  while (!stop_) {
    PollResult polled = scheduler_->Poll();
    LaunchStarted(polled.start);
    RefreshViews();
    const int64_t now = clock_->NowNs();
    if (now >= next_config_check) {
      next_config_check = now + options_.config_poll_ns;
      if (FileMtimeNs(options_.config_path) != config_mtime_ns_) {
        lock.unlock();
        (void)Reload();
        lock.lock();
        continue;
      }
    }
    if (!sync_running_ && now >= next_sync_ns_) StartSync();
    if (config_) streamers_.Sync(*config_);  // WAL streamers: start, restart, stop
    // Sleep until the scheduler has something to do, but look at the file
    // and the sync timer at least every config_poll_ns; with a fake clock
    // (tests) never longer than a second of real time.
    int64_t wake_at = std::min(next_config_check, next_sync_ns_);
    if (auto w = scheduler_->NextWakeNs()) wake_at = std::min(wake_at, *w);
    int64_t wait_ns = std::clamp<int64_t>(wake_at - now, 1'000'000, 60'000'000'000);
    if (clock_ != SystemClock()) wait_ns = std::min<int64_t>(wait_ns, 50'000'000);
    cv_.wait_for(lock, std::chrono::nanoseconds(wait_ns), [&] { return stop_ || wake_; });
    wake_ = false;
  }
}

JobSpec Daemon::SpecFor(const Job& job) const {
  JobSpec spec;
  spec.id = job.id;
  spec.kind = job.request.kind;
  spec.config_path = options_.config_path;
  spec.service = job.request.service;
  for (const TargetUse& t : job.request.targets) spec.targets.push_back(t.target);
  spec.args = job.request.args.is_object() ? job.request.args : Json::object();
  const bool scheduled = job.request.trigger == Trigger::kSchedule || job.request.trigger == Trigger::kCatchUp;
  if (spec.kind == JobKind::kBackup) {
    if (!spec.args.contains("point_kind")) spec.args["point_kind"] = scheduled ? "scheduled" : "manual";
    // Retention follows every successful scheduled backup, per target.
    bool any_retention = false;
    for (const std::string& t : spec.targets)
      if (const TargetConfig* tc = config_->FindTarget(t)) any_retention = any_retention || !tc->retention.Empty();
    if (scheduled && any_retention) spec.args["forget_after"] = true;
  }
  // Rotating read-data checks: which run of the rotation this is; the count
  // moves on when a check succeeds, so a failed run reads the same packs again.
  if (spec.kind == JobKind::kCheck && !spec.targets.empty()) {
    auto n = catalog_.GetSetting(RotationKey(spec.targets.front()));
    spec.args["rotation"] = n.ok() && n->has_value() ? std::strtoll((*n)->c_str(), nullptr, 10) : 0;
  }
  return spec;
}

void Daemon::LaunchStarted(const std::vector<Job>& jobs) {
  for (const Job& job : jobs) {
    runner_.Launch(SpecFor(job), [this](JobId id, const JobOutcome& outcome) { OnJobEnd(id, outcome); });
    PublishJob(job.id);
  }
}

void Daemon::OnJobEnd(JobId id, const JobOutcome& outcome) {
  const JobStatus status = outcome.status;
  std::string service;
  {
    std::lock_guard lock(mu_);
    for (const Job& j : scheduler_->ListRunning())
      if (j.id == id) service = j.request.service;
    (void)scheduler_->Finished(id, status);
    RefreshViews();
    wake_ = true;
  }
  {
    std::lock_guard lock(views_mu_);
    if (!service.empty()) p95_.erase(service);
  }
  cv_.notify_all();
  PublishJob(id);
  if (auto job = catalog_.GetJob(id); job.ok()) {
    if (job->kind == JobKind::kCheck && status == JobStatus::kSucceeded && !job->targets.empty()) {
      auto n = catalog_.GetSetting(RotationKey(job->targets.front()));
      const int64_t current = n.ok() && n->has_value() ? std::strtoll((*n)->c_str(), nullptr, 10) : 0;
      (void)catalog_.PutSetting(RotationKey(job->targets.front()), std::to_string(current + 1));
    }
    auto c = config();
    alerts_.JobEnded(*job, c ? ThresholdsOf(*c) : AlertThresholds{});
  }
  if (!service.empty()) Publish(ApiEvent{"service", {{"name", service}}});
}

// The status file in the service's streamer spool: its newest upload or
// the last moment it found the archive current (an idle server writes
// nothing, and lags nothing), 0 when there is none; and what it last found
// wrong ("" = nothing).
Daemon::SpoolView Daemon::ReadSpoolStatus(const ServiceConfig& s) {
  std::ifstream in(WalSpoolDir(s) + "/" + kWalStreamStatusFile);
  const Json status = Json::parse(in, nullptr, false);
  if (!status.is_object()) return {};
  return {std::max(status.value("uploaded_ns", int64_t{0}), status.value("current_ns", int64_t{0})),
          status.value("trouble", "")};
}

std::vector<ArchiveState> Daemon::Archives(const Config& config) {
  Json cached;
  {
    std::lock_guard lock(pitr_mu_);
    cached = pitr_;
  }
  std::vector<ArchiveState> out;
  const int64_t now = clock_->NowNs();
  for (const ServiceConfig& s : config.services) {
    if (!ArchivesContinuously(s)) continue;
    ArchiveState a;
    a.service = s.name;
    SpoolView spool = ReadSpoolStatus(s);
    a.current_ns = spool.current_ns;
    a.trouble = std::move(spool.trouble);
    a.freshness_ns = s.freshness_ns;
    a.watched_ns = archive_watched_.emplace(s.name, now).first->second;  // AlertLoop's thread only
    if (cached.is_object() && cached.contains(s.name) && cached[s.name].is_object())
      a.gap = cached[s.name].value("gap", "");
    out.push_back(std::move(a));
  }
  return out;
}

void Daemon::AlertLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    auto c = config_;
    auto s = schedules_;
    lock.unlock();
    if (c && s) alerts_.Evaluate(*c, *s, ThresholdsOf(*c), Archives(*c));
    lock.lock();
    cv_.wait_for(lock, std::chrono::nanoseconds(options_.alert_interval_ns), [&] { return stop_; });
  }
}

std::vector<PitrMetrics> Daemon::PitrWindows() {
  Json cached;
  {
    std::lock_guard lock(pitr_mu_);
    cached = pitr_;
  }
  std::vector<PitrMetrics> out;
  auto c = config();
  if (!c || !cached.is_object()) return out;
  for (const auto& [name, w] : cached.items()) {
    const ServiceConfig* s = c->FindService(name);
    if (!s || !w.is_object()) continue;
    PitrMetrics m;
    m.service = name;
    m.window_start_ns = w.value("window_start_ns", int64_t{0});
    if (!m.window_start_ns) continue;  // a gap, no window
    // A streamer that is current has everything the server wrote: the
    // window reaches now. With archive_command the file being written is
    // not archived yet, so the window ends at the newest upload while the
    // lag counts from the last moment nothing was waiting.
    const int64_t window_end = w.value("window_end_ns", int64_t{0}), current = ReadSpoolStatus(*s).current_ns;
    const bool streamed = ArchiveModeOf(*s) == ArchiveMode::kStream;
    m.window_end_ns = streamed ? std::max(window_end, current) : window_end;
    const int64_t lag_from = std::max(window_end, current);
    m.lag_s = lag_from ? std::max(0.0, static_cast<double>(clock_->NowNs() - lag_from) / 1e9) : 0;
    out.push_back(m);
  }
  return out;
}

void Daemon::OnAlert(const AlertRecord& alert, AlertEvent event) {
  Publish(ApiEvent{"alert", AlertToJson(alert)});
  notifier_.Notify(alert, event);
  if (!alert.service.empty()) Publish(ApiEvent{"service", {{"name", alert.service}}});
}

void Daemon::StartSync() {
  sync_running_ = true;
  next_sync_ns_ = clock_->NowNs() + options_.sync_interval_ns;
  JobSpec spec;
  spec.sync = true;
  spec.config_path = options_.config_path;
  runner_.Launch(spec, [this](JobId, const JobOutcome& outcome) {
    if (outcome.status == JobStatus::kSucceeded) {
      alerts_.SyncEnded(outcome.result);
      std::lock_guard lock(pitr_mu_);
      pitr_ = outcome.result.value("pitr", Json::object());
    }
    {
      std::lock_guard lock(mu_);
      sync_running_ = false;
    }
    cv_.notify_all();
  });
}

Status Daemon::SyncNow() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !sync_running_ || stop_; });
    if (stop_) return Status::Aborted("the daemon is stopping");
    StartSync();
  }
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !sync_running_ || stop_; });
  return Status::Ok();
}

void Daemon::Publish(const ApiEvent& event) {
  std::vector<std::function<void(const ApiEvent&)>> subscribers;
  {
    std::lock_guard lock(sub_mu_);
    for (auto& [id, cb] : subscribers_) subscribers.push_back(cb);
  }
  for (auto& cb : subscribers) cb(event);
}

void Daemon::PublishJob(JobId id) {
  if (id <= 0) return;
  {
    std::lock_guard lock(sub_mu_);
    if (subscribers_.empty()) return;  // nobody listens: no catalog read
  }
  auto job = catalog_.GetJob(id);
  if (job.ok()) Publish(ApiEvent{"job", JobToJson(*job)});
}

int64_t Daemon::Subscribe(std::function<void(const ApiEvent&)> callback) {
  std::lock_guard lock(sub_mu_);
  const int64_t id = next_subscriber_++;
  subscribers_[id] = std::move(callback);
  return id;
}

void Daemon::Unsubscribe(int64_t id) {
  std::lock_guard lock(sub_mu_);
  subscribers_.erase(id);
}

Result<JobId> Daemon::EnqueueRequest(JobRequest request, const Actor& actor, const std::string& audit_action) {
  Result<JobId> id = Status::Aborted("not queued");
  {
    std::lock_guard lock(mu_);
    id = scheduler_->Enqueue(std::move(request));
    RefreshViews();
    wake_ = true;
  }
  cv_.notify_all();
  if (id.ok()) {
    PublishJob(*id);
    // The server records the request in the audit log; the job names who asked.
    (void)catalog_.AppendLog(*id, {LogLine{0, 0, LogLevel::kInfo, audit_action + " requested by " + actor.name}});
  }
  return id;
}

}  // namespace cairn

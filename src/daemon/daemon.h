// The daemon behind `cairn serve` (docs/daemon.md): it keeps the
// configuration (reloaded when the file changes or on SIGHUP, applied only
// when it validates), turns its schedules into scheduler tasks, runs the
// scheduler, starts jobs in processes of their own (JobRunner), keeps the
// catalog's cache of restore points in step with the targets, and answers
// the HTTP layer (DaemonApi).
//
// Threads: one loop thread owns the scheduler (Poll, NextWakeNs); every other
// entry point (API calls from HTTP threads, job ends from runner threads)
// takes mu_ and wakes the loop. The catalog and the runner are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cairn/clock.h"
#include "cairn/config.h"
#include "cairn/ops.h"
#include "daemon/alerts.h"
#include "daemon/catalog.h"
#include "daemon/catalog_scheduler_store.h"
#include "daemon/daemon_api.h"
#include "daemon/health.h"
#include "daemon/job_runner.h"
#include "daemon/metrics.h"
#include "daemon/notifier.h"
#include "daemon/wal_streamers.h"
#include "daemon/scheduler.h"

namespace cairn {

struct DaemonOptions {
  std::string config_path;
  std::string cairn_binary;                     // for job processes (`<binary> __job`)
  Clock* clock = nullptr;                       // default SystemClock()
  int64_t sync_interval_ns = 600'000'000'000;   // re-list every target's points (other hosts, the CLI)
  int64_t config_poll_ns = 2'000'000'000;       // how often the file's mtime is looked at
  int64_t cancel_grace_ns = 10'000'000'000;     // SIGTERM, then SIGKILL
  int64_t alert_interval_ns = 15'000'000'000;   // how often the condition alert rules are judged
};

class Daemon : public DaemonApi {
 public:
  // Loads and validates the configuration (a bad file at start is an
  // error), marks the jobs a killed predecessor left running interrupted
  // (stopping their processes if they are still alive), opens the scheduler
  // and starts the loop. `catalog` must outlive the daemon.
  static Result<std::unique_ptr<Daemon>> Start(DaemonOptions options, Catalog& catalog);
  ~Daemon() override;  // Stop()

  // Ends the loop and every job (cancelled, then killed after the grace).
  void Stop();
  // Reads the file again and applies it if it validates (SIGHUP).
  Status Reload();

  // --- DaemonApi (daemon_api_impl.cc) -------------------------------------
  Json Health() override;
  bool ConfigLoaded() override;
  Json ConfigStatus() override;
  Result<Json> ListServices() override;
  Result<Json> GetService(const std::string& name) override;
  Result<Json> ListPoints(const std::string& service, int limit, const std::string& cursor) override;
  Result<Json> GetPoint(const std::string& service, const std::string& point) override;
  Result<Json> ServiceHistory(const std::string& service, int days) override;
  Result<Json> Calendar(int days, const std::string& time_zone) override;
  Result<Json> ListFiles(const std::string& service, const std::string& point, const std::string& path) override;
  Status DownloadFile(const std::string& service, const std::string& point, const std::string& path,
                      const std::function<void(const FileDownload&)>& start,
                      const std::function<bool(ByteView)>& sink) override;
  Result<JobId> StartBackup(const std::string& service, const std::optional<std::string>& target,
                            const Actor& actor) override;
  Result<JobId> StartRestore(const std::string& service, const Json& request, const Actor& actor) override;
  Result<JobId> StartVerify(const std::string& service, const std::string& point, const Actor& actor) override;
  Result<Json> ListJobs(const JobListFilter& filter, int limit, const std::string& cursor) override;
  Result<Json> GetJob(JobId id) override;
  Result<Json> JobLog(JobId id, int64_t after) override;
  Status CancelJob(JobId id, const Actor& actor) override;
  Result<Json> ListAlerts(bool open, int limit, const std::string& cursor) override;
  Result<Json> AckAlert(int64_t id, const Actor& actor) override;
  Result<Json> ListSchedules() override;
  Result<Json> SetSchedulePaused(const std::string& key, bool paused, const Actor& actor) override;
  Status TestNotification(std::optional<int> channel, const Actor& actor) override;
  Result<std::string> Metrics() override;
  int64_t Subscribe(std::function<void(const ApiEvent&)> callback) override;
  void Unsubscribe(int64_t id) override;

  // Runs a sync of every target's points now and waits for it (tests, start-up).
  Status SyncNow();
  // The configuration in force (a copy).
  std::shared_ptr<const Config> config() const;

 private:
  Daemon(DaemonOptions options, Catalog& catalog);
  Status Init();
  void Loop();
  Status ApplyConfig(Config config);  // requires mu_
  std::vector<Task> TasksFor(const Config& config) const;
  void LaunchStarted(const std::vector<Job>& jobs);  // requires mu_
  JobSpec SpecFor(const Job& job) const;             // requires mu_
  void OnJobEnd(JobId id, const JobOutcome& outcome);
  // Judges the condition alert rules every alert_interval_ns (its own
  // thread: the rules read the catalog and file systems, never under mu_).
  void AlertLoop();
  // An alert opened or resolved: published to the API's subscribers and
  // handed to the notifier.
  void OnAlert(const AlertRecord& alert, AlertEvent event);
  // The recoverable window of each streamed service: its start from the
  // last sync, its end the later of that and the streamer's newest upload.
  std::vector<PitrMetrics> PitrWindows();
  struct SpoolView {
    int64_t current_ns = 0;  // newest upload or mark that the archive is current
    std::string trouble;     // what the streamer last found wrong
  };
  static SpoolView ReadSpoolStatus(const ServiceConfig& service);
  // The continuous archives' states for the alert rules (AlertLoop's thread).
  std::vector<ArchiveState> Archives(const Config& config);
  void StartSync();                                   // requires mu_
  void Publish(const ApiEvent& event);
  void PublishJob(JobId id);
  Result<JobId> EnqueueRequest(JobRequest request, const Actor& actor, const std::string& audit_action);
  Json JobToJson(const JobRecord& job) const;

  // What API readers need of the scheduler, copied after every change by
  // the loop (RefreshViews, requires mu_) so that no reader waits for it.
  struct Views {
    std::map<JobId, std::string> waiting;           // queued job -> what it waits on
    std::map<std::string, TaskInfo> tasks;          // by task key
    std::map<std::string, JobId> active;            // service -> its queued or running job
  };
  void RefreshViews();
  Views views() const;

  // daemon_api_impl.cc
  struct ServiceContext;  // what one ListServices/GetService call reads once
  Result<ServiceContext> LoadServiceContext();
  Json ServiceJson(const ServiceConfig& s, const ServiceContext& ctx);
  double P95BackupSeconds(const std::string& service);
  Result<std::shared_ptr<PointFiles>> FilesOf(const TargetConfig& target, int64_t cached_ns);
  struct FileSource;
  Result<FileSource> ResolveFiles(const std::string& service, const std::string& point);
  Result<std::shared_ptr<const Config>> RequireConfig() const;
  std::shared_ptr<const std::map<std::string, ServiceSchedules>> schedules() const;

  DaemonOptions options_;
  Catalog& catalog_;
  Clock* clock_;
  CatalogSchedulerStore store_;
  JobRunner runner_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::unique_ptr<Scheduler> scheduler_;
  std::shared_ptr<const Config> config_;
  // Every service's parsed schedules, made with config_ (parsing reads time zones).
  std::shared_ptr<const std::map<std::string, ServiceSchedules>> schedules_;
  std::string config_error_;
  int64_t config_loaded_ns_ = 0, config_mtime_ns_ = 0;
  int64_t next_sync_ns_ = 0;
  bool sync_running_ = false;
  int64_t started_ns_ = 0;
  std::thread loop_;
  AlertEngine alerts_;
  std::thread alerts_thread_;
  Notifier notifier_;
  WalStreamers streamers_;
  std::mutex pitr_mu_;
  Json pitr_ = Json::object();  // the last sync's "pitr" result
  std::map<std::string, int64_t> archive_watched_;  // service -> first seen streamed (AlertLoop only)

  mutable std::mutex views_mu_;
  Views views_;
  std::map<std::string, double> p95_;  // service -> p95 backup seconds (views_mu_; cleared when a backup ends)

  // Opened repositories for file browsing, by target name.
  struct OpenFiles {
    std::shared_ptr<PointFiles> files;
    int64_t opened_ns = 0;
  };
  std::mutex files_mu_;
  std::map<std::string, OpenFiles> files_;

  std::mutex sub_mu_;
  std::map<int64_t, std::function<void(const ApiEvent&)>> subscribers_;
  int64_t next_subscriber_ = 1;
};

}  // namespace cairn

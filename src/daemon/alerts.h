// The alert rules (docs/alerts.md): which conditions open an alert, when it
// resolves by itself, and what its message tells the operator to do.
//
// Two kinds of rule:
//  - event rules, judged when a job ends (JobEnded, SyncEnded): a failed or
//    partial backup, a failed check, a failed drill, a suspiciously small
//    restore point; each repeat counts on the one open alert;
//  - condition rules, judged by Evaluate (the daemon calls it every few
//    seconds, not only when jobs end): overdue services, stuck jobs, full
//    local targets, failing notification channels. A condition raises its
//    alert once and resolves it when it clears; Evaluate writes to the
//    catalog only when something changes.
//
// Every opened and resolved alert goes to the sink (the daemon publishes it
// and hands it to the notifier). The catalog holds the alerts themselves;
// the engine keeps only which conditions are open, loaded from the catalog
// at construction so that a restart neither repeats nor loses them.
//
// Thread-safety: every method may be called from any thread; calls are
// serialized by one mutex, held while the sink runs: the sink must not call
// back into the engine (the notifier only queues).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cairn/clock.h"
#include "cairn/config.h"
#include "daemon/catalog.h"
#include "daemon/health.h"

namespace cairn {

struct AlertThresholds {
  // A point below this share of the previous one (same service, same kind
  // of point) is suspicious: an empty dump is not a backup (Barman's idea).
  double small_backup_ratio = 0.5;
  // A local target whose file system is at least this full (percent).
  double disk_full_percent = 90;
  // A job running longer than stuck_factor x the p95 of its recent runs, once
  // there are stuck_min_samples of them, and never sooner than stuck_floor_ns
  // (a 2-second job that takes 7 is not stuck).
  double stuck_factor = 3;
  int stuck_min_samples = 3;
  int64_t stuck_floor_ns = 60'000'000'000;
  // A continuous archive whose newest data (upload, or the streamer's mark
  // that it is current) is older than this.
  int64_t archive_lag_ns = 300'000'000'000;
};

// What the daemon knows of one continuous archive (archive: stream).
struct ArchiveState {
  std::string service;
  int64_t current_ns = 0;  // newest upload or mark that it is current; 0 = never
  int64_t watched_ns = 0;  // since when the daemon streams it
  std::string gap;         // the first missing file after a base backup (the last sync's view)
  std::string trouble;     // what the streamer last found wrong ("" = nothing), for the message
  int64_t freshness_ns = 0;  // the service's freshness: a shorter limit than archive_lag_seconds wins
};

// Percentage of a file system's space in use, as df counts it (space kept
// for root counts as not available). The nearest existing ancestor of `path`
// is measured (a repository not created yet lives on its parent's disk).
Result<double> FileSystemUsedPercent(const std::string& path);

// Whether a target's location is a local path whose fill level means
// something (S3 has none; Borg over SSH is another host's disk).
bool IsLocalTarget(const TargetConfig& target);

class AlertEngine {
 public:
  using Sink = std::function<void(const AlertRecord& alert, AlertEvent event)>;
  using FillLevel = std::function<Result<double>(const std::string& path)>;

  // `catalog` and `clock` must outlive the engine. `fill_level` defaults to
  // FileSystemUsedPercent (tests pass their own).
  AlertEngine(Catalog& catalog, Clock* clock, Sink sink, FillLevel fill_level = nullptr);

  // A job ended (its final record is in the catalog).
  void JobEnded(const JobRecord& job, const AlertThresholds& thresholds);
  // A sync of every target's points ended: `result` is its result
  // ({"unreachable": {target: error}, "missing": {target: error}}).
  void SyncEnded(const Json& result);
  // The condition rules, now.
  void Evaluate(const Config& config, const std::map<std::string, ServiceSchedules>& schedules,
                const AlertThresholds& thresholds, const std::vector<ArchiveState>& archives = {});
  // A notification channel started or stopped failing (the notifier's callback).
  void ChannelHealth(const std::string& channel, bool failing, const std::string& error);

 private:
  using Key = std::tuple<AlertRule, std::string, std::string>;  // rule, service, target
  void Raise(AlertRule rule, Severity severity, const std::string& service, const std::string& target,
             const std::string& message);
  // Raises only when not open already (condition rules).
  void RaiseOnce(AlertRule rule, Severity severity, const std::string& service, const std::string& target,
                 const std::string& message);
  void Resolve(AlertRule rule, const std::string& service, const std::string& target);
  bool IsOpen(AlertRule rule, const std::string& service, const std::string& target);
  void BackupEnded(const JobRecord& job, const AlertThresholds& thresholds);
  void SmallBackup(const JobRecord& job, const AlertThresholds& thresholds);
  void EvaluateOverdue(const Config& config, const std::map<std::string, ServiceSchedules>& schedules,
                       int64_t now);
  void EvaluateStuck(const AlertThresholds& thresholds, int64_t now);
  void EvaluateFull(const Config& config, const AlertThresholds& thresholds);
  void EvaluateArchives(const std::vector<ArchiveState>& archives, const AlertThresholds& thresholds, int64_t now);
  double P95(const std::string& service, JobKind kind, int min_samples);

  Catalog& catalog_;
  Clock* clock_;
  Sink sink_;
  FillLevel fill_level_;
  std::mutex mu_;
  std::set<Key> open_;  // alerts open in the catalog, as far as this engine knows
};

}  // namespace cairn

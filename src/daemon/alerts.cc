#include "daemon/alerts.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cairn/system.h"
#include "util/human.h"

namespace cairn {
namespace {

std::string Human(uint64_t bytes) { return HumanBytes(static_cast<double>(bytes)); }

std::string Short(const std::string& id) { return id.substr(0, 12); }

bool IsSafety(PointKind k) { return k == PointKind::kSafety; }

std::string FirstSeenKey(const std::string& service) { return "alerts.first_seen." + service; }

constexpr AlertRule kConditionRules[] = {AlertRule::kOverdue, AlertRule::kStuck, AlertRule::kTargetFull,
                                         AlertRule::kTargetUnreachable, AlertRule::kArchiveBehind};

}  // namespace

Result<double> FileSystemUsedPercent(const std::string& path) {
  std::filesystem::path p(path);
  struct stat st;
  while (::stat(p.c_str(), &st) != 0) {
    if (!p.has_parent_path() || p.parent_path() == p) return Status::NotFound(path + ": no such path");
    p = p.parent_path();
  }
  struct statvfs vfs;
  if (::statvfs(p.c_str(), &vfs) != 0) return Status::IOError(path + ": statvfs failed");
  const double used = static_cast<double>(vfs.f_blocks - vfs.f_bfree);
  const double avail = static_cast<double>(vfs.f_bavail);
  if (used + avail <= 0) return Status::NotFound(path + ": a file system without a size");
  return 100.0 * used / (used + avail);
}

bool IsLocalTarget(const TargetConfig& target) {
  const std::string& l = target.location;
  return !l.empty() && l.rfind("s3:", 0) != 0 && l.rfind("ssh://", 0) != 0 && l.find("://") == std::string::npos;
}

AlertEngine::AlertEngine(Catalog& catalog, Clock* clock, Sink sink, FillLevel fill_level)
    : catalog_(catalog),
      clock_(clock),
      sink_(std::move(sink)),
      fill_level_(fill_level ? std::move(fill_level) : FillLevel(FileSystemUsedPercent)) {
  PageRequest page{1000, ""};
  for (;;) {
    auto alerts = catalog_.ListAlerts(AlertState::kOpen, page);
    if (!alerts.ok()) break;
    for (const AlertRecord& a : alerts->items) open_.insert({a.rule, a.service, a.target});
    if (alerts->next_cursor.empty()) break;
    page.cursor = alerts->next_cursor;
  }
}

bool AlertEngine::IsOpen(AlertRule rule, const std::string& service, const std::string& target) {
  return open_.count({rule, service, target}) > 0;
}

void AlertEngine::Raise(AlertRule rule, Severity severity, const std::string& service, const std::string& target,
                        const std::string& message) {
  auto raised = catalog_.RaiseAlert(rule, severity, service, target, message);
  if (!raised.ok()) return;  // the condition is judged again on the next run
  open_.insert({rule, service, target});
  if (raised->opened && sink_) sink_(raised->alert, AlertEvent::kOpened);
}

void AlertEngine::RaiseOnce(AlertRule rule, Severity severity, const std::string& service,
                            const std::string& target, const std::string& message) {
  if (!IsOpen(rule, service, target)) Raise(rule, severity, service, target, message);
}

void AlertEngine::Resolve(AlertRule rule, const std::string& service, const std::string& target) {
  if (!IsOpen(rule, service, target)) return;
  auto resolved = catalog_.ResolveAlert(rule, service, target);
  if (!resolved.ok()) return;
  open_.erase({rule, service, target});
  if (resolved->has_value() && sink_) sink_(**resolved, AlertEvent::kResolved);
}

double AlertEngine::P95(const std::string& service, JobKind kind, int min_samples) {
  auto durations = catalog_.RecentDurations(service, kind, 20);
  return durations.ok() ? P95Seconds(std::move(durations).value(), static_cast<size_t>(std::max(1, min_samples))) : 0;
}

// ---------------------------------------------------------------- job ends

void AlertEngine::JobEnded(const JobRecord& job, const AlertThresholds& thresholds) {
  std::lock_guard lock(mu_);
  const std::string target = job.targets.empty() ? "" : job.targets.front();
  const std::string what = std::string(ToString(job.kind)) + " job " + std::to_string(job.id);
  if (job.status == JobStatus::kInterrupted && !job.service.empty()) {
    Raise(AlertRule::kJobFailed, Severity::kWarning, job.service, "",
          "the " + what + " of " + job.service + " was interrupted: " + job.error +
              ". It runs again at its next scheduled time; back up now if that is far off.");
    return;
  }
  switch (job.kind) {
    case JobKind::kBackup:
      BackupEnded(job, thresholds);
      break;
    case JobKind::kCheck:
      if (job.status == JobStatus::kFailed)
        Raise(AlertRule::kCheckFailed, Severity::kCritical, "", target,
              "the integrity check of target " + target + " failed: " + job.error);
      else if (job.status == JobStatus::kSucceeded)
        Resolve(AlertRule::kCheckFailed, "", target);
      break;
    case JobKind::kDrill:
      if (job.status == JobStatus::kFailed)
        Raise(AlertRule::kDrillFailed, Severity::kCritical, job.service, "",
              "the restore drill of " + job.service +
                  (job.point_id.empty() ? "" : " (restore point " + Short(job.point_id) + ")") +
                  " failed: " + job.error);
      else if (job.status == JobStatus::kSucceeded && !(job.result.is_object() && job.result.contains("skipped")))
        Resolve(AlertRule::kDrillFailed, job.service, "");
      break;
    case JobKind::kPrune:
    case JobKind::kForget:
      if (job.status == JobStatus::kFailed)
        Raise(AlertRule::kJobFailed, Severity::kWarning, job.service, job.service.empty() ? target : "",
              "the " + what + (job.service.empty() ? " on target " + target : " of " + job.service) +
                  " failed: " + job.error + "; the space it would have freed stays used.");
      else if (job.status == JobStatus::kSucceeded && job.service.empty())
        Resolve(AlertRule::kJobFailed, "", target);
      break;
    case JobKind::kRestore:
      if (job.status == JobStatus::kFailed)
        Raise(AlertRule::kJobFailed, Severity::kWarning, job.service, "",
              "the " + what + " of " + job.service + " failed: " + job.error);
      else if (job.status == JobStatus::kSucceeded)
        Resolve(AlertRule::kJobFailed, job.service, "");
      break;
    default:
      break;
  }
}

void AlertEngine::BackupEnded(const JobRecord& job, const AlertThresholds& thresholds) {
  const std::string& svc = job.service;
  if (job.status == JobStatus::kFailed) {
    Raise(AlertRule::kJobFailed, Severity::kCritical, svc, "",
          "the backup of " + svc + " failed (job " + std::to_string(job.id) + "): " + job.error);
    return;
  }
  if (job.status != JobStatus::kSucceeded && job.status != JobStatus::kPartial) return;
  // The service has a new point: its own failure alert clears; each target
  // is judged by whether it holds the point.
  Resolve(AlertRule::kJobFailed, svc, "");
  auto statuses = catalog_.ListServiceStatus();
  if (statuses.ok()) {
    for (const ServiceTargetStatus& s : *statuses) {
      if (s.service != svc || s.last_job != job.id) continue;
      if (s.last_status == JobStatus::kFailed)
        Raise(AlertRule::kJobFailed, Severity::kWarning, svc, s.target,
              "restore point " + Short(job.point_id) + " of " + svc + " is missing on target " + s.target + ": " +
                  s.last_error + ". The other targets hold it; back up again once " + s.target + " is fixed.");
      else {
        Resolve(AlertRule::kJobFailed, svc, s.target);
        Resolve(AlertRule::kTargetUnreachable, "", s.target);  // it took a point: it is back
      }
    }
  }
  if (!job.point_id.empty()) SmallBackup(job, thresholds);
}

void AlertEngine::SmallBackup(const JobRecord& job, const AlertThresholds& thresholds) {
  auto point = catalog_.GetPoint(job.service, job.point_id);
  if (!point.ok() || thresholds.small_backup_ratio <= 0) return;
  std::optional<PointRecord> previous;
  PageRequest page{50, ""};
  for (int pages = 0; pages < 4 && !previous; ++pages) {
    auto points = catalog_.ListPoints(job.service, page);
    if (!points.ok()) return;
    for (const PointRecord& p : points->items) {
      // The same kind of point: a safety backup is compared with safety
      // backups, scheduled and manual points with each other; drills never.
      if (p.id == point->id || p.time_ns >= point->time_ns || p.kind == PointKind::kDrill) continue;
      if (IsSafety(p.kind) != IsSafety(point->kind) || p.status != PointStatus::kComplete || p.size == 0) continue;
      previous = p;
      break;
    }
    if (points->next_cursor.empty()) break;
    page.cursor = points->next_cursor;
  }
  if (!previous) return;
  const double ratio = static_cast<double>(point->size) / static_cast<double>(previous->size);
  if (ratio < thresholds.small_backup_ratio) {
    char pct[16];
    std::snprintf(pct, sizeof(pct), "%.0f%%", ratio * 100);
    Raise(AlertRule::kSmallBackup, Severity::kWarning, job.service, "",
          "restore point " + Short(point->id) + " of " + job.service + " holds " + Human(point->size) + ", " + pct +
              " of the previous one (" + Short(previous->id) + ", " + Human(previous->size) +
              "): check that the service still holds its data and that the dump is complete.");
  } else {
    Resolve(AlertRule::kSmallBackup, job.service, "");
  }
}

void AlertEngine::SyncEnded(const Json& result) {
  if (!result.is_object()) return;
  std::lock_guard lock(mu_);
  // A target that is not there but never held a point is one nothing was
  // written to yet (created by the first backup), not a lost disk.
  std::set<std::string> used;
  if (auto statuses = catalog_.ListServiceStatus(); statuses.ok())
    for (const ServiceTargetStatus& s : *statuses)
      if (s.points > 0 || s.success_job > 0) used.insert(s.target);
  std::set<std::string> down;
  for (const char* key : {"unreachable", "missing"}) {
    const Json& m = result.value(key, Json::object());
    if (!m.is_object()) continue;
    for (const auto& [target, error] : m.items()) {
      if (std::string(key) == "missing" && !used.count(target)) continue;
      down.insert(target);
      const std::string why = error.is_string() ? error.get<std::string>() : "";
      RaiseOnce(AlertRule::kTargetUnreachable, Severity::kCritical, "", target,
                std::string("target ") + target +
                    (std::string(key) == "missing" ? " is not there (an unmounted disk, a moved path?): "
                                                   : " cannot be read: ") +
                    why + ". Backups to it fail until it is back.");
    }
  }
  std::vector<Key> open(open_.begin(), open_.end());
  for (const auto& [rule, service, target] : open)
    if (rule == AlertRule::kTargetUnreachable && !down.count(target)) Resolve(rule, service, target);
}

void AlertEngine::ChannelHealth(const std::string& channel, bool failing, const std::string& error) {
  std::lock_guard lock(mu_);
  if (failing)
    RaiseOnce(AlertRule::kNotificationFailing, Severity::kWarning, "", channel,
              "notifications through channel " + channel + " keep failing: " + error);
  else
    Resolve(AlertRule::kNotificationFailing, "", channel);
}

// ---------------------------------------------------------- condition rules

void AlertEngine::Evaluate(const Config& config, const std::map<std::string, ServiceSchedules>& schedules,
                           const AlertThresholds& thresholds, const std::vector<ArchiveState>& archives) {
  std::lock_guard lock(mu_);
  const int64_t now = clock_->NowNs();
  EvaluateOverdue(config, schedules, now);
  EvaluateStuck(thresholds, now);
  EvaluateFull(config, thresholds);
  EvaluateArchives(archives, thresholds, now);
  // Conditions about services or targets the configuration no longer has
  // cannot clear by themselves.
  std::vector<Key> open(open_.begin(), open_.end());
  for (const auto& [rule, service, target] : open) {
    if (std::find(std::begin(kConditionRules), std::end(kConditionRules), rule) == std::end(kConditionRules))
      continue;
    if ((!service.empty() && !config.FindService(service)) || (!target.empty() && !config.FindTarget(target)))
      Resolve(rule, service, target);
  }
}

void AlertEngine::EvaluateOverdue(const Config& config, const std::map<std::string, ServiceSchedules>& schedules,
                                  int64_t now) {
  auto statuses = catalog_.ListServiceStatus();
  if (!statuses.ok()) return;
  for (const ServiceConfig& s : config.services) {
    auto sched = schedules.find(s.name);
    const ServiceSchedules none;
    const int64_t freshness =
        FreshnessNs(s, sched == schedules.end() ? none : sched->second, P95(s.name, JobKind::kBackup, 1), now);
    if (freshness <= 0) {
      Resolve(AlertRule::kOverdue, s.name, "");
      continue;
    }
    int64_t last = 0;
    for (const ServiceTargetStatus& st : *statuses)
      if (st.service == s.name) last = std::max(last, st.success_ended_ns);
    if (auto newest = catalog_.NewestPoint(s.name); newest.ok() && newest->has_value())
      last = std::max(last, (*newest)->time_ns);
    int64_t since = last;
    if (last == 0) {
      // Never backed up: counted from when the daemon first watched it, kept
      // across restarts so that a restart does not reset the count.
      auto seen = catalog_.GetSetting(FirstSeenKey(s.name));
      if (!seen.ok()) continue;
      if (seen->has_value()) {
        since = std::strtoll((*seen)->c_str(), nullptr, 10);
      } else {
        (void)catalog_.PutSetting(FirstSeenKey(s.name), std::to_string(now));
        since = now;
      }
    }
    if (now - since <= freshness) {
      Resolve(AlertRule::kOverdue, s.name, "");
      continue;
    }
    const std::string expected = "expected at least every " + FormatAge(freshness);
    RaiseOnce(AlertRule::kOverdue, Severity::kWarning, s.name, "",
              last == 0 ? s.name + " has no successful backup yet, " + FormatAge(now - since) +
                              " after the daemon started watching it (" + expected + ")."
                        : "the newest successful backup of " + s.name + " is " + FormatAge(now - last) + " old (" +
                              expected + ").");
  }
}

void AlertEngine::EvaluateStuck(const AlertThresholds& thresholds, int64_t now) {
  JobFilter filter;
  filter.status = JobStatus::kRunning;
  auto running = catalog_.ListJobs(filter, PageRequest{200, ""});
  if (!running.ok()) return;
  std::set<Key> stuck;
  for (const JobRecord& job : running->items) {
    if (job.started_ns <= 0) continue;
    const double p95 = P95(job.service, job.kind, thresholds.stuck_min_samples);
    if (p95 <= 0) continue;
    const int64_t limit =
        std::max<int64_t>(thresholds.stuck_floor_ns, static_cast<int64_t>(thresholds.stuck_factor * p95 * 1e9));
    if (now - job.started_ns <= limit) continue;
    const std::string target = job.service.empty() && !job.targets.empty() ? job.targets.front() : "";
    stuck.insert({AlertRule::kStuck, job.service, target});
    char factor[16];
    std::snprintf(factor, sizeof(factor), "%g", thresholds.stuck_factor);
    RaiseOnce(AlertRule::kStuck, Severity::kWarning, job.service, target,
              "the " + std::string(ToString(job.kind)) + " job " + std::to_string(job.id) +
                  (job.service.empty() ? " on target " + target : " of " + job.service) + " has run for " +
                  FormatAge(now - job.started_ns) + ", more than " + factor + " x its usual " +
                  FormatAge(static_cast<int64_t>(p95 * 1e9)) + " (p95 of recent runs).");
  }
  std::vector<Key> open(open_.begin(), open_.end());
  for (const Key& k : open)
    if (std::get<0>(k) == AlertRule::kStuck && !stuck.count(k)) Resolve(std::get<0>(k), std::get<1>(k), std::get<2>(k));
}

void AlertEngine::EvaluateFull(const Config& config, const AlertThresholds& thresholds) {
  if (thresholds.disk_full_percent <= 0) return;
  for (const TargetConfig& t : config.targets) {
    if (!IsLocalTarget(t)) continue;
    auto used = fill_level_(t.location);
    if (!used.ok()) continue;  // a missing target is the sync's alert
    if (*used < thresholds.disk_full_percent) {
      Resolve(AlertRule::kTargetFull, "", t.name);
      continue;
    }
    char pct[32];
    std::snprintf(pct, sizeof(pct), "%.0f%% full (alert at %.0f%%)", *used, thresholds.disk_full_percent);
    RaiseOnce(AlertRule::kTargetFull, *used >= 99 ? Severity::kCritical : Severity::kWarning, "", t.name,
              "the file system of target " + t.name + " (" + t.location + ") is " + pct +
                  ": backups fail when it is full.");
  }
}

void AlertEngine::EvaluateArchives(const std::vector<ArchiveState>& archives, const AlertThresholds& thresholds,
                                   int64_t now) {
  std::set<std::string> watched;
  for (const ArchiveState& a : archives) {
    watched.insert(a.service);
    // Never current: counted from when the daemon began streaming it.
    const int64_t since = a.current_ns > 0 ? a.current_ns : a.watched_ns;
    // A service whose freshness (its RPO) is shorter than the lag limit may
    // not lag more than that either.
    const int64_t limit = a.freshness_ns > 0 ? std::min(a.freshness_ns, thresholds.archive_lag_ns) : thresholds.archive_lag_ns;
    const bool behind = since > 0 && now - since > limit;
    const std::string says = a.trouble.empty() ? std::string() : " The streamer says: " + a.trouble;
    if (!behind && a.gap.empty()) {
      Resolve(AlertRule::kArchiveBehind, a.service, "");
      continue;
    }
    RaiseOnce(AlertRule::kArchiveBehind, Severity::kWarning, a.service, "",
              !a.gap.empty()
                  ? "the continuous archive of " + a.service + " has a gap (" + a.gap +
                        " is missing): no point in time after it can be reached from an older base backup."
                  : a.current_ns > 0
                        ? "the continuous archive of " + a.service + " is " + FormatAge(now - since) +
                              " behind (alert at " + FormatAge(limit) +
                              "): its streamer is down or cannot keep up, and a restore to a point in time cannot "
                              "reach past " + FormatTime(since).substr(0, 19) + "Z." + says
                        : "the continuous archive of " + a.service + " has received nothing in the " +
                              FormatAge(now - since) + " since the daemon began streaming it: its streamer cannot "
                              "start." + says);
  }
  std::vector<Key> open(open_.begin(), open_.end());
  for (const Key& k : open)
    if (std::get<0>(k) == AlertRule::kArchiveBehind && !watched.count(std::get<1>(k)))
      Resolve(std::get<0>(k), std::get<1>(k), std::get<2>(k));
}

}  // namespace cairn

// A service's health (docs/daemon.md, "Health"): three checks, each shown
// with a one-line detail, and one state for the overview.
//
//   recent    the newest good (complete) point is younger than the
//             service's freshness: `freshness:` when set, else 1.25 x the
//             schedule's period plus the p95 duration of its backups (a
//             weekly schedule is not stale on day two);
//   complete  that point has every part, is on every target of the
//             service, and is not suspiciously small (no open small_backup
//             alert);
//   verified  a restore drill passed within the verify period (1.25 x the
//             period plus the drill's duration, like recent).
//
// The state: failing when the last backup failed or a critical alert about
// the service is open; unknown before the first good point; stale when not
// recent; healthy otherwise. The same freshness rule drives the overdue
// alert (daemon/alerts.h), so the dashboard and the alerts never disagree.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/config.h"
#include "config/schedule.h"
#include "daemon/catalog.h"

namespace cairn {

enum class HealthState { kFailing, kStale, kUnknown, kHealthy };  // in the overview's sort order
std::string_view ToString(HealthState s);

struct HealthCheck {
  bool ok = false;
  std::string detail;
};

struct ServiceHealth {
  HealthState state = HealthState::kUnknown;
  HealthCheck recent, complete, verified;
  int64_t verified_at_ns = 0;     // newest passed drill (0 = none)
  double verified_duration_s = 0;
};

struct HealthInputs {
  int64_t now_ns = 0;
  std::optional<PointRecord> newest;         // newest complete point
  std::optional<JobStatus> last_backup;      // status of the last backup job that ended
  std::optional<DrillStatus> drill;
  double p95_backup_s = 0;                   // 0 = not known yet
  bool critical_alert_open = false;
  bool small_backup_alert_open = false;
};

// The service's schedule and restore-drill schedule as configured (nullopt =
// none). Restore drills default to daily for databases and off for volumes;
// `verify: false` turns them off. Parsing reads time zone files: callers
// keep the result (ServiceSchedules) rather than parse per request.
std::optional<Schedule> BackupSchedule(const ServiceConfig& service);
std::optional<Schedule> VerifySchedule(const ServiceConfig& service);

struct ServiceSchedules {
  std::optional<Schedule> backup, verify;
  static ServiceSchedules Of(const ServiceConfig& service) { return {BackupSchedule(service), VerifySchedule(service)}; }
};
// The 95th percentile (nearest rank) of run times; 0 when there are fewer
// than `min_samples` of them. The freshness rule, the stuck rule and the
// overview all use this one definition.
double P95Seconds(std::vector<double> durations, size_t min_samples = 1);

// The gap between fires: the interval, or for cron the gap between the next
// two fires after `now_ns`.
int64_t SchedulePeriodNs(const Schedule& schedule, int64_t now_ns);
// How old the newest good point may be (0 = no rule: neither freshness nor
// a schedule).
int64_t FreshnessNs(const ServiceConfig& service, const ServiceSchedules& schedules, double p95_backup_s,
                    int64_t now_ns);

ServiceHealth ComputeHealth(const ServiceConfig& service, const ServiceSchedules& schedules, const HealthInputs& in);

// "12 min", "3 h", "2 d": for details and alert messages.
std::string FormatAge(int64_t ns);

}  // namespace cairn

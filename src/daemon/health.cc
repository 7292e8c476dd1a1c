#include "daemon/health.h"

#include <algorithm>
#include <cmath>

#include "config/duration.h"

namespace cairn {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kDay = 86400 * kSecond;

int64_t Slack(int64_t period_ns, double duration_s) {
  return period_ns + period_ns / 4 + static_cast<int64_t>(std::max(0.0, duration_s) * 1e9);
}

std::string Plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::string_view ToString(HealthState s) {
  switch (s) {
    case HealthState::kFailing: return "failing";
    case HealthState::kStale: return "stale";
    case HealthState::kUnknown: return "unknown";
    case HealthState::kHealthy: return "healthy";
  }
  return "unknown";
}

std::string FormatAge(int64_t ns) {
  if (ns < 0) ns = 0;
  const double minutes = static_cast<double>(ns) / 60e9;
  if (minutes < 1) return std::to_string(ns / kSecond) + " s";
  if (minutes < 60) return std::to_string(static_cast<int64_t>(std::lround(minutes))) + " min";
  if (minutes < 48 * 60) return std::to_string(static_cast<int64_t>(std::lround(minutes / 60))) + " h";
  return std::to_string(static_cast<int64_t>(std::lround(minutes / 1440))) + " d";
}

std::optional<Schedule> BackupSchedule(const ServiceConfig& service) {
  if (service.schedule.is_null()) return std::nullopt;
  auto s = ParseSchedule(service.schedule, "service " + service.name + ": schedule");
  if (!s.ok()) return std::nullopt;  // LoadConfig validated it; a bad one cannot reach here
  return *s;
}

std::optional<Schedule> VerifySchedule(const ServiceConfig& service) {
  if (service.verify.is_boolean()) return std::nullopt;  // verify: false
  if (service.verify.is_null()) {
    if (service.type == "volume") return std::nullopt;
    return Schedule::Every(kDay).value();
  }
  auto s = ParseSchedule(service.verify, "service " + service.name + ": verify");
  if (!s.ok()) return std::nullopt;
  return *s;
}

int64_t SchedulePeriodNs(const Schedule& schedule, int64_t now_ns) {
  if (!schedule.is_cron()) return schedule.period_ns();
  auto first = schedule.NextAfter(now_ns, 0);
  if (!first) return 0;
  auto second = schedule.NextAfter(*first, 0);
  return second ? *second - *first : 0;
}

double P95Seconds(std::vector<double> d, size_t min_samples) {
  if (d.empty() || d.size() < min_samples) return 0;
  std::sort(d.begin(), d.end());
  const size_t rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(d.size())));
  return d[std::min(d.size() - 1, rank == 0 ? 0 : rank - 1)];
}

int64_t FreshnessNs(const ServiceConfig& service, const ServiceSchedules& schedules, double p95_backup_s,
                    int64_t now_ns) {
  if (service.freshness_ns > 0) return service.freshness_ns;
  const std::optional<Schedule>& schedule = schedules.backup;
  if (!schedule) return 0;
  const int64_t period = SchedulePeriodNs(*schedule, now_ns);
  return period > 0 ? Slack(period, p95_backup_s) + schedule->jitter_ns() : 0;
}

ServiceHealth ComputeHealth(const ServiceConfig& service, const ServiceSchedules& schedules, const HealthInputs& in) {
  ServiceHealth h;
  const int64_t freshness = FreshnessNs(service, schedules, in.p95_backup_s, in.now_ns);
  const std::string rule = service.freshness_ns > 0 ? "freshness " + FormatDuration(service.freshness_ns)
                           : freshness > 0          ? "due every " + FormatAge(freshness) + " by the schedule"
                                                    : "no schedule or freshness set";

  // recent
  if (!in.newest) {
    h.recent = {false, "no good restore point yet"};
  } else {
    const int64_t age = in.now_ns - in.newest->time_ns;
    h.recent.ok = freshness == 0 || age <= freshness;
    h.recent.detail = "newest good point " + FormatAge(age) + " old (" + rule + ")";
  }

  // complete
  if (!in.newest) {
    h.complete = {false, "no good restore point yet"};
  } else {
    std::vector<std::string> missing;
    for (const std::string& t : service.targets) {
      bool held = false;
      for (const PointTarget& pt : in.newest->targets) held = held || pt.target == t;
      if (!held) missing.push_back(t);
    }
    const size_t parts = in.newest->parts.size();
    if (!missing.empty()) {
      std::string names;
      for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
      h.complete = {false, "newest good point is missing on " + names};
    } else if (in.small_backup_alert_open) {
      h.complete = {false, "newest point is much smaller than the one before (see the alert)"};
    } else {
      h.complete = {true, (parts > 1 ? "all " + Plural(parts, "part", "parts") : Plural(parts, "part", "parts")) +
                              " on " +
                              (service.targets.size() > 1 ? "all " + Plural(service.targets.size(), "target", "targets")
                                                          : "the target")};
    }
  }

  // verified
  const std::optional<Schedule>& verify = schedules.verify;
  if (in.drill && in.drill->success_ns > 0) {
    h.verified_at_ns = in.drill->success_ns;
    h.verified_duration_s = in.drill->success_duration_s;
  }
  if (!verify) {
    h.verified = {false, "restore drills are off (verify: false, or a volume without verify)"};
    if (h.verified_at_ns)
      h.verified.detail = "restore drills are off; the last one passed " + FormatAge(in.now_ns - h.verified_at_ns) + " ago";
  } else {
    const int64_t period = SchedulePeriodNs(*verify, in.now_ns);
    const int64_t window = Slack(period, h.verified_duration_s);
    if (in.drill && in.drill->last_outcome == DrillOutcome::kFailed && in.drill->last_ns >= h.verified_at_ns) {
      h.verified = {false, "the last restore drill failed " + FormatAge(in.now_ns - in.drill->last_ns) + " ago"};
    } else if (h.verified_at_ns && in.now_ns - h.verified_at_ns <= window) {
      char duration[32];
      std::snprintf(duration, sizeof duration, "%.1f", h.verified_duration_s);
      h.verified = {true, "drill passed " + FormatAge(in.now_ns - h.verified_at_ns) + " ago in " + duration + " s"};
    } else {
      h.verified = {false, "no restore drill passed within " + FormatAge(window)};
    }
  }

  if ((in.last_backup && *in.last_backup == JobStatus::kFailed) || in.critical_alert_open)
    h.state = HealthState::kFailing;
  else if (!in.newest)
    h.state = HealthState::kUnknown;
  else if (!h.recent.ok)
    h.state = HealthState::kStale;
  else
    h.state = HealthState::kHealthy;
  return h;
}

}  // namespace cairn

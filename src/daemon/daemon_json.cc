#include "daemon/daemon_json.h"

#include "cairn/system.h"

namespace cairn {

Json TimeOrNull(int64_t ns) { return ns ? Json(FormatTime(ns)) : Json(nullptr); }

Json ScheduleJson(const Json& schedule, bool paused) {
  auto text = [&](const char* key) -> Json {
    if (!schedule.is_object() || !schedule.contains(key) || schedule[key].is_null()) return nullptr;
    const Json& v = schedule[key];
    return v.is_string() ? v : Json(v.dump());
  };
  Json tz = text("timezone"), catch_up = text("catch_up");
  return {{"every", text("every")},
          {"cron", text("cron")},
          {"timezone", tz.is_null() ? Json("UTC") : tz},
          {"catch_up", catch_up.is_null() ? Json("once") : catch_up},
          {"jitter", text("jitter")},
          {"paused", paused}};
}

Json PointRecordToJson(const PointRecord& p) {
  Json parts = Json::array();
  for (const PointPart& part : p.parts)
    parts.push_back({{"name", part.name}, {"kind", part.kind}, {"bytes", part.bytes},
                     {"files", part.files ? Json(*part.files) : Json(nullptr)}});
  Json targets = Json::array();
  for (const PointTarget& t : p.targets) targets.push_back(t.target);
  Json verified = nullptr;
  if (p.last_drill)
    verified = {{"at", FormatTime(p.last_drill->verified_ns)},
                {"duration_s", p.last_drill->duration_s},
                {"outcome", ToString(p.last_drill->outcome)}};
  return {{"id", p.id},
          {"service", p.service},
          {"time", FormatTime(p.time_ns)},
          {"kind", ToString(p.kind)},
          {"status", ToString(p.status)},
          {"size", p.size},
          {"added", p.added},
          {"duration_s", p.duration_s},
          {"parts", parts},
          {"targets", targets},
          {"verified", verified},
          {"inexact_reasons", p.inexact_reasons}};
}

std::string AlertHint(AlertRule rule, const std::string& service, const std::string& target) {
  const std::string svc = service.empty() ? "the service" : service;
  const std::string tgt = target.empty() ? "the target" : target;
  switch (rule) {
    case AlertRule::kJobFailed:
      return "Read the job's log, fix the cause, then back up " + svc + " now.";
    case AlertRule::kOverdue:
      return "Check that the schedule of " + svc + " is not paused and that its jobs are not stuck in the queue, then back up now.";
    case AlertRule::kStuck:
      return "Look at the running job's log; cancel it if it makes no progress.";
    case AlertRule::kSmallBackup:
      return "Compare the newest restore point of " + svc + " with the one before: an empty or truncated dump is not a backup.";
    case AlertRule::kTargetUnreachable:
      return "Make " + tgt + " reachable again (network, credentials, mount), then back up now.";
    case AlertRule::kTargetFull:
      return "Free space on " + tgt + " (prune, a tighter retention, or a bigger disk).";
    case AlertRule::kCheckFailed:
      return "Run cairn check on " + tgt + " and follow its repair command.";
    case AlertRule::kDrillFailed:
      return "Open the drill's log: the restore point of " + svc + " may not be restorable; back up now and verify again.";
    case AlertRule::kNotificationFailing:
      return "Fix the notification channel's address or credentials, then send a test notification.";
    case AlertRule::kArchiveBehind:
      return "Run cairn wal status " + svc + "; if the streamer stopped, read the daemon's log for why (server "
             "settings, privileges, a full spool disk); after a gap, take a base backup of " + svc + " to open a new window.";
  }
  return "";
}

Json AlertToJson(const AlertRecord& a) {
  return {{"id", a.id},
          {"rule", ToString(a.rule)},
          {"severity", ToString(a.severity)},
          {"service", a.service.empty() ? Json(nullptr) : Json(a.service)},
          {"target", a.target.empty() ? Json(nullptr) : Json(a.target)},
          {"message", a.message},
          {"hint", AlertHint(a.rule, a.service, a.target)},
          {"first_seen", TimeOrNull(a.first_seen_ns)},
          {"last_seen", TimeOrNull(a.last_seen_ns)},
          {"count", a.occurrences},
          {"acked_at", TimeOrNull(a.acked_ns)},
          {"acked_by", a.acked_by.empty() ? Json(nullptr) : Json(a.acked_by)},
          {"resolved_at", TimeOrNull(a.resolved_ns)}};
}

}  // namespace cairn

#include "daemon/job_types.h"

#include <array>
#include <utility>

namespace cairn {
namespace {

template <typename E, size_t N>
std::string_view Name(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
  for (const auto& [e, s] : table)
    if (e == v) return s;
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> Parse(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s) {
  for (const auto& [e, name] : table)
    if (name == s) return e;
  return std::nullopt;
}

constexpr std::array<std::pair<JobKind, std::string_view>, 7> kKinds{{{JobKind::kBackup, "backup"},
                                                                     {JobKind::kRestore, "restore"},
                                                                     {JobKind::kForget, "forget"},
                                                                     {JobKind::kPrune, "prune"},
                                                                     {JobKind::kCheck, "check"},
                                                                     {JobKind::kCopy, "copy"},
                                                                     {JobKind::kDrill, "drill"}}};
constexpr std::array<std::pair<JobStatus, std::string_view>, 7> kStatuses{{{JobStatus::kQueued, "queued"},
                                                                          {JobStatus::kRunning, "running"},
                                                                          {JobStatus::kSucceeded, "succeeded"},
                                                                          {JobStatus::kPartial, "partial"},
                                                                          {JobStatus::kFailed, "failed"},
                                                                          {JobStatus::kCancelled, "cancelled"},
                                                                          {JobStatus::kInterrupted, "interrupted"}}};
constexpr std::array<std::pair<Trigger, std::string_view>, 4> kTriggers{{{Trigger::kSchedule, "schedule"},
                                                                        {Trigger::kCatchUp, "catch_up"},
                                                                        {Trigger::kManual, "manual"},
                                                                        {Trigger::kApi, "api"}}};
constexpr std::array<std::pair<PointKind, std::string_view>, 4> kPointKinds{{{PointKind::kScheduled, "scheduled"},
                                                                            {PointKind::kManual, "manual"},
                                                                            {PointKind::kSafety, "safety"},
                                                                            {PointKind::kDrill, "drill"}}};
constexpr std::array<std::pair<PointStatus, std::string_view>, 3> kPointStatuses{
    {{PointStatus::kComplete, "complete"}, {PointStatus::kIncomplete, "incomplete"}, {PointStatus::kDamaged, "damaged"}}};
constexpr std::array<std::pair<AlertRule, std::string_view>, 10> kAlertRules{
    {{AlertRule::kJobFailed, "job_failed"},
     {AlertRule::kOverdue, "overdue"},
     {AlertRule::kStuck, "stuck"},
     {AlertRule::kSmallBackup, "small_backup"},
     {AlertRule::kTargetUnreachable, "target_unreachable"},
     {AlertRule::kTargetFull, "target_full"},
     {AlertRule::kCheckFailed, "check_failed"},
     {AlertRule::kDrillFailed, "drill_failed"},
     {AlertRule::kNotificationFailing, "notification_failing"},
     {AlertRule::kArchiveBehind, "archive_behind"}}};
constexpr std::array<std::pair<Severity, std::string_view>, 2> kSeverities{
    {{Severity::kWarning, "warning"}, {Severity::kCritical, "critical"}}};
constexpr std::array<std::pair<Role, std::string_view>, 3> kRoles{
    {{Role::kRead, "read"}, {Role::kOperate, "operate"}, {Role::kAdmin, "admin"}}};
constexpr std::array<std::pair<LogLevel, std::string_view>, 4> kLogLevels{{{LogLevel::kDebug, "debug"},
                                                                          {LogLevel::kInfo, "info"},
                                                                          {LogLevel::kWarning, "warning"},
                                                                          {LogLevel::kError, "error"}}};
constexpr std::array<std::pair<DrillOutcome, std::string_view>, 2> kDrillOutcomes{
    {{DrillOutcome::kPassed, "passed"}, {DrillOutcome::kFailed, "failed"}}};
constexpr std::array<std::pair<AlertEvent, std::string_view>, 3> kAlertEvents{
    {{AlertEvent::kOpened, "opened"}, {AlertEvent::kResolved, "resolved"}, {AlertEvent::kTest, "test"}}};

}  // namespace

std::string_view ToString(JobKind v) { return Name(kKinds, v); }
std::string_view ToString(JobStatus v) { return Name(kStatuses, v); }
std::string_view ToString(Trigger v) { return Name(kTriggers, v); }
std::string_view ToString(PointKind v) { return Name(kPointKinds, v); }
std::optional<JobKind> ParseJobKind(std::string_view s) { return Parse(kKinds, s); }
std::optional<JobStatus> ParseJobStatus(std::string_view s) { return Parse(kStatuses, s); }
std::optional<Trigger> ParseTrigger(std::string_view s) { return Parse(kTriggers, s); }
std::optional<PointKind> ParsePointKind(std::string_view s) { return Parse(kPointKinds, s); }
std::string_view ToString(PointStatus v) { return Name(kPointStatuses, v); }
std::optional<PointStatus> ParsePointStatus(std::string_view s) { return Parse(kPointStatuses, s); }
std::string_view ToString(AlertRule v) { return Name(kAlertRules, v); }
std::string_view ToString(Severity v) { return Name(kSeverities, v); }
std::string_view ToString(Role v) { return Name(kRoles, v); }
std::string_view ToString(LogLevel v) { return Name(kLogLevels, v); }
std::string_view ToString(DrillOutcome v) { return Name(kDrillOutcomes, v); }
std::string_view ToString(AlertEvent v) { return Name(kAlertEvents, v); }
std::optional<AlertRule> ParseAlertRule(std::string_view s) { return Parse(kAlertRules, s); }
std::optional<Severity> ParseSeverity(std::string_view s) { return Parse(kSeverities, s); }
std::optional<Role> ParseRole(std::string_view s) { return Parse(kRoles, s); }
std::optional<LogLevel> ParseLogLevel(std::string_view s) { return Parse(kLogLevels, s); }
std::optional<DrillOutcome> ParseDrillOutcome(std::string_view s) { return Parse(kDrillOutcomes, s); }
std::optional<AlertEvent> ParseAlertEvent(std::string_view s) { return Parse(kAlertEvents, s); }

}  // namespace cairn

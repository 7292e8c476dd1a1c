// The daemon's vocabulary: kinds, states and triggers of jobs, as enums
// with one text form each (the catalog, the API and the CLI all use these
// strings; docs/api.md lists them). Pure values; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

using JobId = int64_t;

enum class JobKind { kBackup, kRestore, kForget, kPrune, kCheck, kCopy, kDrill };
enum class JobStatus { kQueued, kRunning, kSucceeded, kPartial, kFailed, kCancelled, kInterrupted };
enum class Trigger { kSchedule, kCatchUp, kManual, kApi };
// Why a restore point exists: a scheduled or manual backup, the safety backup
// an overwrite restore takes first, or (not stored) a drill.
enum class PointKind { kScheduled, kManual, kSafety, kDrill };
// Whether every part of a restore point was stored.
enum class PointStatus { kComplete, kIncomplete, kDamaged };
// What an alert is about; one open alert per (rule, service, target).
enum class AlertRule {
  kJobFailed,
  kOverdue,
  kStuck,
  kSmallBackup,
  kTargetUnreachable,
  kTargetFull,
  kCheckFailed,
  kDrillFailed,
  kNotificationFailing,
  kArchiveBehind,  // a continuous archive (docs/pitr.md) lags, its streamer is down, or it has a gap
};
enum class Severity { kWarning, kCritical };
// What an API token or a session may do; each role includes the ones before.
enum class Role { kRead, kOperate, kAdmin };
enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class DrillOutcome { kPassed, kFailed };
// Why a notification is sent about an alert.
enum class AlertEvent { kOpened, kResolved, kTest };

std::string_view ToString(JobKind v);
std::string_view ToString(JobStatus v);
std::string_view ToString(Trigger v);
std::string_view ToString(PointKind v);
std::optional<JobKind> ParseJobKind(std::string_view s);
std::optional<JobStatus> ParseJobStatus(std::string_view s);
std::optional<Trigger> ParseTrigger(std::string_view s);
std::optional<PointKind> ParsePointKind(std::string_view s);
std::string_view ToString(PointStatus v);
std::string_view ToString(AlertRule v);
std::string_view ToString(Severity v);
std::string_view ToString(Role v);
std::string_view ToString(LogLevel v);
std::string_view ToString(DrillOutcome v);
std::string_view ToString(AlertEvent v);
std::optional<PointStatus> ParsePointStatus(std::string_view s);
std::optional<AlertRule> ParseAlertRule(std::string_view s);
std::optional<Severity> ParseSeverity(std::string_view s);
std::optional<Role> ParseRole(std::string_view s);
std::optional<LogLevel> ParseLogLevel(std::string_view s);
std::optional<DrillOutcome> ParseDrillOutcome(std::string_view s);
std::optional<AlertEvent> ParseAlertEvent(std::string_view s);

// Whether a job in this state has ended (and will not change again).
inline bool IsFinal(JobStatus s) { return s != JobStatus::kQueued && s != JobStatus::kRunning; }

}  // namespace cairn

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

std::string_view ToString(JobKind v);
std::string_view ToString(JobStatus v);
std::string_view ToString(Trigger v);
std::string_view ToString(PointKind v);
std::optional<JobKind> ParseJobKind(std::string_view s);
std::optional<JobStatus> ParseJobStatus(std::string_view s);
std::optional<Trigger> ParseTrigger(std::string_view s);
std::optional<PointKind> ParsePointKind(std::string_view s);

// Whether a job in this state has ended (and will not change again).
inline bool IsFinal(JobStatus s) { return s != JobStatus::kQueued && s != JobStatus::kRunning; }

}  // namespace cairn

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

}  // namespace

std::string_view ToString(JobKind v) { return Name(kKinds, v); }
std::string_view ToString(JobStatus v) { return Name(kStatuses, v); }
std::string_view ToString(Trigger v) { return Name(kTriggers, v); }
std::string_view ToString(PointKind v) { return Name(kPointKinds, v); }
std::optional<JobKind> ParseJobKind(std::string_view s) { return Parse(kKinds, s); }
std::optional<JobStatus> ParseJobStatus(std::string_view s) { return Parse(kStatuses, s); }
std::optional<Trigger> ParseTrigger(std::string_view s) { return Parse(kTriggers, s); }
std::optional<PointKind> ParsePointKind(std::string_view s) { return Parse(kPointKinds, s); }

}  // namespace cairn

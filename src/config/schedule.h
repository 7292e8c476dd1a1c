// When a task runs: a fixed interval (`every: 1h`) or a cron expression in a
// time zone (`cron: "15 3 * * *"`, `timezone: Europe/Berlin`), plus what to
// do about fires missed while the daemon was down (`catch_up: once|skip`)
// and an optional random delay (`jitter: 5m`). docs/scheduling.md has the
// full semantics; in short:
//
//  - every: fires at anchor + k * period. The anchor is per task state the
//    scheduler persists (the moment the task was first seen), so restarts do
//    not shift the grid and a new task runs right away. DST does not matter:
//    an interval is a fixed duration. A `timezone` key is accepted and
//    checked but only cron schedules use it.
//  - cron: fires at the matching local wall-clock minutes. A minute that DST
//    skips (02:30 on spring-forward day) fires once, at the first instant
//    after the gap; a minute DST repeats (01:30 on fall-back day) fires once,
//    at its first occurrence.
//  - jitter: each fire is delayed by JitterNs(key, fire), a value in
//    [0, jitter) derived from the task key and the nominal fire time, so a
//    restart computes the same delay. It never reaches the following fire.
//
// A Schedule is an immutable value (the setters are for building); it shares
// its time zone rules. Thread-safe for concurrent const use.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "config/cron.h"
#include "config/timezone.h"

namespace cairn {

enum class CatchUp { kOnce, kSkip };
std::string_view ToString(CatchUp v);

class Schedule {
 public:
  // A schedule that never fires (the value of a default-built Task).
  Schedule() = default;

  // An interval schedule; InvalidArgument unless period_ns > 0.
  static Result<Schedule> Every(int64_t period_ns);
  // A cron schedule evaluated in `tz`.
  static Schedule Cron(CronExpr expr, TimeZone tz = TimeZone());

  Schedule& set_catch_up(CatchUp c) { catch_up_ = c; return *this; }
  Schedule& set_jitter_ns(int64_t j) { jitter_ns_ = j < 0 ? 0 : j; return *this; }
  Schedule& set_timezone(TimeZone tz) { tz_ = std::move(tz); return *this; }

  bool is_cron() const { return cron_.has_value(); }
  int64_t period_ns() const { return period_ns_; }     // 0 for cron
  const CronExpr* cron() const { return cron_ ? &*cron_ : nullptr; }
  const TimeZone& timezone() const { return tz_; }
  CatchUp catch_up() const { return catch_up_; }
  int64_t jitter_ns() const { return jitter_ns_; }

  // The first nominal fire time strictly after `t_ns` (UTC ns). `anchor_ns`
  // is the origin of an every: grid and ignored by cron. nullopt only for a
  // cron expression with no match in the next 9 years (ParseSchedule refuses
  // those) or times beyond the supported range.
  std::optional<int64_t> NextAfter(int64_t t_ns, int64_t anchor_ns) const;

  // The nominal fires in (after_ns, until_ns]: how many (at most max_count)
  // and the latest. Exact for every:; a cron span with more fires than
  // max_count is cut short and reports until_ns as its latest.
  struct FireSpan {
    int64_t count = 0;
    int64_t last_ns = 0;
  };
  FireSpan FiresIn(int64_t after_ns, int64_t until_ns, int64_t anchor_ns, int64_t max_count = 1'000'000) const;

  // The delay of the fire at `fire_ns` of the task `key`: in [0, jitter),
  // and less than the gap to the following fire. Deterministic.
  int64_t JitterNs(std::string_view key, int64_t fire_ns) const;

  // "never" / "every 1h" / "cron '15 3 * * *' (Europe/Berlin)", plus ", jitter 5m" and
  // ", catch_up skip" when set; for listings and logs.
  std::string ToString() const;

 private:
  int64_t period_ns_ = 0;
  std::optional<CronExpr> cron_;
  TimeZone tz_;
  CatchUp catch_up_ = CatchUp::kOnce;
  int64_t jitter_ns_ = 0;
};

// Parses a schedule mapping of the configuration file:
//   { every: 1h | cron: "15 3 * * *", timezone: Europe/Berlin, catch_up: once|skip, jitter: 5m }
// Exactly one of every/cron. Errors are InvalidArgument (NotFound for an
// unknown time zone) and start with `where` ("cairn.yaml: service app-db:
// schedule: unknown key 'evry' (did you mean 'every'?)"). `other_keys` are
// keys the caller reads from the same mapping (e.g. check's read_data); they
// are skipped here instead of refused.
Result<Schedule> ParseSchedule(const nlohmann::json& value, const std::string& where,
                               const std::vector<std::string>& other_keys = {});

}  // namespace cairn

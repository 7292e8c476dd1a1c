// The JSON shapes of docs/api.md built from catalog records: Point, Alert,
// Schedule. (A Job needs the daemon's live state: Daemon::JobToJson.)
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "daemon/catalog.h"

namespace cairn {

// An RFC 3339 time, or null for 0 ("not yet").
Json TimeOrNull(int64_t ns);
// A Schedule object from the configuration's schedule mapping.
Json ScheduleJson(const Json& schedule, bool paused);
Json PointRecordToJson(const PointRecord& p);
Json AlertToJson(const AlertRecord& a);
// One line on what to do about an alert of this rule (the `hint`).
std::string AlertHint(AlertRule rule, const std::string& service, const std::string& target);

}  // namespace cairn

// Time helpers for the daemon's tests.
#pragma once

#include <cstdint>
#include <string>

#include "config/duration.h"
#include "config/timezone.h"

namespace cairn::testing {

inline constexpr int64_t kSec = kNsPerSecond;
inline constexpr int64_t kMin = 60 * kSec;
inline constexpr int64_t kHour = 60 * kMin;
inline constexpr int64_t kDay = 24 * kHour;

// A UTC wall-clock time in ns since the epoch.
inline int64_t UtcNs(int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return SecondsFromCivil(y, mo, d, h, mi, s) * kSec;
}
// "2024-03-31 01:00:00" for an instant in ns (UTC), or in `tz`'s local time.
inline std::string Utc(int64_t ns) { return FormatCivil(ns / kSec); }
inline std::string Local(const TimeZone& tz, int64_t ns) { return FormatCivil(tz.ToLocal(ns / kSec)); }

}  // namespace cairn::testing

// Durations in schedule settings: "90s", "5m", "1h", "7d", "1h30m".
//
// Units are s, m (minutes), h and d (24 h); each may appear once, largest
// first, and a value needs at least one. Note that retention's keep_within
// (cairn/retention.h) reads "m" as months: the two grammars serve different
// keys and are not interchangeable. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn {

inline constexpr int64_t kNsPerSecond = 1'000'000'000;

// Parses `text` into nanoseconds (>= 0). Errors say what is wrong and where
// ("'1x': unknown unit 'x' (use s, m, h or d)").
Result<int64_t> ParseDurationNs(std::string_view text);

// The canonical text of a duration, the inverse of ParseDurationNs for whole
// seconds ("1h30m", "7d", "0s"); a fraction of a second is shown as "1.5s".
std::string FormatDuration(int64_t ns);

}  // namespace cairn

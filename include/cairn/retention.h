// Retention ("forget") policy: which snapshots to keep, and by which rule.
//
// Pure functions over snapshot descriptions; no I/O. Semantics follow the
// well-known restic/borg rules so operators' expectations carry over:
//  - Snapshots are considered newest first.
//  - keep_last N keeps the N newest.
//  - keep_hourly/daily/weekly/monthly/yearly N keep the newest snapshot of each
//    of the N newest distinct hours/days/ISO weeks/months/years that have one.
//    N = -1 means "unlimited" (every such period); other negatives are refused.
//  - keep_within D keeps every snapshot taken within D of the newest snapshot.
//  - keep_tags keeps every snapshot that carries any of these tags.
//  - A snapshot is kept if any rule keeps it; reasons list every rule that did.
//  - A policy with no rule at all is refused by Validate (it would delete all).
// Time buckets use UTC.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn {

struct RetentionPolicy {
  int keep_last = 0;      // 0 = rule off; -1 = unlimited; below -1 is invalid
  int keep_hourly = 0;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  int keep_yearly = 0;
  std::chrono::seconds keep_within{0};  // 0 = rule off
  std::vector<std::string> keep_tags;

  bool Empty() const;
  Status Validate() const;  // InvalidArgument when Empty()
};

// Parses durations such as "2y5m7d3h" (y=365d, m=30d, w=7d, d, h).
Result<std::chrono::seconds> ParseRetentionDuration(const std::string& text);

struct RetentionCandidate {
  std::string id;                 // opaque, echoed back
  int64_t time_unix_ns = 0;       // snapshot time
  std::vector<std::string> tags;
};

struct RetentionDecision {
  std::string id;
  bool keep = false;
  std::vector<std::string> reasons;  // e.g. "last snapshot", "daily snapshot", "within 7d", "tag prod"
};

// Decides for one group of snapshots (the caller groups by host and paths).
// Returns one decision per candidate, newest first.
std::vector<RetentionDecision> ApplyRetention(const RetentionPolicy& policy,
                                              std::vector<RetentionCandidate> candidates);

}  // namespace cairn

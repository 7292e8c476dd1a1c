// Time and host facts every layer records: RFC 3339 times, the host and
// user names written into snapshots, locks and manifests.
// Thread-safe: every function only reads process-wide state.
#pragma once

#include <cstdint>
#include <string>

#include "cairn/status.h"

namespace cairn {

// Formats ns since the epoch as RFC 3339 UTC with nanoseconds.
std::string FormatTime(int64_t unix_ns);
// Parses what FormatTime writes (fraction optional, 'Z' only).
Result<int64_t> ParseTime(const std::string& text);
// Wall clock, ns since the epoch.
int64_t NowNs();
std::string Hostname();
std::string Username();
// The process's umask, read from /proc/self/status without changing it
// (umask(2) can only be read by setting it, and library code never changes
// process-wide state); 022 when unknown.
unsigned CurrentUmask();

}  // namespace cairn

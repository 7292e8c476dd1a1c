// Staging places: what a restore writes beside the data it is about to
// replace, then swaps in. They are named "<prefix><pid>-<random>" and made
// with mode 0700 (mkdtemp), so that two restores started in the same second
// never share one, no other local user can swap a directory in them for a
// symlink, and the next run of Cairn can tell a leftover of a process that
// died (kill -9, power loss) from the staging of a restore still running.
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn {

// Creates "<parent>/<prefix><pid>-XXXXXX" (mode 0700) and returns its path.
Result<std::string> MakeStagingDir(const std::string& parent, const std::string& prefix);
// A unique "<parent>/<prefix><pid>-XXXXXX" file, created empty with mode
// 0600; returns its path (the caller owns it from then on).
Result<std::string> MakeStagingFile(const std::string& parent, const std::string& prefix);

// Stops every process whose working directory is `dir` or below it:
// SIGTERM, then SIGKILL to those still there after `grace_ns`. Servers a
// restore drill started in its scratch directory (postgres, mariadbd,
// redis-server) all work there, whoever started them and whatever session
// they are in, so this finds them after any kind of death of the drill.
// Returns how many processes it signalled.
int StopProcessesIn(const std::string& dir, int64_t grace_ns = 10'000'000'000);

// Removes, in `parent`, every entry "<prefix><pid>-..." whose process is
// gone (stopping processes still working in it first), and names each
// through `log`. An entry with the prefix that names no
// pid (written by an older Cairn) is not removed: `log` says exactly what to
// delete by hand. A missing `parent` is not an error.
Status RemoveStaleStaging(const std::string& parent, const std::string& prefix,
                          const std::function<void(const std::string&)>& log);

}  // namespace cairn

// Staging places: what a restore writes beside the data it is about to
// replace, then swaps in. They are named "<prefix><pid>-<random>" and made
// with mode 0700 (mkdtemp), so that two restores started in the same second
// never share one, no other local user can swap a directory in them for a
// symlink, and the next run of Cairn can tell a leftover of a process that
// died (kill -9, power loss) from the staging of a restore still running.
// Thread-safety: free functions, safe from any thread.
#pragma once

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

// Removes, in `parent`, every entry "<prefix><pid>-..." whose process is
// gone, and names each through `log`. An entry with the prefix that names no
// pid (written by an older Cairn) is not removed: `log` says exactly what to
// delete by hand. A missing `parent` is not an error.
Status RemoveStaleStaging(const std::string& parent, const std::string& prefix,
                          const std::function<void(const std::string&)>& log);

}  // namespace cairn

// One part of a restore point: what a source produces and a target or the
// snapshot engine stores (docs/services.md, "Captures and parts"). Kept
// below both so that neither has to see the other.
// Thread-safety: a part's callbacks are called from one thread, in order.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn {

struct CapturePart {
  enum class Kind { kStream, kFiles };
  std::string name;       // unique in the restore point; ValidPartName
  Kind kind = Kind::kStream;
  // kStream: stored as one file of this name inside the part; ValidPartFileName.
  std::string file_name;
  // Starts the producer and returns a readable fd; the consumer reads it to
  // EOF and closes it, then calls finish, whose error fails the whole backup
  // (a dump tool that exits non-zero after writing half a dump).
  std::function<Result<int>()> open;
  std::function<Status()> finish;
  // kFiles: absolute paths of directories or files, stored with their full path.
  std::vector<std::string> paths;
  // kFiles: when set, the paths are read below this directory instead of
  // below "/" and stored as if they were at "/" (a restore point sent on to
  // another target, extracted into a staging directory first).
  std::string root;
};

// Part names are [a-z0-9._-]+ and not "." or "..": they name directories in a
// snapshot, Borg archives and manifest entries, so every target accepts them.
bool ValidPartName(const std::string& name);
// A stream part's file name is any single path component: not empty, not
// "." or "..", no '/' and no NUL (an SQLite file keeps its own name).
bool ValidPartFileName(const std::string& name);

}  // namespace cairn

// How the daemon and a job process talk (docs/daemon.md, "Jobs run in
// processes of their own"). The daemon starts `cairn __job` in a new
// process group, writes one JobSpec as JSON to its stdin and closes it; the
// job writes one JSON object per line to its stdout:
//
//   {"event":"log","level":"info","text":"..."}
//   {"event":"progress","phase":"capturing","part":"","target":"local",
//    "bytes_done":1,"bytes_total":2,"files_done":0,"files_total":null}      at most once a second
//   {"event":"points","target":"local","service":"app"|null,"replace":true,"points":[RestorePoint...]}
//   {"event":"removed","target":"local","service":"app","point_ids":["..."]}
//   {"event":"result","status":"succeeded|partial|failed|cancelled","error":null|"...",
//    "point_id":"...","bytes_read":0,"bytes_added":0,"result":{...},
//    "targets":[{"target","status","error","point_id","size","added"}],
//    "drill":{"target","passed","duration_s","details":{...}}}              drills only
//
// SIGTERM to the job's process group cancels it (the job stops at its next
// checkpoint and reports "cancelled"); the daemon follows with SIGKILL after a
// grace period. A job whose process ends without a result line failed.
// Pure values and codecs; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "cairn/target.h"
#include "daemon/job_types.h"

namespace cairn {

struct JobSpec {
  JobId id = 0;
  JobKind kind = JobKind::kBackup;
  bool sync = false;               // not a catalog job: list every target's points for the cache
  std::string config_path;         // the job loads the configuration itself (it needs the secrets)
  std::string service;
  std::vector<std::string> targets;
  Json args = Json::object();      // kind-specific (docs/daemon.md, "Job arguments")

  Json ToJson() const;
  static Result<JobSpec> FromJson(const Json& j);
};

// A restore point as it travels in "points" events (every field of RestorePoint).
Json RestorePointToJson(const RestorePoint& p);
Result<RestorePoint> RestorePointFromJson(const Json& j);

}  // namespace cairn

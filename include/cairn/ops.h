// The operations every front end calls: the command line's service commands
// and the daemon's jobs do exactly the same thing through these, so a point
// chosen by `cairn restore app latest` is the point the API's "latest" picks,
// a backup from the CLI is captured once and sent to every target like a
// scheduled one, and both print the same JSON shapes (docs/api.md).
//
// Each takes the loaded Config and OpHooks: a context (cancellation and a
// deadline), typed progress and the operator's log. They keep no state.
// Thread-safety: independent calls may run on different threads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/bytes.h"
#include "cairn/config.h"
#include "cairn/context.h"
#include "cairn/progress.h"
#include "cairn/service_jobs.h"

namespace cairn {

struct OpHooks {
  const OpContext* context = nullptr;  // not owned; may be null
  JobProgress* progress = nullptr;     // not owned; may be null
  std::function<void(const std::string&)> log;   // what is happening, for the operator
  std::function<void(const std::string&)> warn;  // trouble that does not stop the operation
};

// --- choosing restore points ------------------------------------------------

// "latest" is the newest complete point that is not a safety backup; any other
// value is a unique prefix (at least 4 hex digits) of a point id. The same
// rule for restore, copy, verify, dump and the API.
Result<ServicePoint> FindPoint(const std::vector<ServicePoint>& points, const std::string& wanted,
                               const std::string& service);

// Every point of a service on its targets (or one target), oldest first. A
// target that cannot be read is a warning when another one answered, and
// the error when none did: an empty list must mean "no backups", never
// "could not look".
Result<std::vector<ServicePoint>> ListPoints(const Config& config, const std::string& service,
                                             const std::string& target, std::vector<std::string>* unreachable);

// --- back up: one capture, every target --------------------------------------

struct BackupRequest {
  std::string service;
  std::vector<std::string> targets;  // empty: all of the service's targets
  std::string kind = "manual";       // manual | scheduled | safety
};

struct TargetStoreResult {
  std::string target;
  Status status;
  bool copied = false;                // received the point from another target (not a capture of its own)
  std::optional<RestorePoint> point;  // the point as this target holds it (when stored)
};

struct BackupRunResult {
  std::optional<RestorePoint> point;  // as the target that captured it stored it
  std::vector<TargetStoreResult> targets;
  bool partial() const;  // stored somewhere, but not everywhere
};

// Captures the service once, into the first target that takes it
// (repository targets first: the others are then fed from it without a
// second read of the service), and sends that same point (same id, same
// manifest) to every other target: by copy between repositories (only
// missing data moves), by replaying the stored parts into Borg. A target
// that fails makes the run partial; the point exists where it succeeded.
// Fails only when no target holds the point.
Result<BackupRunResult> BackupToTargets(const Config& config, const BackupRequest& request, const OpHooks& hooks);

// --- restore --------------------------------------------------------------------

struct ServiceRestoreRequest {
  std::string service;
  std::string point = "latest";
  // Point-in-time recovery (docs/pitr.md): a time (RFC 3339, UTC) or
  // "latest"; "" = restore `point` as it was stored. With it, `point` is
  // ignored: the newest physical point before the time is the base.
  std::string at;
  RestoreMode mode = RestoreMode::kNewInstance;
  std::string target;  // read the point from this target; "" = the first that holds it
  std::string new_name;
  int port = 0;
  bool safety_backup = true;
};

struct RestoreRun {
  ServicePoint point;
  std::string target;  // where it was read from
  ServiceRestoreResult result;
};

Result<RestoreRun> RestoreFromTargets(const Config& config, const ServiceRestoreRequest& request, const OpHooks& hooks);

// --- retention and checks ---------------------------------------------------------

struct ForgetTargetResult {
  std::string target;
  Status status;
  std::vector<RetentionDecision> decisions;
};

// Each target's own retention policy on a service's points; the space is
// freed at once unless the target has a prune schedule of its own. Targets
// without a policy are skipped unless named.
Result<std::vector<ForgetTargetResult>> ForgetService(const Config& config, const std::string& service,
                                                      const std::string& target, bool dry_run, const OpHooks& hooks);

struct TargetCheckResult {
  std::string target;
  Status status;
  TargetCheckReport report;  // packs there and read; the repair command on an error
};

// Integrity check of every target (or one); read_share 1 reads every byte,
// a share below 1 that share of the packs, rotating (TargetCheckOptions).
Result<std::vector<TargetCheckResult>> CheckTargets(const Config& config, const std::string& target,
                                                    const TargetCheckOptions& options, const OpHooks& hooks);

// --- continuous archiving and point-in-time recovery (docs/pitr.md) ------------

struct WalStreamOptions {
  std::string spool_dir;                        // "" = <temp_dir or /var/tmp>/cairn-wal-<service>
  int64_t partial_interval_ns = 2'000'000'000;  // how often the growing segment is uploaded (the RPO)
  // How often an idle archive's head is marked current in the targets (one
  // small object write each): the recoverable window of an idle server
  // trails now by at most this.
  int64_t mark_current_interval_ns = 30'000'000'000LL;
};

// Where the streamer of `service` spools WAL, and the file in it where it
// notes its newest upload ({"head": name, "uploaded_ns": ns, "current_ns":
// ns, "trouble": what is wrong now}) for the daemon.
std::string WalSpoolDir(const ServiceConfig& service);
inline constexpr char kWalStreamStatusFile[] = "cairn-status.json";

// Streams a PostgreSQL service's WAL into every repository target of it
// (pg_receivewal on a replication slot, restarted when it stops) until the
// context is cancelled: completed segments leave the spool only once every
// target holds them, the current one is uploaded as .partial. MariaDB
// binary logs the same way; for `archive: command` it only watches the
// server's archiver (the lag the daemon reports).
Status StreamWal(const Config& config, const std::string& service, const OpHooks& hooks,
                 const WalStreamOptions& options = {});

// `archive: command` (docs/pitr.md). PushWal is the archive_command: it
// stores the file at `path` (%p) in every repository target of the service
// and succeeds only once all of them hold it durably; the label files of
// base backups (*.backup) are skipped. GetWal is the restore_command: it
// writes archived file `name` (%f) to `dest` (%p) atomically, from the
// first target (or `only_target`) that has it; a segment archived only as
// .partial comes back padded to its full size. NotFound when no target
// has it; IOError when a target could not be read and no other had it
// (recovery must stop, not end early).
struct WalPushResult {
  std::string name;
  uint64_t bytes = 0;
  bool skipped = false;              // a base backup's label file
  std::vector<std::string> targets;  // the targets that hold it now
};
Result<WalPushResult> PushWal(const Config& config, const std::string& service, const std::string& path,
                              const OpHooks& hooks);
Status GetWal(const Config& config, const std::string& service, const std::string& name, const std::string& dest,
              const std::string& only_target, const OpHooks& hooks);

struct WalTargetStatus {
  std::string target;
  Status status;
  size_t files = 0;
  std::string head;         // the newest upload
  std::string from_point;   // the oldest physical point whose WAL is complete
  int64_t from_ns = 0, to_ns = 0, lag_ns = 0;  // the recoverable window; time since the newest upload
  std::vector<std::string> gaps;  // missing segments after a physical point
};
Result<std::vector<WalTargetStatus>> WalStatusOf(const Config& config, const std::string& service,
                                                 const OpHooks& hooks);
Json WalStatusToJson(const std::vector<WalTargetStatus>& status);

struct WalForgetResult {
  std::string target;
  Status status;
  std::vector<std::string> removed;
};
// Removes archived WAL older than what the oldest kept physical point needs.
Result<std::vector<WalForgetResult>> ForgetWal(const Config& config, const std::string& service, bool dry_run,
                                               const OpHooks& hooks);

struct RecoveryPlan {
  RestorePoint point;  // the base backup
  std::string target;
  int64_t target_ns = 0;  // 0 = everything archived
  std::vector<std::string> wal_names;
  std::function<Status(const std::string& name, const std::string& path)> fetch;
};
// The base backup and WAL a restore --at replays; a time outside the
// recoverable window is an error that states the window.
Result<RecoveryPlan> PlanRecovery(const Config& config, const std::string& service, const std::string& at,
                                  const std::string& only_target, const OpHooks& hooks);

// --- restore drills (docs/verification.md) ------------------------------------------

struct DrillRequest {
  std::string service;
  std::string point = "latest";  // as for restore
  std::string target;            // read from this target; "" = the first that holds it
};

struct DrillRun {
  ServicePoint point;
  std::string target;         // where the point was read from
  bool passed = false;
  std::string failure;        // the first problem, named ("" when passed)
  std::string check;          // what the engine's own consistency check said
  FingerprintDiff validation;
  bool validated = false;     // whether validation ran (not when the restore failed)
  double duration_s = 0;      // restore start to checked: the measured RTO
  std::string summary;        // what was restored where
};

// Proves a restore point restorable without touching the service: restores
// it into a scratch instance (a throwaway server on a free loopback port, or
// a scratch directory), validates it against the backup's fingerprint, runs
// the engine's own consistency check, measures the time, and tears it all
// down, on failure and cancellation too. A drill that ran but found a
// problem is a DrillRun with passed = false; an error Status means it could
// not be attempted (no such point, the type has no drills, cancelled).
Result<DrillRun> DrillService(const Config& config, const DrillRequest& request, const OpHooks& hooks);
// Stops the servers and removes the scratch directories that drills of
// `service` killed half-way left behind (every drill starts with this).
Status CleanDrillLeftovers(const Config& config, const std::string& service, const OpHooks& hooks);
Json DrillRunToJson(const DrillRun& run);

// --- a point's files (browsing and downloading from the dashboard) ----------------

struct PointFileEntry {
  std::string name;
  std::string type;  // file | dir | symlink | other
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;  // permission bits
};

// Reads the files parts of points on one repository target without
// restoring them. Paths are the paths the files had when they were backed
// up ("/srv/app/uploads/a.txt"); "/" lists the stored roots. Nothing on the
// host is ever touched: paths are looked up inside the snapshot's trees.
//
// Opening loads the repository's index once (the key derivation and the
// index are the expensive part); a PointFiles is then reused for many
// requests and sees the repository as it was when opened (a newer point
// needs a new one). No lock is taken: a prune running meanwhile makes a
// read fail with an error saying so, never return wrong bytes.
// Thread-safety: List and Read may be called from many threads at once.
class PointFiles {
 public:
  static Result<std::unique_ptr<PointFiles>> Open(const TargetConfig& target);
  virtual ~PointFiles() = default;

  // `native_id` and `manifest` as the target holds the point (RestorePoint).
  virtual Result<std::vector<PointFileEntry>> List(const std::string& native_id, const Json& manifest,
                                                   const std::string& path) = 0;
  // Streams one regular file: `start(name, size)` before the first byte,
  // then `sink` with every piece; a sink returning false stops (kAborted).
  virtual Status Read(const std::string& native_id, const Json& manifest, const std::string& path,
                      const std::function<void(const std::string&, uint64_t)>& start,
                      const std::function<bool(ByteView)>& sink) = 0;
};

// --- JSON shapes (docs/api.md) ------------------------------------------------------

// A Point (docs/api.md, "Restore points"), with the targets holding it.
Json PointToJson(const ServicePoint& point);
// The `result` of a restore job: mode, point, summary, connection, validation, safety point.
Json RestoreRunToJson(const RestoreRun& run, RestoreMode mode);
// The `result` of a backup job: the point and what happened on each target.
Json BackupRunToJson(const BackupRunResult& run);

}  // namespace cairn

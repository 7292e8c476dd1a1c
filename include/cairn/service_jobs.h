// Service jobs, the building blocks of cairn/ops.h: back up a service to one
// target, list its restore points across targets, restore one, copy points
// between repositories (docs/services.md). They hold no state of their own.
// Cancellation reaches them through TargetConfig::context.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cairn/config.h"
#include "cairn/progress.h"
#include "cairn/service.h"
#include "cairn/target.h"

namespace cairn {

struct ServiceBackupOptions {
  std::string kind = "manual";  // manual | scheduled | safety | drill
  std::string point_id;         // "" = a new one
  int64_t time_ns = 0;          // when the capture starts; 0 = now
  JobProgress* progress = nullptr;
  std::function<void(const std::string&)> log;
};

// A new restore point id: 16 random hex digits.
std::string NewPointId();

// Probe, pre hook, capture (service parts + volumes), store, post hook (run
// even when the capture failed). A failure leaves no restore point.
Result<RestorePoint> BackupService(const ServiceConfig& service, const TargetConfig& target,
                                   const ServiceBackupOptions& options);

// A restore point and every target holding it (same point id).
struct ServicePoint {
  RestorePoint point;                // as the first target listing it has it
  std::vector<std::string> targets;  // target names, in config order
};

// Restore points of a service on all its targets ("" target = all of the
// service's targets), oldest first. A target that cannot be read is named in
// `unreachable` with its error instead of failing the listing.
Result<std::vector<ServicePoint>> ListServicePoints(const Config& config, const ServiceConfig& service,
                                                    const std::string& target,
                                                    std::vector<std::string>* unreachable);

struct ServiceRestoreOptions {
  RestoreMode mode = RestoreMode::kNewInstance;
  std::string new_name;
  std::string volumes_new_name;  // new-instance: where the service's volumes go ("" = beside the originals)
  int port = 0;
  bool safety_backup = true;  // overwrite only: back up the current state first
  // Point-in-time recovery (docs/pitr.md): replay archived WAL after the point.
  RestoreRequest::Recovery recovery;
  JobProgress* progress = nullptr;
  std::function<void(const std::string&)> log;
};

struct ServiceRestoreResult {
  RestoreOutcome outcome;
  FingerprintDiff validation;
  std::optional<RestorePoint> safety;
  // What the service is left as, for a failed validation to say: the
  // restored data is in place (overwrite) or beside the original.
  std::string state;
};

// Restores `point` from `target`. Overwrite takes the safety backup first
// (its failure stops the restore before anything changes). Validation
// compares the restored data's fingerprint with the one taken at backup.
Result<ServiceRestoreResult> RestoreService(const ServiceConfig& service, const TargetConfig& target,
                                            const RestorePoint& point, const ServiceRestoreOptions& options);

struct ServiceCopyResult {
  std::vector<std::string> copied;   // point ids now also on the destination
  std::vector<std::string> present;  // point ids the destination already had
  uint64_t bytes_copied = 0, bytes_stored = 0, blobs_copied = 0, blobs_skipped = 0;
};

// Copies restore points of a service from one repository target to another
// (`points` empty = every point the destination lacks). Only data the
// destination does not hold moves; the copies keep their point ids, so
// `backups` shows both targets for them.
Result<ServiceCopyResult> CopyServicePoints(const ServiceConfig& service, const TargetConfig& from,
                                            const TargetConfig& to, const std::vector<std::string>& points);

}  // namespace cairn

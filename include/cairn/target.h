// Targets: where restore points live (docs/services.md).
//
// "repository" targets are Cairn repositories (local directory or S3), one
// restore point per snapshot. "borg" targets are Borg repositories driven
// through the real `borg` binary, one restore point per group of archives.
// Each target has its own retention policy.
//
// Thread-safety: a Target is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cairn/bytes.h"
#include "cairn/context.h"
#include "cairn/progress.h"
#include "cairn/retention.h"
#include "cairn/service.h"

namespace cairn {

// What a target's WAL archive of one service holds (Target::ListWal).
struct WalListing {
  std::vector<std::string> names;  // sorted: timeline, then segment
  std::string head;                // the newest upload's name ("" = none yet)
  int64_t head_ns = 0;             // when it was uploaded
};

// A scheduled integrity check that reads part of the stored data per run.
struct TargetCheckOptions {
  // 0 = structure only; 1 = every stored byte; between: that share, chosen
  // so that every byte is read once per ceil(1/share) runs.
  double read_share = 0;
  // Which run of the rotation this is (0, 1, 2...; the caller counts).
  int64_t rotation = 0;
};

struct TargetCheckReport {
  uint64_t packs = 0, packs_read = 0;  // what there is, and what this run read
  std::string repair;                  // with an error: the command(s) that repair it
};

// Run `rotation` of a read_share check reads the packs whose bucket is
// rotation mod ceil(1/share); pack ids are hashes, so buckets are even and a
// new pack falls into one at random.
bool PackInRotation(const std::string& pack_hex, double read_share, int64_t rotation);
int64_t RotationLength(double read_share);

struct TargetConfig {
  std::string name;
  std::string type;              // repository | borg
  std::string location;          // repository: path or s3:...; borg: path or ssh://user@host:port/path
  std::string password;          // repository password / borg passphrase (resolved from *_file)
  RetentionPolicy retention;     // empty: retention is not applied to this target
  Json settings = Json::object();  // type-specific: borg "ssh_command", "compression", "remote_path"...
  // For `cairn serve` (docs/daemon.md), validated when the file is loaded:
  Json prune;  // schedule of compaction after forgets; null = compact right after each forget
  Json check;  // schedule of integrity checks plus read_data (a share, "10%"); null = none
  // Runtime, never from the file: the operation's cancellation, honoured by
  // stores, reads and retries on this target (not owned; may be null).
  const OpContext* context = nullptr;
};

// One restore point as a target holds it.
struct RestorePoint {
  std::string id;           // restore point id (16 hex digits), kept by `cairn copy`
  std::string service;
  std::string target;       // target name
  int64_t time_ns = 0;      // when the capture started
  std::string kind;         // manual | scheduled | safety | drill
  std::string status;       // complete | incomplete
  uint64_t size = 0;        // bytes captured (sum of all parts)
  uint64_t stored = 0;      // bytes this point added to the target, when known
  double duration_s = 0;
  Json manifest = Json::object();  // everything recorded at backup time (docs/services.md)
  std::string native_id;    // snapshot id, or borg archive-name prefix
};

struct StoreRequest {
  std::string service;
  std::string point_id;
  std::string kind;
  int64_t time_ns = 0;
  Capture* capture = nullptr;
  Json manifest = Json::object();  // base manifest; the target adds parts and the capture's facts
  JobProgress* progress = nullptr;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual const TargetConfig& config() const = 0;
  // Creates the repository when it does not exist yet; no-op otherwise.
  virtual Status Initialize() = 0;
  // Reads every part of the capture, calls capture->Finish(), and publishes
  // the restore point with its manifest last: a failed or interrupted store
  // leaves no restore point behind (and the target consistent).
  virtual Result<RestorePoint> Store(const StoreRequest& request) = 0;
  // Restore points of a service ("" = all), oldest first.
  virtual Result<std::vector<RestorePoint>> List(const std::string& service) = 0;
  virtual Result<std::unique_ptr<PartReader>> Open(const RestorePoint& point) = 0;
  // Removes one restore point.
  virtual Status Remove(const RestorePoint& point) = 0;
  // Applies the target's retention policy to a service's restore points;
  // returns the decisions (kept ones with their reasons). With compact, the
  // space of removed points is freed at once (see Compact); a target with a
  // prune schedule of its own leaves that to the scheduled Compact.
  virtual Result<std::vector<RetentionDecision>> ApplyRetention(const std::string& service, bool dry_run,
                                                                bool compact = true) = 0;
  // Frees the space no restore point needs any more: prune on a Cairn
  // repository (under its exclusive lock), compact on a Borg repository.
  virtual Status Compact() = 0;
  // Integrity check of the whole target; with read_data every stored byte is read.
  virtual Status Check(bool read_data) = 0;
  // The same with a share of the data read: `options.read_share` of it per
  // run, rotating (docs/verification.md). The default reads all of it on
  // every rotation-th run (`1/share` runs) and none between: what a target
  // that cannot read a subset (Borg) can do.
  virtual Status Check(const TargetCheckOptions& options, TargetCheckReport* report);

  // --- continuous archiving (docs/pitr.md) ---------------------------------
  // A service's archived WAL files by their PostgreSQL names (segments,
  // .partial segments, timeline .history files), each written atomically,
  // compressed and encrypted. Targets that cannot hold them (Borg) answer
  // Unsupported. PutWal replaces an object of the same name only when it
  // is a .partial (the streamer rewrites it as it grows); a full segment
  // that exists with other content is an error, never overwritten.
  virtual Status PutWal(const std::string& service, const std::string& name, ByteView data);
  // NotFound when the archive does not hold it (never when the target
  // itself is missing or unreadable: recovery ends at the first NotFound).
  virtual Result<Bytes> GetWal(const std::string& service, const std::string& name);
  // Every archived name, sorted, and the newest upload (the archive's head).
  virtual Result<WalListing> ListWal(const std::string& service);
  virtual Status DeleteWal(const std::string& service, const std::vector<std::string>& names);
  // Records that the archive was current at `now_ns` although nothing new
  // was uploaded (an idle server): the head keeps its name, its time moves
  // on, so the recoverable window ends now and not at the last write.
  // A no-op for an archive without a head.
  virtual Status MarkWalCurrent(const std::string& service, int64_t now_ns);
};

Result<std::unique_ptr<Target>> OpenTarget(const TargetConfig& config);

// The manifest key every target stores (docs/services.md, "Manifest").
Json PartManifest(const CapturePart& part, uint64_t bytes, uint64_t files);

}  // namespace cairn

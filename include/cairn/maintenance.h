// Repository maintenance: check, forget, prune, stats. Each takes the lock it
// needs (check and stats shared, forget and prune exclusive).
#pragma once

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "cairn/repository.h"
#include "cairn/retention.h"

namespace cairn {

// Visits every distinct tree reachable from `snapshots` once.
Status WalkTrees(Repository& repo, const std::vector<Snapshot>& snapshots,
                 const std::function<Status(const Snapshot&, const Id& tree_id, const Tree& tree)>& fn);

struct CheckOptions {
  bool read_data = false;
  double read_data_fraction = 1.0;  // with read_data: share of packs to read (random sample)
  // With read_data: picks the packs to read instead of the random sample
  // (rotating checks read every pack once per N runs); given every indexed
  // pack present in storage, sorted.
  std::function<std::vector<Id>(const std::vector<Id>& packs)> choose_packs;
  ReadLock lock = ReadLock::kBestEffort;
};

// A snapshot that cannot be restored whole, and why.
struct DamagedSnapshot {
  Id id;
  int64_t time_ns = 0;                // 0 when the snapshot object itself is unreadable
  std::vector<std::string> paths, tags;
  bool unreadable = false;            // the snapshot object is damaged: nothing of it can be restored
  uint64_t damaged_files = 0;         // files (or directories) whose data is missing or damaged
  std::vector<std::string> examples;  // the first few: "path: why"
};

struct CheckReport {
  std::vector<std::string> errors;    // each names the damaged object
  std::vector<std::string> warnings;  // harmless leftovers (unreferenced packs)
  std::vector<DamagedSnapshot> damaged_snapshots;
  // What to run, in order, to repair what was found (empty when nothing is wrong).
  std::vector<std::string> repairs;
  std::vector<Id> packs_read_ids;     // with read_data: the packs that were read
  std::vector<Id> damaged_packs;      // with read_data: packs holding a blob that does not decode
  uint64_t snapshots = 0, trees = 0, packs = 0, packs_read = 0, blobs_verified = 0;
};

// Returns a report; the Status fails only when checking itself is impossible.
// Reads only: works on a read-only repository (see ReadLock).
Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options,
                                    const std::function<void(const std::string&)>& log);

struct ForgetGroup {
  std::string hostname;
  std::vector<std::string> paths;
  std::vector<std::pair<Snapshot, RetentionDecision>> decisions;  // newest first
};

struct ForgetOptions {
  RetentionPolicy policy;
  // Snapshots to remove by id (unique prefixes), instead of a policy; works
  // on damaged snapshot objects too, which no policy can date.
  std::vector<std::string> ids;
  bool dry_run = false;
  std::string hostname;  // only snapshots of this host; empty = all
};

struct ForgetResult {
  std::vector<ForgetGroup> groups;   // policy decisions
  std::vector<Id> removed_by_id;     // ForgetOptions::ids, resolved
  std::vector<std::string> damaged;  // snapshots that could not be read and were left alone
};

// Applies the policy per (host, paths) group, or removes `ids`; deletes what
// it does not keep unless dry_run.
Result<ForgetResult> Forget(Repository& repo, const ForgetOptions& options);

// Prune deletes only what it can prove no snapshot needs: it refuses to run
// while an index file or a snapshot cannot be read, or while a snapshot
// references data the repository lacks (check names the repair), and it
// leaves alone packs whose header it cannot read.
struct PruneOptions {
  // A pack whose unused share of bytes is at least this is repacked.
  double repack_threshold = 0.1;
  bool dry_run = false;
};

struct PruneReport {
  uint64_t packs_total = 0, packs_deleted = 0, packs_repacked = 0, packs_unreferenced = 0;
  uint64_t blobs_used = 0, blobs_unused = 0;
  uint64_t bytes_freed = 0, bytes_repacked = 0;
  uint64_t index_files_replaced = 0;
  uint64_t incomplete_writes_removed = 0;  // temp files of crashed writers
};

Result<PruneReport> Prune(Repository& repo, const PruneOptions& options,
                          const std::function<void(const std::string&)>& log);

// --- repair (docs/format.md, "Repairing a damaged repository") -------------

struct RepairIndexReport {
  uint64_t packs_read = 0, blobs_indexed = 0;
  uint64_t index_files_written = 0, index_files_removed = 0;
  std::vector<std::string> unreadable_packs;  // left in place, each with the reason
};

// Rebuilds the index from the packs' own headers: writes new index files for
// every pack whose header authenticates, then removes the old index files.
// Deletes no pack. Takes the exclusive lock.
Result<RepairIndexReport> RepairIndex(Repository& repo, const std::function<void(const std::string&)>& log);

struct RepairPacksReport {
  uint64_t packs_rewritten = 0, blobs_salvaged = 0, blobs_dropped = 0;
  std::vector<std::string> dropped;  // "blob X of pack P: why"
};

// For packs with damaged blobs (check --read-data finds them): copies every
// blob that still decodes into new packs, rebuilds the index without the
// damaged packs, then deletes them. Afterwards the lost blobs are absent, so
// the next backup stores them again where the source still has them (and old
// snapshots of unchanged files become whole again), and `repair snapshots`
// marks what stays lost. Takes the exclusive lock.
Result<RepairPacksReport> RepairPacks(Repository& repo, const std::vector<Id>& packs,
                                      const std::function<void(const std::string&)>& log);

struct RepairSnapshotsOptions {
  bool forget = false;   // remove each original once its repaired copy is saved
  bool dry_run = false;  // only report what would be repaired
};

struct RepairedSnapshot {
  Id original, repaired;  // repaired is zero in a dry run
  uint64_t damaged_files = 0;
  std::vector<std::string> examples;  // "path: why", the first few
};

struct RepairSnapshotsReport {
  std::vector<RepairedSnapshot> repaired;
  std::vector<std::string> unreadable;  // snapshot objects that cannot be read at all
  uint64_t intact = 0;
};

// Saves a repaired copy of every snapshot whose trees reference data the
// repository lacks (missing or truncated packs, blobs in no index, trees
// that cannot be read): each lost file becomes an empty file named
// "<name>.damaged" with the original's metadata, each lost directory an
// empty "<name>.damaged" directory. Copies are tagged "repaired"; a service
// restore point's copy gets a new point id and is marked damaged in its
// manifest. Originals stay unless options.forget. Takes the exclusive lock.
Result<RepairSnapshotsReport> RepairSnapshots(Repository& repo, const RepairSnapshotsOptions& options,
                                              const std::function<void(const std::string&)>& log);

struct RepoStats {
  uint64_t snapshots = 0;
  uint64_t blobs = 0, data_blobs = 0, tree_blobs = 0;
  uint64_t raw_bytes = 0;      // uncompressed size of every stored blob
  uint64_t stored_bytes = 0;   // their size in packs
  uint64_t packs = 0, pack_bytes = 0, index_files = 0;
  uint64_t restore_bytes = 0;  // sum of the snapshots' file sizes (before dedup)
};

Result<RepoStats> ComputeStats(Repository& repo);

}  // namespace cairn

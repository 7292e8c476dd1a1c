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
};

struct CheckReport {
  std::vector<std::string> errors;    // each names the damaged object
  std::vector<std::string> warnings;  // harmless leftovers (unreferenced packs)
  uint64_t snapshots = 0, trees = 0, packs = 0, packs_read = 0, blobs_verified = 0;
};

// Returns a report; the Status fails only when checking itself is impossible.
Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options,
                                    const std::function<void(const std::string&)>& log);

struct ForgetGroup {
  std::string hostname;
  std::vector<std::string> paths;
  std::vector<std::pair<Snapshot, RetentionDecision>> decisions;  // newest first
};

struct ForgetOptions {
  RetentionPolicy policy;
  bool dry_run = false;
  std::string hostname;  // only snapshots of this host; empty = all
};

// Applies the policy per (host, paths) group; deletes what it does not keep
// unless dry_run. Returns the decisions.
Result<std::vector<ForgetGroup>> Forget(Repository& repo, const ForgetOptions& options);

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

// Backup, restore and dump jobs over an open repository.
//
// A backup is a pipeline (docs/architecture.md): a walker reads the source in
// order and cuts chunks; worker threads hash, compress and encrypt new ones;
// an in-order assembler builds trees and hands blobs to the RepositoryWriter.
// Memory is bounded by the number of chunks in flight, not by file sizes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cairn/repository.h"

namespace cairn {

// Live counters, updated by the job and read by a progress printer.
struct JobProgress {
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> files_total{0};  // 0 while unknown
  std::atomic<uint64_t> bytes_total{0};
  std::atomic<bool> totals_known{false};
  std::atomic<uint64_t> errors{0};
};

struct BackupOptions {
  std::vector<std::string> paths;          // absolute or relative; made absolute
  std::vector<std::string> excludes;       // fnmatch patterns on full path or base name
  std::vector<std::string> tags;
  std::string hostname;                    // default: this machine's name
  std::optional<std::string> stdin_name;   // back up standard input as this file
  int stdin_fd = 0;
  bool force_reread = false;               // ignore the parent snapshot's file cache
  CompressionOptions compression;
  int threads = 0;                         // 0: one per core
  JobProgress* progress = nullptr;         // optional, not owned
  // Called for each source problem that does not stop the backup.
  std::function<void(const std::string&)> on_warning;
};

struct BackupResult {
  Snapshot snapshot;
  std::vector<std::string> warnings;  // unreadable files and the like
};

// Takes a shared lock, writes packs, index and snapshot, in that order.
Result<BackupResult> RunBackup(Repository& repo, const BackupOptions& options);

struct RestoreOptions {
  std::string target;                 // directory to restore into (created)
  std::vector<std::string> includes;  // absolute paths inside the snapshot; empty = all
  int threads = 0;
  JobProgress* progress = nullptr;
  std::function<void(const std::string&)> on_warning;
};

struct RestoreResult {
  uint64_t files = 0, dirs = 0, bytes = 0, warnings = 0;
};

Result<RestoreResult> RunRestore(Repository& repo, const Snapshot& snapshot, const RestoreOptions& options);

// Writes the content of the file at `path` (absolute inside the snapshot, or
// the stdin name) to `fd`.
Status DumpFile(Repository& repo, const Snapshot& snapshot, const std::string& path, int fd);

// Finds the node at an absolute path inside a snapshot.
Result<Node> FindNode(Repository& repo, const Snapshot& snapshot, const std::string& path);

}  // namespace cairn

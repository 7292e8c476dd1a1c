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
#include "cairn/context.h"
#include "cairn/part.h"
#include "cairn/progress.h"

namespace cairn {

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
  const OpContext* context = nullptr;      // optional: cancellation, checked between chunks
  // Called for each source problem that does not stop the backup.
  std::function<void(const std::string&)> on_warning;

  // --- a service's restore point (instead of paths / stdin_name) ---------
  // Each part becomes a directory at the snapshot root: a stream part holds
  // its one file, a files part its paths. Parts are read in order; a stream
  // that cannot be read to the end or whose finish() fails fails the backup.
  std::vector<CapturePart>* parts = nullptr;  // not owned
  std::string parent_tag;                     // parent = newest snapshot of this host with this tag
  int64_t time_ns = 0;                        // snapshot time; 0 = now
  // Called after the index is written, just before the snapshot is saved:
  // last chance to fail the backup or to add to the snapshot (the manifest).
  std::function<Status(Snapshot&)> before_save;
  // Called as each part is stored, with its bytes and (files parts) file count.
  std::function<void(const CapturePart&, uint64_t bytes, uint64_t files)> on_part_done;
};

struct BackupResult {
  Snapshot snapshot;
  std::vector<std::string> warnings;  // unreadable files and the like
  // The repository's own trouble that did not stop this backup: a damaged
  // snapshot or index file (its data looks absent, so it is stored again).
  std::vector<std::string> repository_warnings;
};

// Takes a shared lock, writes packs, index and snapshot, in that order.
Result<BackupResult> RunBackup(Repository& repo, const BackupOptions& options);

struct RestoreOptions {
  std::string target;                 // directory to restore into (created, honouring the umask)
  // Absolute paths inside the snapshot; empty = all. One that names nothing
  // in the snapshot fails the restore before anything is written.
  std::vector<std::string> includes;
  int threads = 0;                    // 0 = the storage's preferred concurrency, at least the core count
  // From an object store files are written pack by pack, so a file can be
  // partly written for a while; at most this many are kept open, the rest
  // are closed between pieces and reopened.
  size_t max_open_files = 512;
  JobProgress* progress = nullptr;
  const OpContext* context = nullptr;  // optional: cancellation, checked between files and packs
  std::function<void(const std::string&)> on_warning;
  // A file whose data cannot be read whole is removed, unless keep_partial:
  // then it is kept as "<name>.cairn-partial", never under its own name.
  bool keep_partial = false;
  ReadLock lock = ReadLock::kBestEffort;
};

// A file a restore could not write whole, and why (which blob, which pack).
struct DamagedFile {
  std::string path;    // where it would have been restored
  std::string reason;
  std::string kept_as; // with keep_partial: the partial file's path
};

struct RestoreResult {
  uint64_t files = 0, dirs = 0, bytes = 0, warnings = 0;
  // Files that lack data (a damaged blob or tree, a missing pack). Every
  // other file is restored whole; a caller must treat a non-empty list as a
  // failed restore.
  std::vector<DamagedFile> damaged;
};

// Restores a snapshot below options.target. Nothing is written outside it,
// whatever the snapshot's trees hold (docs/architecture.md, "Restore stays
// inside its target"); the process umask is not changed.
Result<RestoreResult> RunRestore(Repository& repo, const Snapshot& snapshot, const RestoreOptions& options);

// Writes the content of the file at `path` (absolute inside the snapshot, or
// the stdin name) to `fd`.
Status DumpFile(Repository& repo, const Snapshot& snapshot, const std::string& path, int fd);

struct CopyStats {
  uint64_t blobs_copied = 0, blobs_skipped = 0;
  uint64_t bytes_copied = 0;  // plaintext bytes the destination did not have
  uint64_t bytes_stored = 0;  // what they took there after compression and encryption
};

// Copies snapshots (trees and file contents) from one repository into
// another; only blobs missing there are written. Returns the copies as saved
// in `to` (same time, tags, paths and service manifest; new ids).
Result<std::vector<Snapshot>> CopySnapshots(Repository& from, Repository& to, const std::vector<Snapshot>& snapshots,
                                            CopyStats* stats);

// Finds the node at an absolute path inside a snapshot.
Result<Node> FindNode(Repository& repo, const Snapshot& snapshot, const std::string& path);

}  // namespace cairn

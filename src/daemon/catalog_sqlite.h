// The embedded SQLite catalog (docs/catalog.md): one file, WAL mode, a
// versioned schema migrated at open. The file is created with mode 0600 (it
// holds token and session hashes); its -wal and -shm files inherit that.
#pragma once

#include <memory>
#include <string>

#include "cairn/clock.h"
#include "daemon/catalog.h"

namespace cairn {

struct SqliteCatalogOptions {
  Clock* clock = nullptr;  // nullptr = SystemClock(); not owned, outlives the catalog
  // How long a write waits for another process's write transaction (the
  // CLI, a second daemon by mistake) before failing kLocked.
  int busy_timeout_ms = 5000;
  // Read connections kept open for reuse; more are opened while more
  // threads read at once.
  int idle_readers = 4;
  // Per-job log size: beyond it the head and the newest lines are kept.
  int64_t log_cap_bytes = 1 << 20;
};

// Opens the catalog at `path`, creating it (and no missing directory) when
// absent, and migrates its schema to this build's version. A catalog written
// by a newer Cairn is refused (kUnsupported) and left untouched.
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path, const SqliteCatalogOptions& options);
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path);

// The schema version this build writes (PRAGMA user_version).
int SqliteCatalogSchemaVersion();

}  // namespace cairn

// SQLite databases as a service (docs/sources/sqlite.md).
//
// One part, "db": the database file itself, read page by page inside one read
// transaction (a WAL snapshot that ignores the WAL, or the shared lock of a
// rollback-journal database), streamed without a temporary copy while the
// application keeps writing. Restore writes a new file, or replaces the live
// database's content through SQLite's backup API under SQLite's own locks.
#pragma once

#include <memory>

#include "cairn/service.h"

namespace cairn {

// Settings: path (the database file, required).
Result<std::unique_ptr<Source>> MakeSqliteSource(const ServiceConfig& config);

}  // namespace cairn

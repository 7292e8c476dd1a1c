// MariaDB / MySQL servers as a service (docs/sources/mysql.md).
//
// Logical (default): one part per database, "db.<name>", streamed from
// mariadb-dump --single-transaction, plus a "users" part (CREATE USER and
// GRANT statements). Each database's dump and its fingerprint share one
// snapshot, taken under a brief FLUSH TABLES WITH READ LOCK. Restore creates
// new databases, or restores into a staging database and swaps its tables in
// with one atomic RENAME TABLE.
// Physical: one part, "base", the xbstream of mariadb-backup --backup;
// restore starts a new server instance from it.
#pragma once

#include <memory>

#include "cairn/service.h"

namespace cairn {

// Settings: host, port, socket, user, password / password_file, databases,
// method (logical | physical), users, restore_users, run_as, bin_dir,
// lock_timeout (docs/sources/mysql.md).
Result<std::unique_ptr<Source>> MakeMysqlSource(const ServiceConfig& config);

}  // namespace cairn

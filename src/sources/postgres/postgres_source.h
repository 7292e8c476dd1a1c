// PostgreSQL as a service: type "postgres" (docs/sources/postgres.md).
//
// method "logical": parts "globals" (pg_dumpall --globals-only) and one
// "db.<name>" per database (pg_dump -Fc -Z0 in an exported snapshot, with the
// fingerprint taken in that same snapshot). method "physical": one part
// "base" (pg_basebackup tar with the WAL it needs). Restores go into new
// databases or a new server instance, or overwrite through a staging copy
// that is swapped in only when complete.
#pragma once

#include <memory>

#include "cairn/service.h"

namespace cairn {

Result<std::unique_ptr<Source>> MakePostgresSource(const ServiceConfig& config);

}  // namespace cairn

// The PostgreSQL captures: logical (pg_dumpall --globals-only, then one
// pg_dump per database in an exported snapshot the fingerprint shares) and
// physical (pg_basebackup as one tar, fingerprinted in snapshots taken before
// the copy starts).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sources/postgres/pg_session.h"

namespace cairn::pgsrc {

std::unique_ptr<Capture> MakeLogicalCapture(Ctx ctx, Json source);
std::unique_ptr<Capture> MakePhysicalCapture(Ctx ctx, std::string basebackup, std::vector<std::string> databases,
                                             Json source);

}  // namespace cairn::pgsrc

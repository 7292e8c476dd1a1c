// A service's WAL archive inside a Cairn repository (docs/format.md, "WAL
// archive"). Objects live beside the packs, not in them: a WAL file is
// written once (a .partial is rewritten as it grows), read back only by a
// point-in-time restore, and removed by name when no kept base backup needs
// it, none of which suits content-addressed packs.
//
//   wal/<service>/<name>  u32 LE raw length (0 = stored uncompressed), then
//                         the file compressed and sealed as a blob whose id
//                         is SHA-256 of the object's key: a file moved to
//                         another name (or service) does not open.
//   wal/<service>/HEAD    the newest upload, sealed the same way: JSON
//                         {"name", "stored_ns"} (wal status: the archive lag).
//
// Thread-safety: as the Repository's storage.
#pragma once

#include <string>
#include <vector>

#include "cairn/repository.h"
#include "cairn/target.h"

namespace cairn {

// PostgreSQL WAL file names: 24 hex digits (timeline, log, segment),
// optionally ".partial"; "<timeline>.history"; MariaDB binary log pieces
// (util/binlog_names.h); nothing else (no paths).
bool IsWalName(const std::string& name);

// Moves the head's time to now_ns, keeping its name (Target::MarkWalCurrent).
Status TouchWalHead(Repository& repo, const std::string& service, int64_t now_ns);

Status PutWalObject(Repository& repo, const std::string& service, const std::string& name, ByteView data,
                    int64_t now_ns);
Result<Bytes> GetWalObject(Repository& repo, const std::string& service, const std::string& name);
Result<WalListing> ListWalObjects(Repository& repo, const std::string& service);
Status DeleteWalObjects(Repository& repo, const std::string& service, const std::vector<std::string>& names);

}  // namespace cairn

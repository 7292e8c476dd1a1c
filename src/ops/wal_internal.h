// What ops/wal.cc (the PostgreSQL WAL and the shared parts of continuous
// archiving) and ops/binlog.cc (MariaDB binary logs) share. Private to ops.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cairn/ops.h"

namespace cairn::walops {

// The physical restore points' facts continuous archiving relies on.
bool IsPhysical(const RestorePoint& p);
Result<Bytes> ReadFile(const std::string& path);

// Streams a MariaDB service's binary logs into `targets` until the
// context ends (docs/pitr.md). `note_head` records the newest upload for
// the daemon.
Status StreamBinlog(const ServiceConfig& service, std::vector<std::unique_ptr<Target>>& targets,
                    const std::string& spool, const OpHooks& hooks, const WalStreamOptions& options,
                    const std::function<void(const std::string&)>& note_head);

// The recoverable window and gaps of a MariaDB archive (fills from_point,
// from_ns and gaps of `out`).
void BinlogWindow(const WalListing& listing, const std::vector<RestorePoint>& points, WalTargetStatus* out);
// The pieces older than what the oldest kept physical point needs; empty
// when a kept physical point does not say where its binary log starts.
std::vector<std::string> BinlogToForget(const WalListing& listing, const std::vector<RestorePoint>& points);

}  // namespace cairn::walops

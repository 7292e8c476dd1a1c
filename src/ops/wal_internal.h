// What ops/wal.cc (the PostgreSQL WAL and the shared parts of continuous
// archiving) and ops/binlog.cc (MariaDB binary logs) share. Private to ops.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cairn/ops.h"

namespace cairn::walops {

// The service `name` if it can archive its log (PostgreSQL, MariaDB).
Result<const ServiceConfig*> WalService(const Config& config, const std::string& name);
// The service's targets that hold WAL archives (repositories; Borg cannot),
// with the hooks' context.
std::vector<TargetConfig> WalTargets(const Config& config, const ServiceConfig& s, const OpHooks& hooks);

// The physical restore points' facts continuous archiving relies on.
bool IsPhysical(const RestorePoint& p);
Result<Bytes> ReadFile(const std::string& path);
// Writes `path` through a temporary beside it and a rename: a reader (the
// server's recovery) never sees a part of it.
Status WriteAtomically(const std::string& path, ByteView data);

// The streamer's status file in its spool (kWalStreamStatusFile), which
// the daemon reads for the archive lag: {"head": newest upload,
// "uploaded_ns": when, "current_ns": when a pass last found every byte the
// tool had received archived}.
class SpoolStatus {
 public:
  explicit SpoolStatus(std::string spool) : spool_(std::move(spool)) {}
  void Uploaded(const std::string& name);
  // An upload someone else made at `ns` (PostgreSQL's archive_command).
  void Archived(const std::string& name, int64_t ns);
  void Current();
  // What is wrong now ("" = nothing): the daemon puts it in its alert.
  void Trouble(const std::string& what);

 private:
  void Write() const;
  std::string spool_, head_, trouble_;
  int64_t uploaded_ns_ = 0, current_ns_ = 0;
};

inline constexpr int64_t kStreamerRestartNs = 5'000'000'000LL;
inline constexpr int64_t kStreamerSettleNs = 3'000'000'000LL;

// Runs `command` (the streaming `tool`, working in `spool`) until the
// context ends, restarting it 5 s after it stops, with a pass of `upload`
// every half second and a last one after it stopped. A pass returns whether
// the archive is current (nothing left waiting); while it is and the tool
// runs, the status says so and the targets' heads are marked current.
Status RunStreamer(const ToolCommand& command, const std::string& tool, const std::string& what,
                   std::vector<std::unique_ptr<Target>>& targets, const ServiceConfig& service,
                   const std::string& spool, const OpHooks& hooks, const WalStreamOptions& options,
                   SpoolStatus& status, const std::function<Result<bool>(bool final_pass)>& upload);

// `archive: command`: watches the server's archiver (pg_stat_archiver)
// until the context ends, so the status says when it last archived and
// whether it is current (nothing waiting), and a failing archive_command
// is logged once per new failure.
Status WatchArchiver(const ServiceConfig& service, const OpHooks& hooks, const WalStreamOptions& options,
                     SpoolStatus& status);

// Streams a MariaDB service's binary logs into `targets` until the
// context ends (docs/pitr.md).
Status StreamBinlog(const ServiceConfig& service, std::vector<std::unique_ptr<Target>>& targets,
                    const std::string& spool, const OpHooks& hooks, const WalStreamOptions& options,
                    SpoolStatus& status);

// The recoverable window and gaps of a MariaDB archive (fills from_point,
// from_ns and gaps of `out`).
void BinlogWindow(const WalListing& listing, const std::vector<RestorePoint>& points, WalTargetStatus* out);
// The pieces older than what the oldest kept physical point needs; empty
// when a kept physical point does not say where its binary log starts.
std::vector<std::string> BinlogToForget(const WalListing& listing, const std::vector<RestorePoint>& points);

}  // namespace cairn::walops

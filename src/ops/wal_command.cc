// `archive: command` (docs/pitr.md): PostgreSQL's archive_command and
// restore_command call `cairn wal push` and `cairn wal get`, one process per
// file; the daemon only watches the server's archiver.
#include <algorithm>
#include <filesystem>
#include <thread>

#include "cairn/ops.h"
#include "cairn/system.h"
#include "ops/wal_internal.h"
#include "sources/postgres/pg_wal_names.h"

namespace cairn {
namespace {

enum class WalFileKind { kSegment, kPartial, kHistory, kBackupLabel, kOther };

WalFileKind KindOf(const std::string& name) {
  pgwal::Segment seg;
  if (name.size() == 24 && pgwal::ParseSegment(name, &seg)) return WalFileKind::kSegment;
  if (name.size() == 32 && name.ends_with(".partial") && pgwal::ParseSegment(name.substr(0, 24), &seg))
    return WalFileKind::kPartial;
  if (name.size() == 16 && name.ends_with(".history")) return WalFileKind::kHistory;
  // 000000010000000000000002.00000028.backup: the label of a base backup.
  if (name.size() == 40 && name.ends_with(".backup") && pgwal::ParseSegment(name.substr(0, 24), &seg))
    return WalFileKind::kBackupLabel;
  return WalFileKind::kOther;
}

Result<const ServiceConfig*> CommandService(const Config& config, const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(const ServiceConfig* s, walops::WalService(config, name));
  if (ArchiveModeOf(*s) != ArchiveMode::kCommand)
    return Status::InvalidArgument("service " + name +
                                   " does not archive with archive: command; wal push and wal get are its "
                                   "archive_command and restore_command (docs/pitr.md)");
  return s;
}

}  // namespace

Result<WalPushResult> PushWal(const Config& config, const std::string& service, const std::string& path,
                              const OpHooks& hooks) {
  CAIRN_ASSIGN_OR_RETURN(const ServiceConfig* s, CommandService(config, service));
  WalPushResult out;
  out.name = std::filesystem::path(path).filename().string();
  switch (KindOf(out.name)) {
    case WalFileKind::kSegment:
    case WalFileKind::kPartial:
    case WalFileKind::kHistory:
      break;
    case WalFileKind::kBackupLabel:
      // Each physical point records where its WAL starts and ends itself.
      out.skipped = true;
      return out;
    case WalFileKind::kOther:
      return Status::InvalidArgument("'" + out.name + "' is not a WAL file name (archive_command passes %p)");
  }
  CAIRN_ASSIGN_OR_RETURN(Bytes data, walops::ReadFile(path));
  out.bytes = data.size();
  const std::vector<TargetConfig> targets = walops::WalTargets(config, *s, hooks);
  if (targets.empty())
    return Status::InvalidArgument("service " + service + " has no repository target to archive WAL into");
  // Every target, or failure: PostgreSQL keeps the file and calls again, and
  // a target that holds it already answers at once (same content).
  for (const TargetConfig& t : targets) {
    CAIRN_ASSIGN_OR_RETURN(auto target, OpenTarget(t));
    CAIRN_RETURN_IF_ERROR(target->PutWal(service, out.name, data).WithContext("archiving " + out.name + " into " + t.name));
    out.targets.push_back(t.name);
  }
  return out;
}

Status GetWal(const Config& config, const std::string& service, const std::string& name, const std::string& dest,
              const std::string& only_target, const OpHooks& hooks) {
  CAIRN_ASSIGN_OR_RETURN(const ServiceConfig* s, CommandService(config, service));
  const WalFileKind kind = KindOf(name);
  if (kind == WalFileKind::kOther || kind == WalFileKind::kBackupLabel)
    return Status::InvalidArgument("'" + name + "' is not a WAL file name (restore_command passes %f)");
  Status unreadable;  // a target that could not answer: "not found" would end recovery early
  bool any = false;
  for (const TargetConfig& t : walops::WalTargets(config, *s, hooks)) {
    if (!only_target.empty() && t.name != only_target) continue;
    any = true;
    auto target = OpenTarget(t);
    if (!target.ok()) {
      unreadable = target.status().WithContext(t.name);
      continue;
    }
    auto data = (*target)->GetWal(service, name);
    bool padded = false;
    if (!data.ok() && data.status().IsNotFound() && kind == WalFileKind::kSegment) {
      // The segment being written when the archive was last fed: stored
      // without its zero tail, which recovery reads as the end of WAL.
      data = (*target)->GetWal(service, name + ".partial");
      padded = data.ok();
    }
    if (!data.ok()) {
      if (!data.status().IsNotFound()) unreadable = data.status().WithContext(t.name);
      continue;
    }
    if (padded && data->size() < pgwal::kSegmentBytes) data->resize(pgwal::kSegmentBytes, 0);
    return walops::WriteAtomically(dest, *data);
  }
  if (!any)
    return Status::InvalidArgument(only_target.empty() ? "service " + service + " has no repository target"
                                                       : "target " + only_target + " is not a repository target of " + service);
  if (!unreadable.ok()) return Status::IOError("cannot tell whether " + name + " is archived: " + unreadable.message());
  return Status::NotFound(name + " is not in the archive of " + service);
}

namespace walops {

Status WatchArchiver(const ServiceConfig& service, const OpHooks& hooks, const WalStreamOptions& options,
                     SpoolStatus& status) {
  CAIRN_ASSIGN_OR_RETURN(auto source, MakeSource(service));
  if (hooks.log) hooks.log("watching the archiver of " + service.name + " (archive: command)");
  std::string said;  // the last trouble logged, once
  auto say = [&](const std::string& what) {
    if (what != said && !what.empty() && hooks.warn) hooks.warn(what);
    said = what;
    status.Trouble(what);
  };
  while (!(hooks.context && hooks.context->Done())) {
    auto st = source->ArchiverStatus();
    if (!st.ok()) {
      say("cannot read the archiver's state of " + service.name + ": " + st.status().message());
    } else {
      const Json& a = *st;
      const std::string archived = a.value("last_archived", ""), failed = a.value("last_failed", "");
      const int64_t archived_ns = a.value("last_archived_ns", int64_t{0}), failed_ns = a.value("last_failed_ns", int64_t{0});
      if (archived_ns > 0) status.Archived(archived, archived_ns);
      pgwal::Segment now_at, last;
      const std::string current = a.value("current", "");
      const bool on = a.value("archive_mode", "off") != "off";
      const bool failing = failed_ns > archived_ns;
      // Nothing waiting: the newest archived segment is the one before the
      // file being written (what that file holds is the mode's RPO, bounded
      // by archive_timeout). After a promotion the newest archived file is
      // a .history or .partial, which counts as current too.
      const bool caught_up = !pgwal::ParseSegment(current, &now_at) || archived.empty() ||
                             archived.size() != 24 || !pgwal::ParseSegment(archived, &last) ||
                             last.tli > now_at.tli || last.segno + 1 >= now_at.segno;
      if (!on) {
        say("archive_mode is off on " + service.name + ": set archive_mode = on and archive_command (docs/pitr.md)");
      } else if (failing) {
        say("PostgreSQL's archive_command fails for " + failed + " since " + FormatTime(failed_ns).substr(0, 19) +
            "Z (see the server's log)");
      } else {
        say(caught_up ? "" : "PostgreSQL has WAL waiting to be archived after " + archived);
        if (caught_up) status.Current();
      }
    }
    const auto pause = std::chrono::nanoseconds(options.partial_interval_ns);
    if (hooks.context) hooks.context->SleepFor(pause);
    else std::this_thread::sleep_for(pause);
  }
  return hooks.context ? hooks.context->Check() : Status::Ok();
}

}  // namespace walops
}  // namespace cairn

// Continuous archiving and point-in-time recovery (cairn/ops.h,
// docs/pitr.md): streaming a service's WAL into its targets, the archive's
// status, WAL retention, and choosing what a restore --at replays.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "cairn/ops.h"
#include "cairn/system.h"
#include "ops/wal_internal.h"
#include "sources/postgres/pg_wal_names.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

using pgwal::ParseSegment;
using pgwal::Segment;
using pgwal::SegmentName;

// The physical points' oldest needed WAL file: the manifest's wal_start.
std::string WalStart(const RestorePoint& p) {
  const Json src = p.manifest.value("source", Json::object());
  return src.is_object() ? src.value("wal_start", "") : "";
}

// The last WAL segment the base backup's tar holds itself (wal_end; "" for
// points made before Cairn recorded it): the archive need not hold it or
// the ones before it from wal_start on.
std::string WalEnd(const RestorePoint& p) {
  const Json src = p.manifest.value("source", Json::object());
  return src.is_object() ? src.value("wal_end", "") : "";
}


// Segments older than what the oldest kept physical point needs; none when a
// kept physical point does not say where its WAL starts (made before Cairn
// recorded it). History files are tiny and always kept.
std::vector<std::string> SegmentsToForget(const WalListing& listing, const std::vector<RestorePoint>& points) {
  std::optional<Segment> keep_from;
  for (const RestorePoint& p : points) {
    if (!walops::IsPhysical(p)) continue;
    Segment seg;
    if (!ParseSegment(WalStart(p), &seg)) return {};
    if (!keep_from || seg.tli < keep_from->tli || (seg.tli == keep_from->tli && seg.segno < keep_from->segno))
      keep_from = seg;
  }
  std::vector<std::string> out;
  if (!keep_from) return out;
  for (const std::string& n : listing.names) {
    Segment seg;
    if (n.ends_with(".history") || !ParseSegment(n, &seg)) continue;
    if (seg.segno < keep_from->segno) out.push_back(n);
  }
  return out;
}

// The window of a PostgreSQL archive: it opens at the oldest physical point
// whose WAL is all there.
void SegmentWindow(const WalListing& listing, const std::vector<RestorePoint>& points, WalTargetStatus* out) {
  std::set<std::string> have(listing.names.begin(), listing.names.end());
  Segment newest{};
  bool any = false;
  for (const std::string& n : listing.names) {
    Segment seg;
    if (n.ends_with(".history") || !ParseSegment(n, &seg)) continue;
    if (!any || seg.tli > newest.tli || (seg.tli == newest.tli && seg.segno > newest.segno)) newest = seg;
    any = true;
  }
  for (const RestorePoint& p : points) {
    Segment start;
    if (!walops::IsPhysical(p) || !ParseSegment(WalStart(p), &start) || !any) continue;
    Segment in_base{};
    const bool has_end = ParseSegment(WalEnd(p), &in_base);
    // Segments from the point's start to the newest one, on its timeline
    // and the later ones (where a timeline begins, it starts anew); those
    // the base backup holds itself do not count.
    std::vector<std::string> missing;
    for (uint64_t n = start.segno; n <= newest.segno; ++n) {
      if (has_end && n <= in_base.segno) continue;
      bool found = false;
      for (uint32_t tli = start.tli; tli <= newest.tli && !found; ++tli)
        found = have.count(SegmentName(tli, n)) || have.count(SegmentName(tli, n) + ".partial");
      if (!found) missing.push_back(SegmentName(start.tli, n));
    }
    if (out->from_point.empty() || !missing.empty()) {
      if (missing.empty()) {
        out->from_point = p.id;
        out->from_ns = p.time_ns;
      } else if (out->gaps.empty()) {
        out->gaps = missing;
      }
    }
    if (!out->from_point.empty()) break;
  }
}

// The recoverable window (from_point, from_ns, gaps) of `service`'s archive.
void Window(const ServiceConfig& service, const WalListing& listing, const std::vector<RestorePoint>& points,
            WalTargetStatus* out) {
  if (service.type == "mysql") return walops::BinlogWindow(listing, points, out);
  SegmentWindow(listing, points, out);
}

// What retention removes from `service`'s archive: everything older than
// the oldest kept physical point needs; nothing when a kept physical point
// does not say where its log starts (made before Cairn recorded it).
std::vector<std::string> ToForget(const ServiceConfig& service, const WalListing& listing,
                                  const std::vector<RestorePoint>& points) {
  return service.type == "mysql" ? walops::BinlogToForget(listing, points) : SegmentsToForget(listing, points);
}

// One target's archive of a service with the restore points it serves,
// read together (status, retention and recovery all need both).
struct Archive {
  std::unique_ptr<Target> target;
  WalListing listing;
  std::vector<RestorePoint> points;
};

Result<Archive> ReadArchive(const TargetConfig& config, const std::string& service) {
  Archive a;
  CAIRN_ASSIGN_OR_RETURN(a.target, OpenTarget(config));
  CAIRN_ASSIGN_OR_RETURN(a.listing, a.target->ListWal(service));
  CAIRN_ASSIGN_OR_RETURN(a.points, a.target->List(service));
  return a;
}

}  // namespace

namespace walops {

Result<const ServiceConfig*> WalService(const Config& config, const std::string& name) {
  const ServiceConfig* s = config.FindService(name);
  if (!s) return Status::NotFound("no service named '" + name + "' in " + config.path);
  if (s->type != "postgres" && s->type != "mysql")
    return Status::Unsupported("service " + name + " is of type " + s->type +
                               ": continuous archiving is available for PostgreSQL and MariaDB services");
  return s;
}

// The service's targets that hold WAL archives (repositories; Borg cannot).
std::vector<TargetConfig> WalTargets(const Config& config, const ServiceConfig& s, const OpHooks& hooks) {
  std::vector<TargetConfig> out;
  for (const std::string& name : s.targets) {
    const TargetConfig* t = config.FindTarget(name);
    if (!t || t->type != "repository") continue;
    TargetConfig c = *t;
    c.context = hooks.context;
    out.push_back(std::move(c));
  }
  return out;
}


bool IsPhysical(const RestorePoint& p) {
  const Json src = p.manifest.value("source", Json::object());
  return src.is_object() && src.value("method", "") == "physical" && p.status == "complete";
}

Result<Bytes> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "cannot read " + path);
  Bytes data((std::istreambuf_iterator<char>(in)), {});
  return data;
}

Status WriteAtomically(const std::string& path, ByteView data) {
  const std::string temp = path + ".cairn-tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "cannot create " + temp);
  Status st = WriteFully(fd, data, -1, temp);
  if (::close(fd) != 0 && st.ok()) st = Status::FromErrno(errno, "cannot write " + temp);
  if (st.ok() && ::rename(temp.c_str(), path.c_str()) != 0) st = Status::FromErrno(errno, "cannot rename " + temp);
  if (!st.ok()) ::unlink(temp.c_str());
  return st;
}

void SpoolStatus::Uploaded(const std::string& name) {
  head_ = name;
  uploaded_ns_ = NowNs();
  Write();
}

void SpoolStatus::Archived(const std::string& name, int64_t ns) {
  if (name == head_ && ns == uploaded_ns_) return;
  head_ = name;
  uploaded_ns_ = ns;
  Write();
}

void SpoolStatus::Trouble(const std::string& what) {
  if (what == trouble_) return;
  trouble_ = what;
  Write();
}

void SpoolStatus::Current() {
  current_ns_ = NowNs();
  Write();
}

void SpoolStatus::Write() const {
  const std::string text = Json{{"head", head_}, {"uploaded_ns", uploaded_ns_}, {"current_ns", current_ns_},
                                {"trouble", trouble_}}.dump();
  const std::string path = spool_ + "/" + kWalStreamStatusFile, temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << text;
  }
  ::rename(temp.c_str(), path.c_str());
}

Status RunStreamer(const ToolCommand& command, const std::string& tool, const std::string& what,
                   std::vector<std::unique_ptr<Target>>& targets, const ServiceConfig& service,
                   const std::string& spool, const OpHooks& hooks, const WalStreamOptions& options,
                   SpoolStatus& status, const std::function<Result<bool>(bool final_pass)>& upload) {
  std::unique_ptr<Process> streamer;
  int64_t restart_at = 0, marked_at = 0, started_at = 0;
  std::string last_error;
  while (!(hooks.context && hooks.context->Done())) {
    if (!streamer && NowNs() >= restart_at) {
      ProcessOptions o;
      o.argv = command.argv;
      o.env = command.env;
      o.cwd = spool;
      o.new_process_group = true;
      auto started = Process::Start(std::move(o));
      if (!started.ok()) return started.status();
      streamer = std::move(started).value();
      started_at = NowNs();
    }
    if (streamer && !streamer->Running()) {
      Status exited = streamer->Wait();  // its message ends with the tool's last error line
      if (hooks.warn) hooks.warn(tool + " stopped (" + exited.message() + "); restarting it in 5 s");
      status.Trouble(tool + " stopped: " + exited.message());
      streamer.reset();
      restart_at = NowNs() + kStreamerRestartNs;
    }
    Result<bool> pass = upload(false);
    if (!pass.ok() && pass.status().message() != last_error && hooks.warn)
      hooks.warn("archiving " + what + ": " + pass.status().message() + " (kept in " + spool + ", retrying)");
    last_error = pass.ok() ? "" : pass.status().message();
    if (!pass.ok()) status.Trouble("archiving " + what + ": " + last_error);
    // Current only while the tool runs, and has run for a while: a stopped
    // streamer receives nothing, and one that cannot connect runs for a
    // moment before it gives up (every restart).
    if (pass.ok() && *pass && streamer && streamer->Running() && NowNs() - started_at >= kStreamerSettleNs) {
      status.Trouble("");
      status.Current();
      if (NowNs() - marked_at >= options.mark_current_interval_ns) {
        marked_at = NowNs();
        for (auto& t : targets) (void)t->MarkWalCurrent(service.name, marked_at);
      }
    }
    if (hooks.context) hooks.context->SleepFor(std::chrono::milliseconds(500));
    else std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (streamer) {
    streamer->Signal(SIGTERM);
    (void)streamer->Wait();
  }
  Result<bool> last = upload(true);
  if (!last.ok()) return last.status().WithContext("archiving the last " + what + " (kept in " + spool + ")");
  return hooks.context ? hooks.context->Check() : Status::Ok();
}

}  // namespace walops

using walops::IsPhysical;
using walops::ReadFile;
using walops::WalService;
using walops::WalTargets;

std::string WalSpoolDir(const ServiceConfig& s) {
  return (s.temp_dir.empty() ? std::string("/var/tmp") : s.temp_dir) + "/cairn-wal-" + s.name;
}

// ---------------------------------------------------------------- streaming

Status StreamWal(const Config& config, const std::string& service, const OpHooks& hooks,
                 const WalStreamOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(const ServiceConfig* s, WalService(config, service));
  std::vector<TargetConfig> targets = WalTargets(config, *s, hooks);
  if (targets.empty())
    return Status::InvalidArgument("service " + service + " has no repository target to archive WAL into");
  const std::string spool = options.spool_dir.empty() ? WalSpoolDir(*s) : options.spool_dir;
  std::error_code ec;
  fs::create_directories(spool, ec);
  if (ec) return Status::IOError("cannot create the WAL spool " + spool + ": " + ec.message());
  ::chmod(spool.c_str(), 0700);
  walops::SpoolStatus status(spool);
  // The server's archive_command feeds the targets: the watcher opens none
  // (nor creates a repository as this user, which the server's user must own).
  if (ArchiveModeOf(*s) == ArchiveMode::kCommand) return walops::WatchArchiver(*s, hooks, options, status);

  std::vector<std::unique_ptr<Target>> open;
  for (const TargetConfig& t : targets) {
    CAIRN_ASSIGN_OR_RETURN(auto target, OpenTarget(t));
    CAIRN_RETURN_IF_ERROR(target->Initialize());
    open.push_back(std::move(target));
  }
  if (s->type == "mysql") return walops::StreamBinlog(*s, open, spool, hooks, options, status);
  CAIRN_ASSIGN_OR_RETURN(auto source, MakeSource(*s));
  CAIRN_ASSIGN_OR_RETURN(std::vector<ToolCommand> commands, source->WalStreamCommands(spool, ""));
  if (commands.size() != 2) return Status::Unsupported("unexpected WAL streaming commands for " + service);
  auto put_everywhere = [&](const std::string& name, ByteView data) -> Status {
    for (auto& t : open) CAIRN_RETURN_IF_ERROR(t->PutWal(service, name, data));
    status.Uploaded(name);
    return Status::Ok();
  };
  std::map<std::string, std::pair<int64_t, int64_t>> partial_seen;  // name -> (size, mtime) last uploaded
  int64_t last_partial_upload = 0;
  // One pass over the spool: completed files go to every target and then
  // leave the spool (never before: the slot no longer keeps them); the
  // growing .partial is uploaded every partial_interval when it changed.
  // The archive is current when nothing was left waiting.
  auto upload = [&](bool final_pass) -> Result<bool> {
    bool waiting = false;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(spool, ec)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string path = spool + "/" + name;
      const bool partial = name.ends_with(".partial");
      if (!partial && !(name.size() == 24 || name.ends_with(".history"))) continue;
      if (partial) {
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) continue;
        const std::pair<int64_t, int64_t> now_seen{st.st_size, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
        if (partial_seen[name] == now_seen) continue;
        if (!final_pass && NowNs() - last_partial_upload < options.partial_interval_ns) {
          waiting = true;
          continue;
        }
        CAIRN_ASSIGN_OR_RETURN(Bytes data, ReadFile(path));
        // pg_receivewal pads the growing segment with zeros to its full
        // 16 MiB; what follows the last written byte is stored as nothing
        // (the recovery pads it back), so each upload costs what was
        // written, not 16 MiB of compression and encryption every 2 s.
        while (!data.empty() && data.back() == 0) data.pop_back();
        CAIRN_RETURN_IF_ERROR(put_everywhere(name, data));
        partial_seen[name] = now_seen;
        last_partial_upload = NowNs();
        continue;
      }
      CAIRN_ASSIGN_OR_RETURN(Bytes data, ReadFile(path));
      CAIRN_RETURN_IF_ERROR(put_everywhere(name, data));
      if (name.size() == 24)
        for (auto& t : open) (void)t->DeleteWal(service, {name + ".partial"});  // superseded
      if (hooks.log) hooks.log("archived " + name);
      ::unlink(path.c_str());
    }
    return !waiting;
  };

  // What a previous run left in the spool goes out first; its .partial is
  // then dropped, so pg_receivewal starts from the slot (whole segments)
  // instead of resuming a file that may belong to a timeline the server has
  // left since (after a point-in-time overwrite).
  CAIRN_RETURN_IF_ERROR(upload(true).status().WithContext("archiving what the spool " + spool + " holds"));
  for (const auto& e : fs::directory_iterator(spool, ec))
    if (e.path().filename().string().ends_with(".partial")) fs::remove(e.path(), ec);
  {
    ProcessOptions o;
    o.argv = commands[0].argv;
    o.env = commands[0].env;
    o.cwd = "/";
    auto made = RunCapture(std::move(o));
    if (!made.ok()) return made.status().WithContext("creating the replication slot for " + service);
  }
  if (hooks.log) hooks.log("streaming the WAL of " + service + " into " + std::to_string(open.size()) + " target(s)");
  // What pg_receivewal wrote before it stopped goes out too (RunStreamer's last pass).
  return walops::RunStreamer(commands[1], "pg_receivewal", "WAL", open, *s, spool, hooks, options, status, upload);
}

// ---------------------------------------------------------------- status

Result<std::vector<WalTargetStatus>> WalStatusOf(const Config& config, const std::string& service,
                                                 const OpHooks& hooks) {
  CAIRN_ASSIGN_OR_RETURN(const ServiceConfig* s, WalService(config, service));
  std::vector<WalTargetStatus> out;
  for (const TargetConfig& t : WalTargets(config, *s, hooks)) {
    WalTargetStatus ws;
    ws.target = t.name;
    auto archive = ReadArchive(t, service);
    if (!archive.ok()) {
      ws.status = archive.status();
      out.push_back(std::move(ws));
      continue;
    }
    ws.files = archive->listing.names.size();
    ws.head = archive->listing.head;
    ws.to_ns = archive->listing.head_ns;
    Window(*s, archive->listing, archive->points, &ws);
    ws.lag_ns = ws.to_ns > 0 ? std::max<int64_t>(0, NowNs() - ws.to_ns) : 0;
    out.push_back(std::move(ws));
  }
  if (out.empty()) return Status::InvalidArgument("service " + service + " has no repository target with a WAL archive");
  return out;
}

Json WalStatusToJson(const std::vector<WalTargetStatus>& status) {
  Json out = Json::array();
  for (const auto& s : status)
    out.push_back({{"target", s.target},
                   {"error", s.status.ok() ? Json(nullptr) : Json(s.status.message())},
                   {"files", s.files},
                   {"head", s.head.empty() ? Json(nullptr) : Json(s.head)},
                   {"from", s.from_ns ? Json(FormatTime(s.from_ns)) : Json(nullptr)},
                   {"from_point", s.from_point.empty() ? Json(nullptr) : Json(s.from_point)},
                   {"to", s.to_ns ? Json(FormatTime(s.to_ns)) : Json(nullptr)},
                   {"lag_s", static_cast<double>(s.lag_ns) / 1e9},
                   {"gaps", s.gaps}});
  return out;
}

// ---------------------------------------------------------------- retention

Result<std::vector<WalForgetResult>> ForgetWal(const Config& config, const std::string& service, bool dry_run,
                                               const OpHooks& hooks) {
  CAIRN_ASSIGN_OR_RETURN(const ServiceConfig* s, WalService(config, service));
  std::vector<WalForgetResult> out;
  for (const TargetConfig& t : WalTargets(config, *s, hooks)) {
    WalForgetResult r;
    r.target = t.name;
    auto archive = ReadArchive(t, service);
    if (!archive.ok()) {
      r.status = archive.status();
      out.push_back(std::move(r));
      continue;
    }
    r.removed = ToForget(*s, archive->listing, archive->points);
    if (!dry_run && !r.removed.empty()) r.status = archive->target->DeleteWal(service, r.removed);
    if (hooks.log && !r.removed.empty())
      hooks.log(t.name + ": " + (dry_run ? "would remove " : "removed ") + std::to_string(r.removed.size()) +
                " archived log file(s) older than the oldest kept base backup");
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------- restore --at

Result<RecoveryPlan> PlanRecovery(const Config& config, const std::string& service, const std::string& at,
                                  const std::string& only_target, const OpHooks& hooks) {
  CAIRN_ASSIGN_OR_RETURN(const ServiceConfig* s, WalService(config, service));
  int64_t target_ns = 0;
  if (at != "latest") {
    auto parsed = ParseTime(at);
    if (!parsed.ok())
      return Status::InvalidArgument("--at " + at + ": not a time (want e.g. 2026-12-06T04:40:00Z, or latest)");
    target_ns = *parsed;
  }
  Status last = Status::NotFound("service " + service + " has no repository target with a WAL archive");
  for (const TargetConfig& t : WalTargets(config, *s, hooks)) {
    if (!only_target.empty() && t.name != only_target) continue;
    auto archive = ReadArchive(t, service);
    if (!archive.ok()) {
      last = archive.status();
      continue;
    }
    const std::vector<RestorePoint>* points = &archive->points;
    const WalListing* listing = &archive->listing;
    const RestorePoint* base = nullptr;
    bool any_physical = false;
    for (const RestorePoint& p : *points) {
      if (!IsPhysical(p)) continue;
      any_physical = true;
      if (target_ns == 0 || p.time_ns <= target_ns) base = &p;
    }
    WalTargetStatus whole;
    Window(*s, *listing, *points, &whole);
    if (s->type != "mysql" && !whole.from_ns)  // see below: PostgreSQL's own check is the replay
      for (const RestorePoint& p : *points)
        if (IsPhysical(p) && !whole.from_ns) whole.from_ns = p.time_ns;
    auto short_time = [](int64_t ns) { return FormatTime(ns).substr(0, 19) + "Z"; };
    const std::string window =
        !any_physical ? "there is no physical restore point (method: physical) on " + t.name
        : whole.from_ns ? "the recoverable window on " + t.name + " is " + short_time(whole.from_ns) + " to " +
                              (listing->head_ns ? short_time(listing->head_ns) : std::string("(no WAL yet)"))
                        : "nothing is recoverable on " + t.name + ": the archive has a gap after every base backup";
    if (!base) {
      last = Status::InvalidArgument("no base backup before " + at + ": " + window);
      continue;
    }
    // The chosen base must reach the archive's end without a hole: what
    // follows a gap cannot be replayed (and a time before the gap is not in
    // the window either, which begins after the last gap). A PostgreSQL
    // base backup made before Cairn recorded the WAL it holds (wal_end) is
    // left to PostgreSQL, which refuses a target it cannot reach: the
    // archive may lack that base's own WAL without harm.
    WalTargetStatus from_base;
    const bool knows_gaps = s->type == "mysql" || !WalEnd(*base).empty();
    if (knows_gaps) Window(*s, *listing, {*base}, &from_base);
    if (knows_gaps && from_base.from_point.empty()) {
      last = Status::InvalidArgument("the archive on " + t.name + " has a gap after base backup " + base->id +
                                     " (missing " + (from_base.gaps.empty() ? std::string("its start") : from_base.gaps.front()) +
                                     "): " + window);
      continue;
    }
    if (target_ns > 0 && target_ns > listing->head_ns) {
      last = Status::InvalidArgument(at + " is after the newest archived WAL: " + window);
      continue;
    }
    RecoveryPlan plan;
    plan.point = *base;
    plan.target = t.name;
    plan.target_ns = target_ns;
    plan.wal_names = listing->names;
    // One opened target for every fetch (opening derives the key: slow).
    std::shared_ptr<Target> from(std::move(archive->target));
    plan.fetch = [from, service](const std::string& name, const std::string& path) -> Status {
      CAIRN_ASSIGN_OR_RETURN(Bytes data, from->GetWal(service, name));
      return walops::WriteAtomically(path, data);
    };
    return plan;
  }
  return last;
}

}  // namespace cairn

#include "cairn/service_jobs.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "cairn/crypto.h"
#include "cairn/repository.h"
#include "cairn/engine.h"
#include "sources/volume/volume_source.h"
#include "targets/repository/repository_target.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn {
namespace {

const char kVolumesPart[] = "volumes";

// The service's own capture plus its volumes, as one capture.
class CombinedCapture : public Capture {
 public:
  void Add(std::unique_ptr<Capture> c) {
    for (auto& p : c->parts()) parts_.push_back(std::move(p));
    c->parts().clear();
    captures_.push_back(std::move(c));
  }
  std::vector<CapturePart>& parts() override { return parts_; }
  Result<Json> Finish() override {
    Json facts;
    for (auto& c : captures_) {
      CAIRN_ASSIGN_OR_RETURN(Json f, c->Finish());
      if (facts.is_null()) {
        facts = std::move(f);
        continue;
      }
      facts["fingerprint"]["exact"] = facts["fingerprint"].value("exact", false) && f["fingerprint"].value("exact", false);
      for (auto& [k, v] : f["fingerprint"]["items"].items()) facts["fingerprint"]["items"][k] = v;
      if (f["fingerprint"].contains("inexact_reasons"))
        for (const Json& r : f["fingerprint"]["inexact_reasons"]) facts["fingerprint"]["inexact_reasons"].push_back(r);
    }
    return facts;
  }

 private:
  std::vector<CapturePart> parts_;
  std::vector<std::unique_ptr<Capture>> captures_;
};

// Copies `in` to a new pipe at most `rate` bytes/s; the producer side
// (pipe buffers, then the dump tool) blocks when the cap is reached.
class ThrottledStream {
 public:
  static Result<int> Wrap(int in, uint64_t rate, std::vector<std::thread>* threads) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(errno, "cannot create a pipe");
    threads->emplace_back([in, out = p[1], rate] {
      std::vector<uint8_t> buf(64 << 10);
      const auto start = std::chrono::steady_clock::now();
      uint64_t sent = 0;
      for (;;) {
        ssize_t n = ::read(in, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (!WriteFully(out, ByteView(buf.data(), static_cast<size_t>(n)), -1, "stream").ok()) break;
        sent += static_cast<uint64_t>(n);
        const auto due = start + std::chrono::duration<double>(static_cast<double>(sent) / static_cast<double>(rate));
        std::this_thread::sleep_until(std::chrono::time_point_cast<std::chrono::steady_clock::duration>(due));
      }
      ::close(in);
      ::close(out);
    });
    return p[0];
  }
};

Status RunHook(const ServiceConfig& service, const std::string& which, const std::string& command,
               const std::function<void(const std::string&)>& log) {
  if (command.empty()) return Status::Ok();
  if (log) log("running " + which + " hook");
  ProcessOptions o = ShellCommand(command);
  o.env = {"CAIRN_SERVICE=" + service.name, "CAIRN_HOOK=" + which};
  Status st = RunQuiet(std::move(o));
  return st.ok() ? st : Status::IOError("service " + service.name + ": " + which + " hook failed: " + st.message());
}

std::unique_ptr<Source> VolumesOf(const ServiceConfig& service) {
  if (service.volumes.empty() || service.type == "volume") return nullptr;
  return MakeVolumesOf(service, kVolumesPart);
}

// "restored_20261125_061200_123": to the millisecond, so that two restores
// in the same second (a script, a drill beside a manual restore) do not
// both pick the same default place and the second fail on "already exists".
std::string TimeSuffix() {
  std::string t = FormatTime(NowNs());  // 2026-11-25T06:12:00.123456789Z
  std::string s = "restored_";
  for (char c : t.substr(0, 19))
    if (std::isdigit(static_cast<unsigned char>(c))) s += c;
  s.insert(17, "_");
  return s + "_" + t.substr(20, 3);
}

}  // namespace

std::string NewPointId() {
  Id random;
  if (!crypto::RandomBytes(random.bytes.data(), random.bytes.size()).ok())  // fall back on what is unique here
    random = crypto::Sha256(AsBytes(std::to_string(NowNs()) + Hostname() + std::to_string(::getpid())));
  return random.Hex().substr(0, 16);
}

Result<RestorePoint> BackupService(const ServiceConfig& service, const TargetConfig& target_config,
                                   const ServiceBackupOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(auto source, MakeSource(service));
  if (options.kind == "safety") source->SkipMissingDatabases();
  std::unique_ptr<Source> volumes = VolumesOf(service);
  CAIRN_ASSIGN_OR_RETURN(auto target, OpenTarget(target_config));
  CAIRN_ASSIGN_OR_RETURN(std::string version, source->Probe());
  if (volumes) CAIRN_RETURN_IF_ERROR(volumes->Probe().status());
  CAIRN_RETURN_IF_ERROR(source->CleanLeftovers(options.log));
  if (volumes) CAIRN_RETURN_IF_ERROR(volumes->CleanLeftovers(options.log));
  CAIRN_RETURN_IF_ERROR(target->Initialize());

  CAIRN_RETURN_IF_ERROR(RunHook(service, "pre", service.pre_hook, options.log));
  Result<RestorePoint> stored = [&]() -> Result<RestorePoint> {
    CombinedCapture capture;
    CAIRN_ASSIGN_OR_RETURN(auto main, source->StartCapture());
    capture.Add(std::move(main));
    if (volumes) {
      CAIRN_ASSIGN_OR_RETURN(auto extra, volumes->StartCapture());
      capture.Add(std::move(extra));
    }
    std::vector<std::thread> relays;
    if (service.bandwidth_limit > 0) {
      for (CapturePart& part : capture.parts()) {
        if (part.kind != CapturePart::Kind::kStream) continue;
        part.open = [open = part.open, rate = service.bandwidth_limit, &relays]() -> Result<int> {
          CAIRN_ASSIGN_OR_RETURN(int fd, open());
          return ThrottledStream::Wrap(fd, rate, &relays);
        };
      }
    }
    StoreRequest request;
    request.service = service.name;
    request.point_id = options.point_id.empty() ? NewPointId() : options.point_id;
    request.kind = options.kind;
    request.time_ns = options.time_ns ? options.time_ns : NowNs();
    request.capture = &capture;
    request.progress = options.progress;
    request.manifest = Json{{"format", 1},
                            {"point_id", request.point_id},
                            {"service", service.name},
                            {"type", service.type},
                            {"kind", options.kind},
                            {"time", FormatTime(request.time_ns)},
                            {"hostname", Hostname()},
                            {"server_version", version},
                            {"cairn_version", CAIRN_VERSION}};
    if (options.log) options.log("backing up " + service.name + " to " + target_config.name);
    Result<RestorePoint> r = target->Store(request);
    for (auto& t : relays) t.join();
    return r;
  }();
  Status post = RunHook(service, "post", service.post_hook, options.log);
  if (!stored.ok()) return stored.status();
  CAIRN_RETURN_IF_ERROR(post);
  return stored;
}

Result<std::vector<ServicePoint>> ListServicePoints(const Config& config, const ServiceConfig& service,
                                                    const std::string& target_name,
                                                    std::vector<std::string>* unreachable) {
  std::vector<ServicePoint> out;
  std::map<std::string, size_t> by_id;
  for (const std::string& name : service.targets) {
    if (!target_name.empty() && name != target_name) continue;
    const TargetConfig* tc = config.FindTarget(name);
    auto target = OpenTarget(*tc);
    Result<std::vector<RestorePoint>> points = target.ok() ? (*target)->List(service.name)
                                                           : Result<std::vector<RestorePoint>>(target.status());
    if (!points.ok()) {
      // A target never written to is only worth a word when asked for by name.
      if (points.status().IsNotFound() && target_name.empty()) continue;
      const std::string& message = points.status().message();
      if (unreachable)
        unreachable->push_back(message.starts_with("target " + name) ? message : "target " + name + ": " + message);
      continue;
    }
    for (RestorePoint& p : *points) {
      const std::string key = p.id.empty() ? name + "/" + p.native_id : p.id;
      auto it = by_id.find(key);
      if (it != by_id.end()) {
        out[it->second].targets.push_back(name);
        continue;
      }
      by_id[key] = out.size();
      out.push_back(ServicePoint{std::move(p), {name}});
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const ServicePoint& a, const ServicePoint& b) { return a.point.time_ns < b.point.time_ns; });
  return out;
}

Result<ServiceRestoreResult> RestoreService(const ServiceConfig& service, const TargetConfig& target_config,
                                            const RestorePoint& point, const ServiceRestoreOptions& options) {
  if (point.status != "complete")
    return Status::InvalidArgument("restore point " + point.id + " is " + point.status + " and cannot be restored");
  if (point.manifest.value("type", service.type) != service.type)
    return Status::InvalidArgument("restore point " + point.id + " is of a " + point.manifest.value("type", "") +
                                   " service, not " + service.type);
  CAIRN_ASSIGN_OR_RETURN(auto source, MakeSource(service));
  std::unique_ptr<Source> volumes;
  for (const auto& part : point.manifest.value("parts", Json::array()))
    if (part.value("name", "") == kVolumesPart && service.type != "volume") volumes = MakeVolumesOf(service, kVolumesPart);
  CAIRN_ASSIGN_OR_RETURN(auto target, OpenTarget(target_config));
  CAIRN_RETURN_IF_ERROR(source->CheckRestore(point.manifest, options.mode));
  CAIRN_RETURN_IF_ERROR(source->CleanLeftovers(options.log));
  if (volumes) CAIRN_RETURN_IF_ERROR(volumes->CleanLeftovers(options.log));

  ServiceRestoreResult result;
  if (options.mode == RestoreMode::kOverwrite && options.safety_backup) {
    if (options.log) options.log("taking a safety backup of the current state");
    ServiceBackupOptions safety;
    safety.kind = "safety";
    safety.log = options.log;
    safety.progress = options.progress;
    if (options.progress) options.progress->SetPhase(Phase::kSafetyBackup, "", target_config.name);
    auto taken = BackupService(service, target_config, safety);
    if (!taken.ok())
      return Status::Aborted("safety backup failed, nothing was restored (use --no-safety-backup to restore anyway): " +
                             taken.status().message());
    result.safety = *taken;
  }

  CAIRN_ASSIGN_OR_RETURN(auto reader, target->Open(point));
  RestoreRequest request;
  request.mode = options.mode;
  request.manifest = point.manifest;
  request.reader = reader.get();
  request.new_name = options.new_name;
  request.suffix = TimeSuffix();
  request.port = options.port;
  request.log = options.log;
  request.recovery = options.recovery;
  if (options.progress) options.progress->SetPhase(Phase::kRestoring, "", target_config.name);
  CAIRN_ASSIGN_OR_RETURN(result.outcome, source->Restore(request));
  if (options.mode == RestoreMode::kOverwrite)
    result.state = service.name + " now runs on the restored data (the restore itself completed); " +
                   (result.safety ? "the state it replaced is safety restore point " + result.safety->id
                                  : std::string("the state it replaced was not backed up (--no-safety-backup)"));
  else
    result.state = "the original is untouched; the restored copy is left in place for inspection";
  Json locator = result.outcome.locator;
  if (volumes) {
    RestoreRequest vr = request;
    // The name belongs to the service's data; its volumes go beside their
    // originals unless told otherwise (a drill's scratch directory).
    if (options.mode == RestoreMode::kNewInstance) vr.new_name = options.volumes_new_name;
    CAIRN_ASSIGN_OR_RETURN(RestoreOutcome vo, volumes->Restore(vr));
    for (auto& [k, v] : vo.locator.items()) locator[k] = v;
    result.outcome.connection[kVolumesPart] = vo.connection;
    result.outcome.summary += "; volumes: " + vo.summary;
  }

  if (options.progress) options.progress->SetPhase(Phase::kValidating);
  if (options.recovery.enabled) {
    // The data is the base backup plus replayed WAL, which the base's
    // fingerprint cannot describe. What is proven: the server replayed to
    // the target, promoted, and every database answers to a full read of
    // its tables (taking the fingerprint reads them all).
    if (options.log) options.log("validating: every database of the recovered server answers");
    CAIRN_ASSIGN_OR_RETURN(Json actual, source->Fingerprint(locator));
    result.validation.exact = false;
    result.validation.structure_only.push_back("point-in-time recovery: the server came up, promoted and answered (" +
                                               std::to_string(actual.value("items", Json::object()).size()) +
                                               " objects read); the base backup's fingerprint does not apply");
    return result;
  }
  if (options.log) options.log("validating against the backup's fingerprint");
  CAIRN_ASSIGN_OR_RETURN(Json actual, source->Fingerprint(locator));
  if (volumes) {
    CAIRN_ASSIGN_OR_RETURN(Json extra, volumes->Fingerprint(locator));
    for (auto& [k, v] : extra["items"].items()) actual["items"][k] = v;
  }
  result.validation = CompareFingerprints(point.manifest.value("fingerprint", Json()), actual);
  return result;
}

Result<ServiceCopyResult> CopyServicePoints(const ServiceConfig& service, const TargetConfig& from_config,
                                            const TargetConfig& to_config, const std::vector<std::string>& wanted) {
  if (from_config.name == to_config.name) return Status::InvalidArgument("copy needs two different targets");
  CAIRN_ASSIGN_OR_RETURN(auto from, OpenTarget(from_config));
  CAIRN_ASSIGN_OR_RETURN(auto to, OpenTarget(to_config));
  CAIRN_ASSIGN_OR_RETURN(Repository * from_repo, RepositoryOf(*from));
  CAIRN_RETURN_IF_ERROR(to->Initialize());
  CAIRN_ASSIGN_OR_RETURN(Repository * to_repo, RepositoryOf(*to));
  CAIRN_ASSIGN_OR_RETURN(std::vector<RestorePoint> source_points, from->List(service.name));
  CAIRN_ASSIGN_OR_RETURN(std::vector<RestorePoint> dest_points, to->List(service.name));

  ServiceCopyResult result;
  std::vector<Snapshot> todo;
  std::vector<std::string> todo_ids;
  for (const std::string& w : wanted) {
    bool found = false;
    for (const auto& p : source_points) found = found || p.id.compare(0, w.size(), w) == 0;
    if (!found) return Status::NotFound("target " + from_config.name + " has no restore point " + w + " of " + service.name);
  }
  for (const RestorePoint& p : source_points) {
    bool selected = wanted.empty();
    for (const std::string& w : wanted) selected = selected || p.id.compare(0, w.size(), w) == 0;
    if (!selected) continue;
    bool there = false;
    for (const auto& d : dest_points) there = there || d.id == p.id;
    if (there) {
      result.present.push_back(p.id);
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(Snapshot snap, from_repo->FindSnapshot(p.native_id));
    todo.push_back(std::move(snap));
    todo_ids.push_back(p.id);
  }
  if (todo.empty()) return result;
  CopyStats stats;
  CAIRN_RETURN_IF_ERROR(CopySnapshots(*from_repo, *to_repo, todo, &stats).status());
  result.copied = todo_ids;
  result.bytes_copied = stats.bytes_copied;
  result.bytes_stored = stats.bytes_stored;
  result.blobs_copied = stats.blobs_copied;
  result.blobs_skipped = stats.blobs_skipped;
  return result;
}

}  // namespace cairn

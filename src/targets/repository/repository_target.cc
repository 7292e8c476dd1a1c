#include "targets/repository/repository_target.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "cairn/engine.h"
#include "cairn/maintenance.h"
#include "storage/s3/s3_storage.h"
#include "storage/wrappers/retrying_storage.h"
#include "targets/repository/wal_store.h"

namespace cairn {
namespace {

const std::string kServiceTag = "service=";

class SnapshotPartReader : public PartReader {
 public:
  SnapshotPartReader(Repository& repo, Snapshot snapshot, const OpContext* context)
      : repo_(repo), snapshot_(std::move(snapshot)), context_(context) {}

  Status ReadStream(const std::string& part, const std::string& file_name, int fd) override {
    return DumpFile(repo_, snapshot_, "/" + part + "/" + file_name, fd);
  }

  Status ExtractFiles(const std::string& part, const std::string& directory) override {
    CAIRN_ASSIGN_OR_RETURN(Node node, FindNode(repo_, snapshot_, "/" + part));
    if (node.type != NodeType::kDir || !node.subtree)
      return Status::Corruption("part " + part + " of snapshot " + snapshot_.id.ShortHex() + " is not a directory");
    Snapshot view = snapshot_;  // the part's tree as the root of a snapshot
    view.tree = *node.subtree;
    RestoreOptions options;
    options.target = directory;
    options.context = context_;
    CAIRN_ASSIGN_OR_RETURN(RestoreResult r, RunRestore(repo_, view, options));
    if (!r.damaged.empty())
      return Status::Corruption("restoring part " + part + ": " + std::to_string(r.damaged.size()) +
                                " file(s) lack data, first " + r.damaged.front().path + ": " + r.damaged.front().reason);
    if (r.warnings) return Status::IOError("restoring part " + part + " gave " + std::to_string(r.warnings) + " warnings");
    return Status::Ok();
  }

 private:
  Repository& repo_;
  Snapshot snapshot_;
  const OpContext* context_;
};

// S3 locations may carry per-target settings: `s3_credentials_file`, or
// `s3_access_key_id` + `s3_secret_access_key`, `s3_region`, `s3_ca_bundle`;
// they override the environment (docs/configuration.md).
Result<std::unique_ptr<Storage>> OpenTargetStorage(const TargetConfig& config, bool create) {
  if (!config.location.starts_with("s3:")) return OpenStorage(config.location, create);
  CAIRN_ASSIGN_OR_RETURN(S3Options options, ParseS3Location(config.location));
  const Json& s = config.settings;
  auto text = [&](const char* key) { return s.contains(key) && s[key].is_string() ? s[key].get<std::string>() : ""; };
  if (!text("s3_credentials_file").empty()) {
    options.access_key_id.clear();
    options.secret_access_key.clear();
    options.session_token.clear();
    CAIRN_RETURN_IF_ERROR(ReadS3CredentialsFile(text("s3_credentials_file"), &options)
                              .WithContext("target " + config.name));
  }
  if (!text("s3_access_key_id").empty()) {
    options.access_key_id = text("s3_access_key_id");
    options.secret_access_key = text("s3_secret_access_key");
    options.session_token.clear();
  }
  if (!text("s3_region").empty()) options.region = text("s3_region");
  if (!text("s3_ca_bundle").empty()) options.ca_bundle = text("s3_ca_bundle");
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Storage> s3, OpenS3Storage(options));
  RetryOptions retry;
  if (const OpContext* context = config.context) {
    retry.sleep = [context](std::chrono::milliseconds ms) { context->SleepFor(ms); };
    retry.cancelled = [context] { return context->Done(); };
  }
  return WrapRetrying(std::move(s3), retry);
}

class RepositoryTarget : public Target {
 public:
  explicit RepositoryTarget(TargetConfig config) : config_(std::move(config)) {}
  const TargetConfig& config() const override { return config_; }

  Status Initialize() override {
    if (repo_) return Status::Ok();
    CAIRN_ASSIGN_OR_RETURN(auto storage, OpenTargetStorage(config_, /*create=*/true));
    // Two jobs creating the same new local repository at once (the daemon
    // runs backups of several services in parallel) must not both write a
    // config and a key: the loser's key would not open the winner's config.
    // An flock on the repository directory itself (no file of its own: Init
    // wants the directory empty) makes the check and the creation one step;
    // S3 has no such lock (docs/storage-s3.md).
    int lock_fd = -1;
    if (!config_.location.starts_with("s3:")) {
      lock_fd = ::open(config_.location.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (lock_fd >= 0) ::flock(lock_fd, LOCK_EX);
    }
    auto config = storage->Stat("config");
    Status st = Status::Ok();
    if (!config.ok()) {
      st = config.status().IsNotFound()
               ? Repository::Init(*storage, config_.password, InitOptions{})
                     .WithContext("cannot create a repository for target " + config_.name)
               : config.status().WithContext("target " + config_.name);
    }
    if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
    return st;
  }

  Result<Repository*> Repo() {
    if (!repo_) {
      CAIRN_ASSIGN_OR_RETURN(auto storage, OpenTargetStorage(config_, /*create=*/false));
      auto repo = Repository::Open(std::move(storage), config_.password);
      if (!repo.ok()) return repo.status().WithContext("target " + config_.name);
      repo_ = std::move(repo).value();
    }
    return repo_.get();
  }

  Result<RestorePoint> Store(const StoreRequest& request) override {
    CAIRN_RETURN_IF_ERROR(Initialize());
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    BackupOptions options;
    options.parts = &request.capture->parts();
    options.tags = {kServiceTag + request.service, "point=" + request.point_id, "kind=" + request.kind};
    options.parent_tag = kServiceTag + request.service;
    options.time_ns = request.time_ns;
    options.progress = request.progress;
    options.context = config_.context;
    Json parts = Json::array();
    options.on_part_done = [&](const CapturePart& part, uint64_t bytes, uint64_t files) {
      parts.push_back(PartManifest(part, bytes, files));
    };
    Json manifest = request.manifest;
    options.before_save = [&](Snapshot& snap) -> Status {
      CAIRN_ASSIGN_OR_RETURN(Json facts, request.capture->Finish());
      for (auto& [key, value] : facts.items()) manifest[key] = value;
      manifest["parts"] = parts;
      uint64_t size = 0;
      for (const auto& p : parts) size += p.value("bytes", uint64_t{0});
      manifest["size"] = size;
      manifest["duration_s"] = snap.summary.duration_s;
      snap.service = manifest.dump();
      return Status::Ok();
    };
    CAIRN_ASSIGN_OR_RETURN(BackupResult result, RunBackup(*repo, options));
    return PointOf(result.snapshot);
  }

  Result<std::vector<RestorePoint>> List(const std::string& service) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> snapshots, repo->ListSnapshots());
    std::vector<RestorePoint> points;
    for (const Snapshot& s : snapshots) {
      if (s.service.empty()) continue;
      RestorePoint p = PointOf(s);
      if (service.empty() || p.service == service) points.push_back(std::move(p));
    }
    std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.time_ns < b.time_ns; });
    return points;
  }

  Result<std::unique_ptr<PartReader>> Open(const RestorePoint& point) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    CAIRN_RETURN_IF_ERROR(repo->LoadIndex());
    CAIRN_ASSIGN_OR_RETURN(Snapshot snap, repo->FindSnapshot(point.native_id));
    return std::unique_ptr<PartReader>(new SnapshotPartReader(*repo, std::move(snap), config_.context));
  }

  Status Remove(const RestorePoint& point) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    CAIRN_ASSIGN_OR_RETURN(auto lock, repo->Lock(/*exclusive=*/true));
    CAIRN_ASSIGN_OR_RETURN(Snapshot snap, repo->FindSnapshot(point.native_id));
    return repo->DeleteSnapshot(snap.id);
  }

  Status Compact() override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    return Prune(*repo, PruneOptions{}, [](const std::string&) {}).status().WithContext("target " + config_.name);
  }

  Result<std::vector<RetentionDecision>> ApplyRetention(const std::string& service, bool dry_run,
                                                        bool compact) override {
    if (config_.retention.Empty())
      return Status::InvalidArgument("target " + config_.name + " has no retention policy");
    CAIRN_ASSIGN_OR_RETURN(std::vector<RestorePoint> points, List(service));
    std::vector<RetentionCandidate> candidates;
    std::map<std::string, std::string> snapshot_of;  // point id -> snapshot id
    for (const auto& p : points) {
      candidates.push_back({p.id, p.time_ns, {"kind=" + p.kind}});
      snapshot_of[p.id] = p.native_id;
    }
    std::vector<RetentionDecision> decisions = cairn::ApplyRetention(config_.retention, candidates);
    if (dry_run) return decisions;
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    CAIRN_ASSIGN_OR_RETURN(auto lock, repo->Lock(/*exclusive=*/true));
    bool removed = false;
    for (const auto& d : decisions) {
      if (d.keep) continue;
      CAIRN_ASSIGN_OR_RETURN(Snapshot snap, repo->FindSnapshot(snapshot_of[d.id]));
      CAIRN_RETURN_IF_ERROR(repo->DeleteSnapshot(snap.id));
      removed = true;
    }
    lock.reset();
    if (removed && compact) CAIRN_RETURN_IF_ERROR(Prune(*repo, PruneOptions{}, [](const std::string&) {}).status());
    return decisions;
  }

  Status Check(bool read_data) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    CheckOptions options;
    options.read_data = read_data;
    CAIRN_ASSIGN_OR_RETURN(CheckReport report, CheckRepository(*repo, options, [](const std::string&) {}));
    if (!report.errors.empty())
      return Status::Corruption("target " + config_.name + ": " + std::to_string(report.errors.size()) +
                                " errors, first: " + report.errors.front());
    return Status::Ok();
  }

  Status Check(const TargetCheckOptions& options, TargetCheckReport* out) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    CheckOptions co;
    co.read_data = options.read_share > 0;
    if (co.read_data && options.read_share < 1) {
      co.choose_packs = [&](const std::vector<Id>& packs) {
        std::vector<Id> chosen;
        for (const Id& p : packs)
          if (PackInRotation(p.Hex(), options.read_share, options.rotation)) chosen.push_back(p);
        return chosen;
      };
    }
    CAIRN_ASSIGN_OR_RETURN(CheckReport report, CheckRepository(*repo, co, [](const std::string&) {}));
    if (out) {
      out->packs = report.packs;
      out->packs_read = report.packs_read;
      for (const std::string& r : report.repairs) out->repair += (out->repair.empty() ? "" : "; then ") + r;
    }
    if (!report.errors.empty())
      return Status::Corruption("target " + config_.name + ": " + std::to_string(report.errors.size()) +
                                " error(s), first: " + report.errors.front() +
                                (report.repairs.empty() ? "" : "; repair with: " + report.repairs.front()));
    return Status::Ok();
  }

  Status PutWal(const std::string& service, const std::string& name, ByteView data) override {
    CAIRN_RETURN_IF_ERROR(Initialize());
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    return PutWalObject(*repo, service, name, data, now).WithContext("target " + config_.name);
  }
  Result<Bytes> GetWal(const std::string& service, const std::string& name) override {
    auto repo = Repo();
    // NotFound means "not archived", which ends a recovery: a repository
    // that is not there must not say so.
    if (!repo.ok()) return repo.status().IsNotFound() ? Status::IOError(repo.status().message()) : repo.status();
    return GetWalObject(**repo, service, name);
  }
  Result<WalListing> ListWal(const std::string& service) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    return ListWalObjects(*repo, service);
  }
  Status DeleteWal(const std::string& service, const std::vector<std::string>& names) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    return DeleteWalObjects(*repo, service, names);
  }
  Status MarkWalCurrent(const std::string& service, int64_t now_ns) override {
    CAIRN_ASSIGN_OR_RETURN(Repository * repo, Repo());
    return TouchWalHead(*repo, service, now_ns).WithContext("target " + config_.name);
  }

 private:
  RestorePoint PointOf(const Snapshot& s) const {
    RestorePoint p;
    Json m = Json::parse(s.service, nullptr, false);
    if (m.is_discarded() || !m.is_object()) m = Json::object();
    p.id = m.value("point_id", "");
    p.service = m.value("service", "");
    p.target = config_.name;
    p.time_ns = s.time_ns;
    p.kind = m.value("kind", "manual");
    // A repaired copy (repair snapshots) lacks data: it is shown, never chosen.
    p.status = m.contains("repaired") ? "damaged" : "complete";
    p.size = m.value("size", uint64_t{0});
    p.stored = s.summary.bytes_stored;
    p.duration_s = m.value("duration_s", s.summary.duration_s);
    p.manifest = std::move(m);
    p.native_id = s.id.Hex();
    return p;
  }

  TargetConfig config_;
  std::unique_ptr<Repository> repo_;
};

}  // namespace

Result<std::unique_ptr<Target>> OpenRepositoryTarget(const TargetConfig& config) {
  return std::unique_ptr<Target>(new RepositoryTarget(config));
}

Result<Repository*> RepositoryOf(Target& target) {
  auto* t = dynamic_cast<RepositoryTarget*>(&target);
  if (!t) return Status::InvalidArgument("target " + target.config().name + " is not a Cairn repository");
  return t->Repo();
}

}  // namespace cairn

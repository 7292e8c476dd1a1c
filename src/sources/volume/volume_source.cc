#include "sources/volume/volume_source.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>
#include <system_error>

#include "cairn/crypto.h"
#include "util/staging.h"

namespace cairn {
namespace {

constexpr char kStaging[] = ".cairn-staging-";         // a new instance, before it is moved to its name
constexpr char kRestoreStaging[] = ".cairn-restore-";  // an overwrite, before the swap; then the replaced files

namespace fs = std::filesystem;

// Files, directories, bytes and a digest of every entry's path, type, size,
// mode, file mtime and link target: a restore that lost, truncated or
// misplaced anything changes it. Content is not re-read (the engine's
// check --read-data proves content); directory mtimes are left out because
// creating a directory's entries changes it.
Result<Json> FingerprintTree(const std::string& root) {
  struct stat st;
  if (::lstat(root.c_str(), &st) != 0) return Status::FromErrno(errno, "cannot read volume " + root);
  std::vector<std::string> lines;
  uint64_t files = 0, dirs = 0, bytes = 0;
  auto describe = [&](const std::string& rel, const struct stat& s, const std::string& path) {
    std::string line = rel + '\0' + std::to_string(s.st_mode) + '\0';
    if (S_ISREG(s.st_mode)) {
      ++files;
      bytes += static_cast<uint64_t>(s.st_size);
      line += std::to_string(s.st_size) + '\0' + std::to_string(s.st_mtim.tv_sec) + "." +
              std::to_string(s.st_mtim.tv_nsec);
    } else if (S_ISDIR(s.st_mode)) {
      ++dirs;
    } else if (S_ISLNK(s.st_mode)) {
      std::error_code ec;
      line += fs::read_symlink(path, ec).string();
    }
    lines.push_back(std::move(line));
  };
  describe(".", st, root);
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string path = it->path().string();
      struct stat s;
      if (::lstat(path.c_str(), &s) != 0) return Status::FromErrno(errno, "cannot read " + path);
      describe(path.substr(root.size() + 1), s, path);
    }
    if (ec) return Status::IOError("cannot read volume " + root + ": " + ec.message());
  }
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const auto& l : lines) all += l + '\n';
  const Id digest = crypto::Sha256(ByteView(reinterpret_cast<const uint8_t*>(all.data()), all.size()));
  return Json{{"files", files}, {"dirs", dirs}, {"bytes", bytes}, {"digest", digest.Hex()}};
}

class VolumeCapture : public Capture {
 public:
  VolumeCapture(std::vector<CapturePart> parts, Json fingerprint)
      : parts_(std::move(parts)), fingerprint_(std::move(fingerprint)) {}
  std::vector<CapturePart>& parts() override { return parts_; }
  Result<Json> Finish() override {
    return Json{{"server_version", ""}, {"fingerprint", fingerprint_}, {"source", Json::object()}};
  }

 private:
  std::vector<CapturePart> parts_;
  Json fingerprint_;
};

class VolumeSource : public Source {
 public:
  VolumeSource(std::string service, std::vector<std::string> paths, std::string part_name)
      : service_(std::move(service)), paths_(std::move(paths)), part_(std::move(part_name)) {
    for (auto& p : paths_) {
      p = fs::path(p).lexically_normal().string();
      while (p.size() > 1 && p.back() == '/') p.pop_back();
    }
  }

  Result<std::string> Probe() override {
    for (const auto& p : paths_) {
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) return Status::FromErrno(errno, "service " + service_ + ": volume " + p);
    }
    return std::string("files");
  }

  Result<std::unique_ptr<Capture>> StartCapture() override {
    CAIRN_RETURN_IF_ERROR(Probe().status());
    CAIRN_ASSIGN_OR_RETURN(Json fp, FingerprintFor(Identity()));
    CapturePart part;
    part.name = part_;
    part.kind = CapturePart::Kind::kFiles;
    part.paths = paths_;
    std::vector<CapturePart> parts;
    parts.push_back(std::move(part));
    return std::unique_ptr<Capture>(new VolumeCapture(std::move(parts), std::move(fp)));
  }

  Result<Json> Fingerprint(const Json& locator) override {
    std::map<std::string, std::string> where = Identity();
    if (locator.contains(part_))
      for (const auto& [orig, now] : locator[part_].items()) where[orig] = now.get<std::string>();
    return FingerprintFor(where);
  }

  // Staging of restores killed half-way sits beside the volumes (see
  // util/staging.h); the next run removes it.
  Status CleanLeftovers(const std::function<void(const std::string&)>& log) override {
    std::set<std::string> parents;
    for (const auto& p : paths_) parents.insert(fs::path(p).parent_path().string());
    for (const auto& dir : parents) {
      CAIRN_RETURN_IF_ERROR(RemoveStaleStaging(dir, kStaging, log));
      CAIRN_RETURN_IF_ERROR(RemoveStaleStaging(dir, kRestoreStaging, log));
    }
    return Status::Ok();
  }

  Result<RestoreOutcome> Restore(const RestoreRequest& request) override {
    std::vector<std::string> stored = StoredPaths(request.manifest);
    if (stored.empty()) return Status::Corruption("restore point has no files part '" + part_ + "'");
    const std::string anchor = fs::path(stored[0]).parent_path().string();
    RestoreOutcome out;
    Json mapping = Json::object();
    if (request.mode == RestoreMode::kNewInstance) {
      // One path: the copy is new_name (relative: beside the original) or
      // "<path>.<suffix>". Several: a directory holding each by base name.
      std::string dest = request.new_name.empty() ? stored[0] + "." + request.suffix
                         : request.new_name[0] == '/' ? request.new_name
                                                      : (fs::path(anchor) / request.new_name).string();
      if (::access(dest.c_str(), F_OK) == 0) return Status::AlreadyExists(dest + " already exists");
      CAIRN_ASSIGN_OR_RETURN(const std::string staging, MakeStagingDir(fs::path(dest).parent_path().string(), kStaging));
      CAIRN_RETURN_IF_ERROR(Extract(request, staging));
      std::error_code ec;
      if (stored.size() > 1) fs::create_directories(dest, ec);
      for (const auto& p : stored) {
        std::string to = stored.size() == 1 ? dest : dest + "/" + fs::path(p).filename().string();
        if (::rename((staging + p).c_str(), to.c_str()) != 0) {
          Status st = Status::FromErrno(errno, "cannot move restored " + p + " to " + to);
          fs::remove_all(staging, ec);
          return st;
        }
        mapping[p] = to;
      }
      fs::remove_all(staging, ec);
      out.summary = "files restored to " + dest;
      out.connection = Json{{"path", dest}};
    } else {
      // Extract beside the originals, then swap each with an atomic exchange:
      // a failed extraction leaves every original untouched.
      for (const auto& p : stored) {
        struct stat a, b;
        if (::stat(fs::path(p).parent_path().c_str(), &a) == 0 && ::stat(anchor.c_str(), &b) == 0 &&
            a.st_dev != b.st_dev)
          return Status::Unsupported("volumes " + stored[0] + " and " + p +
                                     " are on different file systems; restore them as a new instance");
      }
      CAIRN_ASSIGN_OR_RETURN(const std::string staging, MakeStagingDir(anchor, kRestoreStaging));
      CAIRN_RETURN_IF_ERROR(Extract(request, staging));
      std::error_code ec;
      for (const auto& p : stored) {
        const std::string fresh = staging + p;
        if (::access(p.c_str(), F_OK) == 0) {
          if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, p.c_str(), RENAME_EXCHANGE) != 0) {
            Status st = Status::FromErrno(errno, "cannot swap restored files into " + p);
            fs::remove_all(staging, ec);
            return st;
          }
        } else {
          fs::create_directories(fs::path(p).parent_path(), ec);
          if (::rename(fresh.c_str(), p.c_str()) != 0) return Status::FromErrno(errno, "cannot restore " + p);
        }
        mapping[p] = p;
        if (request.log) request.log("swapped in " + p);
      }
      fs::remove_all(staging, ec);  // now holds the replaced files
      out.summary = "files restored in place";
      out.connection = Json{{"paths", stored}};
    }
    out.locator[part_] = mapping;
    return out;
  }

  // A drill restores a new instance into the scratch directory and reads
  // every file back (the restore already checked each block against its id).
  Result<DrillSandbox> PrepareDrill(const Json&, const std::string& scratch,
                                    const std::function<void(const std::string&)>&) override {
    DrillSandbox sb;
    sb.mode = RestoreMode::kNewInstance;
    sb.new_name = scratch + "/files";
    sb.check = [part = part_](const RestoreOutcome& out) -> Result<std::string> {
      uint64_t files = 0, bytes = 0;
      const Json mapping = out.locator.value(part, Json::object());
      std::vector<char> buf(1 << 20);
      for (const auto& [orig, now] : mapping.items()) {
        std::error_code ec;
        std::vector<std::string> regular;
        if (fs::is_regular_file(fs::symlink_status(now.get<std::string>(), ec))) regular.push_back(now);
        for (auto it = fs::recursive_directory_iterator(now.get<std::string>(), ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
          if (it->is_regular_file(ec) && !it->is_symlink(ec)) regular.push_back(it->path().string());
        if (ec) return Status::IOError("cannot list restored " + now.get<std::string>() + ": " + ec.message());
        for (const std::string& f : regular) {
          const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
          if (fd < 0) return Status::FromErrno(errno, "cannot read restored " + f);
          ssize_t n;
          while ((n = ::read(fd, buf.data(), buf.size())) > 0) bytes += static_cast<uint64_t>(n);
          ::close(fd);
          if (n < 0) return Status::IOError("cannot read restored " + f);
          ++files;
        }
      }
      return "read back " + std::to_string(files) + " files (" + std::to_string(bytes) + " bytes)";
    };
    return sb;
  }

 private:
  std::map<std::string, std::string> Identity() const {
    std::map<std::string, std::string> m;
    for (const auto& p : paths_) m[p] = p;
    return m;
  }

  Result<Json> FingerprintFor(const std::map<std::string, std::string>& where) {
    Json items = Json::object();
    for (const auto& [orig, now] : where) {
      CAIRN_ASSIGN_OR_RETURN(Json fp, FingerprintTree(now));
      items[part_ + ":" + orig] = std::move(fp);
    }
    return Json{{"exact", true}, {"items", std::move(items)}};
  }

  std::vector<std::string> StoredPaths(const Json& manifest) const {
    std::vector<std::string> out;
    for (const auto& part : manifest.value("parts", Json::array()))
      if (part.value("name", "") == part_) out = part.value("paths", std::vector<std::string>{});
    return out;
  }

  Status Extract(const RestoreRequest& request, const std::string& staging) {
    std::error_code ec;
    Status st = request.reader->ExtractFiles(part_, staging);
    if (!st.ok()) fs::remove_all(staging, ec);
    return st;
  }

  std::string service_;
  std::vector<std::string> paths_;
  std::string part_;
};

}  // namespace

Result<std::unique_ptr<Source>> MakeVolumeSource(const ServiceConfig& config) {
  std::vector<std::string> paths;
  const Json& p = config.settings.contains("paths") ? config.settings["paths"] : config.settings.value("path", Json());
  if (p.is_string()) paths.push_back(p.get<std::string>());
  else if (p.is_array())
    for (const auto& v : p)
      if (v.is_string()) paths.push_back(v.get<std::string>());
  if (paths.empty()) return Status::InvalidArgument("service " + config.name + ": a volume service needs paths");
  for (const auto& path : paths)
    if (path.empty() || path[0] != '/')
      return Status::InvalidArgument("service " + config.name + ": volume path '" + path + "' must be absolute");
  return std::unique_ptr<Source>(new VolumeSource(config.name, std::move(paths), "files"));
}

std::unique_ptr<Source> MakeVolumesOf(const ServiceConfig& config, const std::string& part_name) {
  return std::unique_ptr<Source>(new VolumeSource(config.name, config.volumes, part_name));
}

}  // namespace cairn

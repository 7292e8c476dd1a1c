// Browsing a point's files parts inside the repository (cairn/ops.h,
// PointFiles): the tree walk of FindNode, never a path on the host.
#include <sys/stat.h>

#include <map>
#include <mutex>

#include "cairn/engine.h"
#include "cairn/ops.h"
#include "cairn/repository.h"
#include "targets/repository/repository_target.h"

namespace cairn {
namespace {

// Paths from a request: absolute, no empty, "." or ".." components.
Result<std::vector<std::string>> SplitPath(const std::string& path) {
  if (path.empty() || path[0] != '/') return Status::InvalidArgument("path must be absolute: " + path);
  std::vector<std::string> parts;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string c = path.substr(i, j - i);
    if (c == "." || c == ".." || (c.empty() && j != path.size()))
      return Status::InvalidArgument("path must not have empty, '.' or '..' components: " + path);
    if (!c.empty()) parts.push_back(std::move(c));
    i = j + 1;
  }
  return parts;
}

std::string TypeOf(NodeType t) {
  switch (t) {
    case NodeType::kFile: return "file";
    case NodeType::kDir: return "dir";
    case NodeType::kSymlink: return "symlink";
    default: return "other";
  }
}

PointFileEntry EntryOf(const Node& n, const std::string& name) {
  return PointFileEntry{name, TypeOf(n.type), n.type == NodeType::kFile ? n.size : 0, n.mtime_ns, n.mode & 07777};
}

// The files parts of a manifest and the paths each stored.
std::vector<std::pair<std::string, std::vector<std::string>>> FilesParts(const Json& manifest) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  if (!manifest.is_object() || !manifest.contains("parts") || !manifest["parts"].is_array()) return out;
  for (const Json& p : manifest["parts"]) {
    if (!p.is_object() || p.value("kind", "") != "files" || !p.contains("name") || !p["name"].is_string()) continue;
    std::vector<std::string> paths;
    if (p.contains("paths") && p["paths"].is_array())
      for (const Json& x : p["paths"])
        if (x.is_string()) paths.push_back(x.get<std::string>());
    out.emplace_back(p["name"].get<std::string>(), std::move(paths));
  }
  return out;
}

class RepositoryPointFiles : public PointFiles {
 public:
  RepositoryPointFiles(std::unique_ptr<Target> target, Repository* repo) : target_(std::move(target)), repo_(repo) {}

  Result<std::vector<PointFileEntry>> List(const std::string& native_id, const Json& manifest,
                                           const std::string& path) override {
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> components, SplitPath(path));
    CAIRN_ASSIGN_OR_RETURN(Snapshot snap, SnapshotOf(native_id));
    auto parts = FilesParts(manifest);
    if (parts.empty()) return Status::NotFound("this restore point has no files parts to browse");
    std::vector<PointFileEntry> entries;
    if (components.empty()) {
      for (const auto& [part, roots] : parts)
        for (const std::string& root : roots) {
          auto node = FindNode(*repo_, snap, "/" + part + root);
          if (node.ok()) entries.push_back(EntryOf(*node, root.substr(root.find_first_not_of('/'))));
        }
      return entries;
    }
    CAIRN_ASSIGN_OR_RETURN(Node node, Find(snap, parts, path));
    if (node.type != NodeType::kDir || !node.subtree) return Status::InvalidArgument(path + " is not a directory");
    CAIRN_ASSIGN_OR_RETURN(Tree tree, repo_->LoadTree(*node.subtree));
    for (const Node& n : tree.nodes) entries.push_back(EntryOf(n, n.name));
    return entries;
  }

  Status Read(const std::string& native_id, const Json& manifest, const std::string& path,
              const std::function<void(const std::string&, uint64_t)>& start,
              const std::function<bool(ByteView)>& sink) override {
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> components, SplitPath(path));
    if (components.empty()) return Status::InvalidArgument("/ is not a file");
    CAIRN_ASSIGN_OR_RETURN(Snapshot snap, SnapshotOf(native_id));
    auto parts = FilesParts(manifest);
    CAIRN_ASSIGN_OR_RETURN(Node node, Find(snap, parts, path));
    if (node.type != NodeType::kFile) return Status::InvalidArgument(path + " is not a regular file");
    // Every blob is looked up before the first byte goes out: a file whose
    // data the index lacks is an error status, not a short download.
    for (const Id& id : node.content)
      if (!repo_->Lookup(id))
        return Status::Corruption("data of " + path + " is missing from the repository (blob " + id.ShortHex() +
                                  "); run cairn check");
    start(components.back(), node.size);
    Bytes plain;
    uint64_t sent = 0;
    for (const Id& id : node.content) {
      CAIRN_RETURN_IF_ERROR(repo_->ReadBlob(id, &plain));
      sent += plain.size();
      if (!sink(ByteView(plain.data(), plain.size()))) return Status::Aborted("the download was stopped");
    }
    if (sent != node.size)
      return Status::Corruption(path + ": " + std::to_string(sent) + " bytes stored, " + std::to_string(node.size) +
                                " recorded");
    return Status::Ok();
  }

 private:
  Result<Snapshot> SnapshotOf(const std::string& native_id) {
    Id id;
    if (!Id::FromHex(native_id, &id)) return Status::NotFound("no snapshot " + native_id + " in the repository");
    {
      std::lock_guard lock(mu_);
      auto it = snapshots_.find(native_id);
      if (it != snapshots_.end()) return it->second;
    }
    auto snap = repo_->LoadSnapshot(id);
    if (!snap.ok()) return snap.status();
    std::lock_guard lock(mu_);
    if (snapshots_.size() > 256) snapshots_.clear();  // a bound, not an LRU: snapshots are small
    snapshots_[native_id] = *snap;
    return *snap;
  }

  Result<Node> Find(const Snapshot& snap, const std::vector<std::pair<std::string, std::vector<std::string>>>& parts,
                    const std::string& path) {
    Status last = Status::NotFound(path + " is not in this restore point");
    for (const auto& [part, roots] : parts) {
      auto node = FindNode(*repo_, snap, "/" + part + path);
      if (node.ok()) return node;
      if (!node.status().IsNotFound()) last = node.status();
    }
    return last;
  }

  std::unique_ptr<Target> target_;  // owns the repository
  Repository* repo_;
  std::mutex mu_;
  std::map<std::string, Snapshot> snapshots_;
};

}  // namespace

Result<std::unique_ptr<PointFiles>> PointFiles::Open(const TargetConfig& target) {
  if (target.type != "repository")
    return Status::Unsupported("target " + target.name + " is a " + target.type +
                               " target; files can be browsed on Cairn repository targets only");
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Target> t, OpenTarget(target));
  CAIRN_ASSIGN_OR_RETURN(Repository * repo, RepositoryOf(*t));
  CAIRN_RETURN_IF_ERROR(repo->LoadIndex());
  return std::unique_ptr<PointFiles>(new RepositoryPointFiles(std::move(t), repo));
}

}  // namespace cairn

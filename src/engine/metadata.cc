#include "engine/metadata.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace cairn {
namespace {

// Account lookups read /etc/passwd or /etc/group on every call, and backups
// and restores ask once per file, so each answer is remembered.
template <typename Key, typename Value>
class LookupCache {
 public:
  Value Get(const Key& key, const std::function<Value(const Key&)>& lookup) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = cache_.try_emplace(key);
    if (inserted) it->second = lookup(key);
    return it->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<Key, Value> cache_;
};

std::string UserName(uint32_t uid) {
  static LookupCache<uint32_t, std::string> cache;
  return cache.Get(uid, [](const uint32_t& id) {
    struct passwd pw, *res = nullptr;
    char buf[4096];
    return std::string(getpwuid_r(id, &pw, buf, sizeof(buf), &res) == 0 && res ? res->pw_name : "");
  });
}

std::string GroupName(uint32_t gid) {
  static LookupCache<uint32_t, std::string> cache;
  return cache.Get(gid, [](const uint32_t& id) {
    struct group gr, *res = nullptr;
    char buf[4096];
    return std::string(getgrgid_r(id, &gr, buf, sizeof(buf), &res) == 0 && res ? res->gr_name : "");
  });
}

// Restores owners by name where this system knows the name, else by number,
// as tar does: ids differ between hosts, names usually mean the same account.
uint32_t LocalUid(const Node& node) {
  if (node.user.empty()) return node.uid;
  static LookupCache<std::string, std::optional<uint32_t>> cache;
  return cache.Get(node.user, [](const std::string& name) {
           struct passwd pw, *res = nullptr;
           char buf[4096];
           return getpwnam_r(name.c_str(), &pw, buf, sizeof(buf), &res) == 0 && res ? std::optional<uint32_t>(res->pw_uid)
                                                                                  : std::nullopt;
         }).value_or(node.uid);
}

uint32_t LocalGid(const Node& node) {
  if (node.group.empty()) return node.gid;
  static LookupCache<std::string, std::optional<uint32_t>> cache;
  return cache.Get(node.group, [](const std::string& name) {
           struct group gr, *res = nullptr;
           char buf[4096];
           return getgrnam_r(name.c_str(), &gr, buf, sizeof(buf), &res) == 0 && res ? std::optional<uint32_t>(res->gr_gid)
                                                                                  : std::nullopt;
         }).value_or(node.gid);
}

void ReadXattrs(const std::string& path, Node* node) {
  ssize_t size = llistxattr(path.c_str(), nullptr, 0);
  if (size <= 0) return;
  std::string names(static_cast<size_t>(size), '\0');
  size = llistxattr(path.c_str(), names.data(), names.size());
  if (size <= 0) return;
  names.resize(static_cast<size_t>(size));
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    ssize_t vsize = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vsize < 0) continue;
    std::string value(static_cast<size_t>(vsize), '\0');
    vsize = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (vsize < 0) continue;
    value.resize(static_cast<size_t>(vsize));
    node->xattrs.emplace_back(std::move(name), std::move(value));
  }
  std::sort(node->xattrs.begin(), node->xattrs.end());
}

int64_t ToNs(const struct timespec& ts) { return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec; }
struct timespec FromNs(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    --ts.tv_sec;
  }
  return ts;
}

}  // namespace

NodeType NodeTypeFromMode(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return NodeType::kDir;
    case S_IFLNK: return NodeType::kSymlink;
    case S_IFCHR: return NodeType::kCharDevice;
    case S_IFBLK: return NodeType::kBlockDevice;
    case S_IFIFO: return NodeType::kFifo;
    case S_IFSOCK: return NodeType::kSocket;
    default: return NodeType::kFile;
  }
}

Status ReadNodeMetadata(const std::string& path, Node* node) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "cannot stat " + path);
  node->type = NodeTypeFromMode(st.st_mode);
  node->mode = st.st_mode;
  node->uid = st.st_uid;
  node->gid = st.st_gid;
  node->user = UserName(st.st_uid);
  node->group = GroupName(st.st_gid);
  node->size = node->type == NodeType::kFile ? static_cast<uint64_t>(st.st_size) : 0;
  node->mtime_ns = ToNs(st.st_mtim);
  node->ctime_ns = ToNs(st.st_ctim);
  node->atime_ns = ToNs(st.st_atim);
  node->inode = st.st_ino;
  node->device = st.st_dev;
  node->nlink = st.st_nlink;
  node->rdev = (node->type == NodeType::kCharDevice || node->type == NodeType::kBlockDevice) ? st.st_rdev : 0;
  if (node->type == NodeType::kSymlink) {
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096), '\0');
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return Status::FromErrno(errno, "cannot read symlink " + path);
    target.resize(static_cast<size_t>(n));
    node->link_target = std::move(target);
  }
  ReadXattrs(path, node);
  return Status::Ok();
}

std::string ApplyNodeMetadataAt(int dirfd, const std::string& name, const std::string& display, const Node& node,
                                int fd, bool mode_is_exact) {
  std::string warning;
  auto note = [&](const char* what) {
    if (warning.empty()) warning = std::string("cannot restore ") + what + " of " + display + ": " + std::strerror(errno);
  };
  const bool is_link = node.type == NodeType::kSymlink;
  static const bool is_root = ::geteuid() == 0;
  static const uid_t own_uid = ::geteuid();
  static const gid_t own_gid = ::getegid();
  bool chowned = false;
  if (is_root) {
    const uint32_t uid = LocalUid(node), gid = LocalGid(node);
    if (!mode_is_exact || uid != own_uid || gid != own_gid) {
      int rc = fd >= 0 ? ::fchown(fd, uid, gid) : ::fchownat(dirfd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
      if (rc != 0) note("owner");
      chowned = true;
    }
  }
  // Extended attributes of an entry without an fd (symlinks, devices) are set
  // through the parent directory's fd: the last component is not followed.
  const std::string via_parent = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
  for (const auto& [key, value] : node.xattrs) {
    int rc = fd >= 0 ? ::fsetxattr(fd, key.c_str(), value.data(), value.size(), 0)
                     : ::lsetxattr(via_parent.c_str(), key.c_str(), value.data(), value.size(), 0);
    if (rc != 0 && errno != ENOTSUP && errno != EPERM) note("extended attributes");
  }
  // chmod after chown: chown clears set-id bits.
  if (!is_link && (!mode_is_exact || (chowned && (node.mode & (S_ISUID | S_ISGID))))) {
    int rc = fd >= 0 ? ::fchmod(fd, node.mode & 07777) : ::fchmodat(dirfd, name.c_str(), node.mode & 07777, 0);
    if (rc != 0) note("permissions");
  }
  struct timespec times[2] = {FromNs(node.atime_ns), FromNs(node.mtime_ns)};
  int rc = fd >= 0 ? ::futimens(fd, times) : ::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) note("times");
  return warning;
}

}  // namespace cairn

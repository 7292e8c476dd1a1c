#include "engine/safe_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace cairn {
namespace {

// openat2 is used while the kernel has it; ENOSYS (old kernels) and EPERM
// (seccomp filters that do not know it) switch to the component walk.
std::atomic<bool> g_have_openat2{true};

int OpenAt2(int dirfd, const char* path, int flags, mode_t mode) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EAGAIN || errno == EINTR) continue;  // EAGAIN: a concurrent rename; retry
    return -1;
  }
}

std::vector<std::string> Components(const std::string& rel) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    if (slash > start) parts.push_back(rel.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// The fallback: every directory component opened with O_NOFOLLOW, the last
// one with the caller's flags plus O_NOFOLLOW.
int OpenWalk(int dirfd, const std::string& rel, int flags, mode_t mode) {
  std::vector<std::string> parts = Components(rel);
  if (parts.empty()) return ::openat(dirfd, ".", flags, mode);
  for (const auto& p : parts)
    if (p == "." || p == "..") {
      errno = EXDEV;
      return -1;
    }
  int current = dirfd;
  UniqueFd holder;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(current, parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      // O_NOFOLLOW on a symlink with O_PATH opens the link itself; with
      // O_DIRECTORY it fails with ENOTDIR: report it as the loop it is.
      if (errno == ENOTDIR) {
        struct stat st;
        if (::fstatat(current, parts[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) errno = ELOOP;
      }
      return -1;
    }
    holder = UniqueFd(next);
    current = next;
  }
  return ::openat(current, parts.back().c_str(), flags | O_NOFOLLOW, mode);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<SafeRoot> SafeRoot::Open(const std::string& path, bool create) {
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);  // mode 0777 & ~umask, as mkdir -p
    if (ec) return Status::IOError("cannot create restore target " + path + ": " + ec.message());
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot open restore target " + path);
  std::string clean = path;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  return SafeRoot(clean, UniqueFd(fd));
}

std::string SafeRoot::Describe(const std::string& rel) const {
  return rel.empty() ? path_ : (path_ == "/" ? "/" + rel : path_ + "/" + rel);
}

Result<UniqueFd> SafeRoot::OpenAt(const std::string& rel, int flags, mode_t mode, int* err) const {
  flags |= O_CLOEXEC;
  const char* p = rel.empty() ? "." : rel.c_str();
  int fd = -1;
  if (g_have_openat2.load(std::memory_order_relaxed)) {
    fd = OpenAt2(fd_.get(), p, flags, mode);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
      g_have_openat2 = false;
      fd = OpenWalk(fd_.get(), rel, flags, mode);
    }
  } else {
    fd = OpenWalk(fd_.get(), rel, flags, mode);
  }
  if (fd < 0) {
    const int e = errno;
    if (err) *err = e;
    if (e == ELOOP || e == EXDEV)
      return Status::IOError("refusing to follow a symlink below the restore target at " + Describe(rel));
    return Status::FromErrno(e, "cannot open " + Describe(rel));
  }
  if (err) *err = 0;
  return UniqueFd(fd);
}

Result<std::pair<UniqueFd, std::string>> SafeRoot::OpenParent(const std::string& rel) const {
  const size_t slash = rel.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : rel.substr(0, slash);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  if (name.empty() || name == "." || name == "..")
    return Status::InvalidArgument("invalid path below the restore target: '" + rel + "'");
  CAIRN_ASSIGN_OR_RETURN(UniqueFd fd, OpenAt(dir, O_PATH | O_DIRECTORY));
  return std::make_pair(std::move(fd), name);
}

Status SafeRoot::Remove(const std::string& rel) const {
  CAIRN_ASSIGN_OR_RETURN(auto parent, OpenParent(rel));
  return RemoveAt(parent.first.get(), parent.second, Describe(rel));
}

Status RemoveAt(int dirfd, const std::string& name, const std::string& what) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? Status::Ok() : Status::FromErrno(errno, "cannot replace " + what);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT)
      return Status::FromErrno(errno, "cannot replace " + what);
    return Status::Ok();
  }
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot replace " + what);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return Status::FromErrno(errno, "cannot replace " + what);
  }
  std::vector<std::string> children;
  while (dirent* e = ::readdir(dir))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) children.emplace_back(e->d_name);
  Status st_children;
  for (const auto& child : children) {
    Status s = RemoveAt(::dirfd(dir), child, what + "/" + child);
    if (!s.ok() && st_children.ok()) st_children = s;
  }
  ::closedir(dir);
  CAIRN_RETURN_IF_ERROR(st_children);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return Status::FromErrno(errno, "cannot replace " + what);
  return Status::Ok();
}

namespace testing {
void ForceComponentWalk(bool force) { g_have_openat2 = !force; }
}  // namespace testing

}  // namespace cairn

// Opening paths beneath a restore target without ever following a symlink.
//
// A snapshot's tree is data anyone holding the repository password can
// write, and restore runs as root: a tree that places a symlink where a
// directory was expected must not make restore write outside its target.
// Every path restore touches is therefore resolved relative to the target's
// directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the
// kernel has it (Linux 5.6+), else component by component with O_NOFOLLOW.
// Symlinks from the snapshot are created last, after every file was written.
//
// Relative paths here are '/'-separated, without a leading '/', and never
// contain "." or ".." components (trees are validated when decoded).
// Thread-safety: a SafeRoot may be used from many threads at once.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "cairn/status.h"

namespace cairn {

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

class SafeRoot {
 public:
  // Opens (with create: first makes, honouring the umask) the directory
  // `path`. The path itself is the operator's choice and may contain
  // symlinks; nothing beneath it may.
  static Result<SafeRoot> Open(const std::string& path, bool create);

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  // "<root>/<rel>", for messages.
  std::string Describe(const std::string& rel) const;

  // openat(2) of `rel` beneath the root: ELOOP (as IOError naming the path)
  // when any component is a symlink. Returns the errno in `*err` when given,
  // for callers that handle EEXIST / ELOOP / EISDIR themselves.
  Result<UniqueFd> OpenAt(const std::string& rel, int flags, mode_t mode = 0, int* err = nullptr) const;
  // The directory holding `rel` (opened O_PATH | O_DIRECTORY) and rel's last component.
  Result<std::pair<UniqueFd, std::string>> OpenParent(const std::string& rel) const;
  // Removes what is at `rel` (a whole directory tree too), never following a symlink.
  Status Remove(const std::string& rel) const;

 private:
  SafeRoot(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

// Removes `name` in directory `dirfd` and, when it is a directory, all of it,
// without following symlinks. ENOENT is success.
Status RemoveAt(int dirfd, const std::string& name, const std::string& what);

namespace testing {
// Uses the component-by-component walk even where openat2 exists (tests).
void ForceComponentWalk(bool force);
}  // namespace testing

}  // namespace cairn

// Local-directory storage driver. Objects are files below the root; Put is
// made atomic and durable with the usual temp-file dance: write a temp file in
// the target directory, fsync it, rename it over the key, fsync the directory.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>
#include <filesystem>
#include <random>

#include "cairn/storage.h"
#include "util/fd_io.h"

namespace cairn {
namespace {

constexpr std::string_view kTempMarker = ".cairn-tmp-";

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { int f = fd_; fd_ = -1; return f; }

 private:
  int fd_;
};

Status ReadExactlyAt(int fd, uint8_t* out, size_t length, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + path);
    }
    if (n == 0) return Status::Corruption(path + " is shorter than expected (truncated)");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status FsyncDirectory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir);
  return Status::Ok();
}

std::string ParentOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status MakeDirectories(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Status::Ok();
    size_t slash = path.find_last_of('/');
    if (errno != ENOENT || slash == std::string::npos || slash == 0)
      return Status::FromErrno(errno, "create directory " + path);
    CAIRN_RETURN_IF_ERROR(MakeDirectories(path.substr(0, slash)));
    if (::mkdir(path.c_str(), 0700) != 0) {
      if (errno == EEXIST) return Status::Ok();
      return Status::FromErrno(errno, "create directory " + path);
    }
  }
  // The new directory's entry lives in its parent: unsynced, a crash could
  // take the directory, and every object Put below it, away.
  return FsyncDirectory(ParentOf(path));
}

// Random rather than pid + counter: in a container every run may get the same
// pid, and a crashed run's temp file must never block a later Put (O_EXCL).
std::string TempPathFor(const std::string& path) {
  thread_local std::mt19937_64 random(std::random_device{}());
  return path + std::string(kTempMarker) + std::to_string(::getpid()) + "-" + std::to_string(random());
}

// Object stores have no directories, so a directory here (a key that only
// prefixes other keys) is no object either.
Status ObjectSize(int fd, const std::string& path, uint64_t* size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) return Status::NotFound(path + " is not a file");
  *size = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

class LocalStorage final : public Storage {
 public:
  explicit LocalStorage(std::string root) : root_(std::move(root)) {}

  Status Put(std::string_view key, ByteView data) override { return Write(key, data, /*sync_now=*/true); }

  Status PutUnsynced(std::string_view key, ByteView data) override { return Write(key, data, /*sync_now=*/false); }

  Status Flush() override {
    std::vector<std::string> files;
    {
      std::lock_guard lock(unsynced_mu_);
      files.swap(unsynced_);
    }
    std::set<std::string> dirs;
    Status first;
    for (const std::string& path : files) {
      Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      Status st = fd.get() < 0 ? Status::FromErrno(errno, "open " + path)
                  : ::fdatasync(fd.get()) != 0 ? Status::FromErrno(errno, "fsync " + path)
                                               : Status::Ok();
      if (first.ok()) first = st;
      dirs.insert(path.substr(0, path.find_last_of('/')));
    }
    for (const std::string& dir : dirs)
      if (Status st = FsyncDirectory(dir); first.ok()) first = st;
    return first;
  }

 private:
  Status Write(std::string_view key, ByteView data, bool sync_now) {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = PathOf(key);
    const std::string dir = path.substr(0, path.find_last_of('/'));
    const std::string temp = TempPathFor(path);
    int raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (raw < 0 && errno == ENOENT) {
      CAIRN_RETURN_IF_ERROR(MakeDirectories(dir));
      raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (raw < 0) return Status::FromErrno(errno, "create " + temp);
    Fd fd(raw);
    Status st = WriteFully(fd.get(), data, -1, "write " + path);
    if (st.ok() && sync_now && ::fdatasync(fd.get()) != 0) st = Status::FromErrno(errno, "fsync " + path);
    // Start write-back now so that Flush finds little left to do.
    if (st.ok() && !sync_now) ::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    if (st.ok() && ::close(fd.release()) != 0) st = Status::FromErrno(errno, "close " + path);
    if (st.ok() && ::rename(temp.c_str(), path.c_str()) != 0) st = Status::FromErrno(errno, "rename " + temp);
    if (!st.ok()) {
      ::unlink(temp.c_str());
      return st;
    }
    if (!sync_now) {
      std::lock_guard lock(unsynced_mu_);
      unsynced_.push_back(path);
      return Status::Ok();
    }
    return FsyncDirectory(dir);
  }

 public:

  Result<Bytes> Get(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = PathOf(key);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Status::FromErrno(errno, "open " + path);
    uint64_t size;
    CAIRN_RETURN_IF_ERROR(ObjectSize(fd.get(), path, &size));
    Bytes out(size);
    CAIRN_RETURN_IF_ERROR(ReadExactlyAt(fd.get(), out.data(), out.size(), 0, path));
    return out;
  }

  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = PathOf(key);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Status::FromErrno(errno, "open " + path);
    uint64_t size;
    CAIRN_RETURN_IF_ERROR(ObjectSize(fd.get(), path, &size));
    // Checked before allocating, since a corrupt index can ask for any length,
    // and without computing offset + length, which can overflow.
    if (offset > size || length > size - offset)
      return Status::Corruption(path + " is shorter than expected: " + std::to_string(size) + " bytes, asked for " +
                                std::to_string(length) + " at offset " + std::to_string(offset));
    Bytes out(length);
    CAIRN_RETURN_IF_ERROR(ReadExactlyAt(fd.get(), out.data(), length, offset, path));
    return out;
  }

  Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) override {
    // Walk only the directory the prefix names, not the whole repository.
    std::string dir_key(prefix.substr(0, prefix.find_last_of('/') == std::string_view::npos
                                              ? 0
                                              : prefix.find_last_of('/')));
    return Walk(dir_key, prefix, fn);
  }

  Status Delete(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = PathOf(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == EISDIR) return Status::NotFound(path + " is not a file");
      return Status::FromErrno(errno, "delete " + path);
    }
    return Status::Ok();
  }

  Result<ObjectInfo> Stat(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = PathOf(key);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
    if (!S_ISREG(st.st_mode)) return Status::NotFound(path + " is not a file");
    return ObjectInfo{std::string(key), static_cast<uint64_t>(st.st_size)};
  }

  // One writer keeps a disk streaming; more only add seeks and memory.
  StorageCapabilities capabilities() const override { return {1, true}; }

  Result<uint64_t> RemoveIncompleteWrites() override {
    uint64_t removed = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().find(kTempMarker) == std::string::npos) continue;
      std::error_code remove_ec;
      if (std::filesystem::remove(it->path(), remove_ec)) ++removed;
      else if (remove_ec) return Status::IOError("cannot remove leftover " + it->path().string() + ": " + remove_ec.message());
    }
    if (ec) return Status::IOError("cannot scan " + root_ + " for leftovers: " + ec.message());
    return removed;
  }
  std::string location() const override { return root_; }

 private:
  std::string PathOf(std::string_view key) const { return root_ + "/" + std::string(key); }

  static Status CheckKey(std::string_view key) {
    if (key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos ||
        key.find(kTempMarker) != std::string_view::npos)
      return Status::InvalidArgument("invalid storage key '" + std::string(key) + "'");
    return Status::Ok();
  }

  Status Walk(const std::string& dir_key, std::string_view prefix,
              const std::function<Status(const ObjectInfo&)>& fn) {
    const std::string dir = dir_key.empty() ? root_ : root_ + "/" + dir_key;
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      // ENOTDIR: the prefix runs through an object's key; nothing is below it.
      if (errno == ENOENT || errno == ENOTDIR) return Status::Ok();
      return Status::FromErrno(errno, "list " + dir);
    }
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || name.find(kTempMarker) != std::string_view::npos) continue;
      std::string key = dir_key.empty() ? std::string(name) : dir_key + "/" + std::string(name);
      struct stat st;
      if (::fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // raced with delete
      if (S_ISDIR(st.st_mode)) {
        // Descend only where keys below could still match the prefix.
        std::string as_dir = key + "/";
        if (as_dir.compare(0, std::min(as_dir.size(), prefix.size()), prefix.substr(0, std::min(as_dir.size(), prefix.size()))) == 0)
          CAIRN_RETURN_IF_ERROR(Walk(key, prefix, fn));
      } else if (S_ISREG(st.st_mode) && key.starts_with(prefix)) {
        CAIRN_RETURN_IF_ERROR(fn(ObjectInfo{key, static_cast<uint64_t>(st.st_size)}));
      }
    }
    return Status::Ok();
  }

  std::string root_;
  std::mutex unsynced_mu_;
  std::vector<std::string> unsynced_;  // PutUnsynced objects waiting for Flush
};

}  // namespace

Result<std::unique_ptr<Storage>> OpenLocalStorage(const std::string& root_in, bool create) {
  std::string root = root_in;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root.empty()) return Status::InvalidArgument("repository path is empty");
  if (create) CAIRN_RETURN_IF_ERROR(MakeDirectories(root));
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("repository " + root + " does not exist");
    return Status::FromErrno(errno, "open repository " + root);
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(root + " is not a directory");
  return std::unique_ptr<Storage>(new LocalStorage(root));
}

}  // namespace cairn

#include "util/staging.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cairn {
namespace {

std::string Template(const std::string& parent, const std::string& prefix) {
  return parent + "/" + prefix + std::to_string(::getpid()) + "-XXXXXX";
}

bool ProcessAlive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

}  // namespace

Result<std::string> MakeStagingDir(const std::string& parent, const std::string& prefix) {
  std::string path = Template(parent, prefix);
  if (!::mkdtemp(path.data())) return Status::FromErrno(errno, "cannot create a staging directory in " + parent);
  return path;
}

Result<std::string> MakeStagingFile(const std::string& parent, const std::string& prefix) {
  std::string path = Template(parent, prefix);
  int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot create a staging file in " + parent);
  ::close(fd);
  return path;
}

Status RemoveStaleStaging(const std::string& parent, const std::string& prefix,
                          const std::function<void(const std::string&)>& log) {
  DIR* dir = ::opendir(parent.c_str());
  if (!dir) return errno == ENOENT || errno == ENOTDIR ? Status::Ok() : Status::FromErrno(errno, "cannot list " + parent);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir))
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) names.emplace_back(e->d_name);
  ::closedir(dir);
  Status first;
  for (const std::string& name : names) {
    const std::string path = parent + "/" + name;
    const std::string rest = name.substr(prefix.size());
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (end == rest.c_str() || *end != '-') {
      if (log) log("leftover of an interrupted restore: " + path + " (delete it if no restore is running)");
      continue;
    }
    if (ProcessAlive(pid)) continue;
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) {
      if (first.ok()) first = Status::IOError("cannot remove leftover " + path + ": " + ec.message());
      continue;
    }
    if (log) log("removed the leftover of an interrupted restore: " + path);
  }
  return first;
}

}  // namespace cairn

#include "util/staging.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
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

namespace {

// Pids whose working directory is `dir` or below it.
std::vector<pid_t> ProcessesIn(const std::string& dir) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  const pid_t self = ::getpid();
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid == self) continue;
    char buf[4096];
    const std::string link = std::string("/proc/") + e->d_name + "/cwd";
    const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    std::string cwd(buf, static_cast<size_t>(n));
    if (cwd.ends_with(" (deleted)")) cwd.resize(cwd.size() - 10);
    if (cwd == dir || cwd.starts_with(dir + "/")) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

}  // namespace

int StopProcessesIn(const std::string& dir, int64_t grace_ns) {
  if (dir.empty() || dir == "/") return 0;
  std::vector<pid_t> pids = ProcessesIn(dir);
  for (pid_t p : pids) ::kill(p, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(grace_ns);
  while (!ProcessesIn(dir).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (pid_t p : ProcessesIn(dir)) ::kill(p, SIGKILL);
  // Zombies of our own children keep no cwd; others are reaped by init.
  return static_cast<int>(pids.size());
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
    if (const int stopped = StopProcessesIn(path); stopped > 0 && log)
      log("stopped " + std::to_string(stopped) + " process(es) left running in " + path);
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

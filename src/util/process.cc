#include "util/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace cairn {
namespace {

constexpr size_t kStderrKeep = 16 * 1024;

void CloseIfOpen(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Drains `fd` into `out`, keeping at most `keep` trailing bytes (0: all).
void Drain(int fd, std::string* out, size_t keep) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (keep && out->size() > 2 * keep) out->erase(0, out->size() - keep);
  }
  if (keep && out->size() > keep) out->erase(0, out->size() - keep);
  ::close(fd);
}

// ioprio_set(IOPRIO_WHO_PROCESS, 0, best-effort class level 7): the lowest
// best-effort priority; "idle" could starve a backup forever on a busy disk.
void LowerIoPriority() {
  constexpr int kIoprioWhoProcess = 1, kClassBestEffort = 2, kClassShift = 13;
  ::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, (kClassBestEffort << kClassShift) | 7);
}

}  // namespace

std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

bool IsCairnSecret(const std::string& name) {
  // Cairn's own secrets: hooks, dump tools, borg and the servers it starts
  // get what they need passed explicitly, never these by inheritance.
  static const char* const kSecrets[] = {"CAIRN_PASSWORD", "CAIRN_NEW_PASSWORD", "AWS_SECRET_ACCESS_KEY",
                                         "AWS_SESSION_TOKEN"};
  for (const char* secret : kSecrets)
    if (name == secret) return true;
  return false;
}

Result<std::unique_ptr<Process>> Process::Start(ProcessOptions options) {
  if (options.argv.empty()) return Status::InvalidArgument("no program to run");
  std::string program = FindProgram(options.argv[0]);
  if (program.empty()) return Status::NotFound("program " + options.argv[0] + " is not installed (not found on PATH)");

  uid_t uid = 0;
  gid_t gid = 0;
  if (options.run_as) {
    struct passwd* pw = ::getpwnam(options.run_as->c_str());
    if (!pw) return Status::NotFound("user " + *options.run_as + " does not exist");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }

  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
  const bool want_out_pipe = options.stdout_mode == ProcessOptions::Output::kPipe ||
                             options.stdout_mode == ProcessOptions::Output::kCapture;
  if ((want_out_pipe && ::pipe2(out_pipe, O_CLOEXEC) != 0) || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
      (options.stdin_pipe && ::pipe2(in_pipe, O_CLOEXEC) != 0))
    return Status::FromErrno(errno, "cannot create a pipe for " + options.argv[0]);

  std::vector<std::string> env_strings;
  for (char** e = options.inherit_env ? environ : nullptr; e && *e; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    if (IsCairnSecret(key)) continue;
    bool overridden = false;
    for (const std::string& extra : options.env)
      if (extra.compare(0, key.size() + 1, key + "=") == 0) overridden = true;
    if (!overridden) env_strings.push_back(std::move(entry));
  }
  for (const std::string& extra : options.env) env_strings.push_back(extra);
  std::vector<char*> envp, argv;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (std::string& s : options.argv) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "cannot start " + options.argv[0]);
  if (pid == 0) {
    // A child starts with no blocked signals: the daemon and its jobs block
    // SIGTERM in every thread (a sigwait thread takes it), and a tool that
    // inherited that mask would survive the cancel sent to its group.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.new_process_group) ::setpgid(0, 0);
    int in = options.stdin_pipe ? in_pipe[0] : options.stdin_fd;
    if (in < 0) in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    int out = -1;
    switch (options.stdout_mode) {
      case ProcessOptions::Output::kDiscard: out = ::open("/dev/null", O_WRONLY); break;
      case ProcessOptions::Output::kFd: out = options.stdout_fd; break;
      default: out = out_pipe[1];
    }
    ::dup2(out, 1);
    ::dup2(err_pipe[1], 2);
    // Servers Cairn starts outlive it: they must not keep its other files
    // (repository packs, pipes of other parts) open.
    ::close_range(3, ~0u, 0);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
      dprintf(2, "cannot enter directory %s: %s\n", options.cwd.c_str(), std::strerror(errno));
      _exit(126);
    }
    if (options.low_priority) {
      ::setpriority(PRIO_PROCESS, 0, 10);
      LowerIoPriority();
    }
    if (options.run_as) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        dprintf(2, "cannot switch to user %s: %s\n", options.run_as->c_str(), std::strerror(errno));
        _exit(126);
      }
    }
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(program.c_str(), argv.data(), envp.data());
    dprintf(2, "cannot run %s: %s\n", program.c_str(), std::strerror(errno));
    _exit(127);
  }

  std::unique_ptr<Process> p(new Process());
  p->program_ = options.argv[0];
  p->pid_ = pid;
  if (options.new_process_group) ::setpgid(pid, pid);
  if (want_out_pipe) {
    ::close(out_pipe[1]);
    p->stdout_read_ = out_pipe[0];
  }
  if (options.stdin_pipe) {
    ::close(in_pipe[0]);
    p->stdin_write_ = in_pipe[1];
  }
  ::close(err_pipe[1]);
  p->stderr_reader_ = std::thread(Drain, err_pipe[0], &p->stderr_text_, kStderrKeep);
  if (options.stdout_mode == ProcessOptions::Output::kCapture) {
    p->capture_stdout_ = true;
    int fd = p->stdout_read_;
    p->stdout_read_ = -1;
    p->stdout_reader_ = std::thread(Drain, fd, &p->stdout_text_, 0);
  }
  return p;
}

Process::~Process() {
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  CloseIfOpen(stdout_read_);
  CloseIfOpen(stdin_write_);
  if (stderr_reader_.joinable()) stderr_reader_.join();
  if (stdout_reader_.joinable()) stdout_reader_.join();
}

int Process::ReleaseStdout() {
  int fd = stdout_read_;
  stdout_read_ = -1;
  return fd;
}

void Process::CloseStdin() { CloseIfOpen(stdin_write_); }

void Process::Signal(int sig) {
  if (pid_ > 0 && !exit_status_) ::kill(pid_, sig);
}

bool Process::Running() {
  if (exit_status_) return false;
  int status;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = status;
    return false;
  }
  return true;
}

std::string Process::LastErrorLine() const {
  size_t end = stderr_text_.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  size_t begin = stderr_text_.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return stderr_text_.substr(begin, end - begin + 1);
}

Status Process::Wait() {
  CloseIfOpen(stdin_write_);
  if (!exit_status_) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) return Status::FromErrno(errno, "cannot wait for " + program_);
    }
    exit_status_ = status;
  }
  if (stderr_reader_.joinable()) stderr_reader_.join();
  if (stdout_reader_.joinable()) stdout_reader_.join();
  const int status = *exit_status_;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  std::string how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                      : "killed by signal " + std::to_string(WTERMSIG(status));
  std::string last = LastErrorLine();
  return Status::IOError(program_ + " failed (" + how + ")" + (last.empty() ? "" : ": " + last));
}

Result<std::string> RunCapture(ProcessOptions options) {
  options.stdout_mode = ProcessOptions::Output::kCapture;
  CAIRN_ASSIGN_OR_RETURN(auto p, Process::Start(std::move(options)));
  CAIRN_RETURN_IF_ERROR(p->Wait());
  return p->captured_stdout();
}

Status RunQuiet(ProcessOptions options) {
  options.stdout_mode = ProcessOptions::Output::kDiscard;
  CAIRN_ASSIGN_OR_RETURN(auto p, Process::Start(std::move(options)));
  return p->Wait();
}

ProcessOptions ShellCommand(const std::string& command) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", command};
  return o;
}

SigpipeGuard::SigpipeGuard() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old_);
}

SigpipeGuard::~SigpipeGuard() {
  if (!sigismember(&old_, SIGPIPE)) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

void BlockSigpipeInThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Result<FedRun> RunWithInput(ProcessOptions options, const std::function<Status(int fd)>& write_input) {
  options.stdin_pipe = true;
  FedRun run;
  CAIRN_ASSIGN_OR_RETURN(run.process, Process::Start(std::move(options)));
  {
    SigpipeGuard guard;
    run.input = write_input(run.process->stdin_fd());
  }
  run.process->CloseStdin();
  run.exit = run.process->Wait();
  return run;
}

}  // namespace cairn

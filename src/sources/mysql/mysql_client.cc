// Client tools of the MariaDB/MySQL source (mysql_client.h).
#include "sources/mysql/mysql_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "sources/mysql/mysql_internal.h"

extern char** environ;

namespace cairn::mysql {
namespace {

constexpr size_t kKeepLog = 16 * 1024;

void KeepTail(std::string* text) {
  if (text->size() > 2 * kKeepLog) text->erase(0, text->size() - kKeepLog);
}

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

}  // namespace

std::string Endpoint::Where() const {
  if (!socket.empty()) return "socket " + socket;
  return host + ":" + std::to_string(port);
}

Status WriteToChild(int fd, const std::string& data) {
  if (fd < 0) return Status::IOError("the client's input is already closed");
  SigpipeGuard guard;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    return Status::FromErrno(errno, "cannot write to the MariaDB client");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- Client

Client::Client(Endpoint endpoint, std::string user, std::string password, std::string bin_dir, std::string temp_base)
    : endpoint_(std::move(endpoint)),
      user_(std::move(user)),
      password_(std::move(password)),
      bin_dir_(std::move(bin_dir)),
      temp_base_(std::move(temp_base)) {}

Status Client::Init() {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<PrivateDir> dir, PrivateDir::Create(temp_base_, "cairn-mysql"));
  dir_ = std::move(dir);
  if (password_.empty()) return Status::Ok();
  std::string path = dir_->path() + "/client.cnf";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "cannot create " + path);
  std::string text = "[client]\npassword=" + OptionFileValue(password_) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return Status::IOError("cannot write " + path);
  first_option_ = "--defaults-file=" + path;
  return Status::Ok();
}

Result<std::unique_ptr<Client>> Client::For(const Endpoint& endpoint) const {
  auto c = std::make_unique<Client>(endpoint, user_, password_, bin_dir_, temp_base_);
  c->dir_ = dir_;
  c->first_option_ = first_option_;
  return c;
}

Result<std::string> Client::Tool(const std::vector<std::string>& names, const std::string& package) const {
  if (!bin_dir_.empty()) {
    for (const std::string& n : names)
      if (Executable(bin_dir_ + "/" + n)) return bin_dir_ + "/" + n;
    return Status::NotFound(names.front() + " not found in " + bin_dir_ + " (setting bin_dir; install " + package +
                            ")");
  }
  for (const std::string& n : names) {
    std::string p = FindProgram(n);
    if (!p.empty()) return p;
  }
  for (const char* dir : {"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/libexec"})
    for (const std::string& n : names)
      if (Executable(std::string(dir) + "/" + n)) return std::string(dir) + "/" + n;
  return Status::NotFound(names.front() + " is not installed (not found on PATH): install " + package);
}

std::vector<std::string> Client::Argv(const std::string& tool, const std::vector<std::string>& extra) const {
  std::vector<std::string> argv = {tool, first_option_};
  if (!endpoint_.socket.empty()) {
    argv.push_back("--socket=" + endpoint_.socket);
  } else {
    argv.push_back("--host=" + endpoint_.host);
    argv.push_back("--port=" + std::to_string(endpoint_.port));
    argv.push_back("--protocol=TCP");
  }
  argv.push_back("--user=" + user_);
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

Status Client::Classify(const std::string& stderr_text, const std::string& action) const {
  return ClassifyError(stderr_text, Where(), user_, action);
}

Result<std::string> Client::RunSql(const std::string& script, const std::string& database, const std::string& action,
                                   const std::vector<std::string>& extra_options, bool low_priority) const {
  CAIRN_ASSIGN_OR_RETURN(std::string tool, Tool({"mariadb", "mysql"}, "mariadb-client"));
  std::vector<std::string> extra = {"-N", "-B", "--skip-reconnect", "--connect-timeout=30"};
  extra.insert(extra.end(), extra_options.begin(), extra_options.end());
  if (!database.empty()) extra.push_back("--database=" + database);
  ProcessOptions o;
  o.argv = Argv(tool, extra);
  o.stdin_pipe = true;
  o.stdout_mode = ProcessOptions::Output::kCapture;
  o.low_priority = low_priority;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Process> p, Process::Start(std::move(o)));
  Status w = WriteToChild(p->stdin_fd(), script);
  p->CloseStdin();
  Status st = p->Wait();
  if (!st.ok()) return Classify(p->captured_stderr(), action);
  if (!w.ok()) return w;
  return p->captured_stdout();
}

// ---------------------------------------------------------------- Session

Result<std::unique_ptr<Session>> Session::Open(const Client& client, const std::string& action, bool low_priority) {
  CAIRN_ASSIGN_OR_RETURN(std::string tool, client.Tool({"mariadb", "mysql"}, "mariadb-client"));
  ProcessOptions o;
  // --skip-reconnect: a session that silently reconnected would have lost its lock and snapshot.
  o.argv = client.Argv(tool, {"-N", "-B", "--unbuffered", "--skip-reconnect", "--connect-timeout=30"});
  o.stdin_pipe = true;
  o.stdout_mode = ProcessOptions::Output::kPipe;
  o.low_priority = low_priority;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Process> p, Process::Start(std::move(o)));
  std::unique_ptr<Session> s(new Session());
  s->client_ = &client;
  s->action_ = action;
  int fd = p->ReleaseStdout();
  s->process_ = std::move(p);
  s->reader_ = std::thread(&Session::ReadLoop, s.get(), fd);
  return s;
}

Session::~Session() {
  process_.reset();  // kills a client still running; its output then ends
  if (reader_.joinable()) reader_.join();
}

void Session::ReadLoop(int fd) {
  std::string partial;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    partial.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = partial.find('\n', start)) != std::string::npos) {
      lines_.push_back(partial.substr(start, nl - start));
      start = nl + 1;
    }
    partial.erase(0, start);
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  if (!partial.empty()) lines_.push_back(partial);
  eof_ = true;
  cv_.notify_all();
}

Status Session::Ended() {
  process_->CloseStdin();
  Status st = process_->Wait();
  if (st.ok()) return Status::IOError(action_ + ": the MariaDB session ended unexpectedly");
  return client_->Classify(process_->captured_stderr(), action_);
}

Status Session::Send(const std::string& sql) {
  Status st = WriteToChild(process_->stdin_fd(), sql);
  if (!st.ok()) return Ended();
  return Status::Ok();
}

Result<std::vector<std::string>> Session::ReadUntil(const std::string& marker, int timeout_s) {
  std::vector<std::string> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    while (!lines_.empty()) {
      std::string line = std::move(lines_.front());
      lines_.pop_front();
      if (line == marker) return out;
      out.push_back(std::move(line));
    }
    if (eof_) {
      lock.unlock();
      return Ended();
    }
    if (timeout_s > 0) {
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && lines_.empty() && !eof_)
        return Status::IOError(action_ + ": MariaDB did not answer within " + std::to_string(timeout_s) + " s");
    } else {
      cv_.wait(lock);
    }
  }
}

Status Session::Close() {
  process_->CloseStdin();
  Status st = process_->Wait();
  if (reader_.joinable()) reader_.join();
  if (!st.ok()) return client_->Classify(process_->captured_stderr(), action_);
  return Status::Ok();
}

// ---------------------------------------------------------------- DumpLog

Result<std::unique_ptr<DumpLog>> DumpLog::Create(const std::string& path) {
  if (::mkfifo(path.c_str(), 0600) != 0) return Status::FromErrno(errno, "cannot create FIFO " + path);
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot open FIFO " + path);
  std::unique_ptr<DumpLog> d(new DumpLog());
  d->path_ = path;
  d->fd_ = fd;
  return d;
}

DumpLog::~DumpLog() {
  if (drain_.joinable()) drain_.join();
  if (fd_ >= 0) ::close(fd_);
  ::unlink(path_.c_str());
}

Status DumpLog::WaitForSnapshot(Process* dump, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto started = [this]() {
    size_t p = text_.find("-- Starting transaction");
    if (p == std::string::npos) return false;
    size_t nl = text_.find('\n', p);
    // Any complete line after it: the dump has moved past START TRANSACTION.
    return nl != std::string::npos && text_.find('\n', nl + 1) != std::string::npos;
  };
  char buf[4096];
  for (;;) {
    if (started()) return Status::Ok();
    pollfd pfd{fd_, POLLIN, 0};
    int r = ::poll(&pfd, 1, 200);
    if (r > 0) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        text_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return Status::Aborted("the dump ended before its transaction started");
      if (errno != EAGAIN && errno != EINTR) return Status::FromErrno(errno, "cannot read " + path_);
    } else if (!dump->Running()) {
      for (;;) {
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) break;
        text_.append(buf, static_cast<size_t>(n));
      }
      if (started()) return Status::Ok();
      return Status::Aborted("the dump ended before its transaction started");
    }
    if (std::chrono::steady_clock::now() > deadline)
      return Status::IOError("mariadb-dump did not start its transaction within " + std::to_string(timeout_s) + " s");
  }
}

void DumpLog::StartDrain() {
  int flags = ::fcntl(fd_, F_GETFL);
  ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  drain_ = std::thread([this]() {
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text_.append(buf, static_cast<size_t>(n));
      KeepTail(&text_);
    }
  });
}

std::string DumpLog::Finish() {
  if (drain_.joinable()) drain_.join();
  return text_;
}

// ---------------------------------------------------------------- detached servers

Result<pid_t> StartDetached(const std::vector<std::string>& args) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& s : copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  // The server gets the environment minus Cairn's own secrets.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    if (!IsCairnSecret(entry.substr(0, entry.find('=')))) env_strings.push_back(std::move(entry));
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  if (max_fd <= 0 || max_fd > (1 << 20)) max_fd = 1 << 16;
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return Status::FromErrno(errno, "cannot create a pipe");
  pid_t child = ::fork();
  if (child < 0) {
    int e = errno;
    ::close(report[0]);
    ::close(report[1]);
    return Status::FromErrno(e, "cannot start " + args[0]);
  }
  if (child == 0) {
    ::setsid();
    pid_t server = ::fork();
    if (server != 0) {
      // The intermediate process reports the server's pid and leaves it to init.
      (void)!::write(report[1], &server, sizeof server);
      ::_exit(server > 0 ? 0 : 1);
    }
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    // Nothing of Cairn's (repository locks, pipes) may stay open in a server that outlives it.
    for (int fd = 3; fd < max_fd; ++fd)
      if (fd != report[1]) ::close(fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
    ::execve(argv[0], argv.data(), envp.data());
    int e = errno;
    (void)!::write(report[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(report[1]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t server = -1;
  int exec_errno = 0;
  ssize_t n = ::read(report[0], &server, sizeof server);
  ssize_t m = n == sizeof server ? ::read(report[0], &exec_errno, sizeof exec_errno) : 0;
  ::close(report[0]);
  if (n != sizeof server || server <= 0) return Status::IOError("cannot start " + args[0] + ": fork failed");
  if (m == sizeof exec_errno) return Status::FromErrno(exec_errno, "cannot run " + args[0]);
  return server;
}

namespace {
// Running, and not a zombie waiting for its reaper (init, not us).
bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}
}  // namespace

bool StopDetached(pid_t pid, int wait_s) {
  if (pid <= 0) return false;
  if (::kill(pid, SIGTERM) != 0) return errno == ESRCH;
  for (int i = 0; i < wait_s * 10; ++i) {
    if (!Alive(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return !Alive(pid);
}

Result<int> FreePort() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Status::FromErrno(errno, "cannot create a socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    ::close(s);
    return Status::FromErrno(e, "cannot find a free port");
  }
  ::close(s);
  return static_cast<int>(ntohs(a.sin_port));
}

bool PortInUse(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool in_use = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0;
  ::close(s);
  return in_use;
}

}  // namespace cairn::mysql

// Test-only helpers for the S3 driver tests (included by *_test.cc files
// only; header-only so that nothing of it lands in cairn_core):
//
//  - S3TestServer: a real, signature-verifying S3 server on loopback
//    (npm @20minutes/s3rver@5.0.0 behind tests/s3/s3server.js). npm installs
//    the package once into a cache directory (CAIRN_S3RVER_DIR, default
//    /tmp/cairn-s3rver), under a file lock. Each server gets a free port, its
//    own temp directory, and dies with the test process (SIGTERM from the
//    destructor, and it exits by itself when its stdin pipe closes).
//  - FaultProxy: a loopback HTTP proxy in front of the server that follows a
//    script: forward, answer 500/503/429, stall, or drop the connection
//    midway through the request body.
//  - RunCommand: a shell command's exit status and output.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace cairn::s3_testing {

inline constexpr char kAccessKey[] = "cairn-test-key";
inline constexpr char kSecret[] = "cairn-test-secret-7Qv2";
inline constexpr char kBucket[] = "cairn-test";
inline constexpr char kS3rverPackage[] = "@20minutes/s3rver@5.0.0";

// Runs `command` with /bin/sh; returns its exit status (-1 when it could not
// run or was killed) and its combined stdout+stderr in *output.
inline int RunCommand(const std::string& command, std::string* output) {
  std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  size_t n;
  if (output) output->clear();
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    if (output) output->append(buf, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  return out + "'";
}

inline std::string MakeTempDir(const std::string& tag) {
  std::string pattern = "/tmp/cairn-" + tag + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) return "";
  return buf.data();
}

// The project's source root, from this file's path (CMake passes absolute
// paths; a relative build is run from the source root). CAIRN_SOURCE_DIR
// overrides.
inline std::string SourceRoot() {
  if (const char* env = std::getenv("CAIRN_SOURCE_DIR"); env && *env) return env;
  std::string file = __FILE__;
  const std::string suffix = "src/storage/s3/s3_test_harness.h";
  std::string root = file.ends_with(suffix) ? file.substr(0, file.size() - suffix.size()) : "";
  if (root.empty() || root[0] != '/') root = std::filesystem::current_path().string() + "/" + root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

// Installs s3rver into the cache directory unless it is there already.
inline bool EnsureS3rverInstalled(std::string* dir_out, std::string* error) {
  const char* env = std::getenv("CAIRN_S3RVER_DIR");
  const std::string dir = env && *env ? env : "/tmp/cairn-s3rver";
  *dir_out = dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string marker = dir + "/node_modules/@20minutes/s3rver/package.json";
  int lock = ::open((dir + "/.install-lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) {
    *error = "cannot create " + dir + "/.install-lock: " + std::strerror(errno);
    return false;
  }
  ::flock(lock, LOCK_EX);  // concurrent test processes install once
  bool ok = true;
  std::ifstream existing(marker);
  std::string contents((std::istreambuf_iterator<char>(existing)), std::istreambuf_iterator<char>());
  if (contents.find("\"version\": \"5.0.0\"") == std::string::npos) {
    if (!std::filesystem::exists(dir + "/package.json"))
      std::ofstream(dir + "/package.json") << "{\"name\": \"cairn-s3rver\", \"private\": true}\n";
    std::string out;
    int rc = RunCommand("cd " + ShellQuote(dir) + " && command -v npm >/dev/null && npm install --no-audit --no-fund " +
                            "--loglevel=error " + kS3rverPackage,
                        &out);
    if (rc != 0 || !std::filesystem::exists(marker)) {
      *error = "npm install " + std::string(kS3rverPackage) + " in " + dir + " failed (exit " + std::to_string(rc) +
               "): " + out.substr(0, 2000);
      ok = false;
    }
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  return ok;
}

class S3TestServer {
 public:
  // Starts a server with bucket kBucket; `tls_key`/`tls_cert` (PEM files)
  // make it https.
  explicit S3TestServer(const std::string& tls_key = "", const std::string& tls_cert = "") {
    error_ = Start(tls_key, tls_cert);
  }
  ~S3TestServer() { Stop(); }
  S3TestServer(const S3TestServer&) = delete;
  S3TestServer& operator=(const S3TestServer&) = delete;

  // The shared plain-http server of this test process, started on first use.
  static S3TestServer& Shared() {
    static S3TestServer server;
    return server;
  }

  bool ok() const { return error_.empty(); }
  // Why the server is not running ("" when it is).
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string endpoint() const { return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_); }
  std::string data_dir() const { return dir_ + "/data"; }

 private:
  std::string Start(const std::string& tls_key, const std::string& tls_cert) {
    tls_ = !tls_key.empty();
    std::string cache, error;
    if (!EnsureS3rverInstalled(&cache, &error)) return error;
    const std::string script = SourceRoot() + "/tests/s3/s3server.js";
    if (!std::filesystem::exists(script)) return "S3 server wrapper " + script + " not found (set CAIRN_SOURCE_DIR)";
    dir_ = MakeTempDir("s3srv");
    if (dir_.empty()) return std::string("mkdtemp failed: ") + std::strerror(errno);
    std::filesystem::create_directories(dir_ + "/data");

    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) return "pipe failed";
    const std::string log = dir_ + "/server.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);

    std::vector<std::string> args = {"node", "--openssl-legacy-provider", script, dir_ + "/data", "0", kAccessKey,
                                     kSecret};
    if (tls_) {
      args.insert(args.end(), {"--tls", tls_key, tls_cert});
    }
    args.push_back(kBucket);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
      if (!std::string_view(*e).starts_with("NODE_PATH=")) env_strings.emplace_back(*e);
    env_strings.push_back("NODE_PATH=" + cache + "/node_modules");
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    int rc = ::posix_spawnp(&pid_, "node", &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    stdin_fd_ = in_pipe[1];
    stdout_fd_ = out_pipe[0];
    if (rc != 0) {
      pid_ = -1;
      return std::string("cannot start node: ") + std::strerror(rc);
    }

    // Bounded wait for "listening 127.0.0.1:PORT".
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (out.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "S3 server did not report readiness within 30 s; log: " + ReadLog();
      pollfd p{stdout_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
      if (n <= 0) return "S3 server exited during startup; log: " + ReadLog();
      out.append(buf, static_cast<size_t>(n));
    }
    size_t colon = out.rfind(':', out.find('\n'));
    if (!out.starts_with("listening ") || colon == std::string::npos) return "unexpected S3 server output: " + out;
    port_ = std::atoi(out.c_str() + colon + 1);
    if (port_ <= 0) return "unexpected S3 server output: " + out;
    // And a bounded poll that it accepts connections.
    for (int i = 0; i < 100; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port_));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      ::close(fd);
      if (connected) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "S3 server does not accept connections on port " + std::to_string(port_);
  }

  std::string ReadLog() const {
    std::ifstream in(dir_ + "/server.log");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return s.substr(0, 2000);
  }

  void Stop() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status;
      bool exited = false;
      for (int i = 0; i < 100 && !exited; ++i) {
        exited = ::waitpid(pid_, &status, WNOHANG) == pid_;
        if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(30));
      }
      if (!exited) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  bool tls_ = false;
  std::string error_;
  std::string dir_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1;
  int port_ = 0;
};

// ---- fault-injecting HTTP proxy ----

class FaultProxy {
 public:
  enum class Fault {
    kForward,      // pass the request to the server and its answer back
    k500,          // answer 500 InternalError
    k503,          // answer 503 SlowDown
    k429,          // answer 429 TooManyRequests
    kStall,        // read the request, then send nothing for stall_for
    kDropMidBody,  // read half of the request body, then reset the connection
    kDropAfterRequest,  // read the whole request, then reset without answering
    kOkEmpty,      // answer 200 with "Content-Length: 5" and no server involved (HEAD)
  };

  struct Seen {
    std::string request_line;  // "PUT /bucket/key?x=y HTTP/1.1"
    std::string host;          // Host header
    Fault fault;
  };

  explicit FaultProxy(int upstream_port, std::chrono::milliseconds stall_for = std::chrono::milliseconds(4000))
      : upstream_port_(upstream_port), stall_for_(stall_for) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 64) != 0) {
      ::close(listen_fd_);
      listen_fd_ = -1;
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~FaultProxy() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mu_);
      workers.swap(workers_);
    }
    for (std::thread& t : workers) t.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The next requests get these faults in order; after that, `otherwise`.
  void Script(std::vector<Fault> faults, Fault otherwise = Fault::kForward) {
    std::lock_guard lock(mu_);
    script_.assign(faults.begin(), faults.end());
    otherwise_ = otherwise;
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  size_t requests() const {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  void ClearSeen() {
    std::lock_guard lock(mu_);
    seen_.clear();
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] {
        Serve(fd);
        ::close(fd);
      });
    }
  }

  // Waits for `fd` to become readable; false on stop or timeout.
  bool WaitReadable(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  // Reads until `*buf` holds `want` bytes; false on EOF/error/stop.
  bool ReadAtLeast(int fd, std::string* buf, size_t want) {
    char tmp[65536];
    while (buf->size() < want) {
      if (!WaitReadable(fd, std::chrono::seconds(30))) return false;
      ssize_t n = ::read(fd, tmp, std::min(sizeof(tmp), want - buf->size()));
      if (n <= 0) return false;
      buf->append(tmp, static_cast<size_t>(n));
    }
    return true;
  }

  static bool WriteAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  static void Reset(int fd) {
    linger l{1, 0};  // close with RST
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }

  static std::string Header(const std::string& head, const std::string& lower_name) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower.find("\r\n" + lower_name + ":");
    if (at == std::string::npos) return "";
    size_t start = at + 3 + lower_name.size();
    size_t end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }

  static std::string ErrorResponse(int status, const char* reason, const char* code) {
    std::string body = std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>") + code +
                       "</Code><Message>injected by the test proxy</Message></Error>";
    return "HTTP/1.1 " + std::to_string(status) + " " + reason +
           "\r\nContent-Type: application/xml\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  }

  void Serve(int fd) {
    // One request per connection: every answer says "Connection: close".
    std::string buf;
    char tmp[65536];
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!WaitReadable(fd, std::chrono::seconds(30))) return;
      ssize_t n = ::read(fd, tmp, sizeof(tmp));
      if (n <= 0) return;
      buf.append(tmp, static_cast<size_t>(n));
    }
    std::string head = buf.substr(0, head_end + 2);  // through the last header's CRLF
    std::string body = buf.substr(head_end + 4);
    const size_t content_length = static_cast<size_t>(std::strtoull(Header(head, "content-length").c_str(), nullptr, 10));

    Fault fault;
    {
      std::lock_guard lock(mu_);
      if (script_.empty()) {
        fault = otherwise_;
      } else {
        fault = script_.front();
        script_.pop_front();
      }
      seen_.push_back({head.substr(0, head.find("\r\n")), Header(head, "host"), fault});
    }

    if (fault == Fault::kDropMidBody) {
      ReadAtLeast(fd, &body, content_length / 2);
      Reset(fd);
      return;
    }
    if (!ReadAtLeast(fd, &body, content_length)) return;
    switch (fault) {
      case Fault::k500: WriteAll(fd, ErrorResponse(500, "Internal Server Error", "InternalError")); return;
      case Fault::k503: WriteAll(fd, ErrorResponse(503, "Service Unavailable", "SlowDown")); return;
      case Fault::k429: WriteAll(fd, ErrorResponse(429, "Too Many Requests", "TooManyRequests")); return;
      case Fault::kOkEmpty:
        WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
        return;
      case Fault::kDropAfterRequest: Reset(fd); return;
      case Fault::kStall: {
        // Send nothing; stop early when the client gives up and closes.
        const auto deadline = std::chrono::steady_clock::now() + stall_for_;
        while (!stop_ && std::chrono::steady_clock::now() < deadline) {
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 50) > 0) {
            if (::read(fd, tmp, sizeof(tmp)) <= 0) return;
          }
        }
        return;
      }
      default: break;
    }
    // Forward, asking the server to close so that its EOF ends the answer.
    int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(up);
      WriteAll(fd, ErrorResponse(502, "Bad Gateway", "ProxyCannotConnect"));
      return;
    }
    std::string forwarded = head + "Connection: close\r\n\r\n";
    if (WriteAll(up, forwarded) && WriteAll(up, body)) {
      while (WaitReadable(up, std::chrono::seconds(30))) {
        ssize_t n = ::read(up, tmp, sizeof(tmp));
        if (n <= 0 || !WriteAll(fd, std::string_view(tmp, static_cast<size_t>(n)))) break;
      }
    }
    ::close(up);
  }

  const int upstream_port_;
  const std::chrono::milliseconds stall_for_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::deque<Fault> script_;
  Fault otherwise_ = Fault::kForward;
  std::vector<Seen> seen_;
};

}  // namespace cairn::s3_testing

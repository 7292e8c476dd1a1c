// Redis source (docs/sources/redis.md).
//
// Commands go through a small RESP client of our own (clear errors, pipelined
// fingerprints, passwords never on a command line); the RDB itself comes from
// `redis-cli --rdb -`, relayed through a thread that drops the 40-byte EOF
// mark redis-cli leaves at the end of a diskless transfer when it writes to a
// pipe, and checks the RDB's own CRC-64 so a truncated stream fails the backup.
//
// Fingerprint: per database {"keys", "digest"} over the keys without a TTL,
// where digest is the sum of a hash over each key's name, type and value
// (sets and hashes sorted), read with SCAN. DEBUG DIGEST would do, but Redis 7 refuses DEBUG
// by default. Taken before and after the RDB transfer; a database equal in
// both is exact, one that changed is compared by name only (inexact_reasons).
#include "sources/redis/redis_source.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "sources/field_hash.h"
#include "sources/redis/redis_common.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn {
namespace {

using namespace redis;

// ---------------------------------------------------------------- servers Cairn starts

std::string ConfQuote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += ch;
    }
  }
  return out + "\"";
}

Result<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "cannot create a socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "cannot find a free port");
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

Status CheckPortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "cannot create a socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err == EADDRINUSE)
    return Status::AlreadyExists("port " + std::to_string(port) + " on 127.0.0.1 is already in use");
  if (rc != 0) return Status::FromErrno(err, "cannot use port " + std::to_string(port));
  return Status::Ok();
}

std::string LastLogLine(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = ::lseek(fd, 0, SEEK_END);
  off_t start = size > 4096 ? size - 4096 : 0;
  std::string buf(static_cast<size_t>(size - start), '\0');
  ssize_t n = ::pread(fd, buf.data(), buf.size(), start);
  ::close(fd);
  if (n <= 0) return "";
  buf.resize(static_cast<size_t>(n));
  size_t end = buf.find_last_not_of(" \r\n");
  if (end == std::string::npos) return "";
  size_t begin = buf.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  std::string line = buf.substr(begin, end - begin + 1);
  // "12163:M 25 Nov 2026 06:27:18.491 # message": keep the message.
  if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) return line;
  size_t pos = 0;
  for (int field = 0; field < 6 && pos != std::string::npos; ++field) {
    pos = line.find(' ', pos);
    if (pos != std::string::npos) ++pos;
  }
  return pos == std::string::npos ? line : line.substr(pos);
}

pid_t ReadPid(const std::string& pidfile) {
  int fd = ::open(pidfile.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  return static_cast<pid_t>(std::atoi(buf));
}

bool Alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// A redis-server Cairn started (new instance or staging).
struct LocalServer {
  std::string dir;
  int port = 0;
  std::string password;  // requirepass, "" = none
  pid_t pid = -1;
  Endpoint endpoint() const {
    Endpoint e;
    e.host = "127.0.0.1";
    e.port = port;
    return e;
  }
};

Status ChownTree(const std::string& dir, const std::string& user) {
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw) return Status::NotFound("user " + user + " (run_as) does not exist");
  std::error_code ec;
  if (::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) return Status::FromErrno(errno, "cannot chown " + dir);
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (::lchown(e.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      return Status::FromErrno(errno, "cannot chown " + e.path().string());
  return Status::Ok();
}

Status WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::FromErrno(errno, "cannot create " + path);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "cannot write " + path);
    }
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);
  if (::close(fd) != 0) return Status::FromErrno(errno, "cannot write " + path);
  return Status::Ok();
}

// Stops a server Cairn started: SHUTDOWN NOSAVE, then SIGKILL if it lingers.
void StopServer(const LocalServer& s) {
  pid_t pid = s.pid > 0 ? s.pid : ReadPid(s.dir + "/redis.pid");
  auto c = ConnectAuth(s.endpoint(), Credentials{"", s.password});
  if (c.ok()) (void)(*c)->CallRaw({"SHUTDOWN", "NOSAVE"});
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Alive(pid) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (Alive(pid)) ::kill(pid, SIGKILL);
}

// Writes redis.conf into s.dir (which already holds dump.rdb), starts the
// server and waits until it answers PING with the RDB loaded.
Status StartServer(LocalServer& s, const std::string& redis_server, const std::optional<std::string>& run_as) {
  std::string conf;
  conf += "port " + std::to_string(s.port) + "\n";
  conf += "bind 127.0.0.1\n";
  conf += "dir " + ConfQuote(s.dir) + "\n";
  conf += "dbfilename " + std::string(kRdbFile) + "\n";
  conf += "save \"\"\n";
  conf += "appendonly no\n";
  conf += "daemonize yes\n";
  conf += "pidfile " + ConfQuote(s.dir + "/redis.pid") + "\n";
  conf += "logfile " + ConfQuote(s.dir + "/redis.log") + "\n";
  conf += "repl-diskless-sync-delay 0\n";
  if (!s.password.empty()) conf += "requirepass " + ConfQuote(s.password) + "\n";
  const std::string conf_path = s.dir + "/redis.conf";
  CAIRN_RETURN_IF_ERROR(WriteFile(conf_path, conf, 0600));  // may hold a password
  if (run_as) CAIRN_RETURN_IF_ERROR(ChownTree(s.dir, *run_as));

  ProcessOptions o;
  o.argv = {redis_server, conf_path};
  o.run_as = run_as;
  o.cwd = s.dir;
  Status st = RunQuiet(std::move(o));
  if (!st.ok()) return Status::IOError("redis-server did not start: " + st.message());

  // Loading a large RDB takes a while; wait as long as the server lives.
  const auto start = Clock::now();
  std::string last_error;
  for (;;) {
    if (s.pid <= 0) s.pid = ReadPid(s.dir + "/redis.pid");
    auto c = ConnectAuth(s.endpoint(), Credentials{"", s.password});
    if (c.ok()) {
      auto r = (*c)->CallRaw({"PING"});
      if (r.ok() && !r->IsError()) return Status::Ok();
      if (r.ok()) last_error = r->str;
      if (r.ok() && r->str.rfind("LOADING", 0) == 0 && Clock::now() - start < std::chrono::hours(6)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
    } else {
      last_error = c.status().message();
    }
    const bool started = s.pid > 0;
    if ((started && !Alive(s.pid)) || Clock::now() - start > std::chrono::seconds(30)) {
      std::string why = LastLogLine(s.dir + "/redis.log");
      if (started && Alive(s.pid)) ::kill(s.pid, SIGKILL);
      return Status::IOError("redis-server on port " + std::to_string(s.port) + " did not come up: " +
                             (why.empty() ? last_error : why) + " (log: " + s.dir + "/redis.log)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// ---------------------------------------------------------------- capture

class RedisCapture : public Capture {
 public:
  struct Setup {
    Endpoint endpoint;
    Credentials cred;
    std::string redis_cli;
    std::string version;
    Json before;  // fingerprint items before the transfer
    Json source;  // facts for the manifest
  };

  explicit RedisCapture(Setup setup) : setup_(std::move(setup)) {
    CapturePart part;
    part.name = kPartName;
    part.kind = CapturePart::Kind::kStream;
    part.file_name = kRdbFile;
    part.open = [this]() { return Open(); };
    part.finish = [this]() { return FinishPart(); };
    parts_.push_back(std::move(part));
  }

  ~RedisCapture() override {
    abort_ = true;
    if (cli_) cli_->Signal(SIGKILL);
    if (relay_.joinable()) relay_.join();
    if (write_fd_ >= 0) ::close(write_fd_);
  }

  std::vector<CapturePart>& parts() override { return parts_; }

  Result<Json> Finish() override {
    if (relay_.joinable()) CAIRN_RETURN_IF_ERROR(FinishPart());
    if (!finished_) return Status::InvalidArgument("the RDB part was not read");
    CAIRN_RETURN_IF_ERROR(part_status_);
    CAIRN_ASSIGN_OR_RETURN(auto conn, ConnectAuth(setup_.endpoint, setup_.cred));
    CAIRN_ASSIGN_OR_RETURN(Json after, FingerprintItems(*conn));
    Json source = setup_.source;
    source["rdb_bytes"] = rdb_bytes_;
    // The RDB is a fork of one instant between the two fingerprints: a
    // database equal in both is exactly what it holds; one that changed
    // meanwhile is compared by name only, and says so.
    const Json& before = setup_.before;
    Json reasons = Json::array();
    for (const auto& [db, item] : before.items())
      if (!after.contains(db) || after[db] != item)
        reasons.push_back({{"scope", db}, {"reason", "written to while the RDB was transferred"}});
    for (const auto& [db, item] : after.items())
      if (!before.contains(db))
        reasons.push_back({{"scope", db}, {"reason", "written to while the RDB was transferred"}});
    Json fingerprint = {{"exact", true}, {"items", before}};
    if (!reasons.empty()) fingerprint["inexact_reasons"] = reasons;
    return Json{{"server_version", setup_.version}, {"fingerprint", fingerprint}, {"source", source}};
  }

 private:
  Result<int> Open() {
    if (cli_) return Status::InvalidArgument("the RDB part was already read");
    ProcessOptions o;
    o.argv = {setup_.redis_cli};
    if (!setup_.endpoint.socket.empty()) {
      o.argv.insert(o.argv.end(), {"-s", setup_.endpoint.socket});
    } else {
      o.argv.insert(o.argv.end(), {"-h", setup_.endpoint.host, "-p", std::to_string(setup_.endpoint.port)});
    }
    if (!setup_.cred.user.empty()) o.argv.insert(o.argv.end(), {"--user", setup_.cred.user});
    o.argv.insert(o.argv.end(), {"--rdb", "-"});
    // The password on stdin (--askpass reads a line when stdin is no
    // terminal), never in the environment or on the command line, where
    // /proc shows it.
    int password_fd = -1;
    if (!setup_.cred.password.empty()) {
      CAIRN_ASSIGN_OR_RETURN(password_fd, MemoryFile("cairn-redis-auth", setup_.cred.password + "\n"));
      o.argv.push_back("--askpass");
      o.stdin_fd = password_fd;
    }
    o.stdout_mode = ProcessOptions::Output::kPipe;
    o.low_priority = true;
    auto started = Process::Start(std::move(o));
    if (password_fd >= 0) ::close(password_fd);
    CAIRN_ASSIGN_OR_RETURN(cli_, std::move(started));
    int in = cli_->ReleaseStdout();
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      ::close(in);
      return Status::FromErrno(errno, "cannot create a pipe");
    }
    ::fcntl(p[1], F_SETFL, O_NONBLOCK);
    write_fd_ = p[1];
    relay_ = std::thread([this, in] {
      relay_status_ = Relay(in, write_fd_);
      ::close(in);
      ::close(write_fd_);
      write_fd_ = -1;
    });
    return p[0];
  }

  // Copies redis-cli's output, holding back the last 49 bytes: the RDB ends
  // with 0xFF + 8-byte CRC-64, and a diskless transfer adds a 40-hex-char mark.
  Status Relay(int in, int out) {
    BlockSigpipeInThisThread();
    constexpr size_t kHold = 49, kMark = 40;
    std::vector<char> buf(1 << 18);
    std::string tail, head;
    Crc64 crc;
    uint64_t forwarded = 0;
    auto forward = [&](const char* data, size_t n) -> Status {
      if (head.size() < 5) head.append(data, std::min(n, 5 - head.size()));
      crc.Update(data, n);
      forwarded += n;
      return WriteToPipe(out, data, n, abort_, "RDB stream");
    };
    for (;;) {
      ssize_t n = ::read(in, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno(errno, "cannot read from redis-cli");
      if (n == 0) break;
      const size_t got = static_cast<size_t>(n);
      if (got >= kHold) {
        CAIRN_RETURN_IF_ERROR(forward(tail.data(), tail.size()));
        CAIRN_RETURN_IF_ERROR(forward(buf.data(), got - kHold));
        tail.assign(buf.data() + got - kHold, kHold);
      } else {
        tail.append(buf.data(), got);
        if (tail.size() > kHold) {
          CAIRN_RETURN_IF_ERROR(forward(tail.data(), tail.size() - kHold));
          tail.erase(0, tail.size() - kHold);
        }
      }
    }
    if (abort_) return Status::Aborted("capture aborted");
    auto le64 = [](const char* p) {
      uint64_t v = 0;
      for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
      return v;
    };
    auto is_hex = [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); };
    const std::string start = head + tail.substr(0, 5 - std::min<size_t>(5, head.size()));
    if (start.compare(0, 5, "REDIS") != 0) return Status::Corruption("redis-cli did not produce an RDB file");
    const size_t t = tail.size();
    if (t == kHold && static_cast<unsigned char>(tail[0]) == 0xFF &&
        std::all_of(tail.end() - kMark, tail.end(), is_hex)) {
      Crc64 c = crc;
      c.Update(tail.data(), 1);
      uint64_t stored = le64(tail.data() + 1);
      if (stored == 0 || stored == c.value()) {
        rdb_bytes_ = forwarded + 9;
        return forward(tail.data(), 9);
      }
    }
    if (t >= 9 && static_cast<unsigned char>(tail[t - 9]) == 0xFF) {
      Crc64 c = crc;
      c.Update(tail.data(), t - 8);
      uint64_t stored = le64(tail.data() + t - 8);
      if (stored == 0 || stored == c.value()) {
        rdb_bytes_ = forwarded + t;
        return forward(tail.data(), t);
      }
    }
    return Status::Corruption("the RDB stream from redis-cli is incomplete or corrupt (no valid end and checksum)");
  }

  Status FinishPart() {
    if (finished_) return part_status_;
    if (!cli_) return Status::InvalidArgument("the RDB part was not read");
    if (relay_.joinable()) relay_.join();
    Status cli = cli_->Wait();
    finished_ = true;
    if (!cli.ok()) {
      std::string last = cli_->LastErrorLine();
      part_status_ = Status::IOError("redis-cli --rdb from " + setup_.endpoint.Describe() +
                                     " failed: " + (last.empty() ? cli.message() : last));
    } else {
      part_status_ = relay_status_;
    }
    return part_status_;
  }

  Setup setup_;
  std::vector<CapturePart> parts_;
  std::unique_ptr<Process> cli_;
  std::thread relay_;
  int write_fd_ = -1;
  std::atomic<bool> abort_{false};
  Status relay_status_, part_status_;
  bool finished_ = false;
  uint64_t rdb_bytes_ = 0;
};

// ---------------------------------------------------------------- source

class RedisSource : public Source {
 public:
  struct Settings {
    std::string service;
    Endpoint endpoint;
    Credentials cred;
    std::optional<std::string> run_as;
    std::string redis_server;  // as configured ("" = from PATH)
    std::string temp_dir;
  };

  explicit RedisSource(Settings s) : s_(std::move(s)) {}

  Result<std::string> Probe() override {
    CAIRN_RETURN_IF_ERROR(FindCli().status());
    CAIRN_ASSIGN_OR_RETURN(auto c, ConnectAuth(s_.endpoint, s_.cred));
    return ServerVersion(*c);
  }

  Result<std::unique_ptr<Capture>> StartCapture() override {
    RedisCapture::Setup setup;
    CAIRN_ASSIGN_OR_RETURN(setup.redis_cli, FindCli());
    bool no_password = false;
    CAIRN_ASSIGN_OR_RETURN(auto c, ConnectAuth(s_.endpoint, s_.cred, &no_password));
    CAIRN_ASSIGN_OR_RETURN(setup.version, ServerVersion(*c));
    setup.endpoint = s_.endpoint;
    setup.cred = s_.cred;
    // redis-cli --rdb gives up when AUTH is refused, even by a server without a password.
    if (no_password) setup.cred = Credentials{};
    setup.source = {{"endpoint", s_.endpoint.Describe()}};
    // Reported, never changed: the server waits this long before a diskless transfer starts.
    auto delay = c->CallRaw({"CONFIG", "GET", "repl-diskless-sync-delay"});
    if (delay.ok() && delay->type == Reply::kArray && delay->elements.size() == 2)
      setup.source["repl_diskless_sync_delay"] = std::atoi(delay->elements[1].str.c_str());
    CAIRN_ASSIGN_OR_RETURN(setup.before, FingerprintItems(*c));
    Json dbs = Json::array();
    for (const auto& [name, v] : setup.before.items()) dbs.push_back(name);
    setup.source["databases"] = dbs;
    return std::unique_ptr<Capture>(new RedisCapture(std::move(setup)));
  }

  Result<RestoreOutcome> Restore(const RestoreRequest& request) override {
    if (!request.reader) return Status::InvalidArgument("restore without a reader");
    bool has_part = false;
    for (const Json& part : request.manifest.value("parts", Json::array()))
      if (part.value("name", "") == kPartName) has_part = true;
    if (!has_part) return Status::Corruption("restore point has no \"rdb\" part");
    if (request.mode == RestoreMode::kNewInstance) return RestoreNewInstance(request);
    return RestoreOverwrite(request);
  }

  Result<Json> Fingerprint(const Json& locator) override {
    Endpoint ep = s_.endpoint;
    Credentials cred = s_.cred;
    if (locator.is_object() && locator.contains("port")) {
      ep = Endpoint();
      ep.host = locator.value("host", std::string("127.0.0.1"));
      ep.port = locator["port"].get<int>();
      // Servers Cairn starts know only the default user.
      cred = Credentials{"", locator.value("auth", std::string()) == "service" ? s_.cred.password : ""};
    }
    CAIRN_ASSIGN_OR_RETURN(auto c, ConnectAuth(ep, cred));
    CAIRN_ASSIGN_OR_RETURN(Json items, FingerprintItems(*c));
    return Json{{"exact", true}, {"items", items}};
  }

  // A drill starts a new redis-server on a free loopback port with the RDB
  // in the scratch directory; redis-check-rdb then reads that file.
  Result<DrillSandbox> PrepareDrill(const Json&, const std::string& scratch,
                                    const std::function<void(const std::string&)>&) override {
    DrillSandbox sb;
    sb.mode = RestoreMode::kNewInstance;
    sb.new_name = scratch + "/redis";
    sb.volumes_new_name = scratch + "/volumes";
    std::string check_rdb;
    if (!s_.redis_server.empty() && s_.redis_server.find('/') != std::string::npos)
      check_rdb = FindProgram((fs::path(s_.redis_server).parent_path() / "redis-check-rdb").string());
    if (check_rdb.empty()) check_rdb = FindProgram("redis-check-rdb");
    if (check_rdb.empty()) return Status::NotFound("redis-check-rdb is not installed (install redis-tools)");
    sb.check = [check_rdb](const RestoreOutcome& out) -> Result<std::string> {
      const std::string rdb = out.connection.value("dir", std::string()) + "/" + kRdbFile;
      ProcessOptions o;
      o.argv = {check_rdb, rdb};
      o.stdout_mode = ProcessOptions::Output::kCapture;
      auto p = Process::Start(std::move(o));
      if (!p.ok()) return p.status();
      Status st = (*p)->Wait();
      if (!st.ok()) {
        // redis-check-rdb reports on stdout; its last line names the problem.
        std::string text = (*p)->captured_stdout();
        while (!text.empty() && text.back() == '\n') text.pop_back();
        return Status::Corruption("redis-check-rdb " + rdb + ": " + text.substr(text.rfind('\n') + 1));
      }
      return "redis-check-rdb: " + rdb + " is OK";
    };
    return sb;
  }

 private:
  Result<std::string> FindCli() {
    std::string cli;
    if (!s_.redis_server.empty() && s_.redis_server.find('/') != std::string::npos) {
      std::string beside = (fs::path(s_.redis_server).parent_path() / "redis-cli").string();
      cli = FindProgram(beside);
    }
    if (cli.empty()) cli = FindProgram("redis-cli");
    if (cli.empty()) return Status::NotFound("redis-cli is not installed (install redis-tools)");
    ProcessOptions o;
    o.argv = {cli, "--version"};
    auto out = RunCapture(std::move(o));
    if (!out.ok()) return Status::IOError("cannot run " + cli + ": " + out.status().message());
    std::string version = out->substr(out->find(' ') == std::string::npos ? 0 : out->find(' ') + 1);
    if (ParseVersion(version)[0] < 7)
      return Status::Unsupported("redis-cli " + FirstLine(version) +
                                 " cannot stream an RDB to stdout: install redis-cli 7.0 or newer");
    return cli;
  }

  Result<std::string> FindServer() {
    std::string server = FindProgram(s_.redis_server.empty() ? "redis-server" : s_.redis_server);
    if (server.empty())
      return Status::NotFound(s_.redis_server.empty()
                                  ? "redis-server is not installed (install redis-server or set redis_server)"
                                  : "redis_server " + s_.redis_server + " does not exist");
    return server;
  }

  static Result<std::string> LocalServerVersion(const std::string& server) {
    ProcessOptions o;
    o.argv = {server, "--version"};
    CAIRN_ASSIGN_OR_RETURN(std::string out, RunCapture(std::move(o)));
    size_t v = out.find("v=");
    if (v == std::string::npos) return Status::IOError("cannot read the version of " + server);
    return out.substr(v + 2, out.find(' ', v) - v - 2);
  }

  static Result<std::string> ServerVersion(RedisConnection& c) {
    CAIRN_ASSIGN_OR_RETURN(auto info, Info(c, "server"));
    auto it = info.find("redis_version");
    if (it == info.end()) return Status::IOError(c.where() + " did not report redis_version");
    return it->second;
  }

  std::string TempBase() const { return s_.temp_dir.empty() ? std::string("/var/tmp") : s_.temp_dir; }

  // The local redis-server must read the RDB the backup's server wrote.
  Result<std::string> CheckedServer(const RestoreRequest& request, std::string* local_version) {
    CAIRN_ASSIGN_OR_RETURN(std::string server, FindServer());
    CAIRN_ASSIGN_OR_RETURN(*local_version, LocalServerVersion(server));
    const std::string backed_up = request.manifest.value("server_version", std::string());
    if (!backed_up.empty() && CompareMajorMinor(*local_version, backed_up) < 0)
      return Status::Unsupported("redis-server " + *local_version + " cannot load an RDB written by Redis " +
                                 backed_up + ": install redis-server " + backed_up +
                                 " or newer (setting redis_server)");
    return server;
  }

  // Creates `dir` (must not exist or be empty) with the RDB in it.
  Status PrepareDir(const RestoreRequest& request, const std::string& dir) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec)))
      return Status::AlreadyExists(dir + " already exists");
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
    const std::string rdb = dir + "/" + kRdbFile;
    int fd = ::open(rdb.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::FromErrno(errno, "cannot create " + rdb);
    Status st = request.reader->ReadStream(kPartName, kRdbFile, fd);
    if (st.ok() && ::fsync(fd) != 0) st = Status::FromErrno(errno, "cannot write " + rdb);
    if (::close(fd) != 0 && st.ok()) st = Status::FromErrno(errno, "cannot write " + rdb);
    return st;
  }

  Result<RestoreOutcome> RestoreNewInstance(const RestoreRequest& request) {
    std::string local_version;
    CAIRN_ASSIGN_OR_RETURN(std::string server, CheckedServer(request, &local_version));
    const std::string suffix = request.suffix.empty() ? "restored_" + RandomHex(4) : request.suffix;
    std::string dir =
        request.new_name.empty()
            ? TempBase() + "/cairn-redis-" + suffix
            : (fs::path(request.new_name).is_absolute() ? request.new_name : TempBase() + "/" + request.new_name);
    dir = fs::path(dir).lexically_normal().string();
    if (!dir.empty() && dir.size() > 1 && dir.back() == '/') dir.pop_back();
    std::error_code ec;
    if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec)))
      return Status::AlreadyExists(dir + " already exists");
    LocalServer srv;
    srv.dir = dir;
    if (request.port) {
      CAIRN_RETURN_IF_ERROR(CheckPortFree(request.port));
      srv.port = request.port;
    } else {
      CAIRN_ASSIGN_OR_RETURN(srv.port, FreePort());
    }
    // The copy keeps the original's protection: same password for the default user.
    srv.password = s_.cred.password;
    if (request.log) request.log("writing the RDB to " + dir);
    const bool created = !fs::exists(dir, ec);
    Status st = PrepareDir(request, dir);
    if (st.ok()) {
      if (request.log)
        request.log("starting redis-server " + local_version + " on 127.0.0.1:" + std::to_string(srv.port));
      st = StartServer(srv, server, s_.run_as);
    }
    if (!st.ok()) {
      if (created) {
        fs::remove_all(dir, ec);
      } else {  // an empty directory the operator named: leave it empty again
        for (const char* f : {kRdbFile, "redis.conf", "redis.log", "redis.pid"}) ::unlink((dir + "/" + f).c_str());
      }
      return st;
    }
    RestoreOutcome out;
    const std::string point = request.manifest.value("point_id", std::string());
    out.summary = "restored Redis" + (point.empty() ? "" : " point " + point) +
                  " as a new redis-server on 127.0.0.1:" + std::to_string(srv.port) + " (dir " + dir + ")";
    out.connection = {{"host", "127.0.0.1"}, {"port", srv.port}, {"dir", dir}};
    if (!srv.password.empty()) out.connection["password"] = "the service's password (default user)";
    if (srv.pid > 0) out.connection["pid"] = srv.pid;
    out.locator = {{"host", "127.0.0.1"}, {"port", srv.port}};
    if (!srv.password.empty()) out.locator["auth"] = "service";
    out.stop_hint = (srv.password.empty() ? "" : "REDISCLI_AUTH=<password of service " + s_.service + "> ") +
                    std::string("redis-cli -p ") + std::to_string(srv.port) + " shutdown nosave";
    return out;
  }

  // Overwrite without stopping the live server: it becomes, for one full
  // sync, a replica of a staging server started on the RDB, then is promoted
  // back. Until REPLICAOF nothing on the live server has changed.
  Result<RestoreOutcome> RestoreOverwrite(const RestoreRequest& request) {
    auto log = [&](const std::string& line) {
      if (request.log) request.log(line);
    };
    if (!s_.endpoint.IsLocal())
      return Status::Unsupported(
          "overwrite restore needs the Redis server on this machine (host is " + s_.endpoint.host +
          "): it pulls the data from a staging server on 127.0.0.1; restore as a new instance instead");
    std::string local_version;
    CAIRN_ASSIGN_OR_RETURN(std::string server, CheckedServer(request, &local_version));
    CAIRN_ASSIGN_OR_RETURN(auto live, ConnectAuth(s_.endpoint, s_.cred));
    CAIRN_ASSIGN_OR_RETURN(std::string live_version, ServerVersion(*live));
    if (CompareMajorMinor(local_version, live_version) > 0)
      return Status::Unsupported("the local redis-server " + local_version + " is newer than the live server " +
                                 live_version + ", which could not load its RDB: set redis_server to a " +
                                 live_version + " binary");
    CAIRN_ASSIGN_OR_RETURN(auto repl, Info(*live, "replication"));
    if (repl["role"] != "master")
      return Status::Unsupported(live->where() + " is a replica of " + repl["master_host"] + ":" + repl["master_port"] +
                                 "; restore into its primary instead");
    auto config_get = [&](const std::string& key) -> Result<std::string> {
      CAIRN_ASSIGN_OR_RETURN(Reply r, live->Call({"CONFIG", "GET", key}));
      if (r.type != Reply::kArray || r.elements.size() != 2) return std::string();
      return r.elements[1].str;
    };
    Result<std::string> prev_auth = config_get("masterauth");
    if (!prev_auth.ok())
      return Status::IOError("overwrite restore needs CONFIG and REPLICAOF on the live server: " +
                             prev_auth.status().message());
    CAIRN_ASSIGN_OR_RETURN(std::string prev_user, config_get("masteruser"));

    LocalServer staging;
    staging.dir =
        TempBase() + "/cairn-redis-staging-" + (request.suffix.empty() ? "" : request.suffix + "-") + RandomHex(4);
    CAIRN_ASSIGN_OR_RETURN(staging.port, FreePort());
    staging.password = RandomHex(24);  // only the live server learns it, through CONFIG SET
    log("writing the RDB to a staging server in " + staging.dir);
    Status st = PrepareDir(request, staging.dir);
    if (st.ok()) {
      log("starting the staging redis-server on 127.0.0.1:" + std::to_string(staging.port));
      st = StartServer(staging, server, s_.run_as);
    }
    struct Cleanup {
      LocalServer* s;
      bool started;
      ~Cleanup() {
        if (started) StopServer(*s);
        std::error_code ec;
        fs::remove_all(s->dir, ec);
      }
    } cleanup{&staging, st.ok()};
    CAIRN_RETURN_IF_ERROR(st);

    // A restore point whose RDB does not match its own fingerprint never reaches the live server.
    const Json expected = request.manifest.value("fingerprint", Json());
    if (expected.is_object() && expected.value("exact", false)) {
      CAIRN_ASSIGN_OR_RETURN(auto sc, ConnectAuth(staging.endpoint(), Credentials{"", staging.password}));
      CAIRN_ASSIGN_OR_RETURN(Json items, FingerprintItems(*sc));
      FingerprintDiff diff = CompareFingerprints(expected, Json{{"exact", true}, {"items", items}});
      if (!diff.ok())
        return Status::Corruption("the restore point's RDB does not match its fingerprint (" + diff.differences[0] +
                                  "); the live server was not touched");
    }

    log("making " + live->where() + " a replica of the staging server for one full sync");
    CAIRN_RETURN_IF_ERROR(live->Call({"CONFIG", "SET", "masterauth", staging.password}).status());
    struct RestoreConfig {
      RedisConnection* c;
      std::string auth, user;
      bool user_changed = false;
      ~RestoreConfig() {
        (void)c->CallRaw({"CONFIG", "SET", "masterauth", auth});
        if (user_changed) (void)c->CallRaw({"CONFIG", "SET", "masteruser", user});
      }
    } restore_config{live.get(), *prev_auth, prev_user};
    if (!prev_user.empty()) {
      CAIRN_RETURN_IF_ERROR(live->Call({"CONFIG", "SET", "masteruser", ""}).status());
      restore_config.user_changed = true;
    }
    CAIRN_RETURN_IF_ERROR(live->Call({"REPLICAOF", "127.0.0.1", std::to_string(staging.port)}).status());
    struct Promote {
      RedisConnection* c;
      bool armed = true;
      ~Promote() {
        if (armed) (void)c->CallRaw({"REPLICAOF", "NO", "ONE"});
      }
    } promote{live.get()};

    // Done when the link is up after the sync; a link that stays down without
    // a sync in progress for 30 s is a failure (auth, network, disk).
    const std::string staging_port = std::to_string(staging.port);
    // The staging server counts every full sync it serves: repeated ones mean
    // the live server keeps failing to take the data (disk, permissions).
    CAIRN_ASSIGN_OR_RETURN(auto staging_conn, ConnectAuth(staging.endpoint(), Credentials{"", staging.password}));
    auto idle_since = Clock::now();
    std::string last_state;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      CAIRN_ASSIGN_OR_RETURN(auto r, Info(*live, "replication"));
      const bool ours = r["master_port"] == staging_port;
      if (ours && r["master_link_status"] == "up" && r["master_sync_in_progress"] == "0") break;
      const std::string state =
          r["master_link_status"] + "/" + r["master_sync_in_progress"] + "/" + r["master_sync_read_bytes"];
      const bool syncing = r["master_sync_in_progress"] == "1";
      if (syncing || state != last_state) idle_since = Clock::now();
      last_state = state;
      CAIRN_ASSIGN_OR_RETURN(auto stats, Info(*staging_conn, "stats"));
      const int full_syncs = std::atoi(stats["sync_full"].c_str());
      if (full_syncs >= 3)
        return Status::IOError(live->where() + " failed to load the data " + std::to_string(full_syncs) +
                               " times (see its log: its dir must be writable and have room for the RDB); it was "
                               "promoted back with its data unchanged");
      if (Clock::now() - idle_since > std::chrono::seconds(30)) {
        std::string why = LastLogLine(staging.dir + "/redis.log");
        return Status::IOError(live->where() + " did not sync from the staging server (link " +
                               r["master_link_status"] + (why.empty() ? "" : "; staging log: " + why) +
                               "); it was promoted back");
      }
    }
    CAIRN_RETURN_IF_ERROR(live->Call({"REPLICAOF", "NO", "ONE"}).status());
    promote.armed = false;
    log("sync complete; " + live->where() + " is a primary again");

    RestoreOutcome out;
    const std::string point = request.manifest.value("point_id", std::string());
    out.summary = "replaced the data of Redis at " + s_.endpoint.Describe() + " with " +
                  (point.empty() ? "the backup" : "point " + point) + " (one full sync from a staging server)";
    out.connection = s_.endpoint.socket.empty() ? Json{{"host", s_.endpoint.host}, {"port", s_.endpoint.port}}
                                                : Json{{"socket", s_.endpoint.socket}};
    out.locator = Json::object();
    return out;
  }

  Settings s_;
};

}  // namespace

Result<std::unique_ptr<Source>> MakeRedisSource(const ServiceConfig& config) {
  RedisSource::Settings s;
  s.service = config.name;
  CAIRN_ASSIGN_OR_RETURN(s.endpoint.host, SettingString(config, "host", "127.0.0.1"));
  CAIRN_ASSIGN_OR_RETURN(int64_t port, SettingInt(config, "port", 6379));
  if (port < 1 || port > 65535)
    return Status::InvalidArgument("service " + config.name + ": setting port must be 1-65535");
  s.endpoint.port = static_cast<int>(port);
  CAIRN_ASSIGN_OR_RETURN(s.endpoint.socket, SettingString(config, "socket", ""));
  CAIRN_ASSIGN_OR_RETURN(s.cred.password, SettingPassword(config));
  CAIRN_ASSIGN_OR_RETURN(s.cred.user, SettingString(config, "user", ""));
  CAIRN_ASSIGN_OR_RETURN(std::string run_as, SettingString(config, "run_as", ""));
  if (!run_as.empty()) {
    if (!::getpwnam(run_as.c_str()))
      return Status::InvalidArgument("service " + config.name + ": run_as user " + run_as + " does not exist");
    s.run_as = run_as;
  }
  CAIRN_ASSIGN_OR_RETURN(s.redis_server, SettingString(config, "redis_server", ""));
  // data_dir / dbfilename: accepted for configurations written for other
  // tools; overwrite goes through replication and never touches the files.
  CAIRN_RETURN_IF_ERROR(SettingString(config, "data_dir", "").status());
  CAIRN_RETURN_IF_ERROR(SettingString(config, "dbfilename", "").status());
  s.temp_dir = config.temp_dir;
  return std::unique_ptr<Source>(new RedisSource(std::move(s)));
}

}  // namespace cairn

// Pieces the PostgreSQL source's files share: how to reach a server, psql
// runs and long-lived psql sessions (a transaction held open across commands),
// the fingerprint job that runs beside a dump, and the facts of one service.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cairn/service.h"
#include "sources/postgres/pg_internal.h"
#include "sources/postgres/pg_passfile.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn::pgsrc {

using pg::ConnString;
using pg::QuoteIdent;
using pg::QuoteLiteral;

constexpr char kGlobalsPart[] = "globals";
constexpr char kGlobalsFile[] = "globals.sql";
constexpr char kBasePart[] = "base";
constexpr char kBaseFile[] = "base.tar";

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string user = "postgres";
  std::string password;
  // Holds `password` for the tools (PGPASSFILE); shared by copies. Null
  // when there is no password (peer or trust authentication).
  std::shared_ptr<const PassFile> passfile;

  std::string Where() const {
    if (!host.empty() && host[0] == '/') return "socket " + host + "/.s.PGSQL." + std::to_string(port);
    return host + ":" + std::to_string(port);
  }
  // `utf8`: psql's output is parsed as JSON/UTF-8. Never for pg_dump, where
  // PGCLIENTENCODING would change the dump's encoding.
  std::vector<std::string> Env(bool utf8) const {
    std::vector<std::string> env = {"PGHOST=" + host, "PGPORT=" + std::to_string(port), "PGUSER=" + user,
                                    "PGCONNECT_TIMEOUT=15", "PGAPPNAME=cairn"};
    if (passfile) env.push_back("PGPASSFILE=" + passfile->path());  // never PGPASSWORD: see pg_passfile.h
    if (utf8) env.push_back("PGCLIENTENCODING=UTF8");
    return env;
  }
};

inline std::string TrimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

inline std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

inline ProcessOptions PsqlOptions(const std::string& psql, const Endpoint& ep, const std::string& db) {
  ProcessOptions o;
  o.argv = {psql, "-XAtqw", "-v", "ON_ERROR_STOP=1", "-d", ConnString(db)};
  o.env = ep.Env(true);
  o.cwd = "/";
  return o;
}

// Runs one SQL command and returns its unaligned, tuples-only output.
inline Result<std::string> RunSql(const std::string& psql, const Endpoint& ep, const std::string& db,
                           const std::string& sql) {
  ProcessOptions o = PsqlOptions(psql, ep, db);
  o.argv.push_back("-c");
  o.argv.push_back(sql);
  o.stdout_mode = ProcessOptions::Output::kCapture;
  CAIRN_ASSIGN_OR_RETURN(auto p, Process::Start(std::move(o)));
  if (!p->Wait().ok()) return pg::ClassifyError(p->captured_stderr(), ep.Where(), ep.user, "query failed");
  return TrimNewlines(p->captured_stdout());
}

inline Result<Json> RunSqlJson(const std::string& psql, const Endpoint& ep, const std::string& db, const std::string& sql) {
  CAIRN_ASSIGN_OR_RETURN(std::string out, RunSql(psql, ep, db, sql));
  Json j = Json::parse(out, nullptr, false);
  if (j.is_discarded()) return Status::Corruption("unexpected answer from PostgreSQL at " + ep.Where());
  return j;
}

inline Result<std::string> ReadAll(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "cannot read a memory file");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// One psql process fed SQL through its stdin: a transaction that stays open
// across several commands (snapshot export, fingerprint, commit).
class PsqlSession {
 public:
  static Result<std::unique_ptr<PsqlSession>> Open(const std::string& psql, const Endpoint& ep,
                                                   const std::string& db) {
    ProcessOptions o = PsqlOptions(psql, ep, db);
    o.stdin_pipe = true;
    o.stdout_mode = ProcessOptions::Output::kPipe;
    std::unique_ptr<PsqlSession> s(new PsqlSession(ep, db));
    CAIRN_ASSIGN_OR_RETURN(s->p_, Process::Start(std::move(o)));
    return s;
  }
  ~PsqlSession() { Kill(); }

  Status Send(const std::string& text) {
    if (!WriteFully(p_->stdin_fd(), AsBytes(text), -1, "psql").ok()) return Died();
    return Status::Ok();
  }
  Result<std::string> ReadLine() {
    for (;;) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      char buf[65536];
      ssize_t n = ::read(p_->stdout_fd(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Died();
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  // Lines up to (not including) a line equal to `marker`.
  Result<std::vector<std::string>> ReadUntil(const std::string& marker) {
    std::vector<std::string> lines;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(std::string line, ReadLine());
      if (line == marker) return lines;
      lines.push_back(std::move(line));
    }
  }
  // Ends the session normally (after COMMIT was sent).
  Status Close() {
    p_->CloseStdin();
    return Reap();
  }
  // From any thread: stops the session (the transaction is rolled back).
  void Kill() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reaped_ && p_) ::kill(p_->pid(), SIGKILL);
  }

 private:
  PsqlSession(const Endpoint& ep, std::string db) : ep_(ep), db_(std::move(db)) {}
  Status Reap() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      reaped_ = true;
    }
    if (p_->Wait().ok()) return Status::Ok();
    return pg::ClassifyError(p_->captured_stderr(), ep_.Where(), ep_.user, "database " + db_);
  }
  Status Died() {
    Status st = Reap();
    return st.ok() ? Status::IOError("psql session on database " + db_ + " ended unexpectedly") : st;
  }

  Endpoint ep_;
  std::string db_;
  std::unique_ptr<Process> p_;
  std::string buffer_;
  std::mutex mu_;
  bool reaped_ = false;
};

// Runs the fingerprint script on sessions (already inside their snapshot),
// one after the other, in a thread: the server computes it while the dump
// tool streams. The sessions stay open (their transactions too) until the
// owner closes them after Join.
class FingerprintJob {
 public:
  ~FingerprintJob() {
    if (thread_.joinable()) thread_.join();
  }
  void Start(std::vector<std::pair<PsqlSession*, std::string>> work, std::string script) {
    thread_ = std::thread([this, work = std::move(work), script = std::move(script)] {
      for (const auto& [session, name] : work) {
        Status st = session->Send(script);
        if (st.ok()) {
          auto lines = session->ReadUntil(pg::kFingerprintDone);
          st = lines.ok() ? pg::AddFingerprintItems(*lines, name, &items_) : lines.status();
        }
        if (!st.ok()) {
          status_ = st.WithContext("fingerprint of database " + name);
          return;
        }
      }
    });
  }
  Result<Json> Join() {
    if (thread_.joinable()) thread_.join();
    if (!status_.ok()) return status_;
    return items_;
  }

 private:
  std::thread thread_;
  Json items_ = Json::object();
  Status status_;
};

inline std::string BeginSnapshot() {
  return "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n" + pg::FingerprintSessionSettings();
}

// Facts every capture and restore of one service shares.
struct Ctx {
  std::string service;
  Endpoint ep;
  std::string psql, dump_tool, dumpall_tool;
  std::string admin_db = "postgres";
  bool superuser = false;
  std::string script;  // fingerprint script
  std::string server_version;
};

inline void MergeItems(const Json& from, Json* into) {
  for (const auto& [k, v] : from.items()) (*into)[k] = v;
}

}  // namespace cairn::pgsrc

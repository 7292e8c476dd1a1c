// The PostgreSQL source class, shared by its files: postgres_source.cc
// (probe, capture, fingerprint, logical restore) and pg_physical_restore.cc.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sources/postgres/pg_session.h"

namespace cairn::pgsrc {

namespace fs = std::filesystem;

inline constexpr int64_t kDefaultChecksumMaxBytes = int64_t{4} << 30;
inline constexpr char kRecoveryBegin[] = "# Added by Cairn for the restore's recovery (removed after promotion)";
inline constexpr char kRecoveryEnd[] = "# End of Cairn's recovery settings";
// A copy must not act on its own: its subscriptions would pull from the
// original's publishers under the original's slot names. No apply worker
// runs until Cairn has disabled them; the line is then taken out again.
inline constexpr char kNoSubscriptionWorkers[] = "max_logical_replication_workers = 0  # until Cairn disabled the subscriptions";

// ----------------------------------------------------------------- the source

inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

inline std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a file owned by `pw` with mode 600 (config files of a data directory).
inline Status WriteOwnedFile(const std::string& path, const std::string& text, const passwd* pw, bool append) {
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
  if (fd < 0) return Status::FromErrno(errno, "cannot write " + path);
  Status st = WriteFully(fd, AsBytes(text), -1, "cannot write " + path);
  if (st.ok() && !existed && ::fchown(fd, pw->pw_uid, pw->pw_gid) != 0)
    st = Status::FromErrno(errno, "cannot give " + path + " to user " + pw->pw_name);
  ::close(fd);
  return st;
}

// "<message>; <note>", keeping the code.
inline Status WithNote(const Status& st, const std::string& note) {
  return st.ok() ? st : Status(st.code(), st.message() + "; " + note);
}

inline std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

// Beside the data directory during a physical overwrite: the restored copy
// before the swap, the replaced directory after it, a copy that did not start.
constexpr char kStagingInfix[] = ".cairn-staging-";
constexpr char kOldInfix[] = ".cairn-old-";
constexpr char kFailedInfix[] = ".cairn-failed-";

class PostgresSource : public Source {
 public:
  static Result<std::unique_ptr<Source>> Make(const ServiceConfig& c);

  Result<std::string> Probe() override;

  Result<std::unique_ptr<Capture>> StartCapture() override;

  Status CheckRestore(const Json& manifest, RestoreMode mode) override;

  Result<RestoreOutcome> Restore(const RestoreRequest& request) override;

  void SkipMissingDatabases() override { skip_missing_ = true; }
  Status CleanLeftovers(const std::function<void(const std::string&)>& log) override;

  Result<Json> Fingerprint(const Json& locator) override;

  // pg_wal.cc
  Result<std::vector<ToolCommand>> WalStreamCommands(const std::string& dir, const std::string& resume_from) override;
  Result<Json> ArchiverStatus() override;
  // Creates the streamer's physical slot, reserving WAL from the last
  // checkpoint's redo point on (after an overwrite: the promotion), unless
  // it exists.
  Status EnsureStreamingSlot();

  // pg_drill.cc
  Result<DrillSandbox> PrepareDrill(const Json& manifest, const std::string& scratch_dir,
                                    const std::function<void(const std::string&)>& log) override;

 private:
  PostgresSource() = default;

  // ---------------------------------------------------------------- tools and connection

  // A PostgreSQL program: from bin_dir when set, else the installed version
  // matching `major` (the server's when 0), else the newest installed, else PATH.
  Result<std::string> Tool(const std::string& name, int major = 0);

  static ProcessOptions VersionOptions(const std::string& path);

  // The tool must be at least as new as the server (pg_dump refuses newer
  // servers; an old pg_basebackup cannot read a new server's protocol).
  // Returns its major version.
  Result<int> CheckClient(const std::string& name);

  Status Connect();

  Result<Ctx> MakeCtx();

  Result<Json> Sql(const std::string& sql);

  Status Exec(const std::string& sql, const std::string& db = "");

  // The databases to capture (connectable, not templates; the configured
  // ones when `databases` lists names) with what a restore needs to recreate them.
  Result<Json> ListDatabases();

  Result<std::set<std::string>> NameSet(const std::string& sql);

  // Where the configuration lives when it is outside the data directory
  // (Debian's /etc/postgresql): the settings and the hba/ident files, so a
  // physical new instance can be started from the data directory alone.
  void AddConfigFacts(Json* source);

  void Log(const RestoreRequest& r, const std::string& line);

  // ---------------------------------------------------------------- logical restore

  Result<RestoreOutcome> RestoreLogical(const RestoreRequest& req, const Json& src);

  // Creates the roles (and tablespaces) of the backup that the server lacks;
  // existing ones keep their current attributes and passwords.
  Status ApplyGlobals(const RestoreRequest& req, const Json& src, const std::string& psql);

  Status CreateDatabase(const RestoreRequest& req, const std::string& name, const Json& d,
                        const std::set<std::string>& roles);

  Status DropDatabase(const std::string& name);

  // pg_restore reading the stored dump from a pipe: no copy on disk.
  Status PgRestore(const RestoreRequest& req, const std::string& tool, const std::string& part,
                   const std::string& file, const std::string& db);

  // Renames a database, waiting out sessions (and autovacuum) still on it.
  Status Rename(const std::string& from, const std::string& to, const std::string& admin);

  // Puts the fully restored staging copy in place of `db`; the old one is
  // renamed aside first and dropped only when the new one is in place.
  Status SwapIn(const RestoreRequest& req, const std::string& db, const std::string& staging,
                const std::string& suffix);

  // ---------------------------------------------------------------- physical restore

  // Server programs of exactly the backup's major version.
  Result<std::string> ServerTool(const std::string& name, int major);

  Status RunAsUser(const std::vector<std::string>& argv, const std::string& cwd, std::string* stderr_text = nullptr);

  Status MakeDataDir(const std::string& dir, const passwd* pw);

  Status Extract(const RestoreRequest& req, const Json& src, const std::string& dir);

  // Makes an extracted copy start on its own: its own port and socket, no
  // WAL archiving into the original's archive, configuration files when the
  // original kept them outside the data directory.
  Status PrepareNewInstance(const std::string& dir, const Json& src, int port, const passwd* pw);

  // pg_ctl start; on failure the server log says why. `config_dir` is what
  // pg_ctl -D gets: the data directory, or where a Debian-style cluster keeps
  // postgresql.conf. `log_file` receives the server's stderr (pg_ctl -l),
  // by default <dir>/cairn-start.log.
  Status StartServer(const std::string& pg_ctl, const std::string& dir, const std::vector<std::string>& opts,
                     const std::string& config_dir = "", const std::string& log_file = "");

  // Where the running postmaster of `data_dir` sends its stderr (what it was
  // started with, e.g. pg_ctl -l FILE): a restart keeps the server's own log
  // there instead of a file of Cairn's. "" when unknown or not a plain file.
  static std::string ServerStderrFile(const std::string& data_dir);

  // Point-in-time recovery (pg_wal.cc): the archived WAL the extracted base
  // backup in `dir` needs, and the settings that replay it to the target.
  Status PrepareRecovery(const RestoreRequest& req, const std::string& dir, const passwd* pw);

  static Status CopyHistoryFiles(const std::string& from, const std::string& to, const passwd* pw);

  // Disables every enabled subscription of a restored copy; returns them as "db.subscription".
  Result<std::vector<std::string>> DisableSubscriptions(const Endpoint& copy);

  // After a start in targeted recovery: waits until the server has promoted
  // itself (it accepts read-only connections before that).
  Status WaitForPromotion(const std::string& dir, const std::string& log_file);
  // `start` (the server on `dir`, prepared by PrepareRecovery), then
  // WaitForPromotion. A target time after the last archived commit makes
  // PostgreSQL replay everything without meeting a later commit and refuse
  // to end ("recovery ended before configured recovery target was
  // reached"); the archive was current up to at least that time (PlanRecovery
  // holds the time to the archive's head), so the end of the archive is the
  // state at the target: the recovery is run again to the end (pg_wal.cc).
  Status RunTargetedRecovery(const RestoreRequest& req, const std::string& pg_ctl, const std::string& dir,
                             const std::string& log_file, const passwd* pw, const std::function<Status()>& start);

  // Takes Cairn's recovery settings out of postgresql.auto.conf again (the
  // server ignores them once promoted; they should not linger there).
  static Status RemoveRecoverySettings(const std::string& path, const passwd* pw);

  Status StopServer(const std::string& pg_ctl, const std::string& dir);

  Result<RestoreOutcome> RestorePhysical(const RestoreRequest& req, const Json& src);

  ServiceConfig config_;
  Endpoint ep_;
  std::vector<std::string> databases_;
  std::string method_, bin_dir_, run_as_, data_dir_;
  int64_t checksum_max_bytes_ = kDefaultChecksumMaxBytes;
  // Learnt from the server by Connect().
  std::string admin_db_ = "postgres";
  int server_num_ = 0, server_major_ = 0;
  std::string server_version_;
  bool superuser_ = false, replication_ = false, probed_ = false, skip_missing_ = false;
  int dump_major_ = 0;  // pg_dump's major version, learnt by Probe()
};

}  // namespace cairn::pgsrc

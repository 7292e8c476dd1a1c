// Physical restores of the PostgreSQL source: a new instance from a base
// backup, or an overwrite of the live data directory that ends with a
// promotion onto a new timeline (docs/sources/postgres.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "sources/postgres/pg_internal.h"
#include "sources/postgres/pg_source.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn::pgsrc {

// Server programs of exactly the backup's major version.
Result<std::string> PostgresSource::ServerTool(const std::string& name, int major) {
  CAIRN_ASSIGN_OR_RETURN(std::string path, Tool(name, major));
  auto out = RunCapture(VersionOptions(path));
  if (!out.ok()) return Status::IOError(name + " at " + path + " does not run: " + out.status().message());
  const int have = pg::ToolMajor(*out);
  if (have != major)
    return Status::Unsupported("the backup is of PostgreSQL " + pg::MajorName(major) + " but " + path + " is " +
                               pg::MajorName(have) + ": install postgresql-" + pg::MajorName(major) +
                               " or set bin_dir");
  return path;
}

Status PostgresSource::RunAsUser(const std::vector<std::string>& argv, const std::string& cwd, std::string* stderr_text) {
  ProcessOptions o;
  o.argv = argv;
  o.run_as = run_as_;
  o.cwd = cwd;
  o.new_process_group = true;
  CAIRN_ASSIGN_OR_RETURN(auto p, Process::Start(std::move(o)));
  Status st = p->Wait();
  if (stderr_text) *stderr_text = p->captured_stderr();
  return st;
}

Status PostgresSource::MakeDataDir(const std::string& dir, const passwd* pw) {
  std::error_code ec;
  fs::create_directories(fs::path(dir).parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0) return Status::FromErrno(errno, "cannot create " + dir);
  if (::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0 || ::chmod(dir.c_str(), 0700) != 0)
    return Status::FromErrno(errno, "cannot give " + dir + " to user " + run_as_);
  // The server runs as run_as: every parent must be traversable by it.
  std::string err;
  if (!RunAsUser({"/bin/sh", "-c", "test -w \"$0\" && test -x \"$0\"", dir}, "/", &err).ok())
    return Status::InvalidArgument("user " + run_as_ + " cannot use " + dir +
                                   " (a parent directory is not accessible to it): choose another path with --as");
  return Status::Ok();
}

Status PostgresSource::Extract(const RestoreRequest& req, const Json& src, const std::string& dir) {
  const std::string part = src.value("part", kBasePart), file = src.value("file", kBaseFile);
  ProcessOptions o;
  o.argv = {"tar", "-x", "-p", "--no-same-owner", "-f", "-", "-C", dir};
  o.run_as = run_as_;
  o.cwd = dir;
  CAIRN_ASSIGN_OR_RETURN(FedRun run, RunWithInput(std::move(o), [&](int fd) {
                           return req.reader->ReadStream(part, file, fd);
                         }));
  if (!run.exit.ok())
    return Status::IOError("extracting the base backup into " + dir + " failed: " + run.process->LastErrorLine());
  if (!run.input.ok()) return run.input.WithContext("cannot read part " + part);
  if (::access((dir + "/PG_VERSION").c_str(), F_OK) != 0)
    return Status::Corruption("part " + part + " is not a PostgreSQL base backup (no PG_VERSION)");
  return Status::Ok();
}

// Makes an extracted copy start on its own: its own port and socket, no
// WAL archiving into the original's archive, configuration files when the
// original kept them outside the data directory.
Status PostgresSource::PrepareNewInstance(const std::string& dir, const Json& src, int port, const passwd* pw) {
  const std::string conf = dir + "/postgresql.conf";
  if (::access(conf.c_str(), F_OK) == 0) {
    // Paths pointing at the original's files must not be followed.
    std::string text = ReadTextFile(conf), out;
    for (const std::string& line : Split(text, '\n')) {
      const size_t b = line.find_first_not_of(" \t");
      const std::string body = b == std::string::npos ? "" : line.substr(b);
      bool off = false;
      for (const char* k : {"data_directory", "hba_file", "ident_file", "external_pid_file"})
        off = off || (body.rfind(k, 0) == 0 && body.find('=') != std::string::npos);
      out += (off ? "# disabled by the Cairn restore: " : "") + line + "\n";
    }
    if (!out.empty()) out.pop_back();
    CAIRN_RETURN_IF_ERROR(WriteOwnedFile(conf, out, pw, false));
  } else {
    const Json ext = src.value("external_config", Json::object());
    std::string text = "# Written by Cairn: the original kept its configuration outside the data directory.\n";
    const Json settings = ext.value("settings", Json::object());
    for (const auto& [k, v] : settings.items())
      text += k + " = " + QuoteLiteral(v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
    CAIRN_RETURN_IF_ERROR(WriteOwnedFile(conf, text, pw, false));
    const auto text_of = [&](const char* key, const char* fallback) {
      return ext.contains(key) && ext[key].is_string() ? ext[key].get<std::string>() : std::string(fallback);
    };
    // Without the original's hba file: peer on the socket, passwords over TCP.
    CAIRN_RETURN_IF_ERROR(WriteOwnedFile(
        dir + "/pg_hba.conf", text_of("hba", "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n"), pw,
        false));
    CAIRN_RETURN_IF_ERROR(WriteOwnedFile(dir + "/pg_ident.conf", text_of("ident", ""), pw, false));
  }
  std::string sockdir = dir;
  std::string escaped;
  for (char c : sockdir) escaped += c == '\'' ? std::string("''") : std::string(1, c);
  // postgresql.auto.conf is read last, so these win over anything before.
  const std::string extra = "\n# Added by Cairn for a restored copy\nport = " + std::to_string(port) +
                            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '" + escaped +
                            "'\narchive_mode = off\n" + std::string(kNoSubscriptionWorkers) + "\n";
  std::error_code ec;
  fs::remove(dir + "/standby.signal", ec);
  fs::remove(dir + "/postmaster.pid", ec);
  return WriteOwnedFile(dir + "/postgresql.auto.conf", extra, pw, true);
}

// pg_ctl start; on failure the server log says why. `config_dir` is what
// pg_ctl -D gets: the data directory, or where a Debian-style cluster keeps
// postgresql.conf. `log_file` receives the server's stderr (pg_ctl -l),
// by default <dir>/cairn-start.log.
Status PostgresSource::StartServer(const std::string& pg_ctl, const std::string& dir, const std::vector<std::string>& opts,
                   const std::string& config_dir, const std::string& log_file) {
  const std::string ctl_dir = config_dir.empty() ? dir : config_dir;
  const std::string log_path = log_file.empty() ? dir + "/cairn-start.log" : log_file;
  std::vector<std::string> argv = {pg_ctl, "-D", ctl_dir, "-l", log_path, "-w", "-t", "300"};
  if (!opts.empty()) {
    std::string joined;
    for (const std::string& o : opts) joined += (joined.empty() ? "" : " ") + pg::ShellQuote(o);
    argv.insert(argv.end(), {"-o", joined});
  }
  argv.push_back("start");
  const size_t log_before = ReadTextFile(log_path).size();  // pg_ctl -l appends
  std::string err;
  if (RunAsUser(argv, dir, &err).ok()) return Status::Ok();
  // The log's FATAL line, else its last line (start-up errors before
  // logging is set up have no prefix), else pg_ctl's own message.
  std::string log = ReadTextFile(log_path);
  log = log.size() > log_before ? log.substr(log_before) : "";
  const std::string why = !log.empty() ? pg::ErrorText(log) : pg::ErrorText(err);
  return Status::IOError("PostgreSQL in " + dir + " did not start: " + why);
}

// Where the running postmaster of `data_dir` sends its stderr (what it was
// started with, e.g. pg_ctl -l FILE): a restart keeps the server's own log
// there instead of a file of Cairn's. "" when unknown or not a plain file.
std::string PostgresSource::ServerStderrFile(const std::string& data_dir) {
  std::string pid = ReadTextFile(data_dir + "/postmaster.pid");
  pid = pid.substr(0, pid.find('\n'));
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "";
  std::error_code ec;
  const fs::path target = fs::read_symlink("/proc/" + pid + "/fd/2", ec);
  if (ec || !target.is_absolute() || !fs::is_regular_file(target, ec)) return "";
  return target.string();
}

Status PostgresSource::CopyHistoryFiles(const std::string& from, const std::string& to, const passwd* pw) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 16 || name.compare(8, 8, ".history") != 0) continue;
    if (::access((to + "/" + name).c_str(), F_OK) == 0) continue;
    CAIRN_RETURN_IF_ERROR(WriteOwnedFile(to + "/" + name, ReadTextFile(entry.path().string()), pw, false));
  }
  return Status::Ok();
}

// Disables every enabled subscription of a restored copy; returns them as "db.subscription".
Result<std::vector<std::string>> PostgresSource::DisableSubscriptions(const Endpoint& copy) {
  CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  CAIRN_ASSIGN_OR_RETURN(
      Json subs, RunSqlJson(psql, copy, admin_db_,
                            "SELECT coalesce(json_agg(json_build_array(d.datname, s.subname)), '[]') FROM"
                            " pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE s.subenabled"));
  std::vector<std::string> done;
  for (const Json& sub : subs) {
    const std::string db = sub[0].get<std::string>(), name = sub[1].get<std::string>();
    CAIRN_RETURN_IF_ERROR(RunSql(psql, copy, db, "ALTER SUBSCRIPTION " + QuoteIdent(name) + " DISABLE")
                              .status()
                              .WithContext("cannot disable subscription " + name + " in the copy's database " + db));
    done.push_back(db + "." + name);
  }
  return done;
}

// After a start in targeted recovery: waits until the server has promoted
// itself (it accepts read-only connections before that).
Status PostgresSource::WaitForPromotion(const std::string& dir, const std::string& log_file) {
  CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  std::string last;
  for (int i = 0; i < 3000; ++i) {
    auto out = RunSql(psql, ep_, admin_db_, "SELECT pg_is_in_recovery()");
    if (out.ok() && *out == "f") return Status::Ok();
    last = out.ok() ? "still in recovery" : out.status().message();
    if (::access((dir + "/postmaster.pid").c_str(), F_OK) != 0) break;  // the server stopped
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string log = ReadTextFile(log_file);
  return Status::IOError("the restored cluster in " + dir + " did not finish recovery: " +
                         (log.empty() ? last : pg::ErrorText(log)));
}

// Takes Cairn's recovery settings out of postgresql.auto.conf again (the
// server ignores them once promoted; they should not linger there).
Status PostgresSource::RemoveRecoverySettings(const std::string& path, const passwd* pw) {
  const std::string text = ReadTextFile(path);
  const size_t b = text.find(kRecoveryBegin), e = text.find(kRecoveryEnd);
  if (b == std::string::npos || e == std::string::npos || e < b) return Status::Ok();
  std::string kept = text.substr(0, b) + text.substr(e + std::strlen(kRecoveryEnd));
  while (kept.size() >= 2 && kept.compare(kept.size() - 2, 2, "\n\n") == 0) kept.pop_back();
  return WriteOwnedFile(path, kept, pw, false).WithContext("cannot remove the recovery settings from " + path);
}

Status PostgresSource::StopServer(const std::string& pg_ctl, const std::string& dir) {
  std::string err;
  if (RunAsUser({pg_ctl, "-D", dir, "-m", "fast", "-w", "-t", "300", "stop"}, dir, &err).ok()) return Status::Ok();
  return Status::IOError("cannot stop PostgreSQL in " + dir + ": " + pg::ErrorText(err));
}

Result<RestoreOutcome> PostgresSource::RestorePhysical(const RestoreRequest& req, const Json& src) {
  const int major = pg::MajorOf(src.value("server_version_num", 0));
  if (major <= 0) return Status::InvalidArgument("the restore point does not name its PostgreSQL version");
  CAIRN_ASSIGN_OR_RETURN(std::string pg_ctl, ServerTool("pg_ctl", major));
  const passwd* pw = ::getpwnam(run_as_.c_str());
  if (!pw) return Status::NotFound("user " + run_as_ + " (setting run_as) does not exist");
  const std::string suffix = req.suffix.empty() ? "restored" : req.suffix;
  Json dbmap = Json::object();
  for (const Json& d : src.value("databases", Json::array())) dbmap[d.get<std::string>()] = d;
  const std::string hash = src.value("fingerprint_hash", "");
  RestoreOutcome out;

  if (req.mode == RestoreMode::kNewInstance) {
    std::string dir = req.new_name;
    if (dir.empty()) {
      const std::string base = config_.temp_dir.empty() ? "/var/tmp" : config_.temp_dir;
      dir = base + "/cairn-pg-" + suffix;
    } else if (dir[0] != '/') {
      const std::string base = !data_dir_.empty() ? fs::path(data_dir_).parent_path().string()
                                                  : (config_.temp_dir.empty() ? "/var/tmp" : config_.temp_dir);
      dir = base + "/" + dir;
    }
    dir = fs::path(dir).lexically_normal().string();
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (::access(dir.c_str(), F_OK) == 0)
      return Status::AlreadyExists("data directory " + dir + " already exists: choose another path with --as");
    const int port = req.port > 0 ? req.port : FreePort();
    if (port <= 0) return Status::IOError("cannot find a free TCP port on 127.0.0.1");
    CAIRN_RETURN_IF_ERROR(MakeDataDir(dir, pw));
    Log(req, "extracting the base backup into " + dir);
    Status st = Extract(req, src, dir);
    if (st.ok()) st = PrepareNewInstance(dir, src, port, pw);
    if (st.ok() && req.recovery.enabled) st = PrepareRecovery(req, dir, pw);
    if (st.ok()) Log(req, "starting PostgreSQL " + pg::MajorName(major) + " on 127.0.0.1:" + std::to_string(port));
    if (st.ok() && !req.recovery.enabled) st = StartServer(pg_ctl, dir, {});
    if (st.ok() && req.recovery.enabled) {
      // The copy answers read-only before it promoted: wait for the end of
      // the replay (or its failure: a target past the archived WAL).
      Endpoint saved = ep_;
      ep_.host = !saved.host.empty() && saved.host[0] == '/' ? dir : "127.0.0.1";
      ep_.port = port;
      st = RunTargetedRecovery(req, pg_ctl, dir, dir + "/cairn-start.log", pw,
                               [&] { return StartServer(pg_ctl, dir, {}); });
      ep_ = saved;
      if (st.ok()) st = RemoveRecoverySettings(dir + "/postgresql.auto.conf", pw);
      if (!st.ok()) (void)StopServer(pg_ctl, dir);
    }
    if (!st.ok()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      return st;
    }
    out.summary = "started a restored PostgreSQL " + pg::MajorName(major) + " on 127.0.0.1:" + std::to_string(port) +
                  " with data directory " + dir;
    Endpoint copy = ep_;
    copy.host = !ep_.host.empty() && ep_.host[0] == '/' ? dir : "127.0.0.1";
    copy.port = port;
    Result<std::vector<std::string>> disabled = DisableSubscriptions(copy);
    if (!disabled.ok()) {
      Log(req, "warning: " + disabled.status().message() + "; the copy keeps max_logical_replication_workers = 0");
    } else {
      const std::string conf = dir + "/postgresql.auto.conf";
      std::string text = ReadTextFile(conf);
      const size_t at = text.find(kNoSubscriptionWorkers);
      if (at != std::string::npos) text.erase(at, std::strlen(kNoSubscriptionWorkers) + 1);
      (void)WriteOwnedFile(conf, text, pw, false);
      if (!disabled->empty())
        out.summary += "; its subscriptions were disabled (" + JoinNames(*disabled) +
                       ": ALTER SUBSCRIPTION ... ENABLE to start them)";
    }
    out.connection = {{"host", "127.0.0.1"}, {"port", port}, {"data_dir", dir}, {"socket_dir", dir},
                      {"user", ep_.user}};
    out.stop_hint = "runuser -u " + run_as_ + " -- " + pg_ctl + " -D " + pg::ShellQuote(dir) + " -m fast stop";
    // Validation reaches the copy the way the original is reached (socket or TCP).
    const std::string via = !ep_.host.empty() && ep_.host[0] == '/' ? dir : "127.0.0.1";
    out.locator = {{"postgres", {{"host", via}, {"port", port}, {"databases", dbmap},
                                 {"fingerprint_hash", hash}, {"unlogged", src.value("unlogged", "")}}}};
    return out;
  }

  // Overwrite: everything slow (extraction) happens while the server still runs.
  CAIRN_RETURN_IF_ERROR(CheckRestore(req.manifest, req.mode));
  const std::string live = data_dir_;
  const std::string version_file = ReadTextFile(live + "/PG_VERSION");
  if (version_file.empty()) return Status::NotFound("data_dir " + live + " is not a PostgreSQL data directory");
  if (pg::ToolMajor("(PostgreSQL) " + version_file) != major)
    return Status::Unsupported("data_dir " + live + " holds PostgreSQL " + TrimNewlines(version_file) +
                               ", the backup is of PostgreSQL " + pg::MajorName(major));
  if (Connect().ok()) {
    auto dir = Sql("SELECT to_json(current_setting('data_directory'))");
    std::error_code e1, e2;
    if (dir.ok() && fs::weakly_canonical(dir->get<std::string>(), e1) != fs::weakly_canonical(live, e2))
      return Status::InvalidArgument("data_dir " + live + " is not the data directory of the server at " +
                                     ep_.Where() + " (" + dir->get<std::string>() + ")");
  }
  // "<name>.cairn-staging-<pid>-<suffix>": unique per process and second,
  // and tells CleanLeftovers whether its restore is still running.
  const std::string tag = std::to_string(::getpid()) + "-" + suffix;
  const std::string staging = live + kStagingInfix + tag, old = live + kOldInfix + tag;
  if (::access(staging.c_str(), F_OK) == 0 || ::access(old.c_str(), F_OK) == 0)
    return Status::AlreadyExists(staging + " already exists (left by an interrupted restore?): remove it first");
  CAIRN_RETURN_IF_ERROR(MakeDataDir(staging, pw));
  Log(req, "extracting the base backup into " + staging);
  std::error_code ec;
  Status st = Extract(req, src, staging);
  if (!st.ok()) {
    fs::remove_all(staging, ec);
    return WithNote(st, "nothing was changed");
  }
  fs::remove(staging + "/postmaster.pid", ec);
  // Recovery ends with a promotion onto a new timeline (as pgBackRest's
  // restores do): crash recovery would stay on the old timeline and write
  // WAL under segment names the archive already holds, so every safe
  // archive_command (test ! -f, pgBackRest, WAL-G) would fail from then on.
  // The WAL the copy needs is in its pg_wal; restore_command finds nothing.
  // The new timeline's number must be one the archive has not seen: the
  // promotion picks one past every timeline history file in pg_wal, so the
  // live cluster's history files (its own and those of earlier restores) go
  // into the copy.
  st = CopyHistoryFiles(live + "/pg_wal", staging + "/pg_wal", pw);
  if (st.ok() && req.recovery.enabled) {
    st = PrepareRecovery(req, staging, pw);
  } else {
    if (st.ok()) st = WriteOwnedFile(staging + "/recovery.signal", "", pw, false);
    if (st.ok())
      st = WriteOwnedFile(staging + "/postgresql.auto.conf",
                        std::string("\n") + kRecoveryBegin + "\nrestore_command = 'false'\n"
                        "recovery_target = 'immediate'\nrecovery_target_action = 'promote'\n"
                        "recovery_target_timeline = 'current'\n" + kRecoveryEnd + "\n",
                        pw, true);
  }
  if (!st.ok()) {
    fs::remove_all(staging, ec);
    return WithNote(st, "nothing was changed");
  }
  // Start the restored cluster the way the current one was started, and
  // refuse before any downtime when that way cannot work.
  std::string ctl_dir;
  std::vector<std::string> opts = pg::ParsePostmasterOpts(ReadTextFile(live + "/postmaster.opts"), &ctl_dir);
  std::error_code e1, e2;
  if (!ctl_dir.empty() && fs::weakly_canonical(ctl_dir, e1) == fs::weakly_canonical(live, e2)) ctl_dir.clear();
  bool config_given = false;
  for (const std::string& o : opts) config_given = config_given || o.find("config_file=") != std::string::npos;
  if (!config_given && ::access(((ctl_dir.empty() ? staging : ctl_dir) + "/postgresql.conf").c_str(), F_OK) != 0) {
    fs::remove_all(staging, ec);
    return Status::Unsupported("cannot tell how to start the restored cluster: no postgresql.conf in " +
                               (ctl_dir.empty() ? std::string("the backup") : ctl_dir) +
                               " and no config_file in " + live + "/postmaster.opts; nothing was changed");
  }
  // The server's stderr goes where it went before (its own log file), never
  // into the data directory where base backups would pick it up.
  std::string log_file = ServerStderrFile(live);
  if (log_file.empty())
    log_file = (config_.temp_dir.empty() ? std::string("/tmp") : config_.temp_dir) + "/cairn-pg-" + suffix + ".log";
  Log(req, "stopping PostgreSQL in " + live + " (downtime starts)");
  const bool was_running = ::access((live + "/postmaster.pid").c_str(), F_OK) == 0;
  if (was_running) {
    st = StopServer(pg_ctl, live);
    if (!st.ok()) {
      fs::remove_all(staging, ec);
      return WithNote(st, "nothing was changed");
    }
  }
  if (::rename(live.c_str(), old.c_str()) != 0) {
    st = Status::FromErrno(errno, "cannot move " + live + " aside");
    fs::remove_all(staging, ec);
    if (was_running) (void)StartServer(pg_ctl, live, opts, ctl_dir, log_file);
    return st;
  }
  if (::rename(staging.c_str(), live.c_str()) != 0) {
    st = Status::FromErrno(errno, "cannot move " + staging + " to " + live);
    ::rename(old.c_str(), live.c_str());
    fs::remove_all(staging, ec);
    if (was_running) (void)StartServer(pg_ctl, live, opts, ctl_dir, log_file);
    return st;
  }
  Log(req, "starting the restored cluster (server log: " + log_file + ")");
  st = RunTargetedRecovery(req, pg_ctl, live, log_file, pw,
                           [&] { return StartServer(pg_ctl, live, opts, ctl_dir, log_file); });
  if (!st.ok()) {
    // Put the previous cluster back so the service keeps running.
    (void)StopServer(pg_ctl, live);
    const std::string failed = live + kFailedInfix + tag;
    std::string back = "the previous data directory was put back";
    if (::rename(live.c_str(), failed.c_str()) == 0 && ::rename(old.c_str(), live.c_str()) == 0) {
      Status again = StartServer(pg_ctl, live, opts, ctl_dir, log_file);
      back += again.ok() ? " and started" : " but did not start either: " + again.message();
      back += "; the restored copy is kept in " + failed;
    } else {
      back = "the previous data directory is in " + old;
    }
    return Status(st.code(), st.message() + "; " + back);
  }
  Log(req, "PostgreSQL is up again on a new timeline (downtime ends)");
  if (ArchiveModeOf(config_) == ArchiveMode::kStream) {
    // pg_basebackup copies no slot: without one the streamer, when it
    // reconnects, would start at the server's position then and the WAL
    // written since the promotion would never be archived.
    Status slot = EnsureStreamingSlot();
    Log(req, slot.ok() ? "the replication slot of the WAL streamer is in place again"
                       : "warning: cannot create the WAL streamer's replication slot: " + slot.message() +
                             "; take a base backup once the streamer runs again");
  }
  st = RemoveRecoverySettings(live + "/postgresql.auto.conf", pw);
  if (!st.ok()) Log(req, "warning: " + st.message());
  fs::remove_all(old, ec);
  if (ec) Log(req, "warning: cannot remove the previous data directory " + old + ": " + ec.message());
  server_num_ = 0;  // a new server process: ask again
  out.summary = "restored the PostgreSQL cluster in " + live + " (server restarted)";
  out.connection = {{"host", ep_.host}, {"port", ep_.port}, {"data_dir", live}, {"user", ep_.user}};
  out.locator = {{"postgres", {{"databases", dbmap}, {"fingerprint_hash", hash}, {"unlogged", src.value("unlogged", "")}}}};
  return out;
}

}  // namespace cairn::pgsrc

// The MariaDB captures: logical (mariadb-dump per database, in a snapshot
// the fingerprint shares) and physical (mariadb-backup --stream).
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "util/fd_io.h"

#include "sources/mysql/mysql_common.h"
#include "util/process.h"

namespace cairn::mysql {
namespace {

// Reads `fd` byte by byte up to a line equal to `marker` (nothing after it
// is consumed: the rest of the stream is the part).
Status ReadMarker(int fd, const std::string& marker) {
  std::string line;
  for (;;) {
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError("the exact-rows session ended before its snapshot started");
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    if (line == marker) return Status::Ok();
    line.clear();
  }
}

// ---------------------------------------------------------------- logical capture

class LogicalCapture : public Capture {
 public:
  LogicalCapture(const Settings& s, std::unique_ptr<Client> client, std::string version, std::vector<DbPart> dbs,
                 std::string dump_tool)
      : settings_(s),
        client_(std::move(client)),
        version_(std::move(version)),
        dbs_(std::move(dbs)),
        dump_tool_(std::move(dump_tool)),
        running_(dbs_.size()) {
    std::pair<int, int> v = MajorMinor(version_);
    backup_stage_ = IsMariaDb(version_) && (v.first > 10 || (v.first == 10 && v.second >= 4));
    if (settings_.users) {
      CapturePart p;
      p.name = kUsersPart;
      p.file_name = kUsersFile;
      p.open = [this]() { return OpenUsers(); };
      p.finish = [this]() { return FinishUsers(); };
      parts_.push_back(std::move(p));
    }
    for (size_t i = 0; i < dbs_.size(); ++i) {
      CapturePart p;
      p.name = dbs_[i].part;
      p.file_name = dbs_[i].file;
      p.open = [this, i]() { return OpenDb(i); };
      p.finish = [this, i]() { return FinishDb(i); };
      parts_.push_back(std::move(p));
      if (dbs_[i].rows_part.empty()) continue;
      CapturePart rows;
      rows.name = dbs_[i].rows_part;
      rows.file_name = dbs_[i].rows_file;
      rows.open = [this, i]() { return OpenRows(i); };
      rows.finish = [this, i]() { return FinishRows(i); };
      parts_.push_back(std::move(rows));
    }
  }

  ~LogicalCapture() override {
    // Dumps first (their logs drain until they are gone), then the sessions
    // (the lock session may still hold the commit lock).
    users_dump_.reset();
    for (Running& r : running_) {
      r.dump.reset();
      r.rows.reset();
      if (r.rows_fd >= 0) ::close(r.rows_fd);
    }
    running_.clear();
    session_.reset();
    lock_session_.reset();
  }

  Status Init() { return OpenSession(&session_, "backup snapshot session"); }

  std::vector<CapturePart>& parts() override { return parts_; }

  Result<Json> Finish() override {
    CAIRN_RETURN_IF_ERROR(Collect());
    for (size_t i = 0; i < dbs_.size(); ++i) {
      if (!running_[i].finished) return Status::IOError("part " + dbs_[i].part + " was not read");
      if (!dbs_[i].rows_part.empty() && !running_[i].rows_finished)
        return Status::IOError("part " + dbs_[i].rows_part + " was not read");
    }
    if (lock_session_) {
      Status st = lock_session_->Close();
      lock_session_.reset();
      CAIRN_RETURN_IF_ERROR(st);
    }
    if (session_) {
      Status st = session_->Close();
      session_.reset();
      CAIRN_RETURN_IF_ERROR(st);
    }
    Json databases = Json::array();
    for (const DbPart& d : dbs_) {
      databases.push_back({{"name", d.db.name},
                           {"part", d.part},
                           {"file", d.file},
                           {"charset", d.db.charset},
                           {"collation", d.db.collation}});
      if (!d.binlog_file.empty()) {
        databases.back()["binlog_file"] = d.binlog_file;
        databases.back()["binlog_pos"] = d.binlog_pos;
      }
      if (d.rows_part.empty()) continue;
      Json names = Json::array();
      for (const TableInfo& t : d.exact_tables) names.push_back(t.name);
      databases.back()["rows_part"] = d.rows_part;
      databases.back()["rows_file"] = d.rows_file;
      databases.back()["rows_tables"] = names;
    }
    Json source = {{"method", "logical"},
                   {"databases", databases},
                   {"users_part", settings_.users ? Json(kUsersPart) : Json(nullptr)},
                   {"endpoint", client_->Where()},
                   {"fingerprint_version", kFingerprintVersion}};
    if (!notes_.empty()) source["fingerprint_note"] = Join(notes_, "; ");
    Json fingerprint = {{"exact", exact_}, {"items", items_}};
    if (!reasons_.empty()) fingerprint["inexact_reasons"] = reasons_;
    return Json{{"server_version", version_}, {"fingerprint", fingerprint}, {"source", source}};
  }

 private:
  struct Running {
    std::unique_ptr<DumpLog> log;  // declared first: destroyed after the dump
    std::unique_ptr<Process> dump;
    bool finished = false;
    std::unique_ptr<Process> rows;  // the exact rows, in the dump's snapshot
    int rows_fd = -1;
    bool rows_finished = false;
  };

  Status OpenSession(std::unique_ptr<Session>* s, const std::string& name) {
    CAIRN_ASSIGN_OR_RETURN(*s, Session::Open(*client_, name, true));
    std::string setup = std::string(kSessionSetup) +
                        "SET SESSION lock_wait_timeout=" + std::to_string(settings_.lock_timeout) + ";\n" +
                        "SELECT 'cairn-ready';\n";
    CAIRN_RETURN_IF_ERROR((*s)->Send(setup));
    return (*s)->ReadUntil("cairn-ready", 60).status();
  }

  // Reads the fingerprint of the database whose queries the session is running.
  Status Collect() {
    if (pending_ < 0) return Status::Ok();
    size_t i = static_cast<size_t>(pending_);
    pending_ = -1;
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> lines, session_->ReadUntil("cairn-fp-" + std::to_string(i), 0));
    return AddFingerprintItems(lines, {dbs_[i].db.name}, pending_tables_, {}, &items_);
  }

  // Stops commits server-wide, in a session of its own: BACKUP STAGE
  // BLOCK_COMMIT on MariaDB >= 10.4 (running statements go on, only their
  // commits wait), FLUSH TABLES WITH READ LOCK elsewhere. False when the
  // server refused (no RELOAD privilege, lock_wait_timeout reached): the
  // capture then goes on without it and its fingerprint is not exact.
  Result<bool> Lock(size_t i) {
    if (!lock_) return false;
    std::string marker = "cairn-locked-" + std::to_string(i);
    Status st = lock_session_ ? Status::Ok() : OpenSession(&lock_session_, "backup lock session");
    if (st.ok())
      st = lock_session_->Send(std::string(backup_stage_ ? "BACKUP STAGE START;\nBACKUP STAGE FLUSH;\n"
                                                           "BACKUP STAGE BLOCK_DDL;\nBACKUP STAGE BLOCK_COMMIT;\n"
                                                         : "FLUSH TABLES WITH READ LOCK;\n") +
                               "SELECT '" + marker + "';\n");
    if (st.ok()) st = lock_session_->ReadUntil(marker, settings_.lock_timeout + 60).status();
    if (st.ok()) return true;
    lock_session_.reset();  // whatever it held ends with its connection
    const std::string& m = st.message();
    if (m.find("RELOAD") == std::string::npos && m.find("Lock wait timeout") == std::string::npos &&
        m.find("Access denied; you need") == std::string::npos && m.find("did not answer") == std::string::npos)
      return st;
    lock_ = false;
    notes_.push_back(std::string(backup_stage_ ? "BACKUP STAGE BLOCK_COMMIT" : "FLUSH TABLES WITH READ LOCK") +
                     " was refused (" + m +
                     "): each dump ran in a snapshot of its own, not shared with the fingerprint");
    reasons_.push_back({{"reason", notes_.back()}});
    return false;
  }

  Status Unlock(size_t i) {
    std::string marker = "cairn-unlocked-" + std::to_string(i);
    CAIRN_RETURN_IF_ERROR(lock_session_->Send(std::string(backup_stage_ ? "BACKUP STAGE END;\n" : "UNLOCK TABLES;\n") +
                                              "SELECT '" + marker + "';\n"));
    return lock_session_->ReadUntil(marker, 60).status();
  }

  Result<int> OpenDb(size_t i) {
    const std::string& db = dbs_[i].db.name;
    const std::string action = "mariadb-dump of database " + db + " failed";
    CAIRN_RETURN_IF_ERROR(Collect());
    CAIRN_ASSIGN_OR_RETURN(bool locked, Lock(i));
    if (!locked) exact_ = false;
    auto unlock = [&]() {
      if (locked) (void)Unlock(i);
    };
    std::string snap_marker = "cairn-snap-" + std::to_string(i);
    Status st =
        session_->Send("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\nSELECT '" + snap_marker + "';\n");
    if (st.ok()) st = session_->ReadUntil(snap_marker, 60).status();
    // Where the binary log stood at this snapshot (MariaDB keeps it per
    // transaction), recorded with the database's dump (docs/pitr.md).
    const std::string pos_marker = "cairn-binlog-" + std::to_string(i);
    if (st.ok()) st = session_->Send("SHOW STATUS LIKE 'binlog_snapshot_%';\nSELECT '" + pos_marker + "';\n");
    if (st.ok()) {
      auto rows = session_->ReadUntil(pos_marker, 60);
      if (rows.ok()) (void)ParseSnapshotBinlogPosition(*rows, &dbs_[i].binlog_file, &dbs_[i].binlog_pos);
      else st = rows.status();
    }
    if (!st.ok()) {
      unlock();
      return st;
    }
    Running& r = running_[i];
    if (!dbs_[i].exact_tables.empty()) {
      st = StartRows(i);
      if (!st.ok()) {
        unlock();
        return st;
      }
    }
    std::string log_path = client_->private_dir() + "/dump-" + std::to_string(i) + ".log";
    auto log = DumpLog::Create(log_path);
    if (!log.ok()) {
      unlock();
      return log.status();
    }
    r.log = std::move(log).value();
    ProcessOptions o;
    std::vector<std::string> args = {"--single-transaction", "--routines", "--events", "--triggers", "--hex-blob",
                                     "--skip-dump-date", "--max-allowed-packet=1G", "--default-character-set=utf8mb4",
                                     "--verbose", "--log-error=" + log_path};
    for (const TableInfo& t : dbs_[i].exact_tables) args.push_back("--ignore-table-data=" + db + "." + t.name);
    args.insert(args.end(), {"--", db});
    o.argv = client_->Argv(dump_tool_, args);
    o.stdout_mode = ProcessOptions::Output::kPipe;
    o.low_priority = true;
    auto started = Process::Start(std::move(o));
    if (!started.ok()) {
      unlock();
      return started.status();
    }
    r.dump = std::move(started).value();
    // The dump's snapshot must begin while commits are blocked, so that it
    // and ours see the same committed state.
    Status waited = r.log->WaitForSnapshot(r.dump.get(), kDumpStartTimeout);
    unlock();
    if (!waited.ok()) {
      if (waited.code() == StatusCode::kAborted) {
        Status ended = r.dump->Wait();
        std::string text = r.log->Finish() + "\n" + r.dump->captured_stderr();
        if (!ended.ok()) return client_->Classify(text, action);
      }
      return waited.WithContext(action);
    }
    r.log->StartDrain();
    // The tables as the snapshot sees them (DDL waited for the lock until now).
    std::string tables_marker = "cairn-tables-" + std::to_string(i);
    CAIRN_RETURN_IF_ERROR(session_->Send(ListTablesSql({db}) + "SELECT '" + tables_marker + "';\n"));
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> listing, session_->ReadUntil(tables_marker, 0));
    pending_tables_.clear();
    for (TableInfo& t : ParseTables(Join(listing, "\n")))
      if (t.db == db) pending_tables_.push_back(std::move(t));
    // A table that is not transactional was read by the dump after the lock,
    // outside any snapshot: only this database's fingerprint is by name.
    std::vector<std::string> loose;
    for (const TableInfo& t : pending_tables_)
      if (!t.transactional()) loose.push_back(t.name + " (" + t.engine + ")");
    if (!loose.empty()) {
      notes_.push_back("database " + db + ": not transactional: " + Join(loose, ", "));
      reasons_.push_back({{"scope", db},
                          {"reason", "not transactional, so read outside the dump's snapshot: " + Join(loose, ", ")}});
    }
    CAIRN_RETURN_IF_ERROR(session_->Send(FingerprintSql({db}, pending_tables_, kFingerprintVersion) +
                                         "COMMIT;\nSELECT 'cairn-fp-" + std::to_string(i) + "';\n"));
    pending_ = static_cast<int>(i);
    return r.dump->ReleaseStdout();
  }

  Status FinishDb(size_t i) {
    Running& r = running_[i];
    if (!r.dump) return Status::IOError("part " + dbs_[i].part + " was never opened");
    Status st = r.dump->Wait();
    std::string text = r.log->Finish();
    r.finished = true;
    if (!st.ok())
      return client_->Classify(text + "\n" + r.dump->captured_stderr(),
                               "mariadb-dump of database " + dbs_[i].db.name + " failed");
    return Status::Ok();
  }

  // The exact rows of a database's FLOAT tables: a `mariadb` of its own whose
  // consistent snapshot starts now, while commits are blocked (so it sees
  // what the dump and the fingerprint see); its output waits in the pipe
  // until the rows part is read.
  Status StartRows(size_t i) {
    // --quick streams each result row instead of holding the table in
    // memory; the server may then wait on us (while the dump part is read
    // first) far longer than net_write_timeout's default minute.
    std::string script = std::string(kSessionSetup) +
                         "SET SESSION net_write_timeout=31536000, net_read_timeout=31536000;\n"
                         "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\n"
                         "SELECT 'cairn-rows-ready';\n" + ExactRowsHeader();
    for (const TableInfo& t : dbs_[i].exact_tables) script += ExactRowsSql(t);
    script += "COMMIT;\n";
    CAIRN_ASSIGN_OR_RETURN(int in, MemoryFile("cairn-script", script));
    CAIRN_ASSIGN_OR_RETURN(std::string tool, client_->Tool({"mariadb", "mysql"}, "mariadb-client"));
    ProcessOptions o;
    o.argv = client_->Argv(tool, {"--batch", "--raw", "--skip-column-names", "--quick", "--max-allowed-packet=1G"});
    o.stdin_fd = in;
    o.stdout_mode = ProcessOptions::Output::kPipe;
    o.low_priority = true;
    auto started = Process::Start(std::move(o));
    ::close(in);
    if (!started.ok()) return started.status();
    Running& r = running_[i];
    r.rows = std::move(started).value();
    r.rows_fd = r.rows->ReleaseStdout();
    Status st = ReadMarker(r.rows_fd, "cairn-rows-ready");
    if (!st.ok() && !r.rows->Wait().ok())
      return client_->Classify(r.rows->captured_stderr(), "reading the exact rows of database " + dbs_[i].db.name);
    return st;
  }

  Result<int> OpenRows(size_t i) {
    Running& r = running_[i];
    if (r.rows_fd < 0) return Status::IOError("part " + dbs_[i].rows_part + " opened before its database");
    int fd = r.rows_fd;
    r.rows_fd = -1;
    return fd;
  }

  Status FinishRows(size_t i) {
    Running& r = running_[i];
    Status st = r.rows->Wait();
    r.rows_finished = true;
    if (!st.ok())
      return client_->Classify(r.rows->captured_stderr(), "reading the exact rows of database " + dbs_[i].db.name);
    return Status::Ok();
  }

  Result<int> OpenUsers() {
    ProcessOptions o;
    o.argv = client_->Argv(dump_tool_, {"--system=users", "--insert-ignore", "--skip-dump-date"});
    o.stdout_mode = ProcessOptions::Output::kPipe;
    o.low_priority = true;
    CAIRN_ASSIGN_OR_RETURN(users_dump_, Process::Start(std::move(o)));
    return users_dump_->ReleaseStdout();
  }

  Status FinishUsers() {
    if (!users_dump_) return Status::IOError("part users was never opened");
    Status st = users_dump_->Wait();
    if (!st.ok())
      return client_->Classify(users_dump_->captured_stderr(),
                               "mariadb-dump --system=users failed (set users: false to skip users and grants)");
    return Status::Ok();
  }

  Settings settings_;
  std::unique_ptr<Client> client_;
  std::string version_;
  std::vector<DbPart> dbs_;
  std::string dump_tool_;
  std::vector<CapturePart> parts_;
  std::unique_ptr<Session> session_;       // the fingerprint's snapshot
  std::unique_ptr<Session> lock_session_;  // holds the commit lock while a dump starts
  std::vector<Running> running_;
  std::unique_ptr<Process> users_dump_;
  bool lock_ = true;
  bool backup_stage_ = false;
  bool exact_ = true;
  std::vector<std::string> notes_;
  Json reasons_ = Json::array();  // inexact_reasons
  Json items_ = Json::object();
  int pending_ = -1;
  std::vector<TableInfo> pending_tables_;
};

// ---------------------------------------------------------------- physical capture

class PhysicalCapture : public Capture {
 public:
  PhysicalCapture(std::unique_ptr<Client> client, std::string version, std::string backup_tool, Json before,
                  std::vector<std::string> dbs)
      : client_(std::move(client)),
        version_(std::move(version)),
        tool_(std::move(backup_tool)),
        before_(std::move(before)),
        dbs_(std::move(dbs)) {
    CapturePart p;
    p.name = kBasePart;
    p.file_name = kBaseFile;
    p.open = [this]() { return Open(); };
    p.finish = [this]() { return FinishPart(); };
    parts_.push_back(std::move(p));
  }

  std::vector<CapturePart>& parts() override { return parts_; }

  Result<Json> Finish() override {
    if (!finished_) return Status::IOError("part base was not read");
    // Re-list: a database created during the copy is in the copy too.
    CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> now, SelectDatabases(*client_, {}));
    CAIRN_ASSIGN_OR_RETURN(Json after, ComputeFingerprint(*client_, Names(now), {}, true));
    // Unchanged from before the copy to after it: the copy holds exactly that
    // state, whatever the engine (MyISAM included). A database that changed
    // meanwhile is compared by name only.
    std::set<std::string> changed;
    const Json& was = before_["items"];
    const Json& now_items = after["items"];
    auto db_of = [](const std::string& item) { return item.substr(0, item.find('.')); };
    for (const auto& [k, v] : now_items.items())
      if (!was.contains(k) || was[k] != v) changed.insert(db_of(k));
    for (const auto& [k, v] : was.items())
      if (!now_items.contains(k)) changed.insert(db_of(k));
    Json fp = {{"exact", true}, {"items", now_items}};
    Json source = {{"method", "physical"}, {"part", kBasePart}, {"file", kBaseFile}, {"endpoint", client_->Where()},
                   {"fingerprint_version", kFingerprintVersion}};
    // Where the copy's binary log continues: the start of point-in-time
    // recovery from this point (docs/pitr.md).
    if (!binlog_file_.empty()) {
      source["binlog_file"] = binlog_file_;
      source["binlog_pos"] = binlog_pos_;
    }
    if (!changed.empty()) {
      Json reasons = Json::array();
      for (const std::string& db : changed)
        reasons.push_back({{"scope", db}, {"reason", "written to while mariadb-backup copied the server"}});
      fp["inexact_reasons"] = reasons;
      source["fingerprint_note"] = "the data changed while mariadb-backup copied it";
    }
    return Json{{"server_version", version_}, {"fingerprint", fp}, {"source", source}};
  }

 private:
  Result<int> Open() {
    std::string dir = client_->private_dir() + "/xb";
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "cannot create " + dir);
    ProcessOptions o;
    o.argv = client_->Argv(tool_, {"--backup", "--stream=xbstream", "--target-dir=" + dir});
    // mariadb-backup wants --defaults-file/--no-defaults first, then --backup: Argv keeps that order.
    o.stdout_mode = ProcessOptions::Output::kPipe;
    o.low_priority = true;
    CAIRN_ASSIGN_OR_RETURN(backup_, Process::Start(std::move(o)));
    return backup_->ReleaseStdout();
  }

  Status FinishPart() {
    if (!backup_) return Status::IOError("part base was never opened");
    Status st = backup_->Wait();
    finished_ = true;
    if (!st.ok()) return client_->Classify(backup_->captured_stderr(), "mariadb-backup failed");
    (void)ParseBackupBinlogPosition(backup_->captured_stderr(), &binlog_file_, &binlog_pos_);
    return Status::Ok();
  }

  std::unique_ptr<Client> client_;
  std::string version_, tool_;
  Json before_;
  std::vector<std::string> dbs_;
  std::vector<CapturePart> parts_;
  std::unique_ptr<Process> backup_;
  bool finished_ = false;
  std::string binlog_file_;  // "" when binary logging is off
  uint64_t binlog_pos_ = 0;
};

}  // namespace

Result<std::unique_ptr<Capture>> MakeLogicalCapture(const Settings& s, std::unique_ptr<Client> client,
                                                    std::string version, std::vector<DbPart> dbs,
                                                    std::string dump_tool) {
  auto capture = std::make_unique<LogicalCapture>(s, std::move(client), std::move(version), std::move(dbs),
                                                  std::move(dump_tool));
  CAIRN_RETURN_IF_ERROR(capture->Init());
  return std::unique_ptr<Capture>(std::move(capture));
}

std::unique_ptr<Capture> MakePhysicalCapture(std::unique_ptr<Client> client, std::string version,
                                             std::string backup_tool, Json before, std::vector<std::string> dbs) {
  return std::make_unique<PhysicalCapture>(std::move(client), std::move(version), std::move(backup_tool),
                                           std::move(before), std::move(dbs));
}

}  // namespace cairn::mysql

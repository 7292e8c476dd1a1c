// The MariaDB/MySQL source (mysql_source.h, docs/sources/mysql.md).
#include "sources/mysql/mysql_source.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "sources/mysql/mysql_client.h"
#include "sources/mysql/mysql_internal.h"
#include "util/process.h"

namespace cairn {
namespace mysql {
namespace {

namespace fs = std::filesystem;

constexpr char kUsersPart[] = "users";
constexpr char kUsersFile[] = "users.sql";
constexpr char kBasePart[] = "base";
constexpr char kBaseFile[] = "base.xbstream";
// How long a dump may take to start its transaction while writes are blocked.
constexpr int kDumpStartTimeout = 120;
constexpr int kServerStartTimeout = 300;

// Every session of ours starts from known settings: no sql_mode surprises
// (NO_BACKSLASH_ESCAPES, PAD_CHAR_TO_FULL_LENGTH), UTC for TIMESTAMP values,
// and no statement or idle time limit while a long dump is being read.
const char kSessionSetup[] =
    "SET SESSION sql_mode='';\n"
    "SET NAMES utf8mb4;\n"
    "SET SESSION time_zone='+00:00';\n"
    "SET SESSION wait_timeout=31536000 /*M!100108 , max_statement_time=0 */;\n"
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n";

struct Settings {
  Endpoint endpoint;
  std::string user = "root";
  std::string password;
  std::vector<std::string> databases;  // empty: all
  std::string method = "logical";
  std::string run_as = "mysql";
  std::string data_dir;
  std::string bin_dir;
  bool users = true;
  bool restore_users = false;
  int lock_timeout = 10;
};

struct DbInfo {
  std::string name, charset, collation;
};

// One database of a logical restore point, as recorded in the manifest.
struct DbPart {
  DbInfo db;
  std::string part, file;
};

Result<bool> SettingBool(const ServiceConfig& c, const std::string& key, bool fallback) {
  if (!c.settings.contains(key) || c.settings[key].is_null()) return fallback;
  const Json& v = c.settings[key];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  return Status::InvalidArgument("service " + c.name + ": setting " + key + " must be true or false");
}

std::string Trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string Q(const std::string& db, const std::string& name) { return QuoteIdent(db) + "." + QuoteIdent(name); }

bool IsWord(const std::string& s) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  return true;
}

// " CHARACTER SET cs COLLATE coll" for a database's defaults ("" when the
// manifest holds something that is not a plain name).
std::string CharsetClause(const DbInfo& db) {
  if (!IsWord(db.charset) || !IsWord(db.collation)) return "";
  return " CHARACTER SET " + db.charset + " COLLATE " + db.collation;
}

std::string CreateDatabaseSql(const std::string& name, const DbInfo& like) {
  return "CREATE DATABASE " + QuoteIdent(name) + CharsetClause(like) + ";\n";
}

std::string AlterDatabaseSql(const std::string& name, const DbInfo& like) {
  std::string clause = CharsetClause(like);
  return clause.empty() ? "" : "ALTER DATABASE " + QuoteIdent(name) + clause + ";\n";
}

Result<std::vector<DbInfo>> ListDatabases(const Client& c) {
  CAIRN_ASSIGN_OR_RETURN(
      std::string out,
      c.RunSql(
          "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
          "ORDER BY BINARY SCHEMA_NAME;\n",
          "", "cannot list the databases"));
  std::vector<DbInfo> dbs;
  for (const std::string& line : SplitLines(out)) {
    if (line.empty()) continue;
    std::vector<std::string> f = SplitBatchLine(line);
    if (f.size() < 3) continue;
    dbs.push_back(DbInfo{f[0], f[1], f[2]});
  }
  return dbs;
}

// The databases a capture covers: the configured ones (which must exist) or
// every database but the server's own.
Result<std::vector<DbInfo>> SelectDatabases(const Client& c, const std::vector<std::string>& wanted) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> all, ListDatabases(c));
  std::vector<DbInfo> out;
  if (wanted.empty()) {
    for (const DbInfo& d : all)
      if (!IsSystemDatabase(d.name) && d.name.rfind("#mysql50#", 0) != 0) out.push_back(d);
    return out;
  }
  std::set<std::string> seen;
  for (const std::string& w : wanted) {
    if (!seen.insert(w).second) continue;
    bool found = false;
    for (const DbInfo& d : all)
      if (d.name == w) {
        out.push_back(d);
        found = true;
      }
    if (!found) return Status::NotFound("database " + w + " does not exist on MariaDB at " + c.Where());
  }
  return out;
}

std::vector<std::string> Names(const std::vector<DbInfo>& dbs) {
  std::vector<std::string> n;
  for (const DbInfo& d : dbs) n.push_back(d.name);
  return n;
}

// Rows and checksums of every table of `dbs`, inside one consistent snapshot.
Result<Json> ComputeFingerprint(const Client& c, const std::vector<std::string>& dbs,
                                const std::map<std::string, std::string>& rename, bool low_priority) {
  Json items = Json::object();
  if (dbs.empty()) return Json{{"exact", true}, {"items", items}};
  CAIRN_ASSIGN_OR_RETURN(std::string listing, c.RunSql(std::string(kSessionSetup) + ListTablesSql(dbs), "",
                                                       "cannot list the tables", {}, low_priority));
  std::set<std::string> wanted(dbs.begin(), dbs.end());
  std::vector<TableInfo> tables;
  for (TableInfo& t : ParseTables(listing))
    if (wanted.count(t.db)) tables.push_back(std::move(t));
  std::string script = std::string(kSessionSetup) + "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\n" +
                       FingerprintSql(dbs, tables) + "COMMIT;\n";
  CAIRN_ASSIGN_OR_RETURN(std::string out, c.RunSql(script, "", "fingerprint query failed", {}, low_priority));
  CAIRN_RETURN_IF_ERROR(AddFingerprintItems(SplitLines(out), dbs, tables, rename, &items));
  bool exact = true;
  for (const TableInfo& t : tables) exact = exact && t.transactional();
  return Json{{"exact", exact}, {"items", items}};
}

// Streams a stored part into `mariadb` (in `database`, "" = none).
Status LoadPart(const Client& c, PartReader* reader, const std::string& part, const std::string& file,
                const std::string& database, const std::string& action) {
  CAIRN_ASSIGN_OR_RETURN(std::string tool, c.Tool({"mariadb", "mysql"}, "mariadb-client"));
  std::vector<std::string> extra = {"--binary-mode", "--comments", "--max-allowed-packet=1G", "--skip-reconnect"};
  if (!database.empty()) extra.push_back("--database=" + database);
  ProcessOptions o;
  o.argv = c.Argv(tool, extra);
  CAIRN_ASSIGN_OR_RETURN(FedRun run,
                         RunWithInput(std::move(o), [&](int fd) { return reader->ReadStream(part, file, fd); }));
  if (!run.exit.ok()) return c.Classify(run.process->captured_stderr(), action);
  if (!run.input.ok()) return run.input.WithContext(action);
  return Status::Ok();
}

// ---------------------------------------------------------------- non-table objects

// What RENAME TABLE moves and what it leaves behind.
struct Objects {
  std::vector<std::string> tables;  // base tables, sequences, system-versioned tables
  std::vector<ObjectDef> routines, views, triggers, events;
  // In creation order: views may call functions, so routines come first.
  std::vector<ObjectDef> CreationOrder() const {
    std::vector<ObjectDef> all = routines;
    for (const ObjectDef& v : OrderViews(views)) all.push_back(v);
    all.insert(all.end(), triggers.begin(), triggers.end());
    all.insert(all.end(), events.begin(), events.end());
    return all;
  }
};

Result<Objects> FetchObjects(const Client& c, const std::string& db) {
  std::string lit = QuoteLiteral(db);
  auto where = [&](const std::string& column) {
    return " WHERE " + column + "=" + lit + " AND BINARY " + column + "=BINARY " + lit;
  };
  std::string list = std::string(kSessionSetup) + "SELECT 'T', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES" +
                     where("TABLE_SCHEMA") +
                     " ORDER BY BINARY TABLE_NAME;\n"
                     "SELECT 'R', ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES" +
                     where("ROUTINE_SCHEMA") +
                     " ORDER BY ROUTINE_TYPE, BINARY ROUTINE_NAME;\n"
                     "SELECT 'G', TRIGGER_NAME FROM information_schema.TRIGGERS" +
                     where("TRIGGER_SCHEMA") +
                     " ORDER BY BINARY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER;\n"
                     "SELECT 'E', EVENT_NAME FROM information_schema.EVENTS" +
                     where("EVENT_SCHEMA") + " ORDER BY BINARY EVENT_NAME;\n";
  CAIRN_ASSIGN_OR_RETURN(std::string out, c.RunSql(list, "", "cannot list the objects of database " + db));
  Objects objs;
  std::vector<ObjectDef> wanted;  // in SHOW CREATE order
  for (const std::string& line : SplitLines(out)) {
    if (line.empty()) continue;
    std::vector<std::string> f = SplitBatchLine(line);
    if (f[0] == "T" && f.size() == 3) {
      if (f[2] == "VIEW")
        wanted.push_back(ObjectDef{"VIEW", f[1], "", "", "", "", ""});
      else if (f[2] != "TEMPORARY")
        objs.tables.push_back(f[1]);
    } else if (f[0] == "R" && f.size() == 3) {
      wanted.push_back(ObjectDef{f[1], f[2], "", "", "", "", ""});
    } else if (f[0] == "G" && f.size() == 2) {
      wanted.push_back(ObjectDef{"TRIGGER", f[1], "", "", "", "", ""});
    } else if (f[0] == "E" && f.size() == 2) {
      wanted.push_back(ObjectDef{"EVENT", f[1], "", "", "", "", ""});
    }
  }
  if (wanted.empty()) return objs;
  // In the database itself, SHOW CREATE names its tables without the database
  // (compact format), so the statements can be replayed in another database.
  // Binary results: the text exactly as stored, replayed under its own
  // character_set_client (as mariadb-dump does).
  std::string show = std::string(kSessionSetup) + "SET SESSION character_set_results=binary;\n";
  for (const ObjectDef& d : wanted) show += "SHOW CREATE " + d.kind + " " + QuoteIdent(d.name) + ";\n";
  CAIRN_ASSIGN_OR_RETURN(std::string defs, c.RunSql(show, db, "cannot read the definitions in database " + db));
  std::vector<std::string> lines;
  for (const std::string& l : SplitLines(defs))
    if (!l.empty()) lines.push_back(l);
  if (lines.size() != wanted.size())
    return Status::IOError("cannot read the definitions in database " + db + ": expected " +
                           std::to_string(wanted.size()) + " rows, got " + std::to_string(lines.size()));
  for (size_t i = 0; i < wanted.size(); ++i) {
    ObjectDef d = wanted[i];
    std::vector<std::string> f = SplitBatchLine(lines[i]);
    if (d.kind == "VIEW" && f.size() >= 4) {
      d.create = f[1], d.charset_client = f[2], d.collation_connection = f[3];
    } else if (d.kind == "EVENT" && f.size() >= 6) {
      d.sql_mode = f[1], d.time_zone = f[2], d.create = f[3], d.charset_client = f[4], d.collation_connection = f[5];
    } else if (f.size() >= 5) {
      d.sql_mode = f[1], d.create = f[2], d.charset_client = f[3], d.collation_connection = f[4];
    } else {
      return Status::IOError("unexpected SHOW CREATE " + d.kind + " output for " + d.name);
    }
    if (d.create.empty() || d.create == "NULL")
      return Status::IOError("cannot read the definition of " + d.kind + " " + db + "." + d.name + " (user " +
                             c.user() + " lacks the privilege to see it)");
    if (d.kind == "VIEW")
      objs.views.push_back(d);
    else if (d.kind == "TRIGGER")
      objs.triggers.push_back(d);
    else if (d.kind == "EVENT")
      objs.events.push_back(d);
    else
      objs.routines.push_back(d);
  }
  return objs;
}

std::string DropObjectsSql(const std::string& db, const Objects& o, bool triggers_only = false) {
  std::string sql;
  for (const ObjectDef& d : o.triggers) sql += "DROP TRIGGER IF EXISTS " + Q(db, d.name) + ";\n";
  if (triggers_only) return sql;
  for (const ObjectDef& d : o.views) sql += "DROP VIEW IF EXISTS " + Q(db, d.name) + ";\n";
  for (const ObjectDef& d : o.events) sql += "DROP EVENT IF EXISTS " + Q(db, d.name) + ";\n";
  // A package body goes before its package.
  for (const ObjectDef& d : o.routines)
    if (d.kind == "PACKAGE BODY") sql += "DROP PACKAGE BODY IF EXISTS " + Q(db, d.name) + ";\n";
  for (const ObjectDef& d : o.routines)
    if (d.kind != "PACKAGE BODY") sql += "DROP " + d.kind + " IF EXISTS " + Q(db, d.name) + ";\n";
  return sql;
}

std::string RenameSql(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<std::string> items;
  for (const auto& [from, to] : pairs) items.push_back(from + " TO " + to);
  return "RENAME TABLE " + Join(items, ", ") + ";\n";
}

Status CreateObjects(const Client& c, const std::string& db, const Objects& o, const std::string& action) {
  std::vector<ObjectDef> all = o.CreationOrder();
  if (all.empty()) return Status::Ok();
  // --binary-mode: no client commands inside definitions; --comments: bodies keep their comments.
  return c.RunSql(CreateObjectsScript(all), db, action, {"--binary-mode", "--comments"}).status();
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
    }
  }

  ~LogicalCapture() override {
    // Dumps first (their logs drain until they are gone), then the sessions
    // (the lock session may still hold the commit lock).
    users_dump_.reset();
    for (Running& r : running_) r.dump.reset();
    running_.clear();
    session_.reset();
    lock_session_.reset();
  }

  Status Init() { return OpenSession(&session_, "backup snapshot session"); }

  std::vector<CapturePart>& parts() override { return parts_; }

  Result<Json> Finish() override {
    CAIRN_RETURN_IF_ERROR(Collect());
    for (size_t i = 0; i < dbs_.size(); ++i)
      if (!running_[i].finished) return Status::IOError("part " + dbs_[i].part + " was not read");
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
    for (const DbPart& d : dbs_)
      databases.push_back({{"name", d.db.name},
                           {"part", d.part},
                           {"file", d.file},
                           {"charset", d.db.charset},
                           {"collation", d.db.collation}});
    Json source = {{"method", "logical"},
                   {"databases", databases},
                   {"users_part", settings_.users ? Json(kUsersPart) : Json(nullptr)},
                   {"endpoint", client_->Where()}};
    if (!notes_.empty()) source["fingerprint_note"] = Join(notes_, "; ");
    return Json{
        {"server_version", version_}, {"fingerprint", {{"exact", exact_}, {"items", items_}}}, {"source", source}};
  }

 private:
  struct Running {
    std::unique_ptr<DumpLog> log;  // declared first: destroyed after the dump
    std::unique_ptr<Process> dump;
    bool finished = false;
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
    if (!st.ok()) {
      unlock();
      return st;
    }
    Running& r = running_[i];
    std::string log_path = client_->private_dir() + "/dump-" + std::to_string(i) + ".log";
    auto log = DumpLog::Create(log_path);
    if (!log.ok()) {
      unlock();
      return log.status();
    }
    r.log = std::move(log).value();
    ProcessOptions o;
    o.argv =
        client_->Argv(dump_tool_, {"--single-transaction", "--routines", "--events", "--triggers", "--hex-blob",
                                   "--skip-dump-date", "--max-allowed-packet=1G", "--default-character-set=utf8mb4",
                                   "--verbose", "--log-error=" + log_path, "--", db});
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
    for (const TableInfo& t : pending_tables_)
      if (!t.transactional()) {
        if (exact_)
          notes_.push_back("table " + db + "." + t.name + " uses " + t.engine + ", which is not transactional");
        exact_ = false;
      }
    CAIRN_RETURN_IF_ERROR(session_->Send(FingerprintSql({db}, pending_tables_) + "COMMIT;\nSELECT 'cairn-fp-" +
                                         std::to_string(i) + "';\n"));
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
    bool same = after["items"] == before_["items"];
    Json fp = {{"exact", same && after.value("exact", false)}, {"items", after["items"]}};
    Json source = {{"method", "physical"}, {"part", kBasePart}, {"file", kBaseFile}, {"endpoint", client_->Where()}};
    if (!same) source["fingerprint_note"] = "the data changed while mariadb-backup copied it";
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
    return Status::Ok();
  }

  std::unique_ptr<Client> client_;
  std::string version_, tool_;
  Json before_;
  std::vector<std::string> dbs_;
  std::vector<CapturePart> parts_;
  std::unique_ptr<Process> backup_;
  bool finished_ = false;
};

// ---------------------------------------------------------------- the source

class MysqlSource : public Source {
 public:
  MysqlSource(ServiceConfig config, Settings settings) : config_(std::move(config)), s_(std::move(settings)) {}

  Result<std::string> Probe() override {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(s_.endpoint));
    CAIRN_ASSIGN_OR_RETURN(std::string version, Version(*c));
    if (s_.method == "physical") CAIRN_RETURN_IF_ERROR(CheckBackupTool(*c, version).status());
    return version;
  }

  Result<std::unique_ptr<Capture>> StartCapture() override {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(s_.endpoint));
    CAIRN_ASSIGN_OR_RETURN(std::string version, Version(*c));
    if (s_.method == "physical") {
      CAIRN_ASSIGN_OR_RETURN(std::string tool, CheckBackupTool(*c, version));
      CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> dbs, SelectDatabases(*c, {}));
      CAIRN_ASSIGN_OR_RETURN(Json before, ComputeFingerprint(*c, Names(dbs), {}, true));
      return std::unique_ptr<Capture>(new PhysicalCapture(std::move(c), version, tool, before, Names(dbs)));
    }
    CAIRN_ASSIGN_OR_RETURN(std::string dump_tool, c->Tool({"mariadb-dump", "mysqldump"}, "mariadb-client"));
    CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> dbs, SelectDatabases(*c, s_.databases));
    std::vector<DbPart> parts;
    for (const DbInfo& d : dbs) {
      std::string enc = EncodeName(d.name);
      parts.push_back(DbPart{d, "db." + enc, enc + ".sql"});
    }
    auto capture = std::make_unique<LogicalCapture>(s_, std::move(c), version, std::move(parts), dump_tool);
    CAIRN_RETURN_IF_ERROR(capture->Init());
    return std::unique_ptr<Capture>(std::move(capture));
  }

  Status CheckRestore(const Json& manifest, RestoreMode mode) override {
    const Json src = manifest.value("source", Json::object());
    if (mode == RestoreMode::kOverwrite && src.is_object() && src.value("method", "") == "physical")
      return PhysicalOverwriteRefused();
    return Status::Ok();
  }

  Result<RestoreOutcome> Restore(const RestoreRequest& request) override {
    if (!request.reader) return Status::InvalidArgument("restore without a reader");
    const Json& src = request.manifest.contains("source") ? request.manifest["source"] : Json::object();
    std::string method = src.is_object() ? src.value("method", "") : "";
    if (method == "physical") return RestorePhysical(request);
    if (method != "logical")
      return Status::Corruption("restore point " + request.manifest.value("point_id", std::string("?")) +
                                " has no MariaDB source facts (manifest key source.method)");
    std::vector<DbPart> dbs;
    for (const Json& d : src.value("databases", Json::array())) {
      dbs.push_back(DbPart{DbInfo{d.value("name", ""), d.value("charset", ""), d.value("collation", "")},
                           d.value("part", ""), d.value("file", "")});
      if (dbs.back().db.name.empty() || dbs.back().part.empty())
        return Status::Corruption("restore point lists a database without a name or part");
    }
    std::string users_part =
        src.contains("users_part") && src["users_part"].is_string() ? src["users_part"].get<std::string>() : "";
    if (request.mode == RestoreMode::kNewInstance) return RestoreNew(request, dbs);
    return RestoreOverwrite(request, dbs, users_part);
  }

  Result<Json> Fingerprint(const Json& locator) override {
    if (locator.is_object() && locator.contains("instance")) {
      const Json& in = locator["instance"];
      Endpoint ep;
      ep.host = in.value("host", std::string("127.0.0.1"));
      ep.port = in.value("port", 3306);
      if (!s_.endpoint.socket.empty()) ep.socket = in.value("socket", std::string());
      CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(ep));
      CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> dbs, SelectDatabases(*c, {}));
      return ComputeFingerprint(*c, Names(dbs), {}, false);
    }
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(s_.endpoint));
    if (locator.is_object() && locator.contains("databases")) {
      std::vector<std::string> actual;
      std::map<std::string, std::string> rename;
      for (const auto& [orig, now] : locator["databases"].items()) {
        actual.push_back(now.get<std::string>());
        rename[now.get<std::string>()] = orig;
      }
      CAIRN_RETURN_IF_ERROR(SelectDatabases(*c, actual).status());
      return ComputeFingerprint(*c, actual, rename, false);
    }
    CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> dbs,
                           SelectDatabases(*c, s_.method == "physical" ? std::vector<std::string>{} : s_.databases));
    return ComputeFingerprint(*c, Names(dbs), {}, false);
  }

 private:
  Result<std::unique_ptr<Client>> MakeClient(const Endpoint& ep) const {
    auto c = std::make_unique<Client>(ep, s_.user, s_.password, s_.bin_dir, config_.temp_dir);
    CAIRN_RETURN_IF_ERROR(c->Init());
    return c;
  }

  Result<std::string> Version(const Client& c) const {
    CAIRN_ASSIGN_OR_RETURN(std::string out, c.RunSql("SELECT VERSION();\n", "", "cannot query MariaDB"));
    std::string v = Trimmed(out);
    if (v.empty()) return Status::IOError("MariaDB at " + c.Where() + " returned no version");
    return v;
  }

  // mariadb-backup only copies a server of its own major version.
  Result<std::string> CheckBackupTool(const Client& c, const std::string& server_version) const {
    if (!IsMariaDb(server_version))
      return Status::Unsupported("method physical needs MariaDB (mariadb-backup); the server is MySQL " +
                                 server_version + ": use method: logical");
    CAIRN_ASSIGN_OR_RETURN(std::string tool, c.Tool({"mariadb-backup", "mariabackup"}, "mariadb-backup"));
    ProcessOptions o;
    o.argv = {tool, "--version"};
    o.stdout_mode = ProcessOptions::Output::kCapture;
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Process> p, Process::Start(std::move(o)));
    CAIRN_RETURN_IF_ERROR(p->Wait());
    std::string text = p->captured_stdout() + p->captured_stderr();
    size_t at = text.find("server ");
    std::pair<int, int> tool_mm = at == std::string::npos ? std::pair<int, int>{0, 0} : MajorMinor(text.substr(at + 7));
    std::pair<int, int> server_mm = MajorMinor(server_version);
    if (tool_mm.first && server_mm.first && tool_mm != server_mm) {
      auto name = [](std::pair<int, int> v) { return std::to_string(v.first) + "." + std::to_string(v.second); };
      return Status::Unsupported("mariadb-backup " + name(tool_mm) + " cannot back up MariaDB " + name(server_mm) +
                                 ": install mariadb-backup " + name(server_mm));
    }
    return tool;
  }

  void Log(const RestoreRequest& r, const std::string& line) const {
    if (r.log) r.log(line);
  }

  std::string Suffix(const RestoreRequest& r) const {
    if (!r.suffix.empty()) return r.suffix;
    return "restored_" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  }

  Status CheckName(const std::string& name) const {
    if (name.empty() || IdentLength(name) > 64)
      return Status::InvalidArgument("database name " + name + " is not 1-64 characters long");
    if (name.back() == ' ') return Status::InvalidArgument("database name '" + name + "' ends with a space");
    return Status::Ok();
  }

  Result<RestoreOutcome> RestoreNew(const RestoreRequest& req, const std::vector<DbPart>& dbs) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(s_.endpoint));
    const std::string suffix = Suffix(req);
    std::vector<std::string> targets;
    for (const DbPart& d : dbs) {
      std::string name;
      if (!req.new_name.empty())
        name = dbs.size() == 1 ? req.new_name : d.db.name + "_" + req.new_name;
      else
        name = Utf8Prefix(d.db.name, 64 - std::min<size_t>(63, IdentLength(suffix) + 1)) + "_" + suffix;
      CAIRN_RETURN_IF_ERROR(CheckName(name));
      for (const std::string& t : targets)
        if (t == name) return Status::InvalidArgument("two databases would be restored as " + name);
      targets.push_back(name);
    }
    CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> existing, ListDatabases(*c));
    for (const std::string& t : targets)
      for (const DbInfo& e : existing)
        if (e.name == t)
          return Status::AlreadyExists("database " + t + " already exists on MariaDB at " + c->Where() +
                                       ": choose another name with --as");
    std::vector<std::string> created;
    auto undo = [&]() {
      std::string sql;
      for (const std::string& n : created) sql += "DROP DATABASE IF EXISTS " + QuoteIdent(n) + ";\n";
      if (!sql.empty()) (void)c->RunSql(sql, "", "cleanup");
    };
    for (size_t i = 0; i < dbs.size(); ++i) {
      Log(req, "restoring database " + dbs[i].db.name + " as " + targets[i]);
      Status st =
          c->RunSql(CreateDatabaseSql(targets[i], dbs[i].db), "", "cannot create database " + targets[i]).status();
      if (st.ok()) {
        created.push_back(targets[i]);
        st = LoadPart(*c, req.reader, dbs[i].part, dbs[i].file, targets[i],
                      "restoring database " + dbs[i].db.name + " into " + targets[i] + " failed");
      }
      if (!st.ok()) {
        undo();
        return st;
      }
    }
    RestoreOutcome out;
    Json map = Json::object();
    std::vector<std::string> pairs;
    for (size_t i = 0; i < dbs.size(); ++i) {
      map[dbs[i].db.name] = targets[i];
      pairs.push_back(dbs[i].db.name + " -> " + targets[i]);
    }
    out.summary = "restored " + std::to_string(dbs.size()) + " database(s) on MariaDB at " + c->Where() +
                  (pairs.empty() ? "" : ": " + Join(pairs, ", "));
    out.connection = ConnectionJson(s_.endpoint);
    out.connection["databases"] = targets;
    if (targets.size() == 1) out.connection["database"] = targets[0];
    out.locator = {{"databases", map}};
    return out;
  }

  Json ConnectionJson(const Endpoint& ep) const {
    Json j = {{"user", s_.user}};
    if (!ep.socket.empty())
      j["socket"] = ep.socket;
    else
      j["host"] = ep.host, j["port"] = ep.port;
    return j;
  }

  Result<RestoreOutcome> RestoreOverwrite(const RestoreRequest& req, const std::vector<DbPart>& dbs,
                                          const std::string& users_part) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(s_.endpoint));
    const std::string suffix = Suffix(req);
    struct Plan {
      DbPart db;
      std::string staging, old;
    };
    std::vector<Plan> plans;
    for (const DbPart& d : dbs)
      plans.push_back(
          Plan{d, BoundedName(d.db.name, "cairn_staging", suffix), BoundedName(d.db.name, "cairn_old", suffix)});
    CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> existing, ListDatabases(*c));
    for (const Plan& p : plans)
      for (const DbInfo& e : existing)
        if (e.name == p.staging || e.name == p.old)
          return Status::AlreadyExists("database " + e.name + " already exists on MariaDB at " + c->Where() +
                                       " (left by an earlier restore?): drop it first");
    // 1. Every database into its staging database; the originals are untouched.
    std::vector<std::string> staged;
    auto drop_staging = [&]() {
      std::string sql;
      for (const std::string& n : staged) sql += "DROP DATABASE IF EXISTS " + QuoteIdent(n) + ";\n";
      if (!sql.empty()) (void)c->RunSql(sql, "", "cleanup");
      staged.clear();
    };
    for (const Plan& p : plans) {
      Log(req, "restoring database " + p.db.db.name + " into staging database " + p.staging);
      Status st = c->RunSql(CreateDatabaseSql(p.staging, p.db.db), "", "cannot create database " + p.staging).status();
      if (st.ok()) {
        staged.push_back(p.staging);
        st =
            LoadPart(*c, req.reader, p.db.part, p.db.file, p.staging,
                     "restoring database " + p.db.db.name + " into staging failed (" + p.db.db.name + " is untouched)");
      }
      if (!st.ok()) {
        drop_staging();
        return st;
      }
    }
    // 2. Users and grants, when asked for (only adds what is missing).
    if (s_.restore_users && !users_part.empty()) {
      Log(req, "restoring users and grants");
      Status st = LoadPart(*c, req.reader, users_part, kUsersFile, "",
                           "restoring users and grants failed (the account needs CREATE USER and GRANT OPTION)");
      if (!st.ok()) {
        // mariadb-dump's script grants itself a helper role and drops it at its end; a failed run leaves it.
        (void)c->RunSql("DROP ROLE IF EXISTS mariadb_dump_import_role;\n", "", "cleanup");
        drop_staging();
        return st;
      }
    }
    // 3. One swap per database.
    std::vector<std::string> done;
    for (const Plan& p : plans) {
      Log(req, "swapping the restored tables into " + p.db.db.name);
      Status st = Swap(*c, p.db.db, p.staging, p.old, existing);
      if (!st.ok()) {
        drop_staging();
        if (!done.empty()) st = st.WithContext("databases " + Join(done, ", ") + " were already restored");
        return st;
      }
      staged.erase(std::remove(staged.begin(), staged.end(), p.staging), staged.end());
      done.push_back(p.db.db.name);
    }
    RestoreOutcome out;
    Json map = Json::object();
    for (const DbPart& d : dbs) map[d.db.name] = d.db.name;
    out.summary = "restored " + std::to_string(dbs.size()) + " database(s) in place on MariaDB at " + c->Where() +
                  (done.empty() ? "" : ": " + Join(done, ", "));
    if (!swap_warnings_.empty()) out.summary += " (cleanup incomplete: " + Join(swap_warnings_, "; ") + ")";
    out.connection = ConnectionJson(s_.endpoint);
    out.connection["databases"] = done;
    if (done.size() == 1) out.connection["database"] = done[0];
    out.locator = {{"databases", map}};
    return out;
  }

  // Replaces database `db` by `staging`: all tables in one atomic RENAME
  // TABLE (the old ones go to `old`), the non-table objects dropped before and
  // recreated after it. Any failure puts the original back.
  Status Swap(const Client& c, const DbInfo& db, const std::string& staging, const std::string& old,
              const std::vector<DbInfo>& existing) {
    const std::string& d = db.name;
    const DbInfo* current = nullptr;
    for (const DbInfo& e : existing)
      if (e.name == d) current = &e;
    Objects orig;
    if (current) {
      CAIRN_ASSIGN_OR_RETURN(orig, FetchObjects(c, d));
    } else {
      CAIRN_RETURN_IF_ERROR(c.RunSql(CreateDatabaseSql(d, db), "", "cannot create database " + d).status());
    }
    CAIRN_ASSIGN_OR_RETURN(Objects staged, FetchObjects(c, staging));
    CAIRN_RETURN_IF_ERROR(
        c.RunSql(CreateDatabaseSql(old, current ? *current : db), "", "cannot create database " + old).status());
    const std::string action = "swapping the restored tables into " + d + " failed";

    // Puts back what `d` had: its tables from `old` (when moved), its objects.
    auto rollback = [&](const Status& cause, bool moved) -> Status {
      std::string sql = "SET SESSION foreign_key_checks=0;\n";
      auto now = FetchObjects(c, d);
      if (now.ok()) sql += DropObjectsSql(d, *now);
      if (moved) {
        std::vector<std::pair<std::string, std::string>> back;
        for (const std::string& t : staged.tables) back.push_back({Q(d, t), Q(staging, t)});
        for (const std::string& t : orig.tables) back.push_back({Q(old, t), Q(d, t)});
        if (!back.empty()) sql += RenameSql(back);
      }
      if (current) sql += AlterDatabaseSql(d, *current);
      Status st = now.status();
      if (st.ok()) st = c.RunSql(sql, "", "rollback").status();
      if (st.ok()) st = CreateObjects(c, d, orig, "rollback");
      if (!st.ok())
        return Status(cause.code(), cause.message() + "; the rollback failed too (" + st.message() +
                                        "): the original tables are in database " + old);
      (void)c.RunSql("DROP DATABASE IF EXISTS " + QuoteIdent(old) + ";\n", "", "cleanup");
      if (!current) (void)c.RunSql("DROP DATABASE IF EXISTS " + QuoteIdent(d) + ";\n", "", "cleanup");
      return Status(cause.code(), cause.message() + " (rolled back: " + d + " is as it was)");
    };

    // A. Triggers pin a table to its database and views do not move: drop them.
    std::string drop = DropObjectsSql(d, orig) + DropObjectsSql(staging, staged, /*triggers_only=*/true);
    if (!drop.empty()) {
      Status st = c.RunSql(drop, "", action).status();
      if (!st.ok()) return rollback(st, false);
    }
    // B. The atomic part: readers see either all old tables or all restored ones.
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const std::string& t : orig.tables) pairs.push_back({Q(d, t), Q(old, t)});
    for (const std::string& t : staged.tables) pairs.push_back({Q(staging, t), Q(d, t)});
    if (!pairs.empty()) {
      Status st = c.RunSql(RenameSql(pairs), "", action).status();
      if (!st.ok()) return rollback(st, false);
    }
    // C. The restored database's views, routines, triggers and events, and its defaults.
    std::string alter = AlterDatabaseSql(d, db);
    Status st = alter.empty() ? Status::Ok() : c.RunSql(alter, "", action).status();
    if (st.ok()) st = CreateObjects(c, d, staged, action);
    if (!st.ok()) return rollback(st, true);
    // D. Clean up; the swap itself is done.
    Status cleanup = c.RunSql("SET SESSION foreign_key_checks=0;\nDROP DATABASE IF EXISTS " + QuoteIdent(staging) +
                                  ";\nDROP DATABASE IF EXISTS " + QuoteIdent(old) + ";\n",
                              "", "cleanup")
                         .status();
    if (!cleanup.ok()) swap_warnings_.push_back(cleanup.message());
    return Status::Ok();
  }

  static Status PhysicalOverwriteRefused() {
    return Status::Unsupported(
        "a physical backup cannot be restored in place (Cairn does not stop and restart your server): "
        "use --mode new-instance, then switch over");
  }

  Result<RestoreOutcome> RestorePhysical(const RestoreRequest& req) {
    if (req.mode == RestoreMode::kOverwrite) return PhysicalOverwriteRefused();
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(s_.endpoint));
    const std::string base = config_.temp_dir.empty() ? "/var/tmp" : config_.temp_dir;
    std::string dir;
    if (req.new_name.empty())
      dir = base + "/cairn-mysql-" + Suffix(req);
    else if (req.new_name[0] == '/')
      dir = req.new_name;
    else
      dir = base + "/" + req.new_name;
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
      return Status::AlreadyExists("directory " + dir + " already exists: choose another with --as");
    const std::string data = dir + "/data", sock = dir + "/mysqld.sock";
    if (sock.size() > 100) return Status::InvalidArgument("path " + dir + " is too long for a unix socket: use --as");
    int port = req.port;
    if (port > 0) {
      if (PortInUse(port)) return Status::AlreadyExists("port " + std::to_string(port) + " is already in use");
    } else {
      CAIRN_ASSIGN_OR_RETURN(port, FreePort());
    }
    CAIRN_ASSIGN_OR_RETURN(std::string mbstream, c->Tool({"mbstream"}, "mariadb-backup"));
    CAIRN_ASSIGN_OR_RETURN(std::string backup, c->Tool({"mariadb-backup", "mariabackup"}, "mariadb-backup"));
    CAIRN_ASSIGN_OR_RETURN(std::string server, c->Tool({"mariadbd", "mysqld"}, "mariadb-server"));
    CAIRN_ASSIGN_OR_RETURN(std::string admin, c->Tool({"mariadb-admin", "mysqladmin"}, "mariadb-client"));
    const bool root = ::geteuid() == 0;
    struct passwd* pw = nullptr;
    if (root) {
      pw = ::getpwnam(s_.run_as.c_str());
      if (!pw) return Status::NotFound("user " + s_.run_as + " (setting run_as) does not exist");
    }
    const std::string part = req.manifest["source"].value("part", std::string(kBasePart));
    const std::string file = req.manifest["source"].value("file", std::string(kBaseFile));

    fs::create_directories(data, ec);
    if (ec) return Status::IOError("cannot create " + data + ": " + ec.message());
    bool keep = false;
    struct Cleanup {
      std::string dir;
      bool* keep;
      ~Cleanup() {
        if (!*keep) {
          std::error_code e;
          fs::remove_all(dir, e);
        }
      }
    } cleanup{dir, &keep};

    Log(req, "extracting the physical backup into " + data);
    {
      ProcessOptions o;
      o.argv = {mbstream, "-x", "-C", data};
      CAIRN_ASSIGN_OR_RETURN(FedRun run, RunWithInput(std::move(o), [&](int fd) {
                               return req.reader->ReadStream(part, file, fd);
                             }));
      if (!run.exit.ok())
        return Status::IOError("mbstream could not extract the backup: " + ErrorLine(run.process->captured_stderr()));
      CAIRN_RETURN_IF_ERROR(run.input);
    }
    Log(req, "preparing the data directory (mariadb-backup --prepare)");
    {
      ProcessOptions o;
      o.argv = {backup, "--no-defaults", "--prepare", "--target-dir=" + data};
      CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Process> p, Process::Start(std::move(o)));
      if (!p->Wait().ok())
        return Status::IOError("mariadb-backup --prepare failed: " + ErrorLine(p->captured_stderr()));
    }
    if (root) {
      for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec))
        (void)::lchown(it->path().c_str(), pw->pw_uid, pw->pw_gid);
      if (ec || ::lchown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        return Status::IOError("cannot hand " + dir + " to user " + s_.run_as);
    }
    std::vector<std::string> argv = {server};
    // backup-my.cnf carries the InnoDB settings the files were written with.
    if (fs::exists(data + "/backup-my.cnf", ec))
      argv.push_back("--defaults-file=" + data + "/backup-my.cnf");
    else
      argv.push_back("--no-defaults");
    if (root) argv.push_back("--user=" + s_.run_as);
    for (const std::string& a :
         {"--datadir=" + data, "--port=" + std::to_string(port), std::string("--bind-address=127.0.0.1"),
          "--socket=" + sock, "--pid-file=" + dir + "/mysqld.pid", "--log-error=" + dir + "/mysqld.err",
          std::string("--skip-slave-start")})
      argv.push_back(a);
    Log(req, "starting mariadbd on 127.0.0.1:" + std::to_string(port));
    CAIRN_ASSIGN_OR_RETURN(pid_t pid, StartDetached(argv));
    keep = true;  // from here on the directory belongs to a server (or explains why it did not start)
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kServerStartTimeout);
    for (;;) {
      ProcessOptions o;
      o.argv = {admin, "--no-defaults", "--socket=" + sock, "--connect-timeout=2", "ping"};
      if (RunQuiet(std::move(o)).ok()) break;
      if (::kill(pid, 0) != 0 || std::chrono::steady_clock::now() > deadline) {
        std::string log;
        std::ifstream in(dir + "/mysqld.err");
        std::string line, last_error;
        while (std::getline(in, line))
          if (line.find("[ERROR]") != std::string::npos) last_error = line;
        if (::kill(pid, 0) == 0) ::kill(pid, SIGTERM);
        return Status::IOError("the restored MariaDB server did not start" +
                               (last_error.empty() ? std::string() : ": " + Trimmed(last_error)) + " (see " + dir +
                               "/mysqld.err)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    RestoreOutcome out;
    out.summary = "started a new MariaDB server from the physical backup on 127.0.0.1:" + std::to_string(port) +
                  " (data directory " + data + ", pid " + std::to_string(pid) + ")";
    out.connection = {{"host", "127.0.0.1"}, {"port", port}, {"socket", sock},
                      {"data_dir", data},    {"pid", pid},   {"user", s_.user}};
    out.locator = {{"instance", {{"host", "127.0.0.1"}, {"port", port}, {"socket", sock}}}};
    out.stop_hint = "kill " + std::to_string(pid) + "   (or: mariadb-admin --no-defaults --socket=" + sock + " -u" +
                    s_.user + " -p shutdown)";
    return out;
  }

  ServiceConfig config_;
  Settings s_;
  std::vector<std::string> swap_warnings_;
};

}  // namespace
}  // namespace mysql

Result<std::unique_ptr<Source>> MakeMysqlSource(const ServiceConfig& config) {
  using namespace mysql;
  Settings s;
  CAIRN_ASSIGN_OR_RETURN(s.endpoint.host, SettingString(config, "host", "127.0.0.1"));
  CAIRN_ASSIGN_OR_RETURN(int64_t port, SettingInt(config, "port", 3306));
  if (port < 1 || port > 65535)
    return Status::InvalidArgument("service " + config.name + ": setting port must be 1-65535");
  s.endpoint.port = static_cast<int>(port);
  CAIRN_ASSIGN_OR_RETURN(s.endpoint.socket, SettingString(config, "socket", ""));
  CAIRN_ASSIGN_OR_RETURN(s.user, SettingString(config, "user", "root"));
  CAIRN_ASSIGN_OR_RETURN(s.password, SettingPassword(config));
  CAIRN_ASSIGN_OR_RETURN(s.databases, SettingDatabases(config));
  CAIRN_ASSIGN_OR_RETURN(s.method, SettingString(config, "method", "logical"));
  CAIRN_ASSIGN_OR_RETURN(s.run_as, SettingString(config, "run_as", "mysql"));
  CAIRN_ASSIGN_OR_RETURN(s.data_dir, SettingString(config, "data_dir", ""));
  CAIRN_ASSIGN_OR_RETURN(s.bin_dir, SettingString(config, "bin_dir", ""));
  CAIRN_ASSIGN_OR_RETURN(s.users, SettingBool(config, "users", true));
  CAIRN_ASSIGN_OR_RETURN(s.restore_users, SettingBool(config, "restore_users", false));
  CAIRN_ASSIGN_OR_RETURN(int64_t lock_timeout, SettingInt(config, "lock_timeout", 10));
  if (lock_timeout < 1 || lock_timeout > 86400)
    return Status::InvalidArgument("service " + config.name + ": setting lock_timeout must be 1-86400 seconds");
  s.lock_timeout = static_cast<int>(lock_timeout);
  if (s.method != "logical" && s.method != "physical")
    return Status::InvalidArgument("service " + config.name + ": setting method must be logical or physical, not " +
                                   s.method);
  if (s.user.empty()) return Status::InvalidArgument("service " + config.name + ": setting user is empty");
  for (const std::string& db : s.databases)
    if (IsSystemDatabase(db))
      return Status::InvalidArgument("service " + config.name + ": database " + db +
                                     " is the server's own: users and grants are the users part, "
                                     "a full copy is method: physical");
  if (s.method == "physical" && !s.databases.empty())
    return Status::InvalidArgument("service " + config.name +
                                   ": method physical copies the whole server: remove the databases setting");
  return std::unique_ptr<Source>(new MysqlSource(config, std::move(s)));
}

}  // namespace cairn

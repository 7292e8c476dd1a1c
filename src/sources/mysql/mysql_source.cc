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

#include "sources/mysql/mysql_common.h"
#include "util/process.h"

namespace cairn {
namespace mysql {
namespace {

namespace fs = std::filesystem;

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

  Result<std::vector<ToolCommand>> WalStreamCommands(const std::string& dir, const std::string& resume) override {
    if (!s_.archive)
      return Status::InvalidArgument("service " + config_.name + " does not archive its binary logs (set archive: stream)");
    CAIRN_ASSIGN_OR_RETURN(stream_client_, MakeClient(s_.endpoint));
    return BinlogStreamCommands(*stream_client_, config_.name, dir, resume);
  }

  Result<std::unique_ptr<Capture>> StartCapture() override {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(s_.endpoint));
    CAIRN_ASSIGN_OR_RETURN(std::string version, Version(*c));
    if (s_.method == "physical") {
      CAIRN_ASSIGN_OR_RETURN(std::string tool, CheckBackupTool(*c, version));
      CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> dbs, SelectDatabases(*c, {}));
      CAIRN_ASSIGN_OR_RETURN(Json before, ComputeFingerprint(*c, Names(dbs), {}, true));
      return MakePhysicalCapture(std::move(c), version, tool, before, Names(dbs));
    }
    CAIRN_ASSIGN_OR_RETURN(std::string dump_tool, c->Tool({"mariadb-dump", "mysqldump"}, "mariadb-client"));
    CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> dbs, SelectDatabases(*c, s_.databases, skip_missing_));
    // Tables with FLOAT columns get their rows dumped exactly, by the server.
    std::vector<TableInfo> tables;
    if (!dbs.empty()) {
      CAIRN_ASSIGN_OR_RETURN(std::string listing, c->RunSql(std::string(kSessionSetup) + ListTablesSql(Names(dbs)),
                                                            "", "cannot list the tables"));
      tables = ParseTables(listing);
    }
    std::vector<DbPart> parts;
    for (const DbInfo& d : dbs) {
      std::string enc = EncodeName(d.name);
      DbPart p;
      p.db = d;
      p.part = "db." + enc;
      p.file = enc + ".sql";
      for (const TableInfo& t : tables)
        if (t.db == d.name && t.has_float()) p.exact_tables.push_back(t);
      if (!p.exact_tables.empty()) {
        p.rows_part = "rows." + enc;
        p.rows_file = enc + ".rows.sql";
      }
      parts.push_back(std::move(p));
    }
    return MakeLogicalCapture(s_, std::move(c), version, std::move(parts), dump_tool);
  }

  Result<DrillSandbox> PrepareDrill(const Json& manifest, const std::string& scratch,
                                    const std::function<void(const std::string&)>& log) override {
    return mysql::PrepareDrill(config_, s_, manifest, scratch, log);
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
      DbPart p;
      p.db = DbInfo{d.value("name", ""), d.value("charset", ""), d.value("collation", "")};
      p.part = d.value("part", "");
      p.file = d.value("file", "");
      p.rows_part = d.value("rows_part", "");
      p.rows_file = d.value("rows_file", "");
      dbs.push_back(std::move(p));
      if (dbs.back().db.name.empty() || dbs.back().part.empty())
        return Status::Corruption("restore point lists a database without a name or part");
    }
    std::string users_part =
        src.contains("users_part") && src["users_part"].is_string() ? src["users_part"].get<std::string>() : "";
    if (request.mode == RestoreMode::kNewInstance) return RestoreNew(request, dbs);
    return RestoreOverwrite(request, dbs, users_part);
  }

  void SkipMissingDatabases() override { skip_missing_ = true; }

  Result<Json> Fingerprint(const Json& locator) override {
    if (locator.is_object() && locator.contains("instance")) {
      const Json& in = locator["instance"];
      Endpoint ep;
      ep.host = in.value("host", std::string("127.0.0.1"));
      ep.port = in.value("port", 3306);
      if (!s_.endpoint.socket.empty()) ep.socket = in.value("socket", std::string());
      CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, MakeClient(ep));
      CAIRN_ASSIGN_OR_RETURN(std::vector<DbInfo> dbs, SelectDatabases(*c, {}));
      return ComputeFingerprint(*c, Names(dbs), {}, false, locator.value("fingerprint_version", 1));
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
      return ComputeFingerprint(*c, actual, rename, false, locator.value("fingerprint_version", 1));
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

  // How the point's fingerprint hashes (older points: version 1).
  static int FingerprintVersion(const RestoreRequest& r) {
    const Json src = r.manifest.value("source", Json::object());
    return src.is_object() ? src.value("fingerprint_version", 1) : 1;
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
    std::vector<std::string> disabled;  // "db.event"
    for (size_t i = 0; i < dbs.size(); ++i) {
      Log(req, "restoring database " + dbs[i].db.name + " as " + targets[i]);
      Status st =
          c->RunSql(CreateDatabaseSql(targets[i], dbs[i].db), "", "cannot create database " + targets[i]).status();
      if (st.ok()) {
        created.push_back(targets[i]);
        // A copy must not act on its own: its events are created disabled.
        std::vector<std::string> events;
        st = LoadDatabase(*c, req.reader, dbs[i], targets[i],
                          "restoring database " + dbs[i].db.name + " into " + targets[i] + " failed", &events);
        for (const std::string& e : events) disabled.push_back(targets[i] + "." + e);
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
    if (!disabled.empty())
      out.summary += "; events disabled in the copy: " + Join(disabled, ", ") + " (ALTER EVENT ... ENABLE to run them)";
    out.connection = ConnectionJson(s_.endpoint);
    out.connection["databases"] = targets;
    if (targets.size() == 1) out.connection["database"] = targets[0];
    out.locator = {{"databases", map}, {"fingerprint_version", FingerprintVersion(req)}};
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
    // Events are created disabled in staging (it must not act on its own
    // before the swap); the ones the backup had enabled are enabled after it.
    std::map<std::string, std::vector<std::string>> to_enable;
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
        st = LoadDatabase(*c, req.reader, p.db, p.staging,
                          "restoring database " + p.db.db.name + " into staging failed (" + p.db.db.name +
                              " is untouched)",
                          &to_enable[p.db.db.name]);
      }
      if (!st.ok()) {
        drop_staging();
        return st;
      }
    }
    // 3. One swap per database.
    std::vector<std::string> done;
    for (const Plan& p : plans) {
      Log(req, "swapping the restored tables into " + p.db.db.name);
      Status st = Swap(*c, p.db.db, p.staging, p.old, existing, to_enable[p.db.db.name]);
      if (!st.ok()) {
        drop_staging();
        if (!done.empty()) st = st.WithContext("databases " + Join(done, ", ") + " were already restored");
        return st;
      }
      staged.erase(std::remove(staged.begin(), staged.end(), p.staging), staged.end());
      done.push_back(p.db.db.name);
    }
    // Users and grants last: table and column grants name the restored tables.
    std::string users_summary;
    if (s_.restore_users && !users_part.empty()) {
      Log(req, "restoring users and grants");
      Result<UsersReport> users = ReplayUsers(*c, req.reader, users_part, kUsersFile);
      if (!users.ok()) {
        users_summary = "; users NOT restored: " + users.status().message();
      } else {
        users_summary = "; " + users->Summary();
        for (const std::string& f : users->failed) Log(req, "warning: not applied: " + f);
      }
      Log(req, users_summary.substr(2));
    }
    RestoreOutcome out;
    Json map = Json::object();
    for (const DbPart& d : dbs) map[d.db.name] = d.db.name;
    out.summary = "restored " + std::to_string(dbs.size()) + " database(s) in place on MariaDB at " + c->Where() +
                  (done.empty() ? "" : ": " + Join(done, ", "));
    if (!swap_warnings_.empty()) out.summary += " (cleanup incomplete: " + Join(swap_warnings_, "; ") + ")";
    out.summary += users_summary;
    out.connection = ConnectionJson(s_.endpoint);
    out.connection["databases"] = done;
    if (done.size() == 1) out.connection["database"] = done[0];
    out.locator = {{"databases", map}, {"fingerprint_version", FingerprintVersion(req)}};
    return out;
  }

  // Replaces database `db` by `staging`: all tables in one atomic RENAME
  // TABLE (the old ones go to `old`), the non-table objects dropped before and
  // recreated after it. Any failure puts the original back.
  // `enable_events`: events that were enabled in the backup (staging has
  // them disabled); they are recreated enabled (ALTER EVENT would make the
  // restoring account their definer).
  Status Swap(const Client& c, const DbInfo& db, const std::string& staging, const std::string& old,
              const std::vector<DbInfo>& existing, const std::vector<std::string>& enable_events) {
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
    for (ObjectDef& e : staged.events) {
      if (std::find(enable_events.begin(), enable_events.end(), e.name) == enable_events.end()) continue;
      const size_t at = e.create.find(" PRESERVE DISABLE ");
      if (at != std::string::npos) e.create.replace(at + 10, 7, "ENABLE");
    }
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
          std::string("--skip-slave-start"), std::string("--event-scheduler=OFF")})
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
    std::string replayed;
    if (req.recovery.enabled) {
      Endpoint at;
      at.host = "127.0.0.1";
      at.port = port;
      at.socket = sock;
      CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> inst, c->For(at));
      Status st = ReplayBinlogs(req, *inst, data, dir + "/binlog");
      if (!st.ok()) {
        // A server at some moment between the base and the target is no
        // restore of either: stop it and remove the new instance (the
        // original was never touched), so nothing half-recovered is left
        // running for someone to take as the result.
        const bool stopped = StopDetached(pid);
        if (stopped) keep = false;
        return st.WithContext(stopped ? "point-in-time recovery failed; the new instance was stopped and removed"
                                      : "point-in-time recovery failed; the server restored from the base backup "
                                        "would not stop: it still runs on 127.0.0.1:" + std::to_string(port) +
                                            " (pid " + std::to_string(pid) + ")");
      }
      std::error_code e;
      fs::remove_all(dir + "/binlog", e);
      replayed = " with the archived binary logs replayed";
    }
    RestoreOutcome out;
    out.summary = "started a new MariaDB server from the physical backup" + replayed + " on 127.0.0.1:" +
                  std::to_string(port) +
                  " (data directory " + data + ", pid " + std::to_string(pid) +
                  "; its event scheduler is off: SET GLOBAL event_scheduler=ON to run its events)";
    out.connection = {{"host", "127.0.0.1"}, {"port", port}, {"socket", sock},
                      {"data_dir", data},    {"pid", pid},   {"user", s_.user}};
    out.locator = {{"instance", {{"host", "127.0.0.1"}, {"port", port}, {"socket", sock}}},
                   {"fingerprint_version", FingerprintVersion(req)}};
    out.stop_hint = "kill " + std::to_string(pid) + "   (or: mariadb-admin --no-defaults --socket=" + sock + " -u" +
                    s_.user + " -p shutdown)";
    return out;
  }

  ServiceConfig config_;
  Settings s_;
  std::unique_ptr<Client> stream_client_;  // its option file serves the streamer for the source's lifetime
  bool skip_missing_ = false;  // safety backups: configured databases that do not exist are left out
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
  CAIRN_ASSIGN_OR_RETURN(std::string archive, SettingString(config, "archive", "off"));
  if (archive != "off" && archive != "stream")
    return Status::InvalidArgument("service " + config.name + ": setting archive must be off or stream, not " +
                                   archive);
  s.archive = archive == "stream";
  if (s.archive && s.method != "physical")
    return Status::InvalidArgument("service " + config.name +
                                   ": archive: stream needs method: physical (point-in-time recovery replays binary "
                                   "logs over a physical base backup)");
  if (s.method == "physical" && !s.databases.empty())
    return Status::InvalidArgument("service " + config.name +
                                   ": method physical copies the whole server: remove the databases setting");
  return std::unique_ptr<Source>(new MysqlSource(config, std::move(s)));
}

}  // namespace cairn

// The PostgreSQL source. Everything goes through the client tools (psql,
// pg_dump, pg_dumpall, pg_restore, pg_basebackup, pg_ctl): no libpq, and the
// tools' own messages become the errors (see pg::ClassifyError).
//
// Consistency: a logical capture holds one psql session per database in a
// REPEATABLE READ transaction, exports its snapshot to pg_dump --snapshot and
// computes the fingerprint in that same snapshot while pg_dump runs, so the
// fingerprint describes exactly what was dumped even under concurrent writes.
// A physical capture fingerprints every database in snapshots taken before
// pg_basebackup starts, and calls the fingerprint exact only when no
// transaction was running or started between those snapshots and the end of
// the copy (the next transaction id did not move).
#include "sources/postgres/postgres_source.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "sources/postgres/pg_capture.h"
#include "sources/postgres/pg_internal.h"
#include "sources/postgres/pg_session.h"
#include "sources/postgres/pg_source.h"
#include "util/staging.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn::pgsrc {

Result<std::unique_ptr<Source>> PostgresSource::Make(const ServiceConfig& c) {
  std::unique_ptr<PostgresSource> s(new PostgresSource());
  s->config_ = c;
  CAIRN_ASSIGN_OR_RETURN(s->ep_.host, SettingString(c, "host", "127.0.0.1"));
  // socket: the server's socket directory (as libpq's host), or the socket
  // file itself (.s.PGSQL.<port>, which also gives the port).
  CAIRN_ASSIGN_OR_RETURN(std::string socket, SettingString(c, "socket", ""));
  std::optional<int> socket_port;
  if (!socket.empty()) {
    if (socket[0] != '/')
      return Status::InvalidArgument("service " + c.name + ": setting socket must be an absolute path");
    const fs::path p(socket);
    const std::string file = p.filename().string();
    if (file.rfind(".s.PGSQL.", 0) == 0 && file.size() > 9 &&
        file.find_first_not_of("0123456789", 9) == std::string::npos) {
      socket_port = std::stoi(file.substr(9));
      socket = p.parent_path().string();
    }
    while (socket.size() > 1 && socket.back() == '/') socket.pop_back();
    s->ep_.host = socket;
  }
  CAIRN_ASSIGN_OR_RETURN(int64_t port, SettingInt(c, "port", socket_port.value_or(5432)));
  if (port < 1 || port > 65535)
    return Status::InvalidArgument("service " + c.name + ": setting port must be between 1 and 65535");
  s->ep_.port = static_cast<int>(port);
  CAIRN_ASSIGN_OR_RETURN(s->ep_.user, SettingString(c, "user", "postgres"));
  CAIRN_ASSIGN_OR_RETURN(s->ep_.password, SettingPassword(c));
  if (!s->ep_.password.empty()) {
    auto passfile = PassFile::Create(s->ep_.password);
    if (!passfile.ok()) return passfile.status().WithContext("service " + c.name + ": the password file for the tools");
    s->ep_.passfile = std::move(passfile).value();
  }
  CAIRN_ASSIGN_OR_RETURN(s->databases_, SettingDatabases(c));
  CAIRN_ASSIGN_OR_RETURN(s->method_, SettingString(c, "method", "logical"));
  if (s->method_ != "logical" && s->method_ != "physical")
    return Status::InvalidArgument("service " + c.name + ": setting method must be logical or physical, not " +
                                   s->method_);
  // Continuous archiving (docs/pitr.md): off; stream (cairn serve runs
  // `cairn wal stream` for the service); or command (the server's
  // archive_command runs `cairn wal push`, as the server's user, which then
  // needs the configuration and the targets' passwords: docs/pitr.md says how).
  CAIRN_ASSIGN_OR_RETURN(std::string archive, SettingString(c, "archive", "off"));
  if (archive != "off" && archive != "stream" && archive != "command")
    return Status::InvalidArgument("service " + c.name + ": setting archive must be off, stream or command, not " +
                                   archive);
  if (archive != "off" && s->method_ != "physical")
    return Status::InvalidArgument("service " + c.name + ": archive: " + archive +
                                   " needs method: physical (point-in-time recovery replays WAL "
                                   "over a physical base backup)");
  CAIRN_ASSIGN_OR_RETURN(s->bin_dir_, SettingString(c, "bin_dir", ""));
  while (s->bin_dir_.size() > 1 && s->bin_dir_.back() == '/') s->bin_dir_.pop_back();
  CAIRN_ASSIGN_OR_RETURN(s->run_as_, SettingString(c, "run_as", "postgres"));
  CAIRN_ASSIGN_OR_RETURN(s->data_dir_, SettingString(c, "data_dir", ""));
  while (s->data_dir_.size() > 1 && s->data_dir_.back() == '/') s->data_dir_.pop_back();
  if (!s->data_dir_.empty() && s->data_dir_[0] != '/')
    return Status::InvalidArgument("service " + c.name + ": setting data_dir must be an absolute path");
  CAIRN_ASSIGN_OR_RETURN(s->checksum_max_bytes_, SettingInt(c, "checksum_max_table_bytes", kDefaultChecksumMaxBytes));
  if (s->checksum_max_bytes_ < 0)
    return Status::InvalidArgument("service " + c.name + ": setting checksum_max_table_bytes must not be negative");
  if (s->ep_.host.empty()) return Status::InvalidArgument("service " + c.name + ": setting host is empty");
  // Writes into tool pipes fail with EPIPE rather than killing Cairn because
  // the feeding threads block SIGPIPE (util/process.h); the process-wide
  // disposition is the program's business, not this library's.
  return std::unique_ptr<Source>(std::move(s));
}

Status PostgresSource::CleanLeftovers(const std::function<void(const std::string&)>& log) {
  if (data_dir_.empty()) return Status::Ok();
  const fs::path live(data_dir_);
  const std::string parent = live.parent_path().string(), base = live.filename().string();
  // A restored copy that was never swapped in is only a copy: removed. The
  // replaced directory and a copy that failed to start may be the only good
  // data after a crash at the wrong moment: named, never removed.
  CAIRN_RETURN_IF_ERROR(RemoveStaleStaging(parent, base + kStagingInfix, log));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(base + kOldInfix) || name.starts_with(base + kFailedInfix))
      if (log)
        log("left by an interrupted or failed overwrite restore: " + entry.path().string() +
            " (delete it once " + data_dir_ + " holds the data you want)");
  }
  return Status::Ok();
}

Result<std::string> PostgresSource::Probe() {
  if (probed_ && server_num_ > 0) return server_version_;
  CAIRN_RETURN_IF_ERROR(Connect());
  if (method_ == "logical") {
    CAIRN_ASSIGN_OR_RETURN(dump_major_, CheckClient("pg_dump"));
    CAIRN_RETURN_IF_ERROR(CheckClient("pg_dumpall").status());
  } else {
    CAIRN_RETURN_IF_ERROR(CheckClient("pg_basebackup").status());
    if (!superuser_ && !replication_)
      return Status::InvalidArgument("PostgreSQL user " + ep_.user +
                                     " lacks the REPLICATION privilege that pg_basebackup needs "
                                     "(ALTER ROLE ... REPLICATION, or use method: logical)");
  }
  probed_ = true;
  return server_version_;
}

Result<std::unique_ptr<Capture>> PostgresSource::StartCapture() {
  CAIRN_RETURN_IF_ERROR(Probe().status());
  CAIRN_ASSIGN_OR_RETURN(Ctx ctx, MakeCtx());
  CAIRN_ASSIGN_OR_RETURN(Json dbs, ListDatabases());
  const std::string hash = pg::DefaultFingerprintHash(server_num_);
  if (method_ == "physical") {
    std::vector<std::string> names;
    for (const Json& d : dbs) names.push_back(d["name"].get<std::string>());
    CAIRN_ASSIGN_OR_RETURN(std::string basebackup, Tool("pg_basebackup"));
    Json source = {{"method", "physical"},
                   {"server_version_num", server_num_},
                   {"fingerprint_hash", hash},
                   {"databases", names},
                   {"part", kBasePart},
                   {"file", kBaseFile},
                   // pg_basebackup copies no unlogged data: those tables are fingerprinted by name.
                   {"unlogged", "structure"}};
    AddConfigFacts(&source);
    // The oldest WAL file this base backup can need (its start is at or
    // after it): WAL retention keeps everything from here on (docs/pitr.md).
    if (auto start = Sql("SELECT to_json(pg_walfile_name(pg_current_wal_lsn()))"); start.ok() && start->is_string())
      source["wal_start"] = *start;
    return MakePhysicalCapture(std::move(ctx), std::move(basebackup), std::move(names), std::move(source));
  }
  Json list = Json::array();
  std::set<std::string> used;
  for (const Json& d : dbs) {
    Json entry = d;
    std::string base = pg::PartBaseName(d["name"].get<std::string>());
    while (!used.insert(base).second) base += "_";
    entry["part"] = "db." + base;
    entry["file"] = base + ".dump";
    list.push_back(std::move(entry));
  }
  Json source = {{"method", "logical"},
                 {"server_version_num", server_num_},
                 {"fingerprint_hash", hash},
                 {"pg_dump_major", dump_major_},
                 {"superuser", superuser_},
                 {"globals", {{"part", kGlobalsPart}, {"file", kGlobalsFile}}},
                 {"databases", std::move(list)}};
  return MakeLogicalCapture(std::move(ctx), std::move(source));
}

Status PostgresSource::CheckRestore(const Json& manifest, RestoreMode mode) {
  const Json src = manifest.value("source", Json::object());
  if (mode == RestoreMode::kOverwrite && src.is_object() && src.value("method", "") == "physical" &&
      data_dir_.empty())
    return Status::InvalidArgument("service " + config_.name +
                                   ": a physical overwrite needs the data_dir setting (the live cluster's data "
                                   "directory)");
  return Status::Ok();
}

Result<RestoreOutcome> PostgresSource::Restore(const RestoreRequest& request) {
  if (!request.reader) return Status::InvalidArgument("restore without a part reader");
  const Json& src = request.manifest.contains("source") ? request.manifest["source"] : request.manifest;
  if (!src.is_object() || !src.contains("method"))
    return Status::InvalidArgument("the restore point has no PostgreSQL facts (was it made by a postgres service?)");
  if (src["method"] == "physical") return RestorePhysical(request, src);
  return RestoreLogical(request, src);
}

Result<Json> PostgresSource::Fingerprint(const Json& locator) {
  const Json loc = locator.is_object() && locator.contains("postgres") ? locator["postgres"] : Json::object();
  Endpoint ep = ep_;
  if (loc.contains("host")) ep.host = loc["host"].get<std::string>();
  if (loc.contains("port")) ep.port = loc["port"].get<int>();
  std::vector<std::pair<std::string, std::string>> dbs;  // actual name, name in the items
  std::string hash = loc.value("fingerprint_hash", "");
  if (loc.contains("databases")) {
    for (const auto& [original, actual] : loc["databases"].items())
      dbs.emplace_back(actual.get<std::string>(), original);
  } else {
    CAIRN_ASSIGN_OR_RETURN(Json list, ListDatabases());
    for (const Json& d : list) dbs.emplace_back(d["name"].get<std::string>(), d["name"].get<std::string>());
  }
  if (hash.empty()) {
    CAIRN_RETURN_IF_ERROR(Connect());
    hash = pg::DefaultFingerprintHash(server_num_);
  }
  CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  const std::string script =
      pg::FingerprintScript(hash, checksum_max_bytes_, loc.value("unlogged", "") == "structure");
  Json items = Json::object();
  for (const auto& [actual, reported] : dbs) {
    auto session = PsqlSession::Open(psql, ep, actual);
    if (!session.ok()) return session.status();
    PsqlSession& s = **session;
    CAIRN_RETURN_IF_ERROR(s.Send(BeginSnapshot() + script));
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> lines, s.ReadUntil(pg::kFingerprintDone));
    CAIRN_RETURN_IF_ERROR(pg::AddFingerprintItems(lines, reported, &items));
    CAIRN_RETURN_IF_ERROR(s.Send("COMMIT;\n"));
    CAIRN_RETURN_IF_ERROR(s.Close());
  }
  return Json{{"exact", true}, {"items", std::move(items)}};
}

// A PostgreSQL program: from bin_dir when set, else the installed version
// matching `major` (the server's when 0), else the newest installed, else PATH.
Result<std::string> PostgresSource::Tool(const std::string& name, int major) {
  if (!bin_dir_.empty()) {
    std::string path = bin_dir_ + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
    return Status::NotFound("PostgreSQL tool " + name + " not found in bin_dir " + bin_dir_);
  }
  if (major == 0) major = server_major_;
  const std::string root = "/usr/lib/postgresql";
  if (major > 0) {
    std::string path = root + "/" + pg::MajorName(major) + "/bin/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  std::string best;
  int best_major = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const int m = pg::ToolMajor("(PostgreSQL) " + entry.path().filename().string());
    const std::string path = entry.path().string() + "/bin/" + name;
    if (m > best_major && ::access(path.c_str(), X_OK) == 0) {
      best = path;
      best_major = m;
    }
  }
  if (!best.empty()) return best;
  std::string found = FindProgram(name);
  if (!found.empty()) return found;
  return Status::NotFound("PostgreSQL tool " + name + " is not installed (install postgresql-client or set bin_dir)");
}

ProcessOptions PostgresSource::VersionOptions(const std::string& path) {
  ProcessOptions o;
  o.argv = {path, "--version"};
  o.cwd = "/";
  return o;
}

// The tool must be at least as new as the server (pg_dump refuses newer
// servers; an old pg_basebackup cannot read a new server's protocol).
// Returns its major version.
Result<int> PostgresSource::CheckClient(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(std::string path, Tool(name));
  auto out = RunCapture(VersionOptions(path));
  if (!out.ok()) return Status::IOError(name + " at " + path + " does not run: " + out.status().message());
  const int major = pg::ToolMajor(*out);
  if (major > 0 && major < server_major_)
    return Status::Unsupported(name + " " + pg::MajorName(major) + " is older than the server " +
                               pg::MajorName(server_major_) + ": install postgresql-client-" +
                               pg::MajorName(server_major_) + " or set bin_dir");
  return major;
}

Status PostgresSource::Connect() {
  if (server_num_ > 0) return Status::Ok();
  CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  const std::string sql =
      "SELECT current_setting('server_version_num'), current_setting('server_version'), r.rolsuper,"
      " r.rolreplication FROM pg_roles r WHERE r.rolname = current_user";
  auto out = RunSql(psql, ep_, admin_db_, sql);
  if (!out.ok() && out.status().IsNotFound() && out.status().message().find("\"postgres\"") != std::string::npos) {
    admin_db_ = "template1";  // the maintenance database was dropped
    out = RunSql(psql, ep_, admin_db_, sql);
  }
  if (!out.ok()) return out.status();
  std::vector<std::string> f = Split(*out, '|');
  if (f.size() != 4 || f[0].empty() || f[0].find_first_not_of("0123456789") != std::string::npos)
    return Status::IOError("unexpected answer from PostgreSQL at " + ep_.Where() + ": " + out->substr(0, 100));
  server_num_ = std::stoi(f[0]);
  server_major_ = pg::MajorOf(server_num_);
  server_version_ = f[1].substr(0, f[1].find(' '));
  superuser_ = f[2] == "t";
  replication_ = f[3] == "t";
  return Status::Ok();
}

Result<Ctx> PostgresSource::MakeCtx() {
  Ctx ctx;
  ctx.service = config_.name;
  ctx.ep = ep_;
  ctx.admin_db = admin_db_;
  ctx.superuser = superuser_;
  ctx.server_version = server_version_;
  CAIRN_ASSIGN_OR_RETURN(ctx.psql, Tool("psql"));
  if (method_ == "logical") {
    CAIRN_ASSIGN_OR_RETURN(ctx.dump_tool, Tool("pg_dump"));
    CAIRN_ASSIGN_OR_RETURN(ctx.dumpall_tool, Tool("pg_dumpall"));
  }
  ctx.script =
      pg::FingerprintScript(pg::DefaultFingerprintHash(server_num_), checksum_max_bytes_, method_ == "physical");
  return ctx;
}

Result<Json> PostgresSource::Sql(const std::string& sql) {
  CAIRN_RETURN_IF_ERROR(Connect());
  CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  return RunSqlJson(psql, ep_, admin_db_, sql);
}

Status PostgresSource::Exec(const std::string& sql, const std::string& db) {
  CAIRN_RETURN_IF_ERROR(Connect());
  CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  return RunSql(psql, ep_, db.empty() ? admin_db_ : db, sql).status();
}

// The databases to capture (connectable, not templates; the configured
// ones when `databases` lists names) with what a restore needs to recreate them.
Result<Json> PostgresSource::ListDatabases() {
  CAIRN_ASSIGN_OR_RETURN(
      Json all,
      Sql("SELECT coalesce(json_agg(json_build_object("
          "'name', d.datname, 'owner', pg_get_userbyid(d.datdba), 'encoding', pg_encoding_to_char(d.encoding),"
          " 'row', to_jsonb(d) - 'datacl' - 'datfrozenxid' - 'datminmxid',"
          " 'acl', CASE WHEN d.datacl IS NULL THEN NULL ELSE (SELECT coalesce(json_agg(json_build_object("
          "'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,"
          " 'privilege', a.privilege_type, 'grantable', a.is_grantable)), '[]') FROM aclexplode(d.datacl) a) END,"
          " 'settings', (SELECT to_json(s.setconfig) FROM pg_db_role_setting s"
          " WHERE s.setdatabase = d.oid AND s.setrole = 0),"
          " 'role_settings', (SELECT json_agg(json_build_object('role', pg_get_userbyid(s.setrole),"
          " 'settings', s.setconfig) ORDER BY pg_get_userbyid(s.setrole)) FROM pg_db_role_setting s"
          " WHERE s.setdatabase = d.oid AND s.setrole <> 0),"
          " 'tablespace', (SELECT spcname FROM pg_tablespace t WHERE t.oid = d.dattablespace),"
          " 'comment', shobj_description(d.oid, 'pg_database')) ORDER BY d.datname), '[]')"
          " FROM pg_database d WHERE d.datallowconn AND NOT d.datistemplate"));
  Json out = Json::array();
  for (Json& d : all) {
    const Json& row = d["row"];
    Json entry = {{"name", d["name"]},
                  {"owner", d["owner"]},
                  {"encoding", d["encoding"]},
                  {"collate", row.value("datcollate", "")},
                  {"ctype", row.value("datctype", "")},
                  {"locale_provider", row.value("datlocprovider", "c")},
                  {"locale", row.contains("datlocale") ? row["datlocale"] : row.value("daticulocale", Json())},
                  {"connection_limit", row.value("datconnlimit", -1)},
                  {"acl", d["acl"]},
                  {"settings", d["settings"]},
                  {"role_settings", d["role_settings"]},
                  {"tablespace", d["tablespace"]},
                  {"comment", d["comment"]}};
    const std::string name = d["name"].get<std::string>();
    if (databases_.empty() || std::find(databases_.begin(), databases_.end(), name) != databases_.end())
      out.push_back(std::move(entry));
  }
  for (const std::string& want : databases_) {
    if (skip_missing_) break;
    bool found = false;
    for (const Json& d : out) found = found || d["name"] == want;
    if (!found)
      return Status::NotFound("database \"" + want + "\" does not exist on PostgreSQL at " + ep_.Where() +
                              " (or does not allow connections)");
  }
  return out;
}

Result<std::set<std::string>> PostgresSource::NameSet(const std::string& sql) {
  CAIRN_ASSIGN_OR_RETURN(Json names, Sql(sql));
  std::set<std::string> out;
  for (const Json& n : names) out.insert(n.get<std::string>());
  return out;
}

// Where the configuration lives when it is outside the data directory
// (Debian's /etc/postgresql): the settings and the hba/ident files, so a
// physical new instance can be started from the data directory alone.
void PostgresSource::AddConfigFacts(Json* source) {
  auto files = Sql(
      "SELECT json_build_object('data', current_setting('data_directory'), 'config',"
      " current_setting('config_file'), 'hba', current_setting('hba_file'), 'ident', current_setting('ident_file'))");
  if (!files.ok()) return;  // not a superuser: a restore then writes defaults
  const std::string data = (*files)["data"].get<std::string>();
  (*source)["data_directory"] = data;
  const std::string config = (*files)["config"].get<std::string>();
  if (config.rfind(data + "/", 0) == 0) return;
  Json external = Json::object();
  auto settings = Sql(
      "SELECT coalesce(json_object_agg(name, setting), '{}') FROM pg_settings WHERE source = 'configuration file'"
      " AND name NOT IN ('data_directory', 'config_file', 'hba_file', 'ident_file', 'external_pid_file', 'port',"
      " 'listen_addresses', 'unix_socket_directories', 'archive_mode', 'archive_command', 'restore_command',"
      " 'cluster_name', 'primary_conninfo') AND name NOT LIKE 'ssl%'");
  if (settings.ok()) external["settings"] = *settings;
  for (const char* key : {"hba", "ident"}) {
    auto text = Sql("SELECT to_json(pg_read_file(" + QuoteLiteral((*files)[key].get<std::string>()) + "))");
    if (text.ok()) external[key] = *text;
  }
  (*source)["external_config"] = external;
}

void PostgresSource::Log(const RestoreRequest& r, const std::string& line) {
  if (r.log) r.log(line);
}

Result<RestoreOutcome> PostgresSource::RestoreLogical(const RestoreRequest& req, const Json& src) {
  CAIRN_RETURN_IF_ERROR(Connect());
  CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  CAIRN_ASSIGN_OR_RETURN(std::string restore_tool, Tool("pg_restore"));
  CAIRN_ASSIGN_OR_RETURN(std::string version, RunCapture(VersionOptions(restore_tool)));
  const int have = pg::ToolMajor(version), wrote = src.value("pg_dump_major", 0);
  if (have > 0 && wrote > have)
    return Status::Unsupported("pg_restore " + pg::MajorName(have) + " cannot read dumps of pg_dump " +
                               pg::MajorName(wrote) + ": install postgresql-client-" + pg::MajorName(wrote) +
                               " or set bin_dir");
  const Json dbs = src.value("databases", Json::array());
  if (dbs.empty()) return Status::InvalidArgument("the restore point holds no databases");
  const bool overwrite = req.mode == RestoreMode::kOverwrite;
  const std::string suffix = req.suffix.empty() ? "restored" : req.suffix;

  // Every name is decided and checked before anything is created.
  std::vector<std::string> originals, targets;
  for (const Json& d : dbs) {
    const std::string name = d["name"].get<std::string>();
    const std::string target = overwrite ? pg::WorkName(name, "staging", suffix)
                                         : pg::NewInstanceName(name, req.new_name, suffix, dbs.size());
    if (target.size() > pg::kMaxNameBytes)
      return Status::InvalidArgument("database name \"" + target + "\" is longer than 63 bytes: choose a shorter "
                                     "name with --as");
    if (std::find(targets.begin(), targets.end(), target) != targets.end())
      return Status::InvalidArgument("two databases would both be restored as \"" + target + "\"");
    originals.push_back(name);
    targets.push_back(target);
  }
  CAIRN_ASSIGN_OR_RETURN(std::set<std::string> existing,
                         NameSet("SELECT coalesce(json_agg(datname), '[]') FROM pg_database"));
  for (const std::string& t : targets) {
    if (!existing.count(t)) continue;
    if (overwrite)
      return Status::AlreadyExists("staging database \"" + t + "\" already exists on PostgreSQL at " +
                                   ep_.Where() + " (left by an interrupted restore?): drop it first");
    return Status::AlreadyExists("database \"" + t + "\" already exists on PostgreSQL at " + ep_.Where() +
                                 ": choose another name with --as");
  }

  CAIRN_RETURN_IF_ERROR(ApplyGlobals(req, src, psql));
  CAIRN_ASSIGN_OR_RETURN(std::set<std::string> roles,
                         NameSet("SELECT coalesce(json_agg(rolname), '[]') FROM pg_roles"));

  std::vector<std::string> created;
  auto drop_created = [&] {
    for (const std::string& c : created) (void)DropDatabase(c);
  };
  for (size_t i = 0; i < dbs.size(); ++i) {
    Log(req, "restoring database " + originals[i] + " into " + targets[i]);
    Status st = CreateDatabase(req, targets[i], dbs[i], roles);
    if (st.ok()) {
      created.push_back(targets[i]);
      st = PgRestore(req, restore_tool, dbs[i]["part"].get<std::string>(), dbs[i]["file"].get<std::string>(),
                     targets[i]);
    }
    if (!st.ok()) {
      drop_created();
      return overwrite ? WithNote(st, "nothing was changed") : st;
    }
  }

  RestoreOutcome out;
  Json map = Json::object();
  if (overwrite) {
    for (size_t i = 0; i < dbs.size(); ++i) {
      Log(req, "swapping the restored copy of " + originals[i] + " in");
      Status st = SwapIn(req, originals[i], targets[i], suffix);
      if (!st.ok()) {
        for (size_t k = i; k < dbs.size(); ++k) (void)DropDatabase(targets[k]);
        std::vector<std::string> done(originals.begin(), originals.begin() + static_cast<long>(i));
        return Status(st.code(), st.message() + (done.empty() ? "; nothing was changed"
                                                               : "; already restored: " + JoinNames(done)));
      }
      map[originals[i]] = originals[i];
    }
    out.summary = "restored " + JoinNames(originals) + " in place on PostgreSQL at " + ep_.Where();
    out.connection = {{"host", ep_.host}, {"port", ep_.port}, {"user", ep_.user}, {"databases", originals}};
  } else {
    for (size_t i = 0; i < dbs.size(); ++i) map[originals[i]] = targets[i];
    std::string what;
    for (size_t i = 0; i < dbs.size(); ++i) what += (i ? ", " : "") + originals[i] + " as " + targets[i];
    out.summary = "restored " + what + " on PostgreSQL at " + ep_.Where();
    out.connection = {{"host", ep_.host}, {"port", ep_.port}, {"user", ep_.user}, {"databases", targets}};
    if (targets.size() == 1) out.connection["database"] = targets[0];
  }
  out.locator = {{"postgres", {{"databases", map}, {"fingerprint_hash", src.value("fingerprint_hash", "")}}}};
  return out;
}

// Creates the roles (and tablespaces) of the backup that the server lacks;
// existing ones keep their current attributes and passwords.
Status PostgresSource::ApplyGlobals(const RestoreRequest& req, const Json& src, const std::string& psql) {
  if (!src.contains("globals")) return Status::Ok();
  const std::string part = src["globals"].value("part", kGlobalsPart);
  const std::string file = src["globals"].value("file", kGlobalsFile);
  CAIRN_ASSIGN_OR_RETURN(int raw_fd, MemoryFile("cairn-globals", ""));
  FdGuard raw(raw_fd);
  CAIRN_RETURN_IF_ERROR(req.reader->ReadStream(part, file, raw.get()).WithContext("cannot read part " + part));
  ::lseek(raw.get(), 0, SEEK_SET);
  CAIRN_ASSIGN_OR_RETURN(std::string sql, ReadAll(raw.get()));
  CAIRN_ASSIGN_OR_RETURN(std::set<std::string> roles,
                         NameSet("SELECT coalesce(json_agg(rolname), '[]') FROM pg_roles"));
  CAIRN_ASSIGN_OR_RETURN(std::set<std::string> spaces,
                         NameSet("SELECT coalesce(json_agg(spcname), '[]') FROM pg_tablespace"));
  CAIRN_ASSIGN_OR_RETURN(int in_fd, MemoryFile("cairn-globals", pg::FilterGlobals(sql, roles, spaces)));
  FdGuard in(in_fd);
  ProcessOptions o;
  o.argv = {psql, "-XAtqw", "-d", ConnString(admin_db_)};  // no ON_ERROR_STOP: "already exists" is fine
  o.env = ep_.Env(false);
  o.cwd = "/";
  o.stdin_fd = in.get();
  CAIRN_ASSIGN_OR_RETURN(auto p, Process::Start(std::move(o)));
  if (!p->Wait().ok())
    return pg::ClassifyError(p->captured_stderr(), ep_.Where(), ep_.user, "restoring roles failed");
  for (const std::string& line : Split(p->captured_stderr(), '\n'))
    if (line.find("ERROR:") != std::string::npos && line.find("already exists") == std::string::npos)
      Log(req, "warning: roles: " + pg::ErrorText(line));
  return Status::Ok();
}

Status PostgresSource::CreateDatabase(const RestoreRequest& req, const std::string& name, const Json& d,
                      const std::set<std::string>& roles) {
  std::string sql = "CREATE DATABASE " + QuoteIdent(name) + " TEMPLATE template0";
  const auto text = [&](const char* key) {
    return d.contains(key) && d[key].is_string() ? d[key].get<std::string>() : std::string();
  };
  if (!text("encoding").empty()) sql += " ENCODING " + QuoteLiteral(text("encoding"));
  if (!text("collate").empty()) sql += " LC_COLLATE " + QuoteLiteral(text("collate"));
  if (!text("ctype").empty()) sql += " LC_CTYPE " + QuoteLiteral(text("ctype"));
  if (text("locale_provider") == "i") sql += " LOCALE_PROVIDER icu ICU_LOCALE " + QuoteLiteral(text("locale"));
  if (text("locale_provider") == "b")
    sql += " LOCALE_PROVIDER builtin BUILTIN_LOCALE " + QuoteLiteral(text("locale"));
  // A non-superuser may not give databases away: it then owns the copy itself.
  const std::string owner = superuser_ ? text("owner") : std::string();
  if (!owner.empty() && roles.count(owner)) sql += " OWNER " + QuoteIdent(owner);
  const std::string space = text("tablespace");
  if (!space.empty() && space != "pg_default") {
    auto there = Sql("SELECT to_json(count(*) > 0) FROM pg_tablespace WHERE spcname = " + QuoteLiteral(space));
    if (there.ok() && there->get<bool>()) sql += " TABLESPACE " + QuoteIdent(space);
    else Log(req, "warning: database " + name + ": tablespace " + space + " does not exist here, using the default");
  }
  Status st = Exec(sql);
  if (!st.ok()) return st.WithContext("cannot create database " + name);

  // Database-level properties that pg_dump leaves out without --create.
  std::vector<std::string> props;
  const std::string db = QuoteIdent(name);
  if (d.value("connection_limit", -1) != -1)
    props.push_back("ALTER DATABASE " + db + " CONNECTION LIMIT " + std::to_string(d["connection_limit"].get<int>()));
  if (d.contains("settings") && d["settings"].is_array())
    for (const Json& s : d["settings"]) 
      if (s.is_string()) props.push_back("ALTER DATABASE " + db + " SET " + pg::SettingClause(s.get<std::string>()));
  // ALTER ROLE ... IN DATABASE: what pg_dump --create carries and pg_dumpall
  // --globals-only does not (pg_db_role_setting rows with both keys).
  if (d.contains("role_settings") && d["role_settings"].is_array())
    for (const Json& rs : d["role_settings"]) {
      const std::string role = rs.value("role", "");
      if (role.empty() || !roles.count(role) || !rs.contains("settings") || !rs["settings"].is_array()) {
        if (!role.empty()) Log(req, "warning: database " + name + ": role " + role + " does not exist, its settings "
                                    "in this database are not restored");
        continue;
      }
      for (const Json& s : rs["settings"])
        if (s.is_string())
          props.push_back("ALTER ROLE " + QuoteIdent(role) + " IN DATABASE " + db + " SET " +
                          pg::SettingClause(s.get<std::string>()));
    }
  if (!text("comment").empty()) props.push_back("COMMENT ON DATABASE " + db + " IS " + QuoteLiteral(text("comment")));
  if (d.contains("acl") && d["acl"].is_array()) {
    props.push_back("REVOKE ALL ON DATABASE " + db + " FROM PUBLIC");
    if (!owner.empty() && roles.count(owner))
      props.push_back("REVOKE ALL ON DATABASE " + db + " FROM " + QuoteIdent(owner));
    for (const Json& a : d["acl"]) {
      const std::string grantee = a.value("grantee", "PUBLIC");
      props.push_back("GRANT " + a.value("privilege", "CONNECT") + " ON DATABASE " + db + " TO " +
                      (grantee == "PUBLIC" ? grantee : QuoteIdent(grantee)) +
                      (a.value("grantable", false) ? " WITH GRANT OPTION" : ""));
    }
  }
  for (const std::string& p : props) {
    Status ps = Exec(p);
    if (!ps.ok()) Log(req, "warning: database " + name + ": " + ps.message());
  }
  return Status::Ok();
}

Status PostgresSource::DropDatabase(const std::string& name) {
  return Exec("DROP DATABASE IF EXISTS " + QuoteIdent(name) + (server_num_ >= 130000 ? " WITH (FORCE)" : ""));
}

// pg_restore reading the stored dump from a pipe: no copy on disk.
Status PostgresSource::PgRestore(const RestoreRequest& req, const std::string& tool, const std::string& part,
                 const std::string& file, const std::string& db) {
  ProcessOptions o;
  o.argv = {tool, "-w", "--exit-on-error", "-d", ConnString(db)};
  // Without superuser rights ownership and grants cannot be set as dumped.
  if (!superuser_) o.argv.insert(o.argv.end(), {"--no-owner", "--no-privileges"});
  o.env = ep_.Env(false);
  o.cwd = "/";
  CAIRN_ASSIGN_OR_RETURN(FedRun run, RunWithInput(std::move(o), [&](int fd) {
                           return req.reader->ReadStream(part, file, fd);
                         }));
  if (!run.exit.ok())
    return pg::ClassifyError(run.process->captured_stderr(), ep_.Where(), ep_.user,
                             "pg_restore into database " + db + " failed");
  return run.input.WithContext("cannot read part " + part);
}

// Renames a database, waiting out sessions (and autovacuum) still on it.
Status PostgresSource::Rename(const std::string& from, const std::string& to, const std::string& admin) {
  Status st;
  for (int attempt = 0; attempt < 100; ++attempt) {
    (void)Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " + QuoteLiteral(from) +
                   " AND pid <> pg_backend_pid()",
               admin);
    st = Exec("ALTER DATABASE " + QuoteIdent(from) + " RENAME TO " + QuoteIdent(to), admin);
    if (st.ok() || st.message().find("being accessed by other users") == std::string::npos) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return st;
}

// Puts the fully restored staging copy in place of `db`; the old one is
// renamed aside first and dropped only when the new one is in place.
Status PostgresSource::SwapIn(const RestoreRequest& req, const std::string& db, const std::string& staging,
              const std::string& suffix) {
  const std::string admin = db == admin_db_ ? (admin_db_ == "postgres" ? "template1" : "postgres") : admin_db_;
  CAIRN_ASSIGN_OR_RETURN(Json exists, Sql("SELECT to_json(count(*) > 0) FROM pg_database WHERE datname = " +
                                          QuoteLiteral(db)));
  if (!exists.get<bool>()) return Rename(staging, db, admin).WithContext("cannot rename " + staging + " to " + db);
  const std::string old = pg::WorkName(db, "old", suffix);
  const std::string q = QuoteIdent(db);
  CAIRN_RETURN_IF_ERROR(Exec("ALTER DATABASE " + q + " ALLOW_CONNECTIONS false", admin)
                            .WithContext("cannot close database " + db + " to new connections"));
  Status st = Rename(db, old, admin);
  if (!st.ok()) {
    (void)Exec("ALTER DATABASE " + q + " ALLOW_CONNECTIONS true", admin);
    return st.WithContext("cannot move database " + db + " aside");
  }
  st = Rename(staging, db, admin);
  if (!st.ok()) {
    (void)Rename(old, db, admin);
    (void)Exec("ALTER DATABASE " + q + " ALLOW_CONNECTIONS true", admin);
    return st.WithContext("cannot rename " + staging + " to " + db);
  }
  st = DropDatabase(old);
  if (!st.ok()) Log(req, "warning: the previous " + db + " is kept as " + old + ": " + st.message());
  return Status::Ok();
}

}  // namespace cairn::pgsrc

namespace cairn {

Result<std::unique_ptr<Source>> MakePostgresSource(const ServiceConfig& config) {
  return pgsrc::PostgresSource::Make(config);
}

}  // namespace cairn

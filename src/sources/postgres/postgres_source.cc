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
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using namespace pgsrc;

constexpr int64_t kDefaultChecksumMaxBytes = int64_t{4} << 30;
constexpr char kRecoveryBegin[] = "# Added by Cairn for the restore's recovery (removed after promotion)";
constexpr char kRecoveryEnd[] = "# End of Cairn's recovery settings";
// A copy must not act on its own: its subscriptions would pull from the
// original's publishers under the original's slot names. No apply worker
// runs until Cairn has disabled them; the line is then taken out again.
constexpr char kNoSubscriptionWorkers[] = "max_logical_replication_workers = 0  # until Cairn disabled the subscriptions";

// ----------------------------------------------------------------- the source

int FreePort() {
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

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a file owned by `pw` with mode 600 (config files of a data directory).
Status WriteOwnedFile(const std::string& path, const std::string& text, const passwd* pw, bool append) {
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
Status WithNote(const Status& st, const std::string& note) {
  return st.ok() ? st : Status(st.code(), st.message() + "; " + note);
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

class PostgresSource : public Source {
 public:
  static Result<std::unique_ptr<Source>> Make(const ServiceConfig& c) {
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
      if (c.settings.contains("host"))
        return Status::InvalidArgument("service " + c.name + ": set either host or socket, not both");
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
    CAIRN_ASSIGN_OR_RETURN(s->databases_, SettingDatabases(c));
    CAIRN_ASSIGN_OR_RETURN(s->method_, SettingString(c, "method", "logical"));
    if (s->method_ != "logical" && s->method_ != "physical")
      return Status::InvalidArgument("service " + c.name + ": setting method must be logical or physical, not " +
                                     s->method_);
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
    // Writes into tool pipes must fail with EPIPE, not kill Cairn, when a
    // tool exits early (its own error is then reported).
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
    return std::unique_ptr<Source>(std::move(s));
  }

  Result<std::string> Probe() override {
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

  Result<std::unique_ptr<Capture>> StartCapture() override {
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

  Status CheckRestore(const Json& manifest, RestoreMode mode) override {
    const Json src = manifest.value("source", Json::object());
    if (mode == RestoreMode::kOverwrite && src.is_object() && src.value("method", "") == "physical" &&
        data_dir_.empty())
      return Status::InvalidArgument("service " + config_.name +
                                     ": a physical overwrite needs the data_dir setting (the live cluster's data "
                                     "directory)");
    return Status::Ok();
  }

  Result<RestoreOutcome> Restore(const RestoreRequest& request) override {
    if (!request.reader) return Status::InvalidArgument("restore without a part reader");
    const Json& src = request.manifest.contains("source") ? request.manifest["source"] : request.manifest;
    if (!src.is_object() || !src.contains("method"))
      return Status::InvalidArgument("the restore point has no PostgreSQL facts (was it made by a postgres service?)");
    if (src["method"] == "physical") return RestorePhysical(request, src);
    return RestoreLogical(request, src);
  }

  void SkipMissingDatabases() override { skip_missing_ = true; }

  Result<Json> Fingerprint(const Json& locator) override {
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

 private:
  PostgresSource() = default;

  // ---------------------------------------------------------------- tools and connection

  // A PostgreSQL program: from bin_dir when set, else the installed version
  // matching `major` (the server's when 0), else the newest installed, else PATH.
  Result<std::string> Tool(const std::string& name, int major = 0) {
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

  static ProcessOptions VersionOptions(const std::string& path) {
    ProcessOptions o;
    o.argv = {path, "--version"};
    o.cwd = "/";
    return o;
  }

  // The tool must be at least as new as the server (pg_dump refuses newer
  // servers; an old pg_basebackup cannot read a new server's protocol).
  // Returns its major version.
  Result<int> CheckClient(const std::string& name) {
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

  Status Connect() {
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

  Result<Ctx> MakeCtx() {
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

  Result<Json> Sql(const std::string& sql) {
    CAIRN_RETURN_IF_ERROR(Connect());
    CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
    return RunSqlJson(psql, ep_, admin_db_, sql);
  }

  Status Exec(const std::string& sql, const std::string& db = "") {
    CAIRN_RETURN_IF_ERROR(Connect());
    CAIRN_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
    return RunSql(psql, ep_, db.empty() ? admin_db_ : db, sql).status();
  }

  // The databases to capture (connectable, not templates; the configured
  // ones when `databases` lists names) with what a restore needs to recreate them.
  Result<Json> ListDatabases() {
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

  Result<std::set<std::string>> NameSet(const std::string& sql) {
    CAIRN_ASSIGN_OR_RETURN(Json names, Sql(sql));
    std::set<std::string> out;
    for (const Json& n : names) out.insert(n.get<std::string>());
    return out;
  }

  // Where the configuration lives when it is outside the data directory
  // (Debian's /etc/postgresql): the settings and the hba/ident files, so a
  // physical new instance can be started from the data directory alone.
  void AddConfigFacts(Json* source) {
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

  void Log(const RestoreRequest& r, const std::string& line) {
    if (r.log) r.log(line);
  }

  // ---------------------------------------------------------------- logical restore

  Result<RestoreOutcome> RestoreLogical(const RestoreRequest& req, const Json& src) {
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
  Status ApplyGlobals(const RestoreRequest& req, const Json& src, const std::string& psql) {
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

  Status CreateDatabase(const RestoreRequest& req, const std::string& name, const Json& d,
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

  Status DropDatabase(const std::string& name) {
    return Exec("DROP DATABASE IF EXISTS " + QuoteIdent(name) + (server_num_ >= 130000 ? " WITH (FORCE)" : ""));
  }

  // pg_restore reading the stored dump from a pipe: no copy on disk.
  Status PgRestore(const RestoreRequest& req, const std::string& tool, const std::string& part,
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
  Status Rename(const std::string& from, const std::string& to, const std::string& admin) {
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
  Status SwapIn(const RestoreRequest& req, const std::string& db, const std::string& staging,
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

  // ---------------------------------------------------------------- physical restore

  // Server programs of exactly the backup's major version.
  Result<std::string> ServerTool(const std::string& name, int major) {
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

  Status RunAsUser(const std::vector<std::string>& argv, const std::string& cwd, std::string* stderr_text = nullptr) {
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

  Status MakeDataDir(const std::string& dir, const passwd* pw) {
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

  Status Extract(const RestoreRequest& req, const Json& src, const std::string& dir) {
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
  Status PrepareNewInstance(const std::string& dir, const Json& src, int port, const passwd* pw) {
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
  Status StartServer(const std::string& pg_ctl, const std::string& dir, const std::vector<std::string>& opts,
                     const std::string& config_dir = "", const std::string& log_file = "") {
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
  static std::string ServerStderrFile(const std::string& data_dir) {
    std::string pid = ReadTextFile(data_dir + "/postmaster.pid");
    pid = pid.substr(0, pid.find('\n'));
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "";
    std::error_code ec;
    const fs::path target = fs::read_symlink("/proc/" + pid + "/fd/2", ec);
    if (ec || !target.is_absolute() || !fs::is_regular_file(target, ec)) return "";
    return target.string();
  }

  static Status CopyHistoryFiles(const std::string& from, const std::string& to, const passwd* pw) {
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
  Result<std::vector<std::string>> DisableSubscriptions(const Endpoint& copy) {
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
  Status WaitForPromotion(const std::string& dir, const std::string& log_file) {
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
  static Status RemoveRecoverySettings(const std::string& path, const passwd* pw) {
    const std::string text = ReadTextFile(path);
    const size_t b = text.find(kRecoveryBegin), e = text.find(kRecoveryEnd);
    if (b == std::string::npos || e == std::string::npos || e < b) return Status::Ok();
    std::string kept = text.substr(0, b) + text.substr(e + std::strlen(kRecoveryEnd));
    while (kept.size() >= 2 && kept.compare(kept.size() - 2, 2, "\n\n") == 0) kept.pop_back();
    return WriteOwnedFile(path, kept, pw, false).WithContext("cannot remove the recovery settings from " + path);
  }

  Status StopServer(const std::string& pg_ctl, const std::string& dir) {
    std::string err;
    if (RunAsUser({pg_ctl, "-D", dir, "-m", "fast", "-w", "-t", "300", "stop"}, dir, &err).ok()) return Status::Ok();
    return Status::IOError("cannot stop PostgreSQL in " + dir + ": " + pg::ErrorText(err));
  }

  Result<RestoreOutcome> RestorePhysical(const RestoreRequest& req, const Json& src) {
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
      if (st.ok()) {
        Log(req, "starting PostgreSQL " + pg::MajorName(major) + " on 127.0.0.1:" + std::to_string(port));
        st = StartServer(pg_ctl, dir, {});
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
    const std::string staging = live + ".cairn-staging-" + suffix, old = live + ".cairn-old-" + suffix;
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
    if (st.ok()) st = WriteOwnedFile(staging + "/recovery.signal", "", pw, false);
    if (st.ok())
      st = WriteOwnedFile(staging + "/postgresql.auto.conf",
                          std::string("\n") + kRecoveryBegin + "\nrestore_command = 'false'\n"
                          "recovery_target = 'immediate'\nrecovery_target_action = 'promote'\n"
                          "recovery_target_timeline = 'current'\n" + kRecoveryEnd + "\n",
                          pw, true);
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
    st = StartServer(pg_ctl, live, opts, ctl_dir, log_file);
    if (st.ok()) st = WaitForPromotion(live, log_file);
    if (!st.ok()) {
      // Put the previous cluster back so the service keeps running.
      (void)StopServer(pg_ctl, live);
      const std::string failed = live + ".cairn-failed-" + suffix;
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

}  // namespace

Result<std::unique_ptr<Source>> MakePostgresSource(const ServiceConfig& config) {
  return PostgresSource::Make(config);
}

}  // namespace cairn

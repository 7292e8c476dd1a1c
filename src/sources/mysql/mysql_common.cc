// Shared pieces of the MariaDB source (mysql_common.h).
#include "sources/mysql/mysql_common.h"

#include <set>

#include "util/process.h"

namespace cairn::mysql {

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
// `wanted` empty = every user database. `skip_missing`: a wanted database
// that does not exist is left out instead of being an error.
Result<std::vector<DbInfo>> SelectDatabases(const Client& c, const std::vector<std::string>& wanted,
                                            bool skip_missing) {
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
    if (!found && !skip_missing)
      return Status::NotFound("database " + w + " does not exist on MariaDB at " + c.Where());
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

std::vector<ObjectDef> Objects::CreationOrder() const {
  std::vector<ObjectDef> all = routines;
  for (const ObjectDef& v : OrderViews(views)) all.push_back(v);
  all.insert(all.end(), triggers.begin(), triggers.end());
  all.insert(all.end(), events.begin(), events.end());
  return all;
}

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

std::string DropObjectsSql(const std::string& db, const Objects& o, bool triggers_only) {
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

}  // namespace cairn::mysql

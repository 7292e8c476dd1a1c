// Shared pieces of the MariaDB source (mysql_common.h).
#include "sources/mysql/mysql_common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <thread>

#include "util/fd_io.h"
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
                                const std::map<std::string, std::string>& rename, bool low_priority, int version) {
  Json items = Json::object();
  if (dbs.empty()) return Json{{"exact", true}, {"items", items}};
  CAIRN_ASSIGN_OR_RETURN(std::string listing, c.RunSql(std::string(kSessionSetup) + ListTablesSql(dbs), "",
                                                       "cannot list the tables", {}, low_priority));
  std::set<std::string> wanted(dbs.begin(), dbs.end());
  std::vector<TableInfo> tables;
  for (TableInfo& t : ParseTables(listing))
    if (wanted.count(t.db)) tables.push_back(std::move(t));
  std::string script = std::string(kSessionSetup) + "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\n" +
                       FingerprintSql(dbs, tables, version) + "COMMIT;\n";
  CAIRN_ASSIGN_OR_RETURN(std::string out, c.RunSql(script, "", "fingerprint query failed", {}, low_priority));
  CAIRN_RETURN_IF_ERROR(AddFingerprintItems(SplitLines(out), dbs, tables, rename, &items));
  bool exact = true;
  for (const TableInfo& t : tables) exact = exact && t.transactional();
  return Json{{"exact", exact}, {"items", items}};
}

bool DisableEventLine(std::string* line, std::string* name) {
  static const std::string kCreate = "/*!50106 CREATE*/", kEvent = "/*!50106 EVENT ";
  if (line->rfind(kCreate, 0) != 0) return false;
  const size_t ev = line->find(kEvent);
  if (ev == std::string::npos) return false;
  const size_t at = line->find(" PRESERVE ENABLE ", ev);
  if (at == std::string::npos) return false;
  line->replace(at + 10, 6, "DISABLE");
  size_t p = ev + kEvent.size();
  name->clear();
  if (p < line->size() && (*line)[p] == '`') {
    for (++p; p < line->size(); ++p) {
      if ((*line)[p] == '`' && p + 1 < line->size() && (*line)[p + 1] == '`') {
        name->push_back('`');
        ++p;
      } else if ((*line)[p] == '`') {
        break;
      } else {
        name->push_back((*line)[p]);
      }
    }
  }
  return true;
}

namespace {

// Copies `in` to `out`, rewriting event header lines (DisableEventLine).
// Other lines pass through as they come, without being buffered whole.
Status FilterEvents(int in, int out, std::vector<std::string>* names) {
  static const std::string kCreate = "/*!50106 CREATE*/";
  std::vector<char> buf(1 << 16);
  std::string head;    // the start of the current line while undecided, or a whole event line
  bool undecided = true, event = false;
  auto flush = [&](const std::string& text) { return WriteFully(out, AsBytes(text), -1, "mariadb"); };
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "cannot read the dump");
    if (n == 0) break;
    size_t i = 0, len = static_cast<size_t>(n);
    while (i < len) {
      if (!undecided && !event) {  // pass through up to the end of the line
        const char* nl = static_cast<const char*>(std::memchr(buf.data() + i, '\n', len - i));
        size_t end = nl ? static_cast<size_t>(nl - buf.data()) + 1 : len;
        CAIRN_RETURN_IF_ERROR(WriteFully(out, ByteView(reinterpret_cast<uint8_t*>(buf.data() + i), end - i), -1,
                                         "mariadb"));
        i = end;
        if (nl) undecided = true;
        continue;
      }
      const char c = buf[i++];
      head.push_back(c);
      if (undecided && (head.size() >= kCreate.size() || c == '\n')) {
        undecided = false;
        event = head.compare(0, kCreate.size(), kCreate) == 0;
        if (!event) {
          CAIRN_RETURN_IF_ERROR(flush(head));
          const bool ended = c == '\n';
          head.clear();
          if (ended) undecided = true;
          continue;
        }
      }
      if (c == '\n') {
        if (event) {
          std::string name;
          if (DisableEventLine(&head, &name)) names->push_back(name);
        }
        CAIRN_RETURN_IF_ERROR(flush(head));
        head.clear();
        undecided = true;
        event = false;
      }
    }
  }
  if (!head.empty()) CAIRN_RETURN_IF_ERROR(flush(head));
  return Status::Ok();
}

// Copies `in` to `out`, merging consecutive one-row INSERTs into the same
// table ("INSERT INTO `t` (...) VALUES (...);", one per line) into
// multi-row INSERTs of up to kBatchBytes.
Status BatchInserts(int in, int out) {
  constexpr size_t kBatchBytes = 1 << 20;
  static const std::string kInsert = "INSERT INTO ", kValues = ") VALUES (";
  std::vector<char> buf(1 << 16);
  std::string line, prefix, batch;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    batch += ";\n";
    Status st = WriteFully(out, AsBytes(batch), -1, "mariadb");
    batch.clear();
    prefix.clear();
    return st;
  };
  auto take = [&](const std::string& l) -> Status {
    const size_t v = l.rfind(kInsert, 0) == 0 ? l.find(kValues) : std::string::npos;
    if (v == std::string::npos || l.size() < 2 || l.compare(l.size() - 2, 2, ");") != 0) {
      CAIRN_RETURN_IF_ERROR(flush());
      return WriteFully(out, AsBytes(l + "\n"), -1, "mariadb");
    }
    const size_t cut = v + kValues.size() - 1;  // the row starts at its '('
    const std::string head = l.substr(0, cut), row = l.substr(cut, l.size() - 1 - cut);
    if (head != prefix || batch.size() + row.size() > kBatchBytes) {
      CAIRN_RETURN_IF_ERROR(flush());
      prefix = head;
      batch = head + row;
      return Status::Ok();
    }
    batch += "," + row;
    return Status::Ok();
  };
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "cannot read the rows");
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[static_cast<size_t>(i)] != '\n') {
        line.push_back(buf[static_cast<size_t>(i)]);
        continue;
      }
      CAIRN_RETURN_IF_ERROR(take(line));
      line.clear();
    }
  }
  if (!line.empty()) CAIRN_RETURN_IF_ERROR(take(line));
  return flush();
}

}  // namespace

Status LoadPart(const Client& c, PartReader* reader, const std::string& part, const std::string& file,
                const std::string& database, const std::string& action, std::vector<std::string>* disabled_events,
                bool batch_rows) {
  CAIRN_ASSIGN_OR_RETURN(std::string tool, c.Tool({"mariadb", "mysql"}, "mariadb-client"));
  std::vector<std::string> extra = {"--binary-mode", "--comments", "--max-allowed-packet=1G", "--skip-reconnect"};
  if (!database.empty()) extra.push_back("--database=" + database);
  ProcessOptions o;
  o.argv = c.Argv(tool, extra);
  CAIRN_ASSIGN_OR_RETURN(FedRun run, RunWithInput(std::move(o), [&](int fd) -> Status {
                           if (!disabled_events && !batch_rows) return reader->ReadStream(part, file, fd);
                           int p[2];
                           if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(errno, "cannot create a pipe");
                           Status read;
                           std::thread feeder([&] {
                             read = reader->ReadStream(part, file, p[1]);
                             ::close(p[1]);
                           });
                           Status filtered =
                               batch_rows ? BatchInserts(p[0], fd) : FilterEvents(p[0], fd, disabled_events);
                           ::close(p[0]);  // a feeder still writing gets EPIPE and stops
                           feeder.join();
                           return read.ok() ? filtered : read;
                         }));
  if (!run.exit.ok()) return c.Classify(run.process->captured_stderr(), action);
  if (!run.input.ok()) return run.input.WithContext(action);
  return Status::Ok();
}

Status LoadDatabase(const Client& c, PartReader* reader, const DbPart& db, const std::string& target,
                    const std::string& action, std::vector<std::string>* disabled_events) {
  CAIRN_RETURN_IF_ERROR(LoadPart(c, reader, db.part, db.file, target, action, disabled_events));
  if (db.rows_part.empty()) return Status::Ok();
  CAIRN_ASSIGN_OR_RETURN(Objects objs, FetchObjects(c, target));
  Objects triggers;
  triggers.triggers = objs.triggers;
  const std::string drop = DropObjectsSql(target, triggers, /*triggers_only=*/true);
  if (!drop.empty()) CAIRN_RETURN_IF_ERROR(c.RunSql(drop, "", action).status());
  CAIRN_RETURN_IF_ERROR(LoadPart(c, reader, db.rows_part, db.rows_file, target, action, nullptr, true));
  return CreateObjects(c, target, triggers, action);
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

// Pure helpers of the MariaDB/MySQL source (mysql_internal.h).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "sources/mysql/mysql_internal.h"

namespace cairn::mysql {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool ContainsI(const std::string& haystack, const std::string& needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != haystack.end();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

uint32_t Fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::string Hex8(uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string out(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) out[static_cast<size_t>(i)] = digits[v & 15];
  return out;
}

// Removes the tool's decorations from an error line: mariadb-backup's
// "[00] 2026-11-25 06:30:44 " and the client's "ERROR 1064 (42000) at line 3: ".
std::string CleanErrorLine(std::string line) {
  line = Trim(line);
  if (line.size() > 5 && line[0] == '[' && line[3] == ']') {
    size_t p = 4;
    // "[00] YYYY-MM-DD HH:MM:SS "
    if (line.size() > p + 20 && std::isdigit(static_cast<unsigned char>(line[p + 1])) && line[p + 5] == '-') p += 20;
    line = Trim(line.substr(p));
  }
  if (StartsWith(line, "ERROR ")) {
    size_t colon = line.find(": ");
    if (colon != std::string::npos && colon < 40) line = line.substr(colon + 2);
  }
  return line;
}

// errno text from "... (111)" or "... (111 \"Connection refused\")" at the end of a client message.
std::string ErrnoText(const std::string& line) {
  size_t open = line.rfind('(');
  if (open == std::string::npos) return "";
  size_t i = open + 1;
  int code = 0;
  bool any = false;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) {
    code = code * 10 + (line[i] - '0');
    any = true;
    ++i;
  }
  if (!any || code <= 0 || code > 4095) return "";
  std::string text = std::strerror(code);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

bool IsVerboseLine(const std::string& line) { return StartsWith(line, "-- "); }

}  // namespace

bool IsSystemDatabase(const std::string& name) {
  return name == "mysql" || name == "information_schema" || name == "performance_schema" || name == "sys";
}

std::string QuoteIdent(const std::string& name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  return out + "`";
}

std::string QuoteLiteral(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    switch (c) {
      case '\'':
        out += "''";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\0':
        out += "\\0";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\x1a':
        out += "\\Z";
        break;
      default:
        out += c;
    }
  }
  return out + "'";
}

std::string OptionFileValue(const std::string& value) {
  // my_default.c unescapes \b \t \n \r \\ \s and \" inside a quoted value.
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

std::vector<std::string> SplitLines(const std::string& output) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    lines.push_back(output.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> SplitBatchLine(const std::string& line) {
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\t') {
      fields.emplace_back();
    } else if (c == '\\' && i + 1 < line.size()) {
      char n = line[++i];
      switch (n) {
        case 'n':
          fields.back() += '\n';
          break;
        case 't':
          fields.back() += '\t';
          break;
        case '0':
          fields.back() += '\0';
          break;
        case '\\':
          fields.back() += '\\';
          break;
        default:
          fields.back() += '\\';
          fields.back() += n;
      }
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::vector<std::vector<std::string>> ParseBatch(const std::string& output) {
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : SplitLines(output)) rows.push_back(SplitBatchLine(line));
  return rows;
}

std::string EncodeName(const std::string& database) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : database) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '.';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::pair<int, int> MajorMinor(const std::string& version) {
  int major = 0, minor = 0;
  size_t i = 0;
  // MySQL-compatible servers may prefix "5.5.5-" for old clients.
  std::string v = StartsWith(version, "5.5.5-") ? version.substr(6) : version;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) major = major * 10 + (v[i++] - '0');
  if (i >= v.size() || v[i] != '.' || major == 0) return {0, 0};
  ++i;
  bool any = false;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
    minor = minor * 10 + (v[i++] - '0');
    any = true;
  }
  if (!any) return {0, 0};
  return {major, minor};
}

bool IsMariaDb(const std::string& version) { return ContainsI(version, "mariadb"); }

std::string ErrorLine(const std::string& stderr_text) {
  std::vector<std::string> lines = SplitLines(stderr_text);
  static const char* kMarkers[] = {"Access denied",
                                   "Can't connect",
                                   "Unknown server host",
                                   "Unknown MySQL server host",
                                   "Got error",
                                   "ERROR ",
                                   "Couldn't execute",
                                   "error:",
                                   "[ERROR]",
                                   "FATAL",
                                   "Failed to"};
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    for (const char* m : kMarkers)
      if (it->find(m) != std::string::npos) return CleanErrorLine(*it);
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (!Trim(*it).empty() && !IsVerboseLine(*it)) return CleanErrorLine(*it);
  return "";
}

Status ClassifyError(const std::string& stderr_text, const std::string& where, const std::string& user,
                     const std::string& action) {
  std::string line = ErrorLine(stderr_text);
  // A refused login is 1045 "... (using password: YES)" when connecting; the
  // same text "at line N" of a script is a statement lacking a privilege
  // (GRANT without GRANT OPTION), as are 1044 and 1142.
  const bool in_script = stderr_text.find(" at line ") != std::string::npos;
  // root@localhost of a packaged server logs in through unix_socket
  // authentication, which a TCP connection cannot use.
  const bool tcp = where.rfind("socket ", 0) != 0;
  if (tcp && user == "root" && !in_script && line.find("Access denied for user 'root'@") != std::string::npos &&
      line.find("(using password: YES)") == std::string::npos)
    return Status::IOError("MariaDB at " + where + " refused user root over TCP: root usually logs in through its "
                           "unix socket: set socket: /run/mysqld/mysqld.sock, or use an account with a password");
  if (line.find("Access denied for user") != std::string::npos && line.find("(using password:") != std::string::npos &&
      !in_script)
    return Status::IOError("MariaDB at " + where + " refused user " + user +
                           ": access denied (wrong password, or no such user for this host)");
  if (line.find("Can't connect to") != std::string::npos) {
    // libmariadb reports a refused TCP connect as EINPROGRESS (115): its connect is non-blocking.
    std::string why = line.find("(115") != std::string::npos ? "connection refused" : ErrnoText(line);
    return Status::IOError("cannot connect to MariaDB at " + where + ": " + (why.empty() ? line : why));
  }
  if (line.find("reading initial communication packet") != std::string::npos) {
    return Status::IOError("cannot connect to MariaDB at " + where + ": the server did not answer");
  }
  if (line.find("Unknown server host") != std::string::npos ||
      line.find("Unknown MySQL server host") != std::string::npos)
    return Status::IOError("cannot connect to MariaDB at " + where + ": unknown host");
  if (line.find("Lost connection") != std::string::npos || line.find("server has gone away") != std::string::npos)
    return Status::IOError(action + ": lost the connection to MariaDB at " + where + " (" + line + ")");
  if (line.empty()) return Status::IOError(action + ": the client tool failed without a message");
  return Status::IOError(action + ": " + line);
}

size_t IdentLength(const std::string& name) {
  size_t n = 0;
  for (unsigned char c : name)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string Utf8Prefix(const std::string& text, size_t chars) {
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) {
      if (n == chars) return text.substr(0, i);
      ++n;
    }
  }
  return text;
}

std::string BoundedName(const std::string& base, const std::string& tag, const std::string& suffix) {
  constexpr size_t kMax = 64;
  std::string plain = base + "_" + tag + "_" + suffix;
  if (IdentLength(plain) <= kMax) return plain;
  std::string hash = Hex8(Fnv1a(base + '\0' + tag + '\0' + suffix));
  std::string tail = "_" + hash + "_" + tag + "_" + suffix;
  size_t tail_len = IdentLength(tail);
  if (tail_len + 1 <= kMax) return Utf8Prefix(base, kMax - tail_len) + tail;
  return "cairn_" + Utf8Prefix(tag, 40) + "_" + hash;
}

bool TableInfo::transactional() const {
  std::string e;
  for (char c : engine) e += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e == "innodb" || e == "xtradb" || e == "rocksdb" || e == "tokudb";
}

bool TableInfo::has_float() const {
  if (versioned) return false;  // history rows cannot be inserted; left to mariadb-dump
  for (size_t i = 0; i < types.size() && i < generated.size(); ++i)
    if (types[i] == "float" && !generated[i]) return true;
  return false;
}

std::string ListTablesSql(const std::vector<std::string>& databases) {
  std::string in;
  for (const std::string& db : databases) in += (in.empty() ? "" : ",") + QuoteLiteral(db);
  // BINARY: information_schema compares names case-insensitively, databases may differ only in case.
  return "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, IFNULL(t.ENGINE,''), c.COLUMN_NAME, LOWER(c.DATA_TYPE), "
         "IF(IFNULL(c.GENERATION_EXPRESSION,'')='','NEVER','ALWAYS'), t.TABLE_TYPE "
         "FROM information_schema.TABLES t JOIN information_schema.COLUMNS c "
         "ON BINARY c.TABLE_SCHEMA = BINARY t.TABLE_SCHEMA AND BINARY c.TABLE_NAME = BINARY t.TABLE_NAME "
         "WHERE t.TABLE_TYPE IN ('BASE TABLE','SYSTEM VERSIONED') AND t.TABLE_SCHEMA IN (" +
         in +
         ") "
         "ORDER BY BINARY t.TABLE_SCHEMA, BINARY t.TABLE_NAME, c.ORDINAL_POSITION;\n";
}

std::vector<TableInfo> ParseTables(const std::string& output) {
  std::vector<TableInfo> tables;
  for (const std::string& line : SplitLines(output)) {
    if (line.empty()) continue;
    std::vector<std::string> f = SplitBatchLine(line);
    if (f.size() != 4 && f.size() != 7) continue;
    if (tables.empty() || tables.back().db != f[0] || tables.back().name != f[1]) {
      tables.push_back(TableInfo{f[0], f[1], f[2], {}, {}, {}, false});
      tables.back().versioned = f.size() == 7 && f[6] == "SYSTEM VERSIONED";
    }
    tables.back().columns.push_back(f[3]);
    if (f.size() == 7) {
      tables.back().types.push_back(f[4]);
      tables.back().generated.push_back(f[5] != "NEVER");
    }
  }
  return tables;
}

std::string FingerprintSql(const std::vector<std::string>& databases, const std::vector<TableInfo>& tables,
                           int version) {
  std::string sql;
  for (size_t i = 0; i < tables.size(); ++i) {
    const TableInfo& t = tables[i];
    std::string cols;
    for (size_t k = 0; k < t.columns.size(); ++k) {
      if (!cols.empty()) cols += ",";
      std::string value = QuoteIdent(t.columns[k]);
      // The server's own value, not its 6-digit text: a FLOAT widens to a DOUBLE exactly.
      if (version >= 2 && k < t.types.size() && t.types[k] == "float") value = "CAST(" + value + " AS DOUBLE)";
      // The bytes of the value as the server prints it; HEX keeps 'N' apart from every value.
      cols += "IFNULL(HEX(CAST(" + value + " AS BINARY)),'N')";
    }
    sql += "SELECT 'T'," + std::to_string(i) + ",COUNT(*),COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS(','," + cols +
           ")),1,15),16,10) AS UNSIGNED)),0) FROM " + QuoteIdent(t.db) + "." + QuoteIdent(t.name) + ";\n";
  }
  for (size_t i = 0; i < databases.size(); ++i) {
    std::string lit = QuoteLiteral(databases[i]);
    auto count = [&](const std::string& table, const std::string& column, const std::string& extra) {
      return "(SELECT COUNT(*) FROM information_schema." + table + " WHERE " + column + "=" + lit + " AND BINARY " +
             column + "=BINARY " + lit + extra + ")";
    };
    sql += "SELECT 'O'," + std::to_string(i) + "," + count("TABLES", "TABLE_SCHEMA", " AND TABLE_TYPE='SEQUENCE'") +
           "," + count("VIEWS", "TABLE_SCHEMA", "") + "," + count("ROUTINES", "ROUTINE_SCHEMA", "") + "," +
           count("TRIGGERS", "TRIGGER_SCHEMA", "") + "," + count("EVENTS", "EVENT_SCHEMA", "") + ";\n";
  }
  return sql;
}

std::string ExactRowsHeader() {
  return "SELECT '/*!40101 SET NAMES utf8mb4 */;';\n"
         "SELECT 'SET SESSION time_zone=''+00:00'', sql_mode=''NO_AUTO_VALUE_ON_ZERO'', foreign_key_checks=0, "
         "unique_checks=0;';\n";
}

std::string ExactRowsSql(const TableInfo& t) {
  static const char* kNumbers[] = {"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "double", "year"};
  static const char* kBytes[] = {"char",       "varchar",    "tinytext", "text",       "mediumtext",
                                 "longtext",   "binary",     "varbinary", "tinyblob",  "blob",
                                 "mediumblob", "longblob",   "geometry", "point",      "linestring",
                                 "polygon",    "multipoint", "multilinestring", "multipolygon", "geometrycollection"};
  std::string names, values;
  for (size_t k = 0; k < t.columns.size(); ++k) {
    if (k < t.generated.size() && t.generated[k]) continue;
    const std::string type = k < t.types.size() ? t.types[k] : "";
    const std::string c = QuoteIdent(t.columns[k]);
    bool number = false, bytes = false;
    for (const char* n : kNumbers) number = number || type == n;
    for (const char* b : kBytes) bytes = bytes || type == b;
    std::string v;
    if (type == "float")  // widened exactly; the DOUBLE's text rounds back to the same FLOAT
      v = "CAST(CAST(" + c + " AS DOUBLE) AS CHAR)";
    else if (number)
      v = "CAST(" + c + " AS CHAR)";
    else if (type == "bit")
      v = "CONCAT('b''',BIN(" + c + "),'''')";
    else if (bytes)  // the stored bytes; a character column takes them as they are
      v = "CONCAT('X''',HEX(" + c + "),'''')";
    else  // temporal, enum, set, inet6, uuid, ...: their text, kept on one line
      v = "REPLACE(REPLACE(QUOTE(" + c + "),'\\n','\\\\n'),'\\r','\\\\r')";
    names += (names.empty() ? "" : ",") + c;
    values += std::string(values.empty() ? "" : ",','") + ",IFNULL(" + v + ",'NULL')";
  }
  const std::string insert = "INSERT INTO " + QuoteIdent(t.name) + " (" + names + ") VALUES (";
  return "SELECT CONCAT(" + QuoteLiteral(insert) + values + ",');') FROM " + QuoteIdent(t.db) + "." +
         QuoteIdent(t.name) + ";\n";
}

Status AddFingerprintItems(const std::vector<std::string>& lines, const std::vector<std::string>& databases,
                           const std::vector<TableInfo>& tables, const std::map<std::string, std::string>& rename,
                           Json* items) {
  auto name_of = [&](const std::string& db) {
    auto it = rename.find(db);
    return it == rename.end() ? db : it->second;
  };
  std::map<std::string, int64_t> table_count;
  for (const TableInfo& t : tables) table_count[t.db]++;
  size_t seen_tables = 0, seen_dbs = 0;
  for (const std::string& line : lines) {
    if (line.empty()) continue;
    std::vector<std::string> f = SplitBatchLine(line);
    try {
      if (f[0] == "T" && f.size() == 4) {
        size_t i = std::stoul(f[1]);
        if (i >= tables.size()) return Status::Corruption("fingerprint output names table #" + f[1]);
        (*items)[name_of(tables[i].db) + "." + tables[i].name] = {{"rows", std::stoll(f[2])}, {"checksum", f[3]}};
        ++seen_tables;
      } else if (f[0] == "O" && f.size() == 7) {
        size_t i = std::stoul(f[1]);
        if (i >= databases.size()) return Status::Corruption("fingerprint output names database #" + f[1]);
        (*items)[name_of(databases[i])] = {{"tables", table_count[databases[i]]}, {"sequences", std::stoll(f[2])},
                                           {"views", std::stoll(f[3])},           {"routines", std::stoll(f[4])},
                                           {"triggers", std::stoll(f[5])},        {"events", std::stoll(f[6])}};
        ++seen_dbs;
      } else {
        return Status::Corruption("unexpected fingerprint output line: " + line.substr(0, 80));
      }
    } catch (...) {
      return Status::Corruption("unexpected fingerprint output line: " + line.substr(0, 80));
    }
  }
  if (seen_tables != tables.size() || seen_dbs != databases.size())
    return Status::IOError("the fingerprint query returned " + std::to_string(seen_tables) + " of " +
                           std::to_string(tables.size()) + " tables");
  return Status::Ok();
}

std::vector<ObjectDef> OrderViews(const std::vector<ObjectDef>& views) {
  const size_t n = views.size();
  std::vector<std::set<size_t>> deps(n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j && views[i].create.find(QuoteIdent(views[j].name)) != std::string::npos) deps[i].insert(j);
  std::vector<ObjectDef> out;
  std::vector<bool> done(n, false);
  while (out.size() < n) {
    bool progress = false;
    for (size_t i = 0; i < n; ++i) {
      if (done[i]) continue;
      bool ready = true;
      for (size_t d : deps[i])
        if (!done[d]) ready = false;
      if (!ready) continue;
      done[i] = true;
      out.push_back(views[i]);
      progress = true;
    }
    if (!progress) {
      for (size_t i = 0; i < n; ++i)
        if (!done[i]) {
          done[i] = true;
          out.push_back(views[i]);
        }
    }
  }
  return out;
}

std::string CreateObjectsScript(const std::vector<ObjectDef>& defs) {
  std::string delimiter;
  for (int k = 1;; ++k) {
    delimiter = "$$cairn" + std::to_string(k) + "$$";
    bool clash = false;
    for (const ObjectDef& d : defs)
      if (d.create.find(delimiter) != std::string::npos) clash = true;
    if (!clash) break;
  }
  std::string s = "DELIMITER " + delimiter + "\n";
  for (const ObjectDef& d : defs) {
    s += "SET SESSION sql_mode=" + QuoteLiteral(d.sql_mode) + delimiter + "\n";
    if (!d.charset_client.empty() && d.charset_client != "NULL")
      s += "SET SESSION character_set_client=" + QuoteLiteral(d.charset_client) +
           ", character_set_results=" + QuoteLiteral(d.charset_client) +
           ", collation_connection=" + QuoteLiteral(d.collation_connection) + delimiter + "\n";
    if (!d.time_zone.empty()) s += "SET SESSION time_zone=" + QuoteLiteral(d.time_zone) + delimiter + "\n";
    s += d.create + delimiter + "\n";
  }
  s += "DELIMITER ;\n";
  return s;
}

namespace {

// `name`@`host`, 'name'@'host' or a bare role name at `pos` -> "name@host".
std::string AccountAt(const std::string& s, size_t pos) {
  auto quoted = [&](size_t* at) -> std::string {
    if (*at >= s.size()) return "";
    const char q = s[*at];
    if (q != '`' && q != '\'') {
      size_t end = s.find_first_of(" ;@", *at);
      std::string word = s.substr(*at, end == std::string::npos ? std::string::npos : end - *at);
      *at = end == std::string::npos ? s.size() : end;
      return word;
    }
    std::string out;
    size_t i = *at + 1;
    for (; i < s.size(); ++i) {
      if (s[i] == q && i + 1 < s.size() && s[i + 1] == q) {
        out.push_back(q);
        ++i;
      } else if (s[i] == q) {
        break;
      } else {
        out.push_back(s[i]);
      }
    }
    *at = i + 1;
    return out;
  };
  std::string user = quoted(&pos);
  std::string host;
  if (pos < s.size() && s[pos] == '@') {
    ++pos;
    host = quoted(&pos);
  }
  return user + "@" + host;
}

}  // namespace

UsersStatement ParseUsersLine(const std::string& raw) {
  UsersStatement st;
  std::string line = raw;
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty() || line.rfind("--", 0) == 0 || line.back() != ';') return st;
  // The statement inside a version comment: /*!NNNNN ... */; or /*M!NNNNNN ... */;
  std::string body = line.substr(0, line.size() - 1);
  if (body.rfind("/*", 0) == 0) {
    size_t sp = body.find(' ');
    size_t end = body.rfind("*/");
    if (sp == std::string::npos || end == std::string::npos || end < sp) return st;
    body = body.substr(sp + 1, end - sp - 1);
    while (!body.empty() && body.back() == ' ') body.pop_back();
  }
  if (body.find("mariadb_dump_import_role") != std::string::npos && body.rfind("CREATE ROLE", 0) != 0) {
    st.kind = UsersStatement::Kind::kHelper;
    return st;
  }
  if (body.rfind("SELECT COALESCE(CURRENT_ROLE()", 0) == 0 || body.rfind("SET ROLE", 0) == 0 ||
      body.rfind("EXECUTE IMMEDIATE CONCAT('SET ROLE'", 0) == 0) {
    st.kind = UsersStatement::Kind::kHelper;
    return st;
  }
  static const char* kCreate[] = {"CREATE USER IF NOT EXISTS ", "CREATE ROLE IF NOT EXISTS ", "CREATE USER ",
                                  "CREATE ROLE "};
  for (const char* p : kCreate) {
    if (body.rfind(p, 0) != 0) continue;
    st.kind = UsersStatement::Kind::kAccount;
    st.creates = true;
    st.account = AccountAt(body, std::strlen(p));
    if (st.account == "mariadb_dump_import_role@") {
      st.kind = UsersStatement::Kind::kHelper;
      return st;
    }
    const std::string admin = " WITH ADMIN mariadb_dump_import_role";
    size_t at = body.find(admin);
    if (at != std::string::npos) body.erase(at, admin.size());
    st.sql = body + ";";
    return st;
  }
  size_t at = std::string::npos;
  if (body.rfind("GRANT ", 0) == 0) {
    size_t a = body.find(" TO `"), b = body.find(" TO '");
    at = std::min(a, b);
    if (at != std::string::npos) at += 4;
  } else if (body.rfind("SET DEFAULT ROLE ", 0) == 0) {
    at = body.find(" FOR ");
    if (at != std::string::npos) at += 5;
  } else if (body.rfind("ALTER USER ", 0) == 0) {
    at = 11;
  } else if (body.rfind("REVOKE ", 0) == 0) {
    size_t a = body.find(" FROM `"), b = body.find(" FROM '");
    at = std::min(a, b);
    if (at != std::string::npos) at += 6;
  }
  if (at == std::string::npos) return st;  // session settings and the like
  st.kind = UsersStatement::Kind::kAccount;
  st.account = AccountAt(body, at);
  st.sql = line.rfind("/*", 0) == 0 ? line : body + ";";
  return st;
}

}  // namespace cairn::mysql

#include "sources/postgres/pg_internal.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <sstream>

#include "sources/postgres/pg_wal_names.h"

namespace cairn::pg {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string CollapseSpaces(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\t') c = ' ';
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out.push_back(c);
  }
  return Trim(out);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string Hash8(const std::string& s) {
  uint32_t h = 2166136261u;  // FNV-1a: only needs to be stable, not strong
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

// Cuts `s` to at most `bytes` without splitting a UTF-8 sequence.
std::string CutUtf8(const std::string& s, size_t bytes) {
  if (s.size() <= bytes) return s;
  size_t n = bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Reads an SQL identifier (quoted or not) at `pos`; advances pos past it.
std::string ReadIdent(const std::string& s, size_t* pos) {
  size_t i = *pos;
  std::string out;
  if (i < s.size() && s[i] == '"') {
    ++i;
    while (i < s.size()) {
      if (s[i] == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          out.push_back('"');
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      out.push_back(s[i++]);
    }
  } else {
    while (i < s.size() && s[i] != ' ' && s[i] != ';' && s[i] != ',') out.push_back(s[i++]);
  }
  *pos = i;
  return out;
}

// The identifier right after `prefix` when the line starts with it.
bool IdentAfter(const std::string& line, const std::string& prefix, std::string* ident) {
  if (!StartsWith(line, prefix)) return false;
  size_t pos = prefix.size();
  *ident = ReadIdent(line, &pos);
  return true;
}

// The identifier right after the first occurrence of `marker` in the line.
bool IdentAfterMarker(const std::string& line, const std::string& marker, std::string* ident) {
  size_t at = line.find(marker);
  if (at == std::string::npos) return false;
  size_t pos = at + marker.size();
  *ident = ReadIdent(line, &pos);
  return true;
}

}  // namespace

const char kFingerprintDone[] = "__cairn_fingerprint_done__";

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string QuoteLiteral(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out + "'";
}

std::string ConnString(const std::string& database) {
  std::string out = "dbname='";
  for (char c : database) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  return out + "'";
}

int MajorOf(int version_num) { return version_num >= 100000 ? version_num / 10000 : version_num / 100; }

std::string MajorName(int major) {
  if (major >= 100) return std::to_string(major / 100) + "." + std::to_string(major % 100);
  return std::to_string(major);
}

int ToolMajor(const std::string& version_output) {
  size_t at = version_output.find("(PostgreSQL) ");
  if (at == std::string::npos) return 0;
  at += 13;
  int first = 0, second = 0;
  size_t i = at;
  while (i < version_output.size() && std::isdigit(static_cast<unsigned char>(version_output[i])))
    first = first * 10 + (version_output[i++] - '0');
  if (i == at) return 0;
  if (first >= 10) return first;
  if (i < version_output.size() && version_output[i] == '.') {
    ++i;
    while (i < version_output.size() && std::isdigit(static_cast<unsigned char>(version_output[i])))
      second = second * 10 + (version_output[i++] - '0');
  }
  return first * 100 + second;
}

std::string ErrorText(const std::string& stderr_text) {
  std::vector<std::string> lines = Lines(stderr_text);
  for (const char* marker : {"FATAL:", "ERROR:"}) {
    for (const std::string& line : lines) {
      size_t at = line.find(marker);
      if (at != std::string::npos) return CollapseSpaces(line.substr(at + std::string(marker).size()));
    }
  }
  for (const std::string& line : lines) {
    size_t at = line.find("error: ");
    if (at != std::string::npos) return CollapseSpaces(line.substr(at + 7));
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (!Trim(*it).empty()) return CollapseSpaces(*it);
  return "no error message";
}

Status ClassifyError(const std::string& stderr_text, const std::string& where, const std::string& user,
                     const std::string& action) {
  const std::string low = Lower(stderr_text);
  const std::string at = "PostgreSQL at " + where;
  const auto has = [&](const char* s) { return low.find(s) != std::string::npos; };
  if (has("password authentication failed"))
    return Status::WrongPassword(at + " rejected the password for user " + user);
  if (has("no password supplied"))
    return Status::WrongPassword(at + " requires a password for user " + user + ": set password or password_file");
  const bool connecting = has("connection to server") || has("could not connect");
  if (connecting && has("connection refused"))
    return Status::IOError("cannot connect to " + at + ": connection refused");
  if (connecting && has("no such file or directory"))
    return Status::IOError("cannot connect to " + at + ": no server socket there (is the server running?)");
  if (has("timeout expired")) return Status::IOError("cannot connect to " + at + ": timed out");
  if (has("could not translate host name")) return Status::IOError("cannot connect to " + at + ": unknown host");
  const std::string text = ErrorText(stderr_text);
  if (has("fatal:") && has("database \"") && has("does not exist")) return Status::NotFound(at + ": " + text);
  if (connecting) return Status::IOError("cannot connect to " + at + ": " + text);
  return Status::IOError(action + ": " + text);
}

std::string PartBaseName(const std::string& database) {
  std::string s;
  bool changed = database.empty();
  for (char c : database) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-') {
      s.push_back(c);
    } else if (c >= 'A' && c <= 'Z') {
      s.push_back(static_cast<char>(std::tolower(u)));
      changed = true;
    } else {
      s.push_back('-');
      changed = true;
    }
  }
  if (s.size() > 80) {
    s.resize(80);
    changed = true;
  }
  if (changed) s += (s.empty() ? "" : "-") + Hash8(database);
  return s;
}

std::string DefaultFingerprintHash(int server_version_num) {
  return server_version_num >= 110000 ? "columns" : "md5";
}

std::string FingerprintSessionSettings() {
  // Everything row::text depends on, so both sides print rows the same way;
  // no timeouts, because the session idles while pg_dump works.
  return "SET LOCAL search_path = '';\n"
         "SET LOCAL DateStyle = 'ISO, MDY';\n"
         "SET LOCAL IntervalStyle = 'postgres';\n"
         "SET LOCAL TimeZone = 'UTC';\n"
         "SET LOCAL extra_float_digits = 3;\n"
         "SET LOCAL bytea_output = 'hex';\n"
         "SET LOCAL lc_monetary = 'C';\n"
         "SET LOCAL xmloption = 'content';\n"
         "SET LOCAL statement_timeout = 0;\n"
         "SET LOCAL lock_timeout = 0;\n"
         "SET LOCAL idle_in_transaction_session_timeout = 0;\n";
}

std::string FingerprintScript(const std::string& hash, int64_t max_table_bytes, bool unlogged_structure_only) {
  std::string sum;
  if (hash == "md5") {
    sum = QuoteLiteral("coalesce(sum(('x' || substr(md5(_cairn_row::text), 1, 15))::bit(60)::bigint), 0)");
  } else {
    // One typed hash per column, seeded with the column's position among the
    // live columns (attnum counts dropped ones, which a restore does not
    // recreate), XORed per row and summed. The extended hash functions are
    // stable across versions and platforms of one endianness (hash
    // partitioning relies on that). Types not listed, and those whose hash
    // depends on OIDs (enums), are hashed through their text form.
    const std::string column_hash =
        "format(CASE a.atttypid"
        " WHEN 16 THEN 'hashint4extended(%I::int, %s)' WHEN 18 THEN 'hashcharextended(%I, %s)'"
        " WHEN 20 THEN 'hashint8extended(%I, %s)' WHEN 21 THEN 'hashint2extended(%I, %s)'"
        " WHEN 23 THEN 'hashint4extended(%I, %s)' WHEN 25 THEN 'hashtextextended(%I, %s)'"
        " WHEN 26 THEN 'hashoidextended(%I, %s)' WHEN 700 THEN 'hashfloat4extended(%I, %s)'"
        " WHEN 701 THEN 'hashfloat8extended(%I, %s)' WHEN 1042 THEN 'hashbpcharextended(%I, %s)'"
        " WHEN 1043 THEN 'hashtextextended(%I::text, %s)' WHEN 1700 THEN 'hash_numeric_extended(%I, %s)'"
        " WHEN 1114 THEN 'timestamp_hash_extended(%I, %s)' WHEN 1186 THEN 'interval_hash_extended(%I, %s)'"
        " WHEN 2950 THEN 'uuid_hash_extended(%I, %s)' WHEN 3802 THEN 'jsonb_hash_extended(%I, %s)'"
        " ELSE 'hashtextextended(%I::text, %s)' END, a.attname, a.pos)";
    sum = "format('coalesce(sum(%s), 0)', coalesce((SELECT string_agg(format('coalesce(%s, %s)', " + column_hash +
          ", a.pos), ' # ' ORDER BY a.pos) FROM (SELECT attname, atttypid, row_number() OVER (ORDER BY attnum) AS pos"
          " FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) a), '0'))";
  }
  const std::string rows = "format('SELECT %L, count(*), %s FROM ONLY %I.%I AS _cairn_row',"
                           " to_json(n.nspname || '.' || c.relname)::text,"
                           " CASE WHEN pg_relation_size(c.oid) > " + std::to_string(max_table_bytes) +
                           " THEN 'NULL' ELSE " + sum + " END, n.nspname, c.relname)";
  const std::string unlogged = "format('SELECT %L, ''unlogged'', NULL', to_json(n.nspname || '.' || c.relname)::text)";
  return "SELECT " +
         (unlogged_structure_only ? "CASE WHEN c.relpersistence = 'u' THEN " + unlogged + " ELSE " + rows + " END"
                                  : rows) +
         " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
         " WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
         " ORDER BY n.nspname, c.relname\n"
         "\\gexec\n"
         "\\echo " + std::string(kFingerprintDone) + "\n";
}

Status AddFingerprintItems(const std::vector<std::string>& lines, const std::string& database, Json* items) {
  int64_t tables = 0;
  for (const std::string& line : lines) {
    if (line.empty()) continue;
    const size_t p2 = line.rfind('|');
    const size_t p1 = p2 == std::string::npos || p2 == 0 ? std::string::npos : line.rfind('|', p2 - 1);
    Json name = p1 == std::string::npos ? Json() : Json::parse(line.substr(0, p1), nullptr, false);
    if (!name.is_string()) return Status::Corruption("unexpected fingerprint output line: " + line.substr(0, 200));
    const std::string rows_text = line.substr(p1 + 1, p2 - p1 - 1), checksum = line.substr(p2 + 1);
    if (rows_text == "unlogged") {
      (*items)[database + "." + name.get<std::string>()] = {{"persistence", "unlogged"}};
      ++tables;
      continue;
    }
    if (rows_text.empty() || rows_text.find_first_not_of("0123456789") != std::string::npos)
      return Status::Corruption("unexpected fingerprint output line: " + line.substr(0, 200));
    Json item = {{"rows", std::stoll(rows_text)}};
    if (!checksum.empty()) item["checksum"] = checksum;
    (*items)[database + "." + name.get<std::string>()] = std::move(item);
    ++tables;
  }
  (*items)[database] = {{"tables", tables}};
  return Status::Ok();
}

std::string FilterGlobals(const std::string& sql, const std::set<std::string>& existing_roles,
                          const std::set<std::string>& existing_tablespaces) {
  const auto role_exists = [&](const std::string& r) { return existing_roles.count(r) > 0; };
  const auto space_exists = [&](const std::string& t) { return existing_tablespaces.count(t) > 0; };
  std::string out;
  for (const std::string& line : Lines(sql)) {
    std::string a, b;
    bool drop = false;
    if (IdentAfter(line, "CREATE ROLE ", &a) || IdentAfter(line, "ALTER ROLE ", &a) ||
        IdentAfter(line, "COMMENT ON ROLE ", &a)) {
      drop = role_exists(a);
    } else if (IdentAfter(line, "CREATE TABLESPACE ", &a) || IdentAfter(line, "ALTER TABLESPACE ", &a) ||
               IdentAfter(line, "COMMENT ON TABLESPACE ", &a)) {
      drop = space_exists(a);
    } else if ((StartsWith(line, "GRANT ") || StartsWith(line, "REVOKE ")) &&
               IdentAfterMarker(line, " ON TABLESPACE ", &a)) {
      drop = space_exists(a);
    } else if (StartsWith(line, "SECURITY LABEL ") && IdentAfterMarker(line, " ON ROLE ", &a)) {
      drop = role_exists(a);
    } else if (IdentAfter(line, "GRANT ", &a) && IdentAfterMarker(line, " TO ", &b)) {
      // A membership between roles that both exist already is the target's business.
      drop = role_exists(a) && role_exists(b);
    }
    if (!drop) out += line + "\n";
  }
  return out;
}

std::string SettingClause(const std::string& entry) {
  const size_t eq = entry.find('=');
  const std::string name = entry.substr(0, eq);
  const std::string value = eq == std::string::npos ? "" : entry.substr(eq + 1);
  const std::string low = Lower(name);
  const bool list = low == "search_path" || low == "temp_tablespaces" || low == "session_preload_libraries" ||
                    low == "local_preload_libraries" || low == "shared_preload_libraries";
  if (!list) return QuoteIdent(name) + " TO " + QuoteLiteral(value);
  std::vector<std::string> items;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '"') {
      if (quoted && i + 1 < value.size() && value[i + 1] == '"') {
        cur.push_back('"');
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (c == ',' && !quoted) {
      items.push_back(Trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  items.push_back(Trim(cur));
  std::string out = QuoteIdent(name) + " TO ";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + QuoteLiteral(items[i]);
  return out;
}

std::vector<std::string> ParsePostmasterOpts(const std::string& text, std::string* directory) {
  directory->clear();
  std::vector<std::string> args;
  size_t i = text.find(' ');
  while (i != std::string::npos && i < text.size()) {
    size_t open = text.find('"', i);
    if (open == std::string::npos) break;
    size_t close = text.find('"', open + 1);
    if (close == std::string::npos) break;
    args.push_back(text.substr(open + 1, close - open - 1));
    i = close + 1;
  }
  std::vector<std::string> out;
  for (size_t k = 0; k < args.size(); ++k) {
    if (args[k] == "-D") {
      if (k + 1 < args.size()) *directory = args[k + 1];
      ++k;
      continue;
    }
    if (StartsWith(args[k], "-D")) {
      *directory = args[k].substr(2);
      continue;
    }
    out.push_back(args[k]);
  }
  return out;
}

bool ParseTxidSnapshot(const std::string& text, uint64_t* xmax, bool* idle) {
  const std::string t = Trim(text);
  const size_t c1 = t.find(':');
  const size_t c2 = c1 == std::string::npos ? std::string::npos : t.find(':', c1 + 1);
  if (c2 == std::string::npos) return false;
  const std::string x = t.substr(c1 + 1, c2 - c1 - 1);
  if (x.empty() || x.find_first_not_of("0123456789") != std::string::npos) return false;
  *xmax = std::stoull(x);
  *idle = c2 + 1 == t.size();
  return true;
}

std::string NewInstanceName(const std::string& database, const std::string& new_name, const std::string& suffix,
                            size_t database_count) {
  if (!new_name.empty()) return database_count == 1 ? new_name : database + "_" + new_name;
  return database + "_" + suffix;
}

std::string WorkName(const std::string& database, const std::string& what, const std::string& suffix) {
  std::string name = database + "_cairn_" + what + "_" + suffix;
  if (name.size() <= kMaxNameBytes) return name;
  const std::string tail = "_cairn_" + what + "_" + Hash8(database + "\n" + suffix);
  return CutUtf8(database, kMaxNameBytes - tail.size()) + tail;
}

std::string BaseBackupWalEnd(const std::string& output) {
  // "<hex>/<hex>" at `pos`: the LSN, and where it ends.
  auto lsn_at = [&](size_t pos, size_t* end) -> std::optional<uint64_t> {
    char* stop = nullptr;
    const uint64_t hi = std::strtoull(output.c_str() + pos, &stop, 16);
    const size_t slash = static_cast<size_t>(stop - output.c_str());
    if (slash == pos || slash >= output.size() || output[slash] != '/') return std::nullopt;
    const uint64_t lo = std::strtoull(output.c_str() + slash + 1, &stop, 16);
    *end = static_cast<size_t>(stop - output.c_str());
    if (*end == slash + 1) return std::nullopt;
    return (hi << 32) | lo;
  };
  const std::string start_key = "write-ahead log start point: ", end_key = "write-ahead log end point: ",
                    tl_key = " on timeline ";
  const size_t s = output.find(start_key), e = output.find(end_key);
  if (s == std::string::npos || e == std::string::npos) return "";
  size_t at = 0;
  if (!lsn_at(s + start_key.size(), &at) || output.compare(at, tl_key.size(), tl_key) != 0) return "";
  const unsigned long tli = std::strtoul(output.c_str() + at + tl_key.size(), nullptr, 10);
  const auto end = lsn_at(e + end_key.size(), &at);
  if (!end || tli == 0 || tli > 0xffffffffUL) return "";
  return pgwal::SegmentName(static_cast<uint32_t>(tli), *end / pgwal::kSegmentBytes);
}

}  // namespace cairn::pg

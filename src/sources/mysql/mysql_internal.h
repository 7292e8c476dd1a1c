// Pure helpers of the MariaDB/MySQL source (no server, no processes), kept
// apart so they can be unit tested: quoting, option files, the client tools'
// batch output, error-text classification, part and database naming, the
// fingerprint SQL and the order in which views are recreated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cairn/service.h"

namespace cairn::mysql {

// Databases that are never captured as databases: the server's own schemas.
// `mysql` (users, grants, time zones) is captured by the "users" part or by a
// physical backup.
bool IsSystemDatabase(const std::string& name);

// `name` with backticks doubled: an identifier in any sql_mode but ANSI_QUOTES
// (backticks work there too).
std::string QuoteIdent(const std::string& name);
// 'text' with ' and \ escaped (sessions run with a sql_mode without
// NO_BACKSLASH_ESCAPES).
std::string QuoteLiteral(const std::string& text);
// A value for an option file ("[client]\npassword=..."): quoted, with the
// escapes the option-file parser understands.
std::string OptionFileValue(const std::string& value);

// The mysql client's --batch output: rows separated by '\n', fields by '\t',
// with \n \t \\ \0 escaped inside fields.
std::vector<std::vector<std::string>> ParseBatch(const std::string& output);
std::vector<std::string> SplitLines(const std::string& output);
std::vector<std::string> SplitBatchLine(const std::string& line);

// Part name and file stem for a database: names made of [a-z0-9_-] are kept,
// any other byte (upper case, '.', UTF-8) becomes ".xx" (hex), so distinct
// databases never share a part.
std::string EncodeName(const std::string& database);

// "10.11.19-MariaDB-0+deb12u1-log" -> {10, 11}; {0, 0} when unparsable.
std::pair<int, int> MajorMinor(const std::string& version);
bool IsMariaDb(const std::string& version);

// The cause in a client tool's stderr: a line with "ERROR nnnn", "Got error",
// "Access denied", "Can't connect", ... else the last non-verbose line.
std::string ErrorLine(const std::string& stderr_text);
// Turns a failed tool's stderr into one line naming the cause: connection
// refused / no socket / unknown host / access denied name `where` and `user`;
// anything else is "<action>: <cause>".
Status ClassifyError(const std::string& stderr_text, const std::string& where, const std::string& user,
                     const std::string& action);

// A name no longer than MariaDB's 64-character identifier limit:
// "<base>_<tag>_<suffix>" when it fits, else "<base truncated>_<8 hex>_<tag>_<suffix>"
// (still unique per base) or "cairn_<tag>_<8 hex>" as a last resort.
std::string BoundedName(const std::string& base, const std::string& tag, const std::string& suffix);
// Identifier length in characters (UTF-8).
size_t IdentLength(const std::string& name);
// The first `chars` characters of a UTF-8 string.
std::string Utf8Prefix(const std::string& text, size_t chars);

// One table whose rows go into the fingerprint.
struct TableInfo {
  std::string db, name, engine;
  std::vector<std::string> columns;
  // Parallel to columns (empty when the listing did not say): DATA_TYPE in
  // lower case, and whether the column is generated.
  std::vector<std::string> types;
  std::vector<bool> generated;
  bool versioned = false;  // SYSTEM VERSIONED
  bool transactional() const;
  // FLOAT columns mariadb-dump would round to 6 significant digits (it
  // prints what the server prints): such a table's rows are dumped by
  // Cairn itself (ExactRowsSql).
  bool has_float() const;
};
// Per-database counts of the objects that are not tables.
struct ObjectCounts {
  int64_t views = 0, routines = 0, triggers = 0, events = 0;
};

// SQL that lists the fingerprinted tables of `databases` with their columns:
// rows "<db>\t<table>\t<engine>\t<column>\t<data type>\t<ALWAYS|NEVER>\t<table type>"
// in ordinal order.
std::string ListTablesSql(const std::vector<std::string>& databases);
std::vector<TableInfo> ParseTables(const std::string& output);
// The statements that print one line per table "T\t<index>\t<rows>\t<checksum>"
// and one per database "O\t<index>\t<tables>\t<views>\t<routines>\t<triggers>\t<events>".
// The checksum is an order-independent sum of the first 60 bits of MD5 over
// every column's bytes (NULL distinct from any value).
// Version 1 hashed every value as the server prints it, which for FLOAT is 6
// significant digits (the same rounding mariadb-dump applies, so a rounded
// restore validated); version 2 hashes FLOAT as the exact DOUBLE it widens to.
constexpr int kFingerprintVersion = 2;
std::string FingerprintSql(const std::vector<std::string>& databases, const std::vector<TableInfo>& tables,
                           int version = 1);

// A table's rows as SQL the server writes itself, bit-exact for FLOAT: one
// SELECT whose result rows are "INSERT INTO `t` (...) VALUES (...);" lines
// (values as hex strings, exact numbers, quoted temporals; generated columns
// left out). ExactRowsHeader() comes first in such a script.
std::string ExactRowsSql(const TableInfo& table);
std::string ExactRowsHeader();
// Adds the items of FingerprintSql's output: "<db>.<table>" -> {"rows", "checksum"},
// "<db>" -> {"tables", "views", "routines", "triggers", "events"}. `rename`
// maps a database's actual name to the name the items carry.
Status AddFingerprintItems(const std::vector<std::string>& lines, const std::vector<std::string>& databases,
                           const std::vector<TableInfo>& tables, const std::map<std::string, std::string>& rename,
                           Json* items);

// A non-table object of a database as SHOW CREATE gives it, with the session
// settings it was created under.
struct ObjectDef {
  std::string kind;  // VIEW | PROCEDURE | FUNCTION | PACKAGE | PACKAGE BODY | TRIGGER | EVENT
  std::string name;
  std::string create;  // the CREATE statement, names unqualified (compact format)
  std::string sql_mode, charset_client, collation_connection, time_zone;
};
// Views in an order where every view comes after the views its definition
// names (ties keep the given order; a cycle keeps the rest as given).
std::vector<ObjectDef> OrderViews(const std::vector<ObjectDef>& views);
// A mariadb client script that creates `defs` in the current database: each
// statement under its own sql_mode, character set and time zone, with a
// delimiter that appears in none of them.
std::string CreateObjectsScript(const std::vector<ObjectDef>& defs);

// One line of mariadb-dump --system=users, as a restore replays it.
struct UsersStatement {
  enum class Kind {
    kNone,    // comment, blank, or the script's session settings: Cairn sets its own
    kHelper,  // the script's mariadb_dump_import_role dance: not needed, the restoring account creates the roles
    kAccount, // about one account or role: `account`
  };
  Kind kind = Kind::kNone;
  std::string sql;      // the statement to run (role creation without WITH ADMIN mariadb_dump_import_role)
  std::string account;  // "user@host", "role@" for a role
  bool creates = false; // CREATE USER / CREATE ROLE
};
UsersStatement ParseUsersLine(const std::string& line);

}  // namespace cairn::mysql

// Pure helpers of the PostgreSQL source (no server, no processes), kept apart
// so they can be unit tested: quoting, version and error-text parsing, the
// fingerprint SQL and its output, the globals filter, database naming.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "cairn/service.h"

namespace cairn::pg {

// SQL quoting (standard_conforming_strings on, as on every supported server).
std::string QuoteIdent(const std::string& name);
std::string QuoteLiteral(const std::string& text);
// A libpq connection string naming only the database, so that no database
// name is ever taken for a URI or a "key=value" string by a tool.
std::string ConnString(const std::string& database);
// POSIX shell single-quoting (pg_ctl -o goes through a shell).
std::string ShellQuote(const std::string& text);

// Major versions as numbers: 15 for server_version_num 150018, 906 for 90624.
int MajorOf(int version_num);
std::string MajorName(int major);  // "15", "9.6"
// The major of a client tool from its --version output, e.g.
// "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15; 0 if unparsable.
int ToolMajor(const std::string& version_output);

// The line of a tool's stderr that names the cause: the server's text after
// FATAL:/ERROR:, else the text after "<tool>: error: ", else the last line.
std::string ErrorText(const std::string& stderr_text);
// Turns a failed tool's stderr into a one-line Status: connection problems
// (refused, no socket, wrong or missing password, timeout) name `where` and
// `user`; anything else is "<action>: <ErrorText>".
Status ClassifyError(const std::string& stderr_text, const std::string& where, const std::string& user,
                     const std::string& action);

// Part name "db.<name>" and file name "<name>.dump" for a database; names
// that are not [a-z0-9._-] get a hash suffix so they stay unique.
std::string PartBaseName(const std::string& database);

// How the fingerprint hashes a table's rows; recorded at backup time so the
// restored copy is hashed the same way wherever it lands.
//   columns: a typed extended hash per column, XORed per row (PostgreSQL >= 11)
//   md5:     first 60 bits of md5(row::text) (older servers)
std::string DefaultFingerprintHash(int server_version_num);
// SQL run inside the fingerprint's transaction: pins the output settings so
// row::text is the same on both sides.
std::string FingerprintSessionSettings();
extern const char kFingerprintDone[];
// The psql script (\gexec) that prints one line per table,
// `"<schema>.<table>"|<rows>|<checksum>` (checksum empty for tables larger
// than max_table_bytes: rows only), then kFingerprintDone. With
// `unlogged_structure_only` (physical copies: pg_basebackup rightly leaves out
// unlogged data, a restored copy has those tables empty) an unlogged table
// prints `"<schema>.<table>"|unlogged|` instead of its rows.
std::string FingerprintScript(const std::string& hash, int64_t max_table_bytes, bool unlogged_structure_only = false);
// Adds the items of one database's script output to `items`:
// "<db>" -> {"tables": n}, "<db>.<schema>.<table>" -> {"rows": n, "checksum": "..."}
// (or {"persistence": "unlogged"} for an unlogged table of a physical copy).
Status AddFingerprintItems(const std::vector<std::string>& lines, const std::string& database, Json* items);

// pg_dumpall --globals-only output reduced to what is missing on the target
// server: statements about roles and tablespaces that already exist are
// dropped (their current attributes and passwords stay as they are), as are
// role memberships between two existing roles.
std::string FilterGlobals(const std::string& sql, const std::set<std::string>& existing_roles,
                          const std::set<std::string>& existing_tablespaces);

// "name=value" from pg_db_role_setting.setconfig -> "name TO value" for
// ALTER DATABASE ... SET (list settings such as search_path quoted per item,
// as pg_dump does).
std::string SettingClause(const std::string& entry);

// The arguments of postmaster.opts after the program, without its -D
// option, whose value goes to `directory` (the data directory, or the
// configuration directory of Debian-style clusters; "" when absent).
std::vector<std::string> ParsePostmasterOpts(const std::string& text, std::string* directory);

// txid_current_snapshot() text "xmin:xmax:xip,..." -> xmax; `idle` = no
// transaction was in progress. False when unparsable.
bool ParseTxidSnapshot(const std::string& text, uint64_t* xmax, bool* idle);

// Database names for restores (PostgreSQL truncates names at 63 bytes, which
// could silently collide, so longer names are refused or shortened).
constexpr size_t kMaxNameBytes = 63;
// New-instance name of `database` (RestoreRequest rules, see service.h).
std::string NewInstanceName(const std::string& database, const std::string& new_name, const std::string& suffix,
                            size_t database_count);
// "<db>_cairn_<what>_<suffix>", shortened with a hash when too long.
std::string WorkName(const std::string& database, const std::string& what, const std::string& suffix);

// From pg_basebackup -v's output, the WAL segment its end point lies in
// ("write-ahead log end point: 0/2000138" on the start line's timeline), as
// a 24-digit name; "" when the output does not say.
std::string BaseBackupWalEnd(const std::string& output);

}  // namespace cairn::pg

// What the MariaDB source's files share: settings, the databases of a
// point, listing and fingerprinting databases, loading a part, and the
// non-table objects (views, routines, triggers, events) a swap moves by hand.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cairn/service.h"
#include "sources/mysql/mysql_client.h"
#include "sources/mysql/mysql_internal.h"

namespace cairn::mysql {

inline constexpr char kUsersPart[] = "users";
inline constexpr char kUsersFile[] = "users.sql";
inline constexpr char kBasePart[] = "base";
inline constexpr char kBaseFile[] = "base.xbstream";
// How long a dump may take to start its transaction while writes are blocked.
inline constexpr int kDumpStartTimeout = 120;
inline constexpr int kServerStartTimeout = 300;

// Every session of ours starts from known settings: no sql_mode surprises
// (NO_BACKSLASH_ESCAPES, PAD_CHAR_TO_FULL_LENGTH), UTC for TIMESTAMP values,
// and no statement or idle time limit while a long dump is being read.
inline constexpr char kSessionSetup[] =
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
  bool archive = false;  // archive: stream (docs/pitr.md)
};

// A restore drill's scratch instance (mysql_drill.cc, docs/verification.md).
Result<DrillSandbox> PrepareDrill(const ServiceConfig& config, const Settings& s, const Json& manifest,
                                  const std::string& scratch, const std::function<void(const std::string&)>& log);

struct DbInfo {
  std::string name, charset, collation;
};

// One database of a logical restore point, as recorded in the manifest.
struct DbPart {
  DbInfo db;
  std::string part, file;
  // Tables whose rows mariadb-dump would change (FLOAT): their data goes
  // into a part of its own, written by the server (ExactRowsSql).
  std::vector<TableInfo> exact_tables;
  std::string rows_part, rows_file;
  // Where the binary log stood at the database's snapshot ("" = logging off).
  std::string binlog_file;
  uint64_t binlog_pos = 0;
};

Result<bool> SettingBool(const ServiceConfig& c, const std::string& key, bool fallback);
std::string Trimmed(const std::string& s);
std::string Join(const std::vector<std::string>& items, const std::string& sep);
// `db`.`name`
std::string Q(const std::string& db, const std::string& name);
bool IsWord(const std::string& s);
// " CHARACTER SET cs COLLATE coll" for a database's defaults ("" when the
// manifest holds something that is not a plain name).
std::string CharsetClause(const DbInfo& db);
std::string CreateDatabaseSql(const std::string& name, const DbInfo& like);
std::string AlterDatabaseSql(const std::string& name, const DbInfo& like);
Result<std::vector<DbInfo>> ListDatabases(const Client& c);
// `wanted` empty = every user database. `skip_missing`: a wanted database
// that does not exist is left out instead of being an error.
Result<std::vector<DbInfo>> SelectDatabases(const Client& c, const std::vector<std::string>& wanted,
                                            bool skip_missing = false);
std::vector<std::string> Names(const std::vector<DbInfo>& dbs);
// Rows and checksums of every table of `dbs`, inside one consistent snapshot.
Result<Json> ComputeFingerprint(const Client& c, const std::vector<std::string>& dbs,
                                const std::map<std::string, std::string>& rename, bool low_priority,
                                int version = kFingerprintVersion);
// Streams a stored part into `mariadb` (in `database`, "" = none). With
// `disabled_events`, events the dump creates ENABLEd are created DISABLEd
// instead (a restored copy must not act on its own; an event that names its
// database would write into the original), and their names are added there.
// With `batch_rows` (a rows part: one INSERT per row), consecutive INSERTs
// into the same table are sent as multi-row INSERTs of up to 1 MiB, as
// mariadb-dump writes them (one row per statement is ~100 times slower).
Status LoadPart(const Client& c, PartReader* reader, const std::string& part, const std::string& file,
                const std::string& database, const std::string& action,
                std::vector<std::string>* disabled_events = nullptr, bool batch_rows = false);
// Loads a database's dump and, when it has one, its exact-rows part (with the
// tables' triggers set aside meanwhile, as the dump itself loads rows before
// creating triggers) into `target`.
Status LoadDatabase(const Client& c, PartReader* reader, const DbPart& db, const std::string& target,
                    const std::string& action, std::vector<std::string>* disabled_events);
// The mariadb-dump event header line with ENABLE turned into DISABLE; the
// event's name goes to `name`. Other lines come back unchanged (false).
bool DisableEventLine(std::string* line, std::string* name);

// What replaying the users part did (mysql_users.cc).
struct UsersReport {
  std::vector<std::string> created;  // accounts and roles the restore created
  std::vector<std::string> kept;     // existing ones, left as they are
  std::vector<std::string> failed;   // "<statement>: <error>"
  int applied = 0;                   // statements run without error
  std::string Summary() const;
};
// Replays the users part after the databases are in place (table and column
// grants name them): accounts and roles the server lacks are created with
// their grants, statement by statement; existing ones (the server's own
// root, mysql, mariadb.sys included) are left as they are, so a restore never
// resets a live password or needs privileges such as PROXY it cannot grant.
Result<UsersReport> ReplayUsers(const Client& c, PartReader* reader, const std::string& part,
                                const std::string& file);

// What RENAME TABLE moves and what it leaves behind.
struct Objects {
  std::vector<std::string> tables;  // base tables, sequences, system-versioned tables
  std::vector<ObjectDef> routines, views, triggers, events;
  // In creation order: views may call functions, so routines come first.
  std::vector<ObjectDef> CreationOrder() const;
};
Result<Objects> FetchObjects(const Client& c, const std::string& db);
std::string DropObjectsSql(const std::string& db, const Objects& o, bool triggers_only = false);
std::string RenameSql(const std::vector<std::pair<std::string, std::string>>& pairs);
Status CreateObjects(const Client& c, const std::string& db, const Objects& o, const std::string& action);

// The captures (mysql_capture.cc).
Result<std::unique_ptr<Capture>> MakeLogicalCapture(const Settings& s, std::unique_ptr<Client> client,
                                                    std::string version, std::vector<DbPart> dbs,
                                                    std::string dump_tool);
std::unique_ptr<Capture> MakePhysicalCapture(std::unique_ptr<Client> client, std::string version,
                                             std::string backup_tool, Json before, std::vector<std::string> dbs);

// Continuous archiving and point-in-time recovery (mysql_binlog.cc,
// docs/pitr.md).
// "MySQL binlog position: filename 'mysql-bin.000001', position '1043'" in
// mariadb-backup's output: where the copy's binary log continues.
bool ParseBackupBinlogPosition(const std::string& backup_output, std::string* file, uint64_t* pos);
// The rows of SHOW STATUS LIKE 'binlog_snapshot_%' in a transaction begun
// WITH CONSISTENT SNAPSHOT ("Binlog_snapshot_file\tmysql-bin.000002",
// "Binlog_snapshot_position\t1043"): where the binary log stood at that
// snapshot. False when binary logging is off (an empty file) or unparsable.
bool ParseSnapshotBinlogPosition(const std::vector<std::string>& rows, std::string* file, uint64_t* pos);
// The command that streams the server's binary logs into `dir` from
// `resume` ("" = the oldest the server has), after checking that binary
// logging is on. The command uses `c`'s option file: keep `c` alive.
Result<std::vector<ToolCommand>> BinlogStreamCommands(const Client& c, const std::string& service,
                                                      const std::string& dir, const std::string& resume);
// After a physical restore started the server at `instance` from the base
// backup in `data_dir`: fetches the archived binary logs from the backup's
// position on into `work_dir` and replays them up to req.recovery's time.
Status ReplayBinlogs(const RestoreRequest& req, const Client& instance, const std::string& data_dir,
                     const std::string& work_dir);

}  // namespace cairn::mysql

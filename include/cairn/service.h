// Services: the unit of backup and restore (docs/services.md).
//
// A service (a PostgreSQL cluster, a MariaDB server, a Redis, an SQLite file,
// plain volumes) is captured by its Source as a list of parts taken together:
// streams (a dump tool's stdout, read once, never spooled to disk) and file
// trees (volumes, read through the engine). A Target stores the parts of one
// capture as one restore point and gives them back for restore through a
// PartReader. Sources never see targets and targets never see services, so
// every source works with every target.
//
// Thread-safety: none of these objects is shared between threads by Cairn;
// a CapturePart's callbacks are called from one thread, in order.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/part.h"
#include "cairn/status.h"

namespace cairn {

using Json = nlohmann::json;

// A service as the configuration file declares it (docs/configuration.md).
struct ServiceConfig {
  std::string name;                    // [A-Za-z0-9_.-]+
  std::string type;                    // postgres | mysql | redis | sqlite | volume
  Json settings = Json::object();      // the type's own keys (host, port, user, ...)
  std::vector<std::string> volumes;    // extra directories captured with the service
  std::string pre_hook, post_hook;     // sh -c commands around the capture
  std::vector<std::string> targets;    // target names; the first is the default
  std::string temp_dir;                // scratch space for restores (default: system temp dir)
  uint64_t bandwidth_limit = 0;        // bytes/s read from the service, 0 = unlimited
  // For `cairn serve` (docs/daemon.md), validated when the file is loaded:
  Json schedule;                       // automatic backups: {every|cron, timezone, catch_up, jitter}; null = none
  int64_t freshness_ns = 0;            // the RPO to meet; 0 = derived from the schedule
  Json verify;                         // restore drills: a schedule mapping; null = the type's default; false = off
};

// How a service feeds its log into the archive (docs/pitr.md): `archive:
// stream` (the daemon streams PostgreSQL WAL or MariaDB binary logs),
// `archive: command` (PostgreSQL's archive_command runs `cairn wal push`;
// the daemon only watches the server's archiver), or off.
enum class ArchiveMode { kOff, kStream, kCommand };

inline ArchiveMode ArchiveModeOf(const ServiceConfig& s) {
  if ((s.type != "postgres" && s.type != "mysql") || !s.settings.is_object()) return ArchiveMode::kOff;
  const std::string mode = s.settings.value("archive", std::string("off"));
  if (mode == "stream") return ArchiveMode::kStream;
  if (mode == "command" && s.type == "postgres") return ArchiveMode::kCommand;
  return ArchiveMode::kOff;
}

// Whether the service archives its log continuously, the base of restore
// --at: the daemon runs `cairn wal stream` for it (streaming, or watching
// PostgreSQL's archiver in command mode).
inline bool ArchivesContinuously(const ServiceConfig& s) { return ArchiveModeOf(s) != ArchiveMode::kOff; }

// A capture in progress. The target consumes parts() in order, then calls
// Finish() exactly once; a capture destroyed without Finish() aborts
// (producers killed, snapshots and locks released).
class Capture {
 public:
  virtual ~Capture() = default;
  virtual std::vector<CapturePart>& parts() = 0;
  // After every part was stored: facts for the manifest, at least
  // {"server_version": "...", "fingerprint": {...}} and any type-specific
  // keys the source's Restore needs (e.g. "databases", "method").
  virtual Result<Json> Finish() = 0;
};

// Gives back the parts of one stored restore point.
class PartReader {
 public:
  virtual ~PartReader() = default;
  // Writes the stream part's content to fd (does not close it).
  virtual Status ReadStream(const std::string& part, const std::string& file_name, int fd) = 0;
  // Restores a files part into `directory` (created if missing); a stored
  // path /srv/app/uploads lands at directory/srv/app/uploads.
  virtual Status ExtractFiles(const std::string& part, const std::string& directory) = 0;
};

enum class RestoreMode { kOverwrite, kNewInstance };

struct RestoreRequest {
  RestoreMode mode = RestoreMode::kNewInstance;
  Json manifest;        // as recorded at backup time: type, parts, server_version, fingerprint, source facts
  PartReader* reader = nullptr;
  // New-instance naming. new_name, when given, is the name to use: with one
  // database the new database's name, with several each becomes
  // "<db>_<new_name>"; for files a path (relative: beside the original).
  // Without it, names are derived from `suffix` (unique per restore, e.g.
  // "restored_20261125_061200"). A name that is already taken is an
  // AlreadyExists error, before anything is created.
  std::string new_name;
  std::string suffix;
  int port = 0;         // new server instances: this port, 0 = pick a free one
  std::function<void(const std::string&)> log;  // progress lines for the operator
  // Point-in-time recovery (docs/pitr.md), physical points of types with a
  // WAL: after the base backup is in place, the archived WAL files it needs
  // are fetched (`wal_names`: what the archive holds; `fetch_wal(name,
  // path)` writes one to `path`) and replayed up to `target_time_ns`
  // (0 = everything archived), then the server is promoted.
  struct Recovery {
    bool enabled = false;
    int64_t target_time_ns = 0;
    std::vector<std::string> wal_names;
    std::function<Status(const std::string& name, const std::string& path)> fetch_wal;
  } recovery;
};

// A program Cairn runs for a source, with the environment it needs.
struct ToolCommand {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

struct RestoreOutcome {
  std::string summary;          // one line: what was restored where
  Json connection = Json::object();  // how to reach the restored data (host, port, database, path, ...)
  Json locator = Json::object();     // handed to Fingerprint() to validate the result
  // New-instance servers Cairn started (pid, data_dir) keep running after
  // restore; `stop` describes how to stop them.
  std::string stop_hint;
};

// The fingerprint format shared by all sources:
//   {"exact": bool, "items": {"<name>": <any JSON>},
//    "inexact_reasons": [{"scope": "<item prefix>", "reason": "..."}]}
// exact = the fingerprint describes exactly the captured state (taken in the
// dump's own snapshot, or nothing changed during a physical copy). When it is
// not exact only the set of item names is compared. inexact_reasons (optional)
// says why: an entry with a scope (a database name) means only the items of
// that scope ("<scope>" and "<scope>.*") are compared by name while the rest
// stays exact; an entry without one is about the whole point (exact false).
struct FingerprintDiff {
  bool exact = true;
  std::vector<std::string> structure_only;  // scopes compared by name only (exact still true)
  std::vector<std::string> differences;  // "table app.public.t: rows 100 != 99", ...
  bool ok() const { return differences.empty(); }
};
// "reason" lines of a fingerprint's inexact_reasons: "<scope>: <reason>" or "<reason>".
std::vector<std::string> InexactReasons(const Json& fingerprint);
FingerprintDiff CompareFingerprints(const Json& expected, const Json& actual);

// Where and how a restore drill restores a point instead of the service
// (docs/verification.md). Made by Source::PrepareDrill inside a scratch
// directory the drill owns; everything the drill starts lives below it, so
// the drill's teardown (stop every process working in it, remove it) needs
// nothing from the source, even after a kill.
struct DrillSandbox {
  ServiceConfig service;          // the scratch instance as a service to restore into (empty type: the service's own)
  RestoreMode mode = RestoreMode::kNewInstance;
  std::string new_name;           // new-instance: the place, absolute, inside the scratch directory
  std::string volumes_new_name;   // where the service's volumes go, absolute, inside it
  int port = 0;                   // new-instance servers: a free loopback port
  // The engine's own consistency check of the restored data (pg_amcheck,
  // mariadb-check, redis-check-rdb, PRAGMA integrity_check, every file read
  // back), run after the restore; one line on what it checked and found.
  std::function<Result<std::string>(const RestoreOutcome& restored)> check;
};

class Source {
 public:
  virtual ~Source() = default;
  // Connects and returns the server version; a clear error when the service
  // is unreachable, the credentials are wrong or a client tool is missing or
  // older than the server.
  virtual Result<std::string> Probe() = 0;
  // Starts a consistent capture; parts are produced as the target reads them.
  virtual Result<std::unique_ptr<Capture>> StartCapture() = 0;
  // Restores a restore point in the requested mode. Overwrite restores into a
  // staging place where the type allows and swaps at the end, so a failure
  // leaves the service as it was; new-instance never touches the original.
  virtual Result<RestoreOutcome> Restore(const RestoreRequest& request) = 0;
  // Refuses, before anything happens (before the safety backup), a restore
  // this source cannot do at all, e.g. a physical overwrite it does not support.
  virtual Status CheckRestore(const Json& manifest, RestoreMode mode) { return Status::Ok(); }
  // Removes what an earlier restore of this service left behind when it was
  // killed half-way (staging copies beside the data, util/staging.h), naming
  // each through `log`. Called before every backup and restore of the service.
  virtual Status CleanLeftovers(const std::function<void(const std::string&)>& log) { return Status::Ok(); }
  // For the safety backup before an overwrite: configured databases that do
  // not exist (yet) are left out instead of failing the capture; there is
  // nothing of them to keep, and the restore is about to create them.
  virtual void SkipMissingDatabases() {}
  // Fingerprint of the data at `locator` (a RestoreOutcome's locator; an
  // empty object means the configured live service).
  virtual Result<Json> Fingerprint(const Json& locator) = 0;
  // Sets up a scratch instance in `scratch_dir` (empty, owned by the drill,
  // mode 711) for a restore drill of a point with `manifest`: a throwaway
  // server for a logical dump, or a new-instance place for the rest. It must
  // never point at the service itself.
  virtual Result<DrillSandbox> PrepareDrill(const Json& manifest, const std::string& scratch_dir,
                                            const std::function<void(const std::string&)>& log) {
    (void)manifest, (void)scratch_dir, (void)log;
    return Status::Unsupported("restore drills are not available for this service type");
  }
  // Continuous archiving (docs/pitr.md): commands run once to set up (e.g.
  // create the replication slot; idempotent), then, last, the command that
  // streams the server's log into `dir` until stopped. `resume_from` is the
  // newest log file the archive holds (empty: none), where a streamer
  // without a server-side slot (MariaDB) starts again. The commands may rely
  // on files the source object keeps (option files): keep it alive while
  // they run. Unsupported for types without such a log.
  virtual Result<std::vector<ToolCommand>> WalStreamCommands(const std::string& dir, const std::string& resume_from) {
    (void)dir, (void)resume_from;
    return Status::Unsupported("continuous archiving is not available for this service type");
  }
  // The server's own archiver (`archive: command`), for the daemon's lag:
  // {"last_archived", "last_archived_ns", "last_failed", "last_failed_ns",
  // "current"}: names of log files, times in ns (0 = never), `current` the
  // file being written. Unsupported for types without one.
  virtual Result<Json> ArchiverStatus() { return Status::Unsupported("this service type has no archiver to watch"); }
};

// Builds the source for a service's type; InvalidArgument for unknown types
// or malformed settings.
Result<std::unique_ptr<Source>> MakeSource(const ServiceConfig& config);

// One key of a service type's own settings (docs/configuration.md). The
// configuration file is validated against these on load, so a misspelt or
// mistyped key fails there, naming the key, not at the first backup.
struct SettingSpec {
  enum class Kind {
    kString,
    kInt,
    kBool,
    kStringList,  // a string or a list of strings
  };
  std::string key;
  Kind kind = Kind::kString;
  bool required = false;
};
// The keys a service type accepts besides the common ones (type, targets,
// volumes, hooks, ...); empty for an unknown type.
std::vector<SettingSpec> SourceSettingSpecs(const std::string& type);

// --- helpers shared by sources -------------------------------------------

// Reads a setting with a default; InvalidArgument naming service and key on a wrong type.
Result<std::string> SettingString(const ServiceConfig& c, const std::string& key, const std::string& fallback);
Result<int64_t> SettingInt(const ServiceConfig& c, const std::string& key, int64_t fallback);
// "password" or the first line of "password_file"; "" when neither is set.
Result<std::string> SettingPassword(const ServiceConfig& c);
// The "databases" setting: "all" (or missing) -> empty vector, else the listed names.
Result<std::vector<std::string>> SettingDatabases(const ServiceConfig& c);

}  // namespace cairn

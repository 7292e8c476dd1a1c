// The daemon's catalog: all of `cairn serve`'s persistent state (jobs and
// their logs, the restore-point cache, alerts, API tokens, sessions, the
// audit log, settings, scheduler and check-rotation state, drill results,
// notification deliveries) behind one interface. docs/catalog.md has the
// design: schema, indexes, transactions, crash safety, thread model.
//
// The interface speaks plain structs and the enums of daemon/job_types.h, so
// a second backend (PostgreSQL, for several hosts reporting to one
// dashboard) implements it without changes to its callers. The embedded
// SQLite backend is opened with OpenSqliteCatalog (daemon/catalog_sqlite.h).
//
// Conventions:
//  - times are ns since the Unix epoch (UTC); 0 means "not yet" / "never";
//  - the catalog reads "now" from the Clock it was opened with;
//  - lists are newest first and paged by keyset: a page's next_cursor is an
//    opaque string to hand back for the next page ("" = no more pages);
//    pages stay correct (no row twice, none skipped) while new rows arrive;
//  - every write is one transaction: it happens entirely or not at all;
//  - errors are one line naming the catalog file and the cause.
//
// Thread-safety: every method may be called from any thread, concurrently.
// Reads see the state of the last committed write (one consistent snapshot
// per call) and never wait for a write in progress, in this process or
// another. Writes are serialized; a write waits for another process's write
// transaction (the CLI, say) up to the busy timeout, then fails kLocked.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "daemon/job_types.h"

namespace cairn {

using Json = nlohmann::json;

struct RestorePoint;

// ------------------------------------------------------------------ paging

struct PageRequest {
  int limit = 50;      // clamped to 1..1000; 0 = 50
  std::string cursor;  // "" = the first page
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // "" when there is nothing after this page
};

// ------------------------------------------------------------------ jobs

struct NewJob {
  JobKind kind = JobKind::kBackup;
  std::string service;               // "" for a job on targets alone (prune, check)
  std::vector<std::string> targets;  // in the order the job uses them
  Trigger trigger = Trigger::kManual;
  Json request;                      // what the daemon needs to run it (opaque to the catalog)
};

struct JobRecord {
  JobId id = 0;  // increasing in queue order, never reused
  JobKind kind = JobKind::kBackup;
  std::string service;
  std::vector<std::string> targets;
  Trigger trigger = Trigger::kManual;
  JobStatus status = JobStatus::kQueued;
  int64_t queued_ns = 0, started_ns = 0, ended_ns = 0;
  uint64_t bytes_read = 0, bytes_added = 0;
  std::string point_id;  // the point made (backup) or used (restore, drill)
  std::string error;     // why it failed or was interrupted; "" otherwise
  Json result;           // kind-specific summary at the end (null before)
  Json progress;         // the latest live progress (null before the first)
  int64_t progress_ns = 0;
  int64_t log_lines = 0;    // lines appended so far (dropped ones included)
  int64_t log_dropped = 0;  // lines dropped by the log cap
  Json request;             // as given to InsertJob
  int64_t pid = 0;          // the job's process while it runs (SetJobPid)

  // Run time: ended - started once ended, 0 before it started or ended.
  double duration_s() const;
};

struct JobFilter {
  std::optional<std::string> service;
  std::optional<JobStatus> status;
  std::optional<JobKind> kind;
};

struct JobCount {
  JobKind kind = JobKind::kBackup;
  JobStatus status = JobStatus::kSucceeded;
  int64_t count = 0;
};

struct LogLine {
  int64_t seq = 0;  // assigned by AppendLog: 1, 2, 3... per job
  int64_t time_ns = 0;
  LogLevel level = LogLevel::kInfo;
  std::string text;
};

struct LogChunk {
  std::vector<LogLine> lines;  // seq > after_seq, ascending
  // The log cap keeps the head (seq <= head_end_seq) and the newest lines;
  // `dropped` lines after head_end_seq were removed (0 = nothing dropped).
  int64_t head_end_seq = 0;
  int64_t dropped = 0;
  int64_t last_seq = 0;  // the newest seq the job has logged
  JobStatus status = JobStatus::kQueued;  // stop tailing once final and caught up
};

// ---------------------------------------------------- per (service, target)

// What the metrics and the services overview need about one (service,
// target), kept up to date when a backup job ends (no aggregation on read).
struct ServiceTargetStatus {
  std::string service, target;
  // The last backup that ended (succeeded, partial or failed).
  JobId last_job = 0;
  std::optional<JobStatus> last_status;
  int64_t last_started_ns = 0, last_ended_ns = 0;
  std::string last_error;
  // The last backup that made a point (succeeded or partial).
  JobId success_job = 0;
  int64_t success_ended_ns = 0;
  double success_duration_s = 0;
  uint64_t success_size = 0, success_added = 0;
  std::string success_point;
  int64_t points = 0;  // restore points of the service cached for the target
};

struct DrillStatus {
  std::string service;
  int64_t last_ns = 0;
  std::optional<DrillOutcome> last_outcome;
  std::string last_point;
  int64_t success_ns = 0;  // the last drill that passed
  double success_duration_s = 0;
};

// ------------------------------------------------------------------ points

struct DrillRecord {
  int64_t id = 0;  // assigned by the catalog
  std::string service, point_id, target;
  JobId job = 0;
  int64_t verified_ns = 0;
  double duration_s = 0;
  DrillOutcome outcome = DrillOutcome::kPassed;
  Json details;
};

struct PointTarget {
  std::string target;
  std::string native_id;  // snapshot id or borg archive prefix
  uint64_t added = 0;     // bytes the point added to this target
  int64_t cached_ns = 0;  // when the catalog first saw it there
};

// One part of a point as lists show it (the manifest has the rest).
struct PointPart {
  std::string name;
  std::string kind;               // stream | files
  uint64_t bytes = 0;
  std::optional<uint64_t> files;  // files parts only
  bool operator==(const PointPart&) const = default;
};

struct PointRecord {
  std::string service, id;
  int64_t time_ns = 0;
  PointKind kind = PointKind::kScheduled;
  PointStatus status = PointStatus::kComplete;
  uint64_t size = 0, added = 0;
  double duration_s = 0;
  std::vector<PointPart> parts;
  std::vector<std::string> inexact_reasons;  // why the fingerprint is not exact ("" scope = the whole point)
  std::vector<PointTarget> targets;  // every target holding it, by name
  std::optional<DrillRecord> last_drill;   // the newest drill, any outcome
  std::optional<DrillRecord> last_passed;  // "verified restorable at T in N s"
};

// The calendar's view of a service's points: times, kinds and states only
// (no parts, targets or drills), newest first, and whether any is older.
struct PointStamp {
  int64_t time_ns = 0;
  PointKind kind = PointKind::kScheduled;
  PointStatus status = PointStatus::kComplete;
};
struct PointStamps {
  std::vector<PointStamp> points;  // from since_ns on
  bool older = false;              // a point before since_ns exists
};

// A point as one target holds it: what a backup, a copy or a sync writes.
struct PointWrite {
  std::string service, id, target, native_id;
  int64_t time_ns = 0;
  PointKind kind = PointKind::kScheduled;
  PointStatus status = PointStatus::kComplete;
  uint64_t size = 0, added = 0;
  double duration_s = 0;
  std::vector<PointPart> parts;
  std::vector<std::string> inexact_reasons;
  std::string manifest;  // JSON text, stored apart from the list rows
};

// The cache form of a point a target listed (parts from manifest["parts"],
// inexact reasons from its fingerprint).
Result<PointWrite> ToPointWrite(const RestorePoint& point);

// A backup job's result on one of its targets (cairn_backup_* metrics).
struct TargetOutcome {
  std::string target;
  JobStatus status = JobStatus::kSucceeded;  // succeeded | partial | failed
  std::string error;
  std::string point_id;
  uint64_t size = 0;   // bytes captured
  uint64_t added = 0;  // bytes new to the target
};

struct JobOutcome {
  JobStatus status = JobStatus::kSucceeded;  // a final status
  std::string error;
  uint64_t bytes_read = 0, bytes_added = 0;
  std::string point_id;
  Json result;
  // Backup jobs: the outcome per target. Empty = every target of the job has
  // the job's status, error and point_id, and the size and added bytes of the
  // point made there (from `points`; without one, bytes_read and bytes_added).
  std::vector<TargetOutcome> targets;
  // Restore points the job made (cached in the same transaction).
  std::vector<PointWrite> points;
  // A drill job's verdict (recorded in the same transaction).
  std::vector<DrillRecord> drills;
};

struct SyncStats {
  int64_t added = 0, updated = 0, unchanged = 0, removed = 0;
};

struct ServiceOverview {
  std::string service;
  std::vector<ServiceTargetStatus> targets;
  std::optional<PointRecord> newest_point;  // newest complete point
  std::optional<DrillStatus> drill;
};

// Everything /metrics serves, read in one snapshot.
struct MetricsSnapshot {
  std::vector<ServiceTargetStatus> backups;  // per (service, target)
  int64_t jobs_running = 0, jobs_queued = 0;
  std::vector<JobCount> job_totals;  // jobs that ended, by kind and final status; never decrease
  int64_t alerts_open_warning = 0, alerts_open_critical = 0;
  std::vector<DrillStatus> drills;
};

// ------------------------------------------------------------------ alerts

struct AlertRecord {
  int64_t id = 0;
  AlertRule rule = AlertRule::kJobFailed;
  Severity severity = Severity::kWarning;
  std::string service, target;  // "" when not about one
  std::string message;          // says what to do
  int64_t first_seen_ns = 0, last_seen_ns = 0;
  int64_t occurrences = 0;
  int64_t resolved_ns = 0;  // 0 while open
  int64_t acked_ns = 0;     // 0 unless acknowledged (silenced until resolved)
  std::string acked_by;
};

struct RaisedAlert {
  AlertRecord alert;
  bool opened = false;  // a new alert (notify), not a repeat of an open one
};

enum class AlertState { kOpen, kResolved, kAll };

struct DeliveryRecord {
  int64_t id = 0;
  std::string channel;
  int64_t alert_id = 0;  // 0 for a test notification
  AlertEvent event = AlertEvent::kOpened;
  int64_t created_ns = 0;
  int64_t attempts = 0;
  std::string last_error;
  int64_t next_retry_ns = 0;  // > 0 while pending; 0 once delivered or given up
  int64_t delivered_ns = 0;
};

// ---------------------------------------------------- access and the rest

struct TokenRecord {
  int64_t id = 0;
  std::string name;
  Role role = Role::kRead;
  int64_t created_ns = 0, last_used_ns = 0;
};

struct SessionRecord {
  std::string id_hash;  // hex SHA-256 of the session id (the id is never stored)
  std::string actor;
  std::string csrf_token;
  int64_t created_ns = 0, expires_ns = 0, last_seen_ns = 0;
};

struct AuditRecord {
  int64_t id = 0;
  int64_t time_ns = 0;
  std::string actor;   // "admin", "token:<name>", "scheduler"...
  std::string action;  // "restore", "forget", "token.create", "setting.set"...
  Json details;
};

// One scheduler task's state (the scheduler owns the meaning of key and state).
struct SchedulerState {
  std::string key;
  Json state;
};

struct PackRead {
  std::string pack;
  int64_t last_read_ns = 0;
};

struct HistoryRetention {
  int days = 90;        // jobs and their logs, resolved alerts and their deliveries
  int audit_days = 0;   // 0 = keep the audit log forever
};

struct PruneStats {
  int64_t jobs = 0, alerts = 0, deliveries = 0, audit = 0;
};

// Setting key of the admin password's Argon2id hash (crypto_pwhash_str form).
inline constexpr std::string_view kAdminPasswordHashKey = "admin_password_hash";

// Lowercase hex SHA-256 of a secret (API token, session id): what the
// catalog stores and looks up instead of the secret.
std::string HashSecret(std::string_view secret);

class Catalog {
 public:
  virtual ~Catalog() = default;

  // --- jobs ---------------------------------------------------------------
  // Records a queued job; returns its id. With `state`, that scheduler state
  // is saved in the same transaction: after a crash both or neither exist
  // (the scheduler's "each fire runs exactly once" rests on it).
  virtual Result<JobId> InsertJob(const NewJob& job, const std::optional<SchedulerState>& state = std::nullopt) = 0;
  // The process a running job runs in, so that a daemon restarted after a
  // crash can stop what its predecessor left running.
  virtual Status SetJobPid(JobId id, int64_t pid) = 0;
  // Jobs still queued, in queue order (oldest first).
  virtual Result<std::vector<JobRecord>> ListQueuedJobs() = 0;
  // queued -> running. Fails (kInvalidArgument) for a job in any other state.
  virtual Status StartJob(JobId id) = 0;
  // Replaces the running job's live progress (cheap: one small row update).
  virtual Status UpdateProgress(JobId id, const Json& progress) = 0;
  // queued|running -> a final status, with the per-(service, target) status,
  // the counters, the points made and drill verdicts, in one transaction.
  virtual Status FinishJob(JobId id, const JobOutcome& outcome) = 0;
  virtual Result<JobRecord> GetJob(JobId id) = 0;
  // The job without its JSON columns (request, result, progress stay null):
  // for overviews that show a job's status and times, many at a time.
  virtual Result<JobRecord> GetJobBrief(JobId id) = 0;
  virtual Result<Page<JobRecord>> ListJobs(const JobFilter& filter, const PageRequest& page) = 0;
  // At start-up: every job left running by a daemon that died is set
  // interrupted with `reason`; returns them as they are now. Queued jobs stay
  // queued: the scheduler loads them back (ListQueuedJobs).
  virtual Result<std::vector<JobRecord>> MarkInterrupted(const std::string& reason) = 0;
  // Jobs that ended, by kind and final status (monotonic totals), plus the
  // current queued and running counts.
  virtual Result<std::vector<JobCount>> CountJobs() = 0;
  // Run times of the newest `limit` succeeded jobs of (service, kind), newest first.
  virtual Result<std::vector<double>> RecentDurations(const std::string& service, JobKind kind, int limit) = 0;
  // Finished jobs, recorded as they are (history imported from another
  // catalog; seeding); ids are assigned anew, in the order given.
  virtual Status ImportJobs(const std::vector<JobRecord>& jobs) = 0;

  // --- job logs -----------------------------------------------------------
  // Appends lines (seq assigned; time_ns 0 = now) in one transaction. Call
  // with batches (say every second), not line by line: each call is a commit.
  virtual Status AppendLog(JobId id, const std::vector<LogLine>& lines) = 0;
  // Lines after `after_seq` (0 = from the start), at most `limit`.
  virtual Result<LogChunk> ReadLog(JobId id, int64_t after_seq, int limit) = 0;

  // --- per (service, target) status ---------------------------------------
  virtual Result<std::vector<ServiceTargetStatus>> ListServiceStatus() = 0;
  // Per service: its targets' status, newest complete point, drill status.
  virtual Result<std::vector<ServiceOverview>> ServicesOverview() = 0;
  virtual Result<MetricsSnapshot> Metrics() = 0;

  // --- restore points cache -----------------------------------------------
  // Adds or updates one point on one target (after a backup or a copy).
  virtual Status PutPoint(const PointWrite& point) = 0;
  // A sync: `points` is everything `target` holds (of `service`, or of every
  // service when nullopt); points no longer there are removed from it.
  virtual Result<SyncStats> ReplaceTargetPoints(const std::string& target, const std::optional<std::string>& service,
                                                const std::vector<PointWrite>& points) = 0;
  // After a forget: the point is no longer on `target` ("" = on any target).
  virtual Status RemovePoint(const std::string& service, const std::string& point_id, const std::string& target) = 0;
  virtual Result<Page<PointRecord>> ListPoints(const std::string& service, const PageRequest& page) = 0;
  virtual Result<PointRecord> GetPoint(const std::string& service, const std::string& point_id) = 0;
  // GET /calendar: one index range per service, not pages of full records.
  virtual Result<PointStamps> PointStampsSince(const std::string& service, int64_t since_ns) = 0;
  // The full id of a unique prefix (at least 4 digits) or of "latest" (the
  // newest complete point that is not a safety backup).
  virtual Result<std::string> ResolvePointId(const std::string& service, const std::string& prefix) = 0;
  // The newest complete point, or nullopt when the service has none.
  virtual Result<std::optional<PointRecord>> NewestPoint(const std::string& service) = 0;
  virtual Result<std::string> GetManifest(const std::string& service, const std::string& point_id) = 0;
  virtual Result<int64_t> CountPoints(const std::string& service, const std::string& target) = 0;
  // Attaches a drill verdict to a cached point; returns its id.
  virtual Result<int64_t> RecordDrill(const DrillRecord& drill) = 0;
  virtual Result<std::vector<DrillRecord>> ListDrills(const std::string& service, const std::string& point_id) = 0;

  // --- alerts -------------------------------------------------------------
  // Opens an alert, or counts a repeat on the open one of (rule, service,
  // target) (last seen, occurrences, severity and message updated).
  virtual Result<RaisedAlert> RaiseAlert(AlertRule rule, Severity severity, const std::string& service,
                                         const std::string& target, const std::string& message) = 0;
  // Resolves the open alert of (rule, service, target); nullopt if none was open.
  virtual Result<std::optional<AlertRecord>> ResolveAlert(AlertRule rule, const std::string& service,
                                                          const std::string& target) = 0;
  virtual Status AckAlert(int64_t id, const std::string& actor) = 0;
  virtual Result<AlertRecord> GetAlert(int64_t id) = 0;
  virtual Result<Page<AlertRecord>> ListAlerts(AlertState state, const PageRequest& page) = 0;

  // --- notification deliveries --------------------------------------------
  // A pending delivery, due now.
  virtual Result<int64_t> EnqueueDelivery(const std::string& channel, int64_t alert_id, AlertEvent event) = 0;
  // Pending deliveries due at or before now, oldest due first.
  virtual Result<std::vector<DeliveryRecord>> DueDeliveries(int limit) = 0;
  // One attempt: delivered, or failed with `error` and retried at
  // next_retry_ns (0 = give up).
  virtual Status RecordDeliveryAttempt(int64_t id, bool delivered, const std::string& error,
                                       int64_t next_retry_ns) = 0;
  // alert_id 0 = every delivery; newest first.
  virtual Result<Page<DeliveryRecord>> ListDeliveries(int64_t alert_id, const PageRequest& page) = 0;

  // --- API tokens (stored as HashSecret(token), never the token) -----------
  // kAlreadyExists when the name is taken.
  virtual Result<TokenRecord> CreateToken(const std::string& name, Role role, std::string_view token) = 0;
  // kNotFound for an unknown or deleted token.
  virtual Result<TokenRecord> FindToken(std::string_view token) = 0;
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  // Last used = now. A write (and an fsync): call it when the record's
  // last_used_ns is older than a minute or so, not on every request.
  virtual Status TouchToken(int64_t id) = 0;
  virtual Status DeleteToken(int64_t id) = 0;

  // --- dashboard sessions (stored as HashSecret(session id)) ---------------
  virtual Status CreateSession(std::string_view session_id, const std::string& actor, const std::string& csrf_token,
                               int64_t expires_ns) = 0;
  // kNotFound for an unknown or expired session.
  virtual Result<SessionRecord> FindSession(std::string_view session_id) = 0;
  // Last seen = now; the expiry moves to `expires_ns` (sliding sessions).
  // A write, like TouchToken: not on every request.
  virtual Status TouchSession(std::string_view session_id, int64_t expires_ns) = 0;
  virtual Status DeleteSession(std::string_view session_id) = 0;
  // Deletes expired sessions; returns how many.
  virtual Result<int64_t> PurgeExpiredSessions() = 0;

  // --- audit log ----------------------------------------------------------
  virtual Result<int64_t> AppendAudit(const std::string& actor, const std::string& action, const Json& details) = 0;
  virtual Result<Page<AuditRecord>> ListAudit(const PageRequest& page) = 0;

  // --- settings (small key -> value; kAdminPasswordHashKey among them) ----
  virtual Result<std::optional<std::string>> GetSetting(const std::string& key) = 0;
  virtual Status PutSetting(const std::string& key, const std::string& value) = 0;
  virtual Status DeleteSetting(const std::string& key) = 0;

  // --- scheduler state ----------------------------------------------------
  virtual Result<std::optional<SchedulerState>> GetSchedulerState(const std::string& key) = 0;
  virtual Status PutSchedulerState(const SchedulerState& state) = 0;
  virtual Result<std::vector<SchedulerState>> ListSchedulerStates() = 0;  // by key
  virtual Status DeleteSchedulerState(const std::string& key) = 0;

  // --- integrity-check rotation (which packs were read, and when) ---------
  virtual Status RecordPackReads(const std::string& target, const std::vector<std::string>& packs, int64_t read_ns) = 0;
  virtual Result<std::vector<PackRead>> ListPackReads(const std::string& target) = 0;  // by pack id
  // Forgets packs a prune deleted.
  virtual Status DeletePackReads(const std::string& target, const std::vector<std::string>& packs) = 0;

  // --- housekeeping -------------------------------------------------------
  // Drops jobs (and logs) that ended more than `days` ago, except each
  // (service, kind)'s last success and last failure and the jobs the
  // per-(service, target) status names; resolved alerts and deliveries as old;
  // the audit log when audit_days > 0. Runs in short transactions so that
  // the job runner is not held up.
  virtual Result<PruneStats> PruneHistory(const HistoryRetention& retention) = 0;
};

}  // namespace cairn

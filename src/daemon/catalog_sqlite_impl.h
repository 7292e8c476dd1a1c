// The SQLite catalog's implementation, shared by its source files
// (catalog_sqlite.cc: open, connections, jobs and logs;
// catalog_sqlite_points.cc: points, drills, status, metrics;
// catalog_sqlite_admin.cc: alerts, deliveries, access, settings, scheduler,
// check rotation, history pruning; catalog_schema.cc: the migrations).
//
// Connections: one writer, guarded by write_mu_, runs every write in a
// BEGIN IMMEDIATE transaction; readers come from a pool, one per reading
// thread at a time, each call in its own read transaction (one snapshot).
// In WAL mode readers never wait for the writer, and the writer never waits
// for readers.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "daemon/catalog.h"
#include "daemon/catalog_sqlite.h"
#include "daemon/sqlite_db.h"

namespace cairn::catalog_internal {

// One step of the schema. Versions are 1, 2, 3...; each runs once, in order,
// inside the one transaction that brings a file up to date.
struct Migration {
  int version;
  const char* description;
  const char* sql;
};
const std::vector<Migration>& SqliteMigrations();

// PRAGMA application_id of a catalog file ("CAIR").
constexpr int32_t kApplicationId = 0x43414952;

// Brings the file's schema to the last of `migrations` in one write
// transaction (nothing changes if any step fails); refuses a file whose
// version is newer than the last one known.
Status Migrate(sql::Db& db, const std::vector<Migration>& migrations);

class SqliteCatalog final : public Catalog {
 public:
  static Result<std::unique_ptr<SqliteCatalog>> Open(const std::string& path, const SqliteCatalogOptions& options);

  // jobs (catalog_sqlite.cc)
  Result<JobId> InsertJob(const NewJob& job, const std::optional<SchedulerState>& state) override;
  Status SetJobPid(JobId id, int64_t pid) override;
  Result<std::vector<JobRecord>> ListQueuedJobs() override;
  Status StartJob(JobId id) override;
  Status UpdateProgress(JobId id, const Json& progress) override;
  Status FinishJob(JobId id, const JobOutcome& outcome) override;
  Result<JobRecord> GetJob(JobId id) override;
  Result<JobRecord> GetJobBrief(JobId id) override;
  Result<Page<JobRecord>> ListJobs(const JobFilter& filter, const PageRequest& page) override;
  Result<std::vector<JobRecord>> MarkInterrupted(const std::string& reason) override;
  Result<std::vector<JobCount>> CountJobs() override;
  Result<std::vector<double>> RecentDurations(const std::string& service, JobKind kind, int limit) override;
  Status ImportJobs(const std::vector<JobRecord>& jobs) override;
  Status AppendLog(JobId id, const std::vector<LogLine>& lines) override;
  Result<LogChunk> ReadLog(JobId id, int64_t after_seq, int limit) override;

  // status, points and drills (catalog_sqlite_points.cc)
  Result<std::vector<ServiceTargetStatus>> ListServiceStatus() override;
  Result<std::vector<ServiceOverview>> ServicesOverview() override;
  Result<MetricsSnapshot> Metrics() override;
  Status PutPoint(const PointWrite& point) override;
  Result<SyncStats> ReplaceTargetPoints(const std::string& target, const std::optional<std::string>& service,
                                        const std::vector<PointWrite>& points) override;
  Status RemovePoint(const std::string& service, const std::string& point_id, const std::string& target) override;
  Result<Page<PointRecord>> ListPoints(const std::string& service, const PageRequest& page) override;
  Result<PointRecord> GetPoint(const std::string& service, const std::string& point_id) override;
  Result<PointStamps> PointStampsSince(const std::string& service, int64_t since_ns) override;
  Result<std::string> ResolvePointId(const std::string& service, const std::string& prefix) override;
  Result<std::optional<PointRecord>> NewestPoint(const std::string& service) override;
  Result<std::string> GetManifest(const std::string& service, const std::string& point_id) override;
  Result<int64_t> CountPoints(const std::string& service, const std::string& target) override;
  Result<int64_t> RecordDrill(const DrillRecord& drill) override;
  Result<std::vector<DrillRecord>> ListDrills(const std::string& service, const std::string& point_id) override;

  // the rest (catalog_sqlite_admin.cc)
  Result<RaisedAlert> RaiseAlert(AlertRule rule, Severity severity, const std::string& service,
                                 const std::string& target, const std::string& message) override;
  Result<std::optional<AlertRecord>> ResolveAlert(AlertRule rule, const std::string& service,
                                                  const std::string& target) override;
  Status AckAlert(int64_t id, const std::string& actor) override;
  Result<AlertRecord> GetAlert(int64_t id) override;
  Result<Page<AlertRecord>> ListAlerts(AlertState state, const PageRequest& page) override;
  Result<int64_t> EnqueueDelivery(const std::string& channel, int64_t alert_id, AlertEvent event) override;
  Result<std::vector<DeliveryRecord>> DueDeliveries(int limit) override;
  Status RecordDeliveryAttempt(int64_t id, bool delivered, const std::string& error, int64_t next_retry_ns) override;
  Result<Page<DeliveryRecord>> ListDeliveries(int64_t alert_id, const PageRequest& page) override;
  Result<TokenRecord> CreateToken(const std::string& name, Role role, std::string_view token) override;
  Result<TokenRecord> FindToken(std::string_view token) override;
  Result<std::vector<TokenRecord>> ListTokens() override;
  Status TouchToken(int64_t id) override;
  Status DeleteToken(int64_t id) override;
  Status CreateSession(std::string_view session_id, const std::string& actor, const std::string& csrf_token,
                       int64_t expires_ns) override;
  Result<SessionRecord> FindSession(std::string_view session_id) override;
  Status TouchSession(std::string_view session_id, int64_t expires_ns) override;
  Status DeleteSession(std::string_view session_id) override;
  Result<int64_t> PurgeExpiredSessions() override;
  Result<int64_t> AppendAudit(const std::string& actor, const std::string& action, const Json& details) override;
  Result<Page<AuditRecord>> ListAudit(const PageRequest& page) override;
  Result<std::optional<std::string>> GetSetting(const std::string& key) override;
  Status PutSetting(const std::string& key, const std::string& value) override;
  Status DeleteSetting(const std::string& key) override;
  Result<std::optional<SchedulerState>> GetSchedulerState(const std::string& key) override;
  Status PutSchedulerState(const SchedulerState& state) override;
  Result<std::vector<SchedulerState>> ListSchedulerStates() override;
  Status DeleteSchedulerState(const std::string& key) override;
  Status RecordPackReads(const std::string& target, const std::vector<std::string>& packs, int64_t read_ns) override;
  Result<std::vector<PackRead>> ListPackReads(const std::string& target) override;
  Status DeletePackReads(const std::string& target, const std::vector<std::string>& packs) override;
  Result<PruneStats> PruneHistory(const HistoryRetention& retention) override;

 private:
  SqliteCatalog(std::string path, const SqliteCatalogOptions& options, std::unique_ptr<sql::Db> writer);

  // Runs fn(db) -> Status or Result<T> in a write transaction; commits when
  // it succeeds, rolls back otherwise.
  template <typename F>
  auto Write(F&& fn) -> decltype(fn(std::declval<sql::Db&>())) {
    using R = decltype(fn(std::declval<sql::Db&>()));
    std::lock_guard<std::mutex> lock(write_mu_);
    sql::Txn txn(*writer_);
    if (Status st = txn.Begin(/*write=*/true); !st.ok()) return R(st);
    R r = fn(*writer_);
    if (!r.ok()) return r;
    if (Status st = txn.Commit(); !st.ok()) return R(st);
    return r;
  }

  // Runs fn(db) on a pooled read connection, in one read transaction.
  template <typename F>
  auto Read(F&& fn) -> decltype(fn(std::declval<sql::Db&>())) {
    using R = decltype(fn(std::declval<sql::Db&>()));
    auto conn = AcquireReader();
    if (!conn.ok()) return R(conn.status());
    R r = [&]() -> R {
      sql::Txn txn(**conn);
      if (Status st = txn.Begin(/*write=*/false); !st.ok()) return R(st);
      R inner = fn(**conn);
      if (Status st = txn.Commit(); !st.ok() && inner.ok()) return R(st);
      return inner;
    }();
    ReleaseReader(std::move(*conn));
    return r;
  }

  Result<std::unique_ptr<sql::Db>> AcquireReader();
  void ReleaseReader(std::unique_ptr<sql::Db> db);
  int64_t Now() const { return clock_->NowNs(); }

  // Pieces of transactions, run on the connection given (inside Write/Read).
  Status UpdateTargetStatus(sql::Db& db, const std::string& service, const TargetOutcome& outcome, JobId job,
                            int64_t started_ns, int64_t ended_ns);
  Status CountFinished(sql::Db& db, JobKind kind, JobStatus status);
  Status UpsertPoint(sql::Db& db, const PointWrite& point, int64_t now, SyncStats* stats, int64_t* pk);
  Result<int64_t> InsertDrill(sql::Db& db, const DrillRecord& drill);
  Status DeleteOrphanPoints(sql::Db& db, const std::vector<int64_t>& pks);
  // Fills the targets and newest drills of points[i] (whose row is pks[i]).
  Status LoadPointDetails(sql::Db& db, std::vector<PointRecord>* points, const std::vector<int64_t>& pks);
  Result<std::vector<ServiceTargetStatus>> ReadServiceStatus(sql::Db& db);
  Result<std::vector<DrillStatus>> ReadDrillStatus(sql::Db& db);
  Result<std::optional<PointRecord>> ReadNewestPoint(sql::Db& db, const std::string& service);
  Result<AlertRecord> ReadAlert(sql::Db& db, int64_t id);

  const std::string path_;
  const SqliteCatalogOptions options_;
  Clock* const clock_;
  std::mutex write_mu_;
  std::unique_ptr<sql::Db> writer_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<sql::Db>> idle_readers_;
  // One PruneHistory at a time: its keep-set table spans its transactions.
  std::mutex prune_mu_;
};

}  // namespace cairn::catalog_internal

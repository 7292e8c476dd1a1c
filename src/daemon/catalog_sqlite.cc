// The SQLite catalog: opening (file mode, identity, WAL, migrations), the
// connection pool, jobs and job logs. Layout and reasons: docs/catalog.md.
#include "daemon/catalog_sqlite.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "daemon/catalog_sqlite_impl.h"
#include "daemon/catalog_util.h"

namespace cairn {

using catalog_internal::SqliteCatalog;

int SqliteCatalogSchemaVersion() { return catalog_internal::SqliteMigrations().back().version; }

Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path, const SqliteCatalogOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(auto catalog, SqliteCatalog::Open(path, options));
  return std::unique_ptr<Catalog>(std::move(catalog));
}

Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path) {
  return OpenSqliteCatalog(path, SqliteCatalogOptions{});
}

namespace catalog_internal {
namespace {

// Lines longer than this are cut (a runaway line must not evict a whole log).
constexpr size_t kMaxLogLine = 8 * 1024;

// Creates the file with mode 0600 whatever the umask (fchmod after open),
// so that SQLite finds it and gives its -wal and -shm files the same mode.
Status CreateFileIfMissing(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::Ok();
    return Status::FromErrno(errno, "cannot create catalog " + path);
  }
  Status st = ::fchmod(fd, 0600) == 0 ? Status::Ok() : Status::FromErrno(errno, "cannot set the mode of catalog " + path);
  ::close(fd);
  return st;
}

Result<std::string> QueryText(sql::Db& db, std::string_view query) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(query));
  CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::string();
  return st.Text(0);
}

// Refuses a file that is another application's database or that a newer
// Cairn wrote, before anything is changed.
Status CheckIdentity(sql::Db& db, int latest) {
  CAIRN_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  CAIRN_ASSIGN_OR_RETURN(int64_t app, db.QueryInt("PRAGMA application_id"));
  CAIRN_ASSIGN_OR_RETURN(int64_t tables, db.QueryInt("SELECT count(*) FROM sqlite_schema"));
  if (app != kApplicationId && (app != 0 || tables > 0 || version != 0))
    return Status::InvalidArgument(db.path() + " is not a cairn catalog (a SQLite database of another program)");
  if (version > latest) {
    auto writer = QueryText(db, "SELECT value FROM meta WHERE key = 'writer_version'");
    std::string by = writer.ok() && !writer->empty() ? ", cairn " + *writer : "";
    return Status::Unsupported("catalog " + db.path() + " was written by a newer cairn (schema version " +
                               std::to_string(version) + by + "); this cairn " CAIRN_VERSION " reads up to version " +
                               std::to_string(latest) + ": upgrade cairn");
  }
  return Status::Ok();
}

Status ConfigureWriter(sql::Db& db) {
  CAIRN_ASSIGN_OR_RETURN(std::string mode, QueryText(db, "PRAGMA journal_mode = WAL"));
  if (mode != "wal")
    return Status::IOError("catalog " + db.path() + " cannot use WAL mode (journal mode stays '" + mode + "')");
  // FULL: a commit (a revoked token, an audit entry, a finished job) is on
  // disk when the call returns, also across a power loss.
  return db.Exec(
      "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
      "PRAGMA cache_size = -16384; PRAGMA journal_size_limit = 67108864;");
}

Status ConfigureReader(sql::Db& db) {
  return db.Exec("PRAGMA query_only = ON; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;");
}

Result<JobRecord> ReadJobRow(sql::Db& db, sql::Stmt& st) {
  JobRecord j;
  j.id = st.Int(0);
  auto kind = ParseJobKind(st.TextView(1));
  auto trigger = ParseTrigger(st.TextView(4));
  auto status = ParseJobStatus(st.TextView(5));
  if (!kind || !trigger || !status)
    return Status::Corruption("catalog " + db.path() + ": job " + std::to_string(j.id) + " has an unknown kind, " +
                              "trigger or status");
  j.kind = *kind;
  j.trigger = *trigger;
  j.status = *status;
  j.service = st.Text(2);
  Json targets = ParseJsonColumn(st.TextView(3));
  if (targets.is_array())
    for (const auto& t : targets)
      if (t.is_string()) j.targets.push_back(t.get<std::string>());
  j.queued_ns = st.Int(6);
  j.started_ns = st.Int(7);
  j.ended_ns = st.Int(8);
  j.bytes_read = st.UInt(9);
  j.bytes_added = st.UInt(10);
  j.point_id = st.Text(11);
  j.error = st.Text(12);
  j.result = ParseJsonColumn(st.TextView(13));
  j.progress = ParseJsonColumn(st.TextView(14));
  j.progress_ns = st.Int(15);
  j.log_lines = st.Int(16);
  j.log_dropped = st.Int(17);
  j.request = ParseJsonColumn(st.TextView(18));
  j.pid = st.Int(19);
  return j;
}

constexpr char kJobColumns[] =
    "id, kind, service, targets, triggered_by, status, queued_ns, started_ns, ended_ns, bytes_read, bytes_added, "
    "point_id, error, result, progress, progress_ns, log_next_seq - 1, log_dropped, request, pid";

// kJobColumns with NULL for the JSON columns that cost a parse.
constexpr char kJobBriefColumns[] =
    "id, kind, service, targets, triggered_by, status, queued_ns, started_ns, ended_ns, bytes_read, bytes_added, "
    "point_id, error, NULL, NULL, progress_ns, log_next_seq - 1, log_dropped, NULL, pid";

Result<JobRecord> LoadJob(sql::Db& db, JobId id, bool brief = false) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(std::string("SELECT ") + (brief ? kJobBriefColumns : kJobColumns) +
                                                  " FROM jobs WHERE id = ?"));
  st.Bind(id);
  CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("job " + std::to_string(id) + " does not exist");
  return ReadJobRow(db, st);
}

// Why a job cannot take a transition: it does not exist, or its state.
Status TransitionError(sql::Db& db, JobId id, const char* wanted) {
  auto job = LoadJob(db, id);
  if (!job.ok()) return job.status();
  return Status::InvalidArgument("job " + std::to_string(id) + " is " + std::string(ToString(job->status)) +
                                 ", not " + wanted);
}

std::string TargetsJson(const std::vector<std::string>& targets) { return Json(targets).dump(); }

// Cuts a line at a UTF-8 character boundary.
std::string CapLine(const std::string& text) {
  if (text.size() <= kMaxLogLine) return text;
  size_t n = kMaxLogLine;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n) + " [line cut at 8 KiB]";
}

}  // namespace

Status Migrate(sql::Db& db, const std::vector<Migration>& migrations) {
  const int latest = migrations.back().version;
  CAIRN_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version == latest) return Status::Ok();
  sql::Txn txn(db);
  CAIRN_RETURN_IF_ERROR(txn.Begin(/*write=*/true));
  // Another process may have migrated the file while we waited for the lock.
  CAIRN_ASSIGN_OR_RETURN(version, db.QueryInt("PRAGMA user_version"));
  CAIRN_RETURN_IF_ERROR(CheckIdentity(db, latest));
  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    Status st = db.Exec(m.sql);
    if (!st.ok())
      return Status(st.code(), "catalog " + db.path() + ": migration to schema version " + std::to_string(m.version) +
                                   " (" + m.description + ") failed: " + st.message());
  }
  CAIRN_RETURN_IF_ERROR(db.Exec("PRAGMA user_version = " + std::to_string(latest) +
                                "; PRAGMA application_id = " + std::to_string(kApplicationId) + ";"));
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt meta, db.Prepare("INSERT INTO meta (key, value) VALUES (?, ?) "
                                                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  CAIRN_RETURN_IF_ERROR(meta.Bind("writer_version", CAIRN_VERSION).Run());
  meta.Reset();
  CAIRN_RETURN_IF_ERROR(meta.Bind("schema_version", std::to_string(latest)).Run());
  return txn.Commit();
}

SqliteCatalog::SqliteCatalog(std::string path, const SqliteCatalogOptions& options, std::unique_ptr<sql::Db> writer)
    : path_(std::move(path)),
      options_(options),
      clock_(options.clock ? options.clock : SystemClock()),
      writer_(std::move(writer)) {}

Result<std::unique_ptr<SqliteCatalog>> SqliteCatalog::Open(const std::string& path,
                                                           const SqliteCatalogOptions& options) {
  if (path.empty()) return Status::InvalidArgument("no catalog path given");
  const auto& migrations = SqliteMigrations();
  CAIRN_RETURN_IF_ERROR(CreateFileIfMissing(path));
  CAIRN_ASSIGN_OR_RETURN(auto writer, sql::Db::Open(path, options.busy_timeout_ms));
  CAIRN_RETURN_IF_ERROR(CheckIdentity(*writer, migrations.back().version));
  CAIRN_ASSIGN_OR_RETURN(int64_t tables, writer->QueryInt("SELECT count(*) FROM sqlite_schema"));
  // Only possible in a new file, before WAL mode writes its first page: lets
  // PruneHistory give freed pages back to the file system.
  if (tables == 0) CAIRN_RETURN_IF_ERROR(writer->Exec("PRAGMA auto_vacuum = INCREMENTAL"));
  CAIRN_RETURN_IF_ERROR(ConfigureWriter(*writer));
  CAIRN_RETURN_IF_ERROR(Migrate(*writer, migrations));
  return std::unique_ptr<SqliteCatalog>(new SqliteCatalog(path, options, std::move(writer)));
}

Result<std::unique_ptr<sql::Db>> SqliteCatalog::AcquireReader() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_readers_.empty()) {
      auto db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return db;
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto db, sql::Db::Open(path_, options_.busy_timeout_ms));
  CAIRN_RETURN_IF_ERROR(ConfigureReader(*db));
  return db;
}

void SqliteCatalog::ReleaseReader(std::unique_ptr<sql::Db> db) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (static_cast<int>(idle_readers_.size()) < std::max(options_.idle_readers, 1)) idle_readers_.push_back(std::move(db));
}

// ------------------------------------------------------------------ jobs

Result<JobId> SqliteCatalog::InsertJob(const NewJob& job, const std::optional<SchedulerState>& state) {
  if (state && state->key.empty()) return Status::InvalidArgument("a scheduler state needs a key");
  return Write([&](sql::Db& db) -> Result<JobId> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("INSERT INTO jobs (kind, service, targets, triggered_by, status, "
                                                    "queued_ns, request) VALUES (?, ?, ?, ?, 'queued', ?, ?)"));
    CAIRN_RETURN_IF_ERROR(st.Bind(ToString(job.kind), job.service, TargetsJson(job.targets), ToString(job.trigger),
                                  Now(), JsonColumn(job.request)).Run());
    const JobId id = db.LastInsertId();
    if (state) {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt put, db.Prepare(
          "INSERT INTO scheduler_state (key, state, updated_ns) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (key) DO UPDATE SET state = ?2, updated_ns = ?3"));
      CAIRN_RETURN_IF_ERROR(put.Bind(state->key, JsonColumn(state->state), Now()).Run());
    }
    return id;
  });
}

Status SqliteCatalog::SetJobPid(JobId id, int64_t pid) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("UPDATE jobs SET pid = ? WHERE id = ?"));
    CAIRN_RETURN_IF_ERROR(st.Bind(pid, id).Run());
    return db.Changes() == 1 ? Status::Ok() : Status::NotFound("job " + std::to_string(id) + " does not exist");
  });
}

Result<std::vector<JobRecord>> SqliteCatalog::ListQueuedJobs() {
  return Read([&](sql::Db& db) -> Result<std::vector<JobRecord>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(std::string("SELECT ") + kJobColumns +
                                                    " FROM jobs WHERE status = 'queued' ORDER BY id"));
    std::vector<JobRecord> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      CAIRN_ASSIGN_OR_RETURN(JobRecord job, ReadJobRow(db, st));
      out.push_back(std::move(job));
    }
    return out;
  });
}

Status SqliteCatalog::StartJob(JobId id) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("UPDATE jobs SET status = 'running', started_ns = ? "
                                                    "WHERE id = ? AND status = 'queued'"));
    CAIRN_RETURN_IF_ERROR(st.Bind(Now(), id).Run());
    return db.Changes() == 1 ? Status::Ok() : TransitionError(db, id, "queued");
  });
}

Status SqliteCatalog::UpdateProgress(JobId id, const Json& progress) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("UPDATE jobs SET progress = ?, progress_ns = ? "
                                                    "WHERE id = ? AND status = 'running'"));
    CAIRN_RETURN_IF_ERROR(st.Bind(JsonColumn(progress), Now(), id).Run());
    return db.Changes() == 1 ? Status::Ok() : TransitionError(db, id, "running");
  });
}

Status SqliteCatalog::CountFinished(sql::Db& db, JobKind kind, JobStatus status) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("INSERT INTO job_counts (kind, status, n) VALUES (?, ?, 1) "
                                                  "ON CONFLICT (kind, status) DO UPDATE SET n = n + 1"));
  return st.Bind(ToString(kind), ToString(status)).Run();
}

Status SqliteCatalog::UpdateTargetStatus(sql::Db& db, const std::string& service, const TargetOutcome& o, JobId job,
                                         int64_t started_ns, int64_t ended_ns) {
  // Keyed on (end time, job id): a job that ends later is the newer one,
  // whatever order the jobs were queued (and imported) in.
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt last, db.Prepare(
      "INSERT INTO service_targets (service, target, last_job, last_status, last_started_ns, last_ended_ns, "
      "last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (service, target) DO UPDATE SET "
      "last_job = ?3, last_status = ?4, last_started_ns = ?5, last_ended_ns = ?6, last_error = ?7 "
      "WHERE (?6, ?3) > (last_ended_ns, last_job)"));
  CAIRN_RETURN_IF_ERROR(
      last.Bind(service, o.target, job, ToString(o.status), started_ns, ended_ns, o.error).Run());
  if (o.status != JobStatus::kSucceeded && o.status != JobStatus::kPartial) return Status::Ok();
  const double duration = started_ns > 0 && ended_ns >= started_ns ? (ended_ns - started_ns) / 1e9 : 0.0;
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt ok, db.Prepare(
      "INSERT INTO service_targets (service, target, success_job, success_ended_ns, success_duration_s, "
      "success_size, success_added, success_point) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
      "ON CONFLICT (service, target) DO UPDATE SET success_job = ?3, success_ended_ns = ?4, "
      "success_duration_s = ?5, success_size = ?6, success_added = ?7, success_point = ?8 "
      "WHERE (?4, ?3) > (success_ended_ns, success_job)"));
  return ok.Bind(service, o.target, job, ended_ns, duration, o.size, o.added, o.point_id).Run();
}

Status SqliteCatalog::FinishJob(JobId id, const JobOutcome& outcome) {
  if (!IsFinal(outcome.status))
    return Status::InvalidArgument("job " + std::to_string(id) + " cannot finish as " +
                                   std::string(ToString(outcome.status)));
  return Write([&](sql::Db& db) -> Status {
    const int64_t now = Now();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "UPDATE jobs SET status = ?, ended_ns = ?, error = ?, bytes_read = ?, bytes_added = ?, point_id = ?, "
        "result = ? WHERE id = ? AND status IN ('queued', 'running')"));
    CAIRN_RETURN_IF_ERROR(st.Bind(ToString(outcome.status), now, outcome.error, outcome.bytes_read,
                                  outcome.bytes_added, outcome.point_id, JsonColumn(outcome.result), id).Run());
    if (db.Changes() != 1) return TransitionError(db, id, "queued or running");
    CAIRN_ASSIGN_OR_RETURN(JobRecord job, LoadJob(db, id));
    CAIRN_RETURN_IF_ERROR(CountFinished(db, job.kind, job.status));
    for (const PointWrite& p : outcome.points) CAIRN_RETURN_IF_ERROR(UpsertPoint(db, p, now, nullptr, nullptr));
    for (const DrillRecord& d : outcome.drills) {
      auto drill_id = InsertDrill(db, d);
      if (!drill_id.ok()) return drill_id.status();
    }
    const bool ended_backup = job.kind == JobKind::kBackup &&
                              (job.status == JobStatus::kSucceeded || job.status == JobStatus::kPartial ||
                               job.status == JobStatus::kFailed);
    if (!ended_backup) return Status::Ok();
    if (!outcome.targets.empty()) {
      for (const TargetOutcome& t : outcome.targets)
        CAIRN_RETURN_IF_ERROR(UpdateTargetStatus(db, job.service, t, id, job.started_ns, now));
      return Status::Ok();
    }
    for (const std::string& target : job.targets) {
      TargetOutcome t{target, job.status, job.error, job.point_id, job.bytes_read, job.bytes_added};
      for (const PointWrite& p : outcome.points)
        if (p.target == target) {
          t.point_id = p.id;
          t.size = p.size;
          t.added = p.added;
        }
      CAIRN_RETURN_IF_ERROR(UpdateTargetStatus(db, job.service, t, id, job.started_ns, now));
    }
    return Status::Ok();
  });
}

Result<JobRecord> SqliteCatalog::GetJob(JobId id) {
  return Read([&](sql::Db& db) { return LoadJob(db, id); });
}

Result<JobRecord> SqliteCatalog::GetJobBrief(JobId id) {
  return Read([&](sql::Db& db) { return LoadJob(db, id, /*brief=*/true); });
}

Result<Page<JobRecord>> SqliteCatalog::ListJobs(const JobFilter& filter, const PageRequest& page) {
  const int limit = PageLimit(page);
  int64_t before = INT64_MAX;
  if (!page.cursor.empty()) {
    CAIRN_ASSIGN_OR_RETURN(auto fields, DecodeCursor(page.cursor, 'j', 1));
    CAIRN_ASSIGN_OR_RETURN(before, CursorInt(fields[0]));
  }
  // One statement text per combination of filters, so each is cached.
  std::string query = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id < ?1";
  if (filter.service) query += " AND service = ?2";
  if (filter.status) query += " AND status = ?3";
  if (filter.kind) query += " AND kind = ?4";
  query += " ORDER BY id DESC LIMIT ?5";
  return Read([&](sql::Db& db) -> Result<Page<JobRecord>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(query));
    st.BindAt(1, before).BindAt(5, limit + 1);
    if (filter.service) st.BindAt(2, *filter.service);
    if (filter.status) st.BindAt(3, ToString(*filter.status));
    if (filter.kind) st.BindAt(4, ToString(*filter.kind));
    Page<JobRecord> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (static_cast<int>(out.items.size()) == limit) {
        out.next_cursor = EncodeCursor('j', {std::to_string(out.items.back().id)});
        break;
      }
      CAIRN_ASSIGN_OR_RETURN(JobRecord job, ReadJobRow(db, st));
      out.items.push_back(std::move(job));
    }
    return out;
  });
}

Result<std::vector<JobRecord>> SqliteCatalog::MarkInterrupted(const std::string& reason) {
  return Write([&](sql::Db& db) -> Result<std::vector<JobRecord>> {
    std::vector<JobId> ids;
    {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          "UPDATE jobs SET status = 'interrupted', error = ?, ended_ns = ? "
          "WHERE status = 'running' RETURNING id"));
      st.Bind(reason, Now());
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        ids.push_back(st.Int(0));
      }
    }
    std::sort(ids.begin(), ids.end());
    std::vector<JobRecord> jobs;
    for (JobId id : ids) {
      CAIRN_ASSIGN_OR_RETURN(JobRecord job, LoadJob(db, id));
      CAIRN_RETURN_IF_ERROR(CountFinished(db, job.kind, job.status));
      jobs.push_back(std::move(job));
    }
    return jobs;
  });
}

Result<std::vector<JobCount>> SqliteCatalog::CountJobs() {
  return Read([&](sql::Db& db) -> Result<std::vector<JobCount>> {
    std::vector<JobCount> counts;
    for (const char* query : {"SELECT kind, status, n FROM job_counts",
                              "SELECT kind, status, count(*) FROM jobs WHERE status IN ('queued', 'running') "
                              "GROUP BY kind, status"}) {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(query));
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        auto kind = ParseJobKind(st.TextView(0));
        auto status = ParseJobStatus(st.TextView(1));
        if (kind && status) counts.push_back({*kind, *status, st.Int(2)});
      }
    }
    return counts;
  });
}

Result<std::vector<double>> SqliteCatalog::RecentDurations(const std::string& service, JobKind kind, int limit) {
  return Read([&](sql::Db& db) -> Result<std::vector<double>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT ended_ns - started_ns FROM jobs WHERE service = ? AND kind = ? AND status = 'succeeded' "
        "ORDER BY id DESC LIMIT ?"));
    st.Bind(service, ToString(kind), std::max(limit, 0));
    std::vector<double> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(static_cast<double>(st.Int(0)) / 1e9);
    }
    return out;
  });
}

Status SqliteCatalog::ImportJobs(const std::vector<JobRecord>& jobs) {
  for (const JobRecord& j : jobs)
    if (!IsFinal(j.status)) return Status::InvalidArgument("only jobs that ended can be imported");
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO jobs (kind, service, targets, triggered_by, status, queued_ns, started_ns, ended_ns, "
        "bytes_read, bytes_added, point_id, error, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    for (const JobRecord& j : jobs) {
      st.Bind(ToString(j.kind), j.service, TargetsJson(j.targets), ToString(j.trigger), ToString(j.status),
              j.queued_ns, j.started_ns, j.ended_ns, j.bytes_read, j.bytes_added, j.point_id, j.error,
              JsonColumn(j.result));
      CAIRN_RETURN_IF_ERROR(st.Run());
      st.Reset();
      const JobId id = db.LastInsertId();
      CAIRN_RETURN_IF_ERROR(CountFinished(db, j.kind, j.status));
      if (j.kind != JobKind::kBackup ||
          (j.status != JobStatus::kSucceeded && j.status != JobStatus::kPartial && j.status != JobStatus::kFailed))
        continue;
      for (const std::string& target : j.targets) {
        TargetOutcome t{target, j.status, j.error, j.point_id, j.bytes_read, j.bytes_added};
        CAIRN_RETURN_IF_ERROR(UpdateTargetStatus(db, j.service, t, id, j.started_ns, j.ended_ns));
      }
    }
    return Status::Ok();
  });
}

// ------------------------------------------------------------------ logs

Status SqliteCatalog::AppendLog(JobId id, const std::vector<LogLine>& lines) {
  if (lines.empty()) return Status::Ok();
  const int64_t cap = std::max<int64_t>(options_.log_cap_bytes, 2 * kMaxLogLine);
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt state, db.Prepare(
        "SELECT log_next_seq, log_bytes, log_head_seq, log_dropped FROM jobs WHERE id = ?"));
    state.Bind(id);
    CAIRN_ASSIGN_OR_RETURN(bool found, state.Step());
    if (!found) return Status::NotFound("job " + std::to_string(id) + " does not exist");
    int64_t next = state.Int(0), bytes = state.Int(1), head = state.Int(2), dropped = state.Int(3);
    state.Reset();

    const int64_t now = Now();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt insert, db.Prepare(
        "INSERT INTO job_logs (job_id, seq, time_ns, level, text) VALUES (?, ?, ?, ?, ?)"));
    for (const LogLine& line : lines) {
      std::string text = CapLine(line.text);
      insert.Bind(id, next, line.time_ns ? line.time_ns : now, ToString(line.level), text);
      CAIRN_RETURN_IF_ERROR(insert.Run());
      insert.Reset();
      bytes += static_cast<int64_t>(text.size());
      // The head (the first half of the cap) is kept whole: it says what the
      // job set out to do; the rest is a window over the newest lines.
      if (head == 0 && bytes >= cap / 2) head = next;
      ++next;
    }
    if (bytes > cap) {
      // Drop the oldest lines after the head down to 90% of the cap, so
      // that trimming happens once per 100 KiB or so, not on every append.
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt oldest, db.Prepare(
          "SELECT seq, length(CAST(text AS BLOB)) FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq"));
      oldest.Bind(id, head);
      int64_t last_dropped = 0, n = 0;
      const int64_t goal = cap - cap / 10;
      while (bytes > goal) {
        CAIRN_ASSIGN_OR_RETURN(bool row, oldest.Step());
        if (!row || oldest.Int(0) >= next - 1) break;  // keep the newest line
        last_dropped = oldest.Int(0);
        bytes -= oldest.Int(1);
        ++n;
      }
      oldest.Reset();
      if (n > 0) {
        CAIRN_ASSIGN_OR_RETURN(sql::Stmt del, db.Prepare(
            "DELETE FROM job_logs WHERE job_id = ? AND seq > ? AND seq <= ?"));
        CAIRN_RETURN_IF_ERROR(del.Bind(id, head, last_dropped).Run());
        dropped += n;
      }
    }
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt update, db.Prepare(
        "UPDATE jobs SET log_next_seq = ?, log_bytes = ?, log_head_seq = ?, log_dropped = ? WHERE id = ?"));
    return update.Bind(next, bytes, head, dropped, id).Run();
  });
}

Result<LogChunk> SqliteCatalog::ReadLog(JobId id, int64_t after_seq, int limit) {
  limit = std::clamp(limit, 1, 10000);
  return Read([&](sql::Db& db) -> Result<LogChunk> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt state, db.Prepare(
        "SELECT log_next_seq - 1, log_head_seq, log_dropped, status FROM jobs WHERE id = ?"));
    state.Bind(id);
    CAIRN_ASSIGN_OR_RETURN(bool found, state.Step());
    if (!found) return Status::NotFound("job " + std::to_string(id) + " does not exist");
    LogChunk chunk;
    chunk.last_seq = state.Int(0);
    chunk.head_end_seq = state.Int(1);
    chunk.dropped = state.Int(2);
    chunk.status = ParseJobStatus(state.TextView(3)).value_or(JobStatus::kQueued);
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT seq, time_ns, level, text FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?"));
    st.Bind(id, after_seq, limit);
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      chunk.lines.push_back({st.Int(0), st.Int(1), ParseLogLevel(st.TextView(2)).value_or(LogLevel::kInfo),
                             st.Text(3)});
    }
    return chunk;
  });
}

}  // namespace catalog_internal
}  // namespace cairn

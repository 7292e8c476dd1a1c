// The SQLite catalog: alerts, notification deliveries, API tokens, sessions,
// the audit log, settings, scheduler state, check rotation and pruning of
// history.
#include <algorithm>

#include "daemon/catalog_sqlite_impl.h"
#include "daemon/catalog_util.h"

namespace cairn::catalog_internal {
namespace {

constexpr int64_t kNsPerDay = 86400LL * 1000 * 1000 * 1000;
// Jobs deleted per transaction by PruneHistory: short enough that the job
// runner's writes are not held up for long.
constexpr int kPruneBatch = 2000;

constexpr char kAlertColumns[] =
    "id, rule, severity, service, target, message, first_seen_ns, last_seen_ns, occurrences, resolved_ns, "
    "acked_ns, acked_by";

Result<AlertRecord> ReadAlertRow(sql::Db& db, const sql::Stmt& st) {
  AlertRecord a;
  a.id = st.Int(0);
  auto rule = ParseAlertRule(st.TextView(1));
  auto severity = ParseSeverity(st.TextView(2));
  if (!rule || !severity)
    return Status::Corruption("catalog " + db.path() + ": alert " + std::to_string(a.id) +
                              " has an unknown rule or severity");
  a.rule = *rule;
  a.severity = *severity;
  a.service = st.Text(3);
  a.target = st.Text(4);
  a.message = st.Text(5);
  a.first_seen_ns = st.Int(6);
  a.last_seen_ns = st.Int(7);
  a.occurrences = st.Int(8);
  a.resolved_ns = st.Int(9);
  a.acked_ns = st.Int(10);
  a.acked_by = st.Text(11);
  return a;
}

Result<std::optional<int64_t>> FindOpenAlert(sql::Db& db, AlertRule rule, const std::string& service,
                                             const std::string& target) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
      "SELECT id FROM alerts WHERE rule = ? AND service = ? AND target = ? AND resolved_ns = 0"));
  st.Bind(ToString(rule), service, target);
  CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? std::optional<int64_t>(st.Int(0)) : std::nullopt;
}

constexpr char kDeliveryColumns[] =
    "id, channel, alert_id, event, created_ns, attempts, last_error, next_retry_ns, delivered_ns";

DeliveryRecord ReadDeliveryRow(const sql::Stmt& st) {
  DeliveryRecord d;
  d.id = st.Int(0);
  d.channel = st.Text(1);
  d.alert_id = st.IsNull(2) ? 0 : st.Int(2);
  d.event = ParseAlertEvent(st.TextView(3)).value_or(AlertEvent::kOpened);
  d.created_ns = st.Int(4);
  d.attempts = st.Int(5);
  d.last_error = st.Text(6);
  d.next_retry_ns = st.Int(7);
  d.delivered_ns = st.Int(8);
  return d;
}

TokenRecord ReadTokenRow(const sql::Stmt& st) {
  return {st.Int(0), st.Text(1), ParseRole(st.TextView(2)).value_or(Role::kRead), st.Int(3), st.Int(4)};
}

SchedulerState ReadSchedulerRow(const sql::Stmt& st) { return {st.Text(0), ParseJsonColumn(st.TextView(1))}; }

// Runs a paged "newest first by id" query: `query` has ?1 = the id bound
// (exclusive) and ?2 = the row limit, plus `bind` for the rest.
template <typename T, typename ReadRow, typename BindRest>
Result<Page<T>> PageById(sql::Db& db, const std::string& query, char tag, const PageRequest& page, ReadRow read,
                         BindRest bind) {
  const int limit = PageLimit(page);
  int64_t before = INT64_MAX;
  if (!page.cursor.empty()) {
    CAIRN_ASSIGN_OR_RETURN(auto fields, DecodeCursor(page.cursor, tag, 1));
    CAIRN_ASSIGN_OR_RETURN(before, CursorInt(fields[0]));
  }
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(query));
  st.BindAt(1, before).BindAt(2, limit + 1);
  bind(st);
  Page<T> out;
  int64_t last_id = 0;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == limit) {
      out.next_cursor = EncodeCursor(tag, {std::to_string(last_id)});
      break;
    }
    last_id = st.Int(0);
    CAIRN_ASSIGN_OR_RETURN(T item, read(st));
    out.items.push_back(std::move(item));
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ alerts

Result<AlertRecord> SqliteCatalog::ReadAlert(sql::Db& db, int64_t id) {
  CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(std::string("SELECT ") + kAlertColumns +
                                                  " FROM alerts WHERE id = ?"));
  st.Bind(id);
  CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("alert " + std::to_string(id) + " does not exist");
  return ReadAlertRow(db, st);
}

Result<RaisedAlert> SqliteCatalog::RaiseAlert(AlertRule rule, Severity severity, const std::string& service,
                                              const std::string& target, const std::string& message) {
  return Write([&](sql::Db& db) -> Result<RaisedAlert> {
    const int64_t now = Now();
    CAIRN_ASSIGN_OR_RETURN(auto open, FindOpenAlert(db, rule, service, target));
    int64_t id;
    if (open) {
      id = *open;
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          "UPDATE alerts SET last_seen_ns = ?, occurrences = occurrences + 1, severity = ?, message = ? "
          "WHERE id = ?"));
      CAIRN_RETURN_IF_ERROR(st.Bind(now, ToString(severity), message, id).Run());
    } else {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          "INSERT INTO alerts (rule, severity, service, target, message, first_seen_ns, last_seen_ns, occurrences) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, 1)"));
      CAIRN_RETURN_IF_ERROR(st.Bind(ToString(rule), ToString(severity), service, target, message, now, now).Run());
      id = db.LastInsertId();
    }
    CAIRN_ASSIGN_OR_RETURN(AlertRecord alert, ReadAlert(db, id));
    return RaisedAlert{std::move(alert), !open.has_value()};
  });
}

Result<std::optional<AlertRecord>> SqliteCatalog::ResolveAlert(AlertRule rule, const std::string& service,
                                                               const std::string& target) {
  return Write([&](sql::Db& db) -> Result<std::optional<AlertRecord>> {
    CAIRN_ASSIGN_OR_RETURN(auto open, FindOpenAlert(db, rule, service, target));
    if (!open) return std::optional<AlertRecord>();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("UPDATE alerts SET resolved_ns = ? WHERE id = ?"));
    CAIRN_RETURN_IF_ERROR(st.Bind(std::max<int64_t>(Now(), 1), *open).Run());
    CAIRN_ASSIGN_OR_RETURN(AlertRecord alert, ReadAlert(db, *open));
    return std::optional<AlertRecord>(std::move(alert));
  });
}

Status SqliteCatalog::AckAlert(int64_t id, const std::string& actor) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("UPDATE alerts SET acked_ns = ?, acked_by = ? WHERE id = ?"));
    CAIRN_RETURN_IF_ERROR(st.Bind(std::max<int64_t>(Now(), 1), actor, id).Run());
    return db.Changes() == 1 ? Status::Ok() : Status::NotFound("alert " + std::to_string(id) + " does not exist");
  });
}

Result<AlertRecord> SqliteCatalog::GetAlert(int64_t id) {
  return Read([&](sql::Db& db) { return ReadAlert(db, id); });
}

Result<Page<AlertRecord>> SqliteCatalog::ListAlerts(AlertState state, const PageRequest& page) {
  const char* where = state == AlertState::kOpen       ? " AND resolved_ns = 0"
                      : state == AlertState::kResolved ? " AND resolved_ns > 0"
                                                       : "";
  const std::string query = std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE id < ?1" + where +
                            " ORDER BY id DESC LIMIT ?2";
  return Read([&](sql::Db& db) {
    return PageById<AlertRecord>(
        db, query, 'a', page, [&](const sql::Stmt& st) { return ReadAlertRow(db, st); }, [](sql::Stmt&) {});
  });
}

// ---------------------------------------------------- notification deliveries

Result<int64_t> SqliteCatalog::EnqueueDelivery(const std::string& channel, int64_t alert_id, AlertEvent event) {
  return Write([&](sql::Db& db) -> Result<int64_t> {
    const int64_t now = std::max<int64_t>(Now(), 1);  // next_retry_ns > 0 = pending
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO deliveries (channel, alert_id, event, created_ns, next_retry_ns) VALUES (?, ?, ?, ?, ?)"));
    std::optional<int64_t> alert = alert_id ? std::optional<int64_t>(alert_id) : std::nullopt;
    Status s = st.Bind(channel, alert, ToString(event), now, now).Run();
    if (!s.ok() && alert)
      return Status::NotFound("alert " + std::to_string(alert_id) + " does not exist (" + s.message() + ")");
    CAIRN_RETURN_IF_ERROR(s);
    return db.LastInsertId();
  });
}

Result<std::vector<DeliveryRecord>> SqliteCatalog::DueDeliveries(int limit) {
  return Read([&](sql::Db& db) -> Result<std::vector<DeliveryRecord>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(std::string("SELECT ") + kDeliveryColumns +
                                                    " FROM deliveries WHERE next_retry_ns > 0 AND next_retry_ns <= ? "
                                                    "ORDER BY next_retry_ns, id LIMIT ?"));
    st.Bind(Now(), std::max(limit, 1));
    std::vector<DeliveryRecord> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadDeliveryRow(st));
    }
    return out;
  });
}

Status SqliteCatalog::RecordDeliveryAttempt(int64_t id, bool delivered, const std::string& error,
                                            int64_t next_retry_ns) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        delivered ? "UPDATE deliveries SET attempts = attempts + 1, delivered_ns = ?2, next_retry_ns = 0, "
                    "last_error = '' WHERE id = ?1"
                  : "UPDATE deliveries SET attempts = attempts + 1, last_error = ?3, next_retry_ns = ?4 "
                    "WHERE id = ?1"));
    st.BindAt(1, id);
    if (delivered)
      st.BindAt(2, std::max<int64_t>(Now(), 1));
    else
      st.BindAt(3, error).BindAt(4, std::max<int64_t>(next_retry_ns, 0));
    CAIRN_RETURN_IF_ERROR(st.Run());
    return db.Changes() == 1 ? Status::Ok()
                             : Status::NotFound("notification delivery " + std::to_string(id) + " does not exist");
  });
}

Result<Page<DeliveryRecord>> SqliteCatalog::ListDeliveries(int64_t alert_id, const PageRequest& page) {
  const std::string query = std::string("SELECT ") + kDeliveryColumns + " FROM deliveries WHERE id < ?1" +
                            (alert_id ? " AND alert_id = ?3" : "") + " ORDER BY id DESC LIMIT ?2";
  return Read([&](sql::Db& db) {
    return PageById<DeliveryRecord>(
        db, query, 'd', page, [](const sql::Stmt& st) -> Result<DeliveryRecord> { return ReadDeliveryRow(st); },
        [&](sql::Stmt& st) {
          if (alert_id) st.BindAt(3, alert_id);
        });
  });
}

// ------------------------------------------------------------------ tokens

Result<TokenRecord> SqliteCatalog::CreateToken(const std::string& name, Role role, std::string_view token) {
  if (name.empty()) return Status::InvalidArgument("an API token needs a name");
  if (token.size() < 16) return Status::InvalidArgument("an API token must be a long random secret");
  const std::string hash = HashSecret(token);
  return Write([&](sql::Db& db) -> Result<TokenRecord> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt find, db.Prepare("SELECT 1 FROM api_tokens WHERE name = ? OR hash = ?"));
    find.Bind(name, hash);
    CAIRN_ASSIGN_OR_RETURN(bool taken, find.Step());
    if (taken) return Status::AlreadyExists("an API token named " + name + " (or with this secret) already exists");
    const int64_t now = Now();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO api_tokens (name, role, hash, created_ns) VALUES (?, ?, ?, ?)"));
    CAIRN_RETURN_IF_ERROR(st.Bind(name, ToString(role), hash, now).Run());
    return TokenRecord{db.LastInsertId(), name, role, now, 0};
  });
}

Result<TokenRecord> SqliteCatalog::FindToken(std::string_view token) {
  const std::string hash = HashSecret(token);
  return Read([&](sql::Db& db) -> Result<TokenRecord> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT id, name, role, created_ns, last_used_ns FROM api_tokens WHERE hash = ?"));
    st.Bind(hash);
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("unknown API token");
    return ReadTokenRow(st);
  });
}

Result<std::vector<TokenRecord>> SqliteCatalog::ListTokens() {
  return Read([&](sql::Db& db) -> Result<std::vector<TokenRecord>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT id, name, role, created_ns, last_used_ns FROM api_tokens ORDER BY name"));
    std::vector<TokenRecord> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadTokenRow(st));
    }
    return out;
  });
}

Status SqliteCatalog::TouchToken(int64_t id) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("UPDATE api_tokens SET last_used_ns = ? WHERE id = ?"));
    CAIRN_RETURN_IF_ERROR(st.Bind(Now(), id).Run());
    return db.Changes() == 1 ? Status::Ok() : Status::NotFound("API token " + std::to_string(id) + " does not exist");
  });
}

Status SqliteCatalog::DeleteToken(int64_t id) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("DELETE FROM api_tokens WHERE id = ?"));
    CAIRN_RETURN_IF_ERROR(st.Bind(id).Run());
    return db.Changes() == 1 ? Status::Ok() : Status::NotFound("API token " + std::to_string(id) + " does not exist");
  });
}

// ------------------------------------------------------------------ sessions

Status SqliteCatalog::CreateSession(std::string_view session_id, const std::string& actor,
                                    const std::string& csrf_token, int64_t expires_ns) {
  if (session_id.size() < 16) return Status::InvalidArgument("a session id must be a long random secret");
  const std::string hash = HashSecret(session_id);
  return Write([&](sql::Db& db) -> Status {
    const int64_t now = Now();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO sessions (id_hash, actor, csrf_token, created_ns, expires_ns, last_seen_ns) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id_hash) DO NOTHING"));
    CAIRN_RETURN_IF_ERROR(st.Bind(hash, actor, csrf_token, now, expires_ns, now).Run());
    return db.Changes() == 1 ? Status::Ok() : Status::AlreadyExists("a session with this id already exists");
  });
}

Result<SessionRecord> SqliteCatalog::FindSession(std::string_view session_id) {
  const std::string hash = HashSecret(session_id);
  return Read([&](sql::Db& db) -> Result<SessionRecord> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT id_hash, actor, csrf_token, created_ns, expires_ns, last_seen_ns FROM sessions "
        "WHERE id_hash = ? AND expires_ns > ?"));
    st.Bind(hash, Now());
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("unknown or expired session");
    return SessionRecord{st.Text(0), st.Text(1), st.Text(2), st.Int(3), st.Int(4), st.Int(5)};
  });
}

Status SqliteCatalog::TouchSession(std::string_view session_id, int64_t expires_ns) {
  const std::string hash = HashSecret(session_id);
  return Write([&](sql::Db& db) -> Status {
    const int64_t now = Now();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "UPDATE sessions SET last_seen_ns = ?, expires_ns = ? WHERE id_hash = ? AND expires_ns > ?"));
    CAIRN_RETURN_IF_ERROR(st.Bind(now, expires_ns, hash, now).Run());
    return db.Changes() == 1 ? Status::Ok() : Status::NotFound("unknown or expired session");
  });
}

Status SqliteCatalog::DeleteSession(std::string_view session_id) {
  const std::string hash = HashSecret(session_id);
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("DELETE FROM sessions WHERE id_hash = ?"));
    return st.Bind(hash).Run();
  });
}

Result<int64_t> SqliteCatalog::PurgeExpiredSessions() {
  return Write([&](sql::Db& db) -> Result<int64_t> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("DELETE FROM sessions WHERE expires_ns <= ?"));
    CAIRN_RETURN_IF_ERROR(st.Bind(Now()).Run());
    return db.Changes();
  });
}

// ------------------------------------------------------------------ audit

Result<int64_t> SqliteCatalog::AppendAudit(const std::string& actor, const std::string& action, const Json& details) {
  return Write([&](sql::Db& db) -> Result<int64_t> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO audit (time_ns, actor, action, details) VALUES (?, ?, ?, ?)"));
    CAIRN_RETURN_IF_ERROR(st.Bind(Now(), actor, action, JsonColumn(details)).Run());
    return db.LastInsertId();
  });
}

Result<Page<AuditRecord>> SqliteCatalog::ListAudit(const PageRequest& page) {
  return Read([&](sql::Db& db) {
    return PageById<AuditRecord>(
        db, "SELECT id, time_ns, actor, action, details FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2", 'u',
        page,
        [](const sql::Stmt& st) -> Result<AuditRecord> {
          return AuditRecord{st.Int(0), st.Int(1), st.Text(2), st.Text(3), ParseJsonColumn(st.TextView(4))};
        },
        [](sql::Stmt&) {});
  });
}

// ------------------------------------------------------------------ settings

Result<std::optional<std::string>> SqliteCatalog::GetSetting(const std::string& key) {
  return Read([&](sql::Db& db) -> Result<std::optional<std::string>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("SELECT value FROM settings WHERE key = ?"));
    st.Bind(key);
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? std::optional<std::string>(st.Text(0)) : std::nullopt;
  });
}

Status SqliteCatalog::PutSetting(const std::string& key, const std::string& value) {
  if (key.empty()) return Status::InvalidArgument("a setting needs a key");
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO settings (key, value, updated_ns) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (key) DO UPDATE SET value = ?2, updated_ns = ?3"));
    return st.Bind(key, value, Now()).Run();
  });
}

Status SqliteCatalog::DeleteSetting(const std::string& key) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("DELETE FROM settings WHERE key = ?"));
    return st.Bind(key).Run();
  });
}

// ------------------------------------------------------------------ scheduler

Result<std::optional<SchedulerState>> SqliteCatalog::GetSchedulerState(const std::string& key) {
  return Read([&](sql::Db& db) -> Result<std::optional<SchedulerState>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT key, state FROM scheduler_state WHERE key = ?"));
    st.Bind(key);
    CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? std::optional<SchedulerState>(ReadSchedulerRow(st)) : std::nullopt;
  });
}

Status SqliteCatalog::PutSchedulerState(const SchedulerState& s) {
  if (s.key.empty()) return Status::InvalidArgument("a scheduler state needs a key");
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO scheduler_state (key, state, updated_ns) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (key) DO UPDATE SET state = ?2, updated_ns = ?3"));
    return st.Bind(s.key, JsonColumn(s.state), Now()).Run();
  });
}

Result<std::vector<SchedulerState>> SqliteCatalog::ListSchedulerStates() {
  return Read([&](sql::Db& db) -> Result<std::vector<SchedulerState>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT key, state FROM scheduler_state ORDER BY key"));
    std::vector<SchedulerState> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadSchedulerRow(st));
    }
    return out;
  });
}

Status SqliteCatalog::DeleteSchedulerState(const std::string& key) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("DELETE FROM scheduler_state WHERE key = ?"));
    return st.Bind(key).Run();
  });
}

// ---------------------------------------------------- check rotation

Status SqliteCatalog::RecordPackReads(const std::string& target, const std::vector<std::string>& packs,
                                      int64_t read_ns) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "INSERT INTO check_packs (target, pack, last_read_ns) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (target, pack) DO UPDATE SET last_read_ns = ?3"));
    for (const std::string& pack : packs) {
      CAIRN_RETURN_IF_ERROR(st.Bind(target, pack, read_ns).Run());
      st.Reset();
    }
    return Status::Ok();
  });
}

Result<std::vector<PackRead>> SqliteCatalog::ListPackReads(const std::string& target) {
  return Read([&](sql::Db& db) -> Result<std::vector<PackRead>> {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
        "SELECT pack, last_read_ns FROM check_packs WHERE target = ? ORDER BY pack"));
    st.Bind(target);
    std::vector<PackRead> out;
    for (;;) {
      CAIRN_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), st.Int(1)});
    }
    return out;
  });
}

Status SqliteCatalog::DeletePackReads(const std::string& target, const std::vector<std::string>& packs) {
  return Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare("DELETE FROM check_packs WHERE target = ? AND pack = ?"));
    for (const std::string& pack : packs) {
      CAIRN_RETURN_IF_ERROR(st.Bind(target, pack).Run());
      st.Reset();
    }
    return Status::Ok();
  });
}

// ------------------------------------------------------------------ pruning

Result<PruneStats> SqliteCatalog::PruneHistory(const HistoryRetention& retention) {
  if (retention.days < 1) return Status::InvalidArgument("history is kept for at least one day");
  std::lock_guard<std::mutex> one_at_a_time(prune_mu_);
  const int64_t now = Now();
  const int64_t cutoff = now - retention.days * kNsPerDay;
  PruneStats stats;
  // The jobs that stay whatever their age, noted once in a table of the
  // writer connection: a job that ends during the prune is new, never old.
  // ("+status": one sequential pass over the covering (service, kind,
  // status, id) index, not a lookup of every row found by status.)
  CAIRN_RETURN_IF_ERROR(Write([&](sql::Db& db) {
    return db.Exec(
        "CREATE TEMP TABLE IF NOT EXISTS prune_keep (id INTEGER PRIMARY KEY); DELETE FROM prune_keep;"
        "INSERT OR IGNORE INTO prune_keep SELECT max(id) FROM jobs WHERE +status IN ('succeeded', 'failed') "
        "  GROUP BY service, kind, status;"
        "INSERT OR IGNORE INTO prune_keep SELECT last_job FROM service_targets;"
        "INSERT OR IGNORE INTO prune_keep SELECT success_job FROM service_targets;");
  }));
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(int64_t deleted, Write([&](sql::Db& db) -> Result<int64_t> {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt st, db.Prepare(
          "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE ended_ns > 0 AND ended_ns < ?1 "
          "AND status NOT IN ('queued', 'running') AND id NOT IN (SELECT id FROM prune_keep) ORDER BY id LIMIT ?2)"));
      CAIRN_RETURN_IF_ERROR(st.Bind(cutoff, kPruneBatch).Run());
      return db.Changes();
    }));
    stats.jobs += deleted;
    if (deleted < kPruneBatch) break;
  }
  CAIRN_RETURN_IF_ERROR(Write([&](sql::Db& db) -> Status {
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt count, db.Prepare(
        "SELECT count(*) FROM deliveries WHERE alert_id IN "
        "(SELECT id FROM alerts WHERE resolved_ns > 0 AND resolved_ns < ?1) "
        "OR (alert_id IS NULL AND next_retry_ns = 0 AND created_ns < ?1)"));
    count.Bind(cutoff);
    CAIRN_ASSIGN_OR_RETURN(bool row, count.Step());
    stats.deliveries = row ? count.Int(0) : 0;
    count.Reset();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt alerts, db.Prepare(
        "DELETE FROM alerts WHERE resolved_ns > 0 AND resolved_ns < ?"));
    CAIRN_RETURN_IF_ERROR(alerts.Bind(cutoff).Run());
    stats.alerts = db.Changes();
    CAIRN_ASSIGN_OR_RETURN(sql::Stmt tests, db.Prepare(
        "DELETE FROM deliveries WHERE alert_id IS NULL AND next_retry_ns = 0 AND created_ns < ?"));
    CAIRN_RETURN_IF_ERROR(tests.Bind(cutoff).Run());
    if (retention.audit_days > 0) {
      CAIRN_ASSIGN_OR_RETURN(sql::Stmt audit, db.Prepare("DELETE FROM audit WHERE time_ns < ?"));
      CAIRN_RETURN_IF_ERROR(audit.Bind(now - retention.audit_days * kNsPerDay).Run());
      stats.audit = db.Changes();
    }
    return Status::Ok();
  }));
  // Give the freed pages back to the file system (auto_vacuum=INCREMENTAL).
  std::lock_guard<std::mutex> lock(write_mu_);
  CAIRN_RETURN_IF_ERROR(writer_->Exec("PRAGMA incremental_vacuum"));
  return stats;
}

}  // namespace cairn::catalog_internal

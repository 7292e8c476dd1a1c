// The catalog's schema as an ordered list of migrations (docs/catalog.md
// explains each table and index). Rules for a new version: append a
// migration, never edit one that has shipped; keep `meta` as it is (an older
// Cairn reads it to name the version that wrote a file it refuses).
//
// Conventions: enums are stored in their text form (daemon/job_types.h);
// times are ns since the epoch, 0 = not yet; JSON is stored as text.
#include "daemon/catalog_sqlite_impl.h"

namespace cairn::catalog_internal {

namespace {

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_ns INTEGER NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: an id pruned from history is never handed out again, so a
-- link to /jobs/<id> cannot come to mean another job.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  service TEXT NOT NULL,
  targets TEXT NOT NULL,
  triggered_by TEXT NOT NULL,
  status TEXT NOT NULL,
  queued_ns INTEGER NOT NULL,
  started_ns INTEGER NOT NULL DEFAULT 0,
  ended_ns INTEGER NOT NULL DEFAULT 0,
  bytes_read INTEGER NOT NULL DEFAULT 0,
  bytes_added INTEGER NOT NULL DEFAULT 0,
  point_id TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  result TEXT,
  progress TEXT,
  progress_ns INTEGER NOT NULL DEFAULT 0,
  log_next_seq INTEGER NOT NULL DEFAULT 1,
  log_bytes INTEGER NOT NULL DEFAULT 0,
  log_head_seq INTEGER NOT NULL DEFAULT 0,
  log_dropped INTEGER NOT NULL DEFAULT 0,
  request TEXT,
  pid INTEGER NOT NULL DEFAULT 0
);
-- the jobs list filtered by service (and service + kind), newest first
CREATE INDEX jobs_by_service ON jobs(service, id);
-- filtered by status; the queued/running rows at start-up and for gauges
CREATE INDEX jobs_by_status ON jobs(status, id);
-- filtered by service and status ("the failures of app-db"): without it a
-- rare status of one service is found by walking the other two indexes
CREATE INDEX jobs_by_service_status ON jobs(service, status, id);
-- run times of recent successes (p95), last success/failure per (service, kind)
CREATE INDEX jobs_by_service_kind ON jobs(service, kind, status, id);

-- jobs that ended, by kind and status: counters that history pruning
-- does not lower (cairn_jobs_total)
CREATE TABLE job_counts (
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (kind, status)
) WITHOUT ROWID;

CREATE TABLE job_logs (
  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  time_ns INTEGER NOT NULL,
  level TEXT NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- one row per (service, target), written when a backup ends and by the
-- point triggers below: the metrics and the overview read it as it is
CREATE TABLE service_targets (
  service TEXT NOT NULL,
  target TEXT NOT NULL,
  last_job INTEGER NOT NULL DEFAULT 0,
  last_status TEXT NOT NULL DEFAULT '',
  last_started_ns INTEGER NOT NULL DEFAULT 0,
  last_ended_ns INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  success_job INTEGER NOT NULL DEFAULT 0,
  success_ended_ns INTEGER NOT NULL DEFAULT 0,
  success_duration_s REAL NOT NULL DEFAULT 0,
  success_size INTEGER NOT NULL DEFAULT 0,
  success_added INTEGER NOT NULL DEFAULT 0,
  success_point TEXT NOT NULL DEFAULT '',
  points INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (service, target)
) WITHOUT ROWID;

-- one row per restore point of a service, whatever the targets holding it
CREATE TABLE points (
  pk INTEGER PRIMARY KEY,
  service TEXT NOT NULL,
  point_id TEXT NOT NULL,
  time_ns INTEGER NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  size INTEGER NOT NULL,
  added INTEGER NOT NULL,
  duration_s REAL NOT NULL,
  parts TEXT NOT NULL,             -- JSON [{name, kind, bytes, files}]
  inexact TEXT NOT NULL DEFAULT '[]',  -- JSON [reason, ...] of the fingerprint
  UNIQUE (service, point_id)
);
-- a service's points newest first (keyset pages), its newest complete point
CREATE INDEX points_by_time ON points(service, time_ns, point_id);

CREATE TABLE point_targets (
  point_pk INTEGER NOT NULL REFERENCES points(pk) ON DELETE CASCADE,
  target TEXT NOT NULL,
  service TEXT NOT NULL,
  native_id TEXT NOT NULL,
  added INTEGER NOT NULL,
  cached_ns INTEGER NOT NULL,
  PRIMARY KEY (point_pk, target)
) WITHOUT ROWID;
-- a sync of one target (and service)
CREATE INDEX point_targets_by_target ON point_targets(target, service);

-- manifests apart: list pages stay small and dense; BLOB affinity keeps
-- plain JSON text as text and zstd frames as blobs
CREATE TABLE point_manifests (
  point_pk INTEGER PRIMARY KEY REFERENCES points(pk) ON DELETE CASCADE,
  manifest BLOB NOT NULL
);

CREATE TRIGGER point_targets_count_insert AFTER INSERT ON point_targets BEGIN
  INSERT INTO service_targets (service, target, points) VALUES (NEW.service, NEW.target, 1)
    ON CONFLICT (service, target) DO UPDATE SET points = points + 1;
END;
CREATE TRIGGER point_targets_count_delete AFTER DELETE ON point_targets BEGIN
  UPDATE service_targets SET points = points - 1 WHERE service = OLD.service AND target = OLD.target;
END;

CREATE TABLE point_drills (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  point_pk INTEGER NOT NULL REFERENCES points(pk) ON DELETE CASCADE,
  target TEXT NOT NULL,
  job_id INTEGER NOT NULL,
  verified_ns INTEGER NOT NULL,
  duration_s REAL NOT NULL,
  outcome TEXT NOT NULL,
  details TEXT
);
-- a point's newest drill (and newest passed one)
CREATE INDEX point_drills_by_point ON point_drills(point_pk, verified_ns);

CREATE TABLE drill_status (
  service TEXT PRIMARY KEY,
  last_ns INTEGER NOT NULL DEFAULT 0,
  last_outcome TEXT NOT NULL DEFAULT '',
  last_point TEXT NOT NULL DEFAULT '',
  success_ns INTEGER NOT NULL DEFAULT 0,
  success_duration_s REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  rule TEXT NOT NULL,
  severity TEXT NOT NULL,
  service TEXT NOT NULL,
  target TEXT NOT NULL,
  message TEXT NOT NULL,
  first_seen_ns INTEGER NOT NULL,
  last_seen_ns INTEGER NOT NULL,
  occurrences INTEGER NOT NULL,
  resolved_ns INTEGER NOT NULL DEFAULT 0,
  acked_ns INTEGER NOT NULL DEFAULT 0,
  acked_by TEXT NOT NULL DEFAULT ''
);
-- at most one open alert per condition; repeats find it here
CREATE UNIQUE INDEX alerts_open_by_condition ON alerts(rule, service, target) WHERE resolved_ns = 0;
-- the open alerts, newest first, however many resolved ones there are
CREATE INDEX alerts_open ON alerts(id) WHERE resolved_ns = 0;
-- pruning resolved alerts
CREATE INDEX alerts_by_resolved ON alerts(resolved_ns) WHERE resolved_ns > 0;

CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  channel TEXT NOT NULL,
  alert_id INTEGER REFERENCES alerts(id) ON DELETE CASCADE,
  event TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  next_retry_ns INTEGER NOT NULL DEFAULT 0,
  delivered_ns INTEGER NOT NULL DEFAULT 0
);
-- the sender's queue: pending deliveries by due time
CREATE INDEX deliveries_due ON deliveries(next_retry_ns) WHERE next_retry_ns > 0;
-- an alert's deliveries (and the cascade when it is pruned)
CREATE INDEX deliveries_by_alert ON deliveries(alert_id, id);

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_ns INTEGER NOT NULL,
  last_used_ns INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  actor TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  expires_ns INTEGER NOT NULL,
  last_seen_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions(expires_ns);

CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  details TEXT
);

CREATE TABLE scheduler_state (
  key TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  updated_ns INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE check_packs (
  target TEXT NOT NULL,
  pack TEXT NOT NULL,
  last_read_ns INTEGER NOT NULL,
  PRIMARY KEY (target, pack)
) WITHOUT ROWID;
)sql";

}  // namespace

const std::vector<Migration>& SqliteMigrations() {
  static const std::vector<Migration> migrations = {
      {1, "jobs, logs, points cache, alerts, deliveries, tokens, sessions, audit, settings, scheduler, check", kSchemaV1},
  };
  return migrations;
}

}  // namespace cairn::catalog_internal

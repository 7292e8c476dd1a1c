// The shapes of docs/api.md (the contract). Absent values are null, never left out.

export type Role = 'read' | 'operate' | 'admin';

export interface Session {
  role: Role;
  user: string;
  expires_at: string;
  csrf_token: string;
}

export interface Schedule {
  every: string | null;
  cron: string | null;
  timezone: string;
  catch_up: string;
  jitter: string | null;
  paused: boolean;
}

export type HealthState = 'healthy' | 'failing' | 'stale' | 'unknown';

export interface HealthCheck {
  ok: boolean;
  detail: string;
}

export interface Health {
  state: HealthState;
  recent: HealthCheck;
  complete: HealthCheck;
  verified: HealthCheck & { at: string | null; duration_s: number | null };
}

export interface LastBackup {
  point_id: string;
  time: string;
  kind: string;
  status: string;
  size: number;
  added: number;
  duration_s: number;
  targets: string[];
}

export interface JobProgress {
  phase: string;
  part: string | null;
  target: string | null;
  bytes_done: number;
  bytes_total: number | null;
  files_done: number;
  files_total: number | null;
  percent: number | null;
  eta_s: number | null;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled' | 'interrupted';

export interface Validation {
  ok: boolean;
  exact: boolean;
  differences: string[];
  /** Why only the structure was compared (e.g. a point-in-time recovery). */
  structure_only?: string[];
}

export interface JobResult {
  point_id?: string | null;
  targets?: Record<string, string>;
  mode?: string;
  summary?: string;
  connection?: Record<string, unknown> | null;
  stop_hint?: string | null;
  validation?: Validation | null;
  safety_point_id?: string | null;
  [k: string]: unknown;
}

export interface Job {
  id: number;
  kind: string;
  service: string | null;
  targets: string[];
  trigger: string;
  missed: number;
  status: JobStatus;
  queued_at: string;
  started_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  bytes_read: number;
  bytes_added: number;
  point_id: string | null;
  error: string | null;
  waiting_on: string | null;
  progress: JobProgress | null;
  params: Record<string, unknown>;
  result: JobResult | null;
}

export interface LastJob {
  id: number;
  kind: string;
  status: JobStatus;
  trigger: string;
  started_at: string | null;
  ended_at: string | null;
  error: string | null;
}

export interface Service {
  name: string;
  type: string;
  targets: string[];
  schedule: Schedule | null;
  next_run: string | null;
  freshness_s: number | null;
  last_backup: LastBackup | null;
  last_job: LastJob | null;
  running_job: Job | null;
  health: Health;
  alerts_open: number;
  size: number | null;
  pitr: Pitr | null;
}

/** The recoverable window of a service with continuous archiving (docs/pitr.md). */
export interface Pitr {
  window_start: string;
  window_end: string;
  /** Seconds since the newest archived WAL reached the repository. */
  lag_s: number;
}

export interface ServiceDetail extends Service {
  retention: Record<string, Record<string, unknown>>;
  verify: { every: string } | null;
  volumes: string[];
  rpo_achieved_s: number | null;
  rto_measured_s: number | null;
  /** docs/api.md addition: what an overwrite restore replaces, one line each. */
  replaces?: string[] | null;
}

export interface ConfigStatus {
  ok: boolean;
  file: string;
  loaded_at: string | null;
  error: string | null;
}

export interface Summary {
  services: number;
  healthy: number;
  failing: number;
  stale: number;
  unknown: number;
  alerts_open: number;
}

export interface ServicesResponse {
  services: Service[];
  summary: Summary;
  config: ConfigStatus;
}

export interface Part {
  name: string;
  kind: 'stream' | 'files' | string;
  bytes: number;
  files: number | null;
}

export interface Point {
  id: string;
  service: string;
  time: string;
  kind: string;
  status: 'complete' | 'incomplete' | 'damaged' | string;
  size: number;
  added: number;
  duration_s: number;
  parts: Part[];
  targets: string[];
  verified: { at: string; duration_s: number; outcome: string } | null;
  inexact_reasons: string[];
  manifest?: Record<string, unknown>;
}

export interface PointsPage {
  points: Point[];
  next_cursor: string | null;
}

export interface History {
  points: { time: string; size: number; added: number; duration_s: number; kind: string; status: string }[];
  drills: { time: string; duration_s: number; outcome: string }[];
  jobs: { time: string; kind: string; status: string; duration_s: number | null }[];
}

export type CalendarCell = 'ok' | 'failed' | 'missing' | 'none';

export interface Calendar {
  days: string[];
  services: { name: string; cells: CalendarCell[] }[];
}

export interface FileEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mtime: string | null;
  mode: string;
}

export interface FileListing {
  path: string;
  entries: FileEntry[];
}

export interface Alert {
  id: number | string;
  rule: string;
  severity: 'warning' | 'critical';
  service: string | null;
  target: string | null;
  message: string;
  /** docs/api.md addition: what to do about it. */
  hint?: string | null;
  first_seen: string;
  last_seen: string;
  count: number;
  acked_at: string | null;
  acked_by: string | null;
  resolved_at: string | null;
}

export interface ScheduleEntry {
  key: string;
  kind: string;
  service: string;
  target: string | null;
  schedule: Schedule;
  paused: boolean;
  next_runs: string[];
  last_run: string | null;
  job_id: number | null;
}

export interface LogLine {
  seq: number;
  time: string;
  level: string;
  text: string;
}

export interface LogPage {
  lines: LogLine[];
  next_after: number;
  dropped: number;
  done: boolean;
}

#!/usr/bin/env node
// A development stand-in for `cairn serve`: the REST API of docs/api.md with
// made-up services, restore points, jobs that progress (server-sent events),
// a failing service, alerts, schedules and file browsing; it also serves the
// built dashboard (web/dist) with the same strict Content-Security-Policy and
// caching headers the real server uses. No dependencies: Node >= 18.
//
//   node web/mock/server.mjs [--port 8421] [--host 127.0.0.1] [--password admin]
//                            [--seed-services 200 --seed-points 500000]
//                            [--job-seconds 5] [--dist web/dist]
//
// Development-only routes (not part of the API) let tests break and fix a
// service, and show a configuration error:
//   POST /__mock/break/{service}   next backups of the service fail
//   POST /__mock/fix/{service}     they succeed again
//   POST /__mock/config-error      the configuration fails to reload (banner)
//   POST /__mock/config-ok         it reloads fine again
//
// This is a tool for building and testing the dashboard, never shipped in the
// binary; CI runs the browser tests against the real daemon.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------- options

function opt(name, def) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  const env = process.env['MOCK_' + name.toUpperCase().replace(/-/g, '_')];
  return env !== undefined ? env : def;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PORT = Number(opt('port', 8421));
const HOST = opt('host', '127.0.0.1');
const PASSWORD = opt('password', process.env.CAIRN_ADMIN_PASSWORD || 'admin');
const SEED_SERVICES = Number(opt('seed-services', 0));
const SEED_POINTS = Number(opt('seed-points', 0));
const JOB_SECONDS = Number(opt('job-seconds', 5));
const DIST = path.resolve(opt('dist', path.join(HERE, '..', 'dist')));
const SESSION_IDLE_S = Number(opt('session-idle', 12 * 3600));
const TOKENS = { 'cairn-read-token': 'read', 'cairn-operate-token': 'operate', 'cairn-admin-token': 'admin' };

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const T0 = Date.now();
const HOUR = 3600e3;
const DAY = 24 * HOUR;
const iso = (ms) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

// Deterministic pseudo-random numbers from a string.
function hash32(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}
const rnd = (s) => hash32(s) / 4294967296;
const hex8 = (n) => (n >>> 0).toString(16).padStart(8, '0');

// ---------------------------------------------------------------- services

const TYPE_PARTS = {
  postgres: (s) => [
    { name: 'globals', kind: 'stream', share: 0.001 },
    { name: 'db.app', kind: 'stream', share: 0.999 },
  ],
  mysql: () => [{ name: 'db.shop', kind: 'stream', share: 1 }],
  redis: () => [{ name: 'rdb', kind: 'stream', share: 1 }],
  sqlite: (s) => [{ name: 'db', kind: 'stream', share: 1 }],
  volume: () => [{ name: 'volumes', kind: 'files', share: 1, files: 1284 }],
};

const services = new Map();

/**
 * A service's restore points are `extra` (made while the mock runs, newest
 * first) followed by `gen.count` generated ones, older, one every
 * `gen.interval` ms from `gen.newest` back. Generated points cost no memory,
 * so 500,000 of them are cheap.
 */
function addService(def) {
  const s = {
    name: def.name,
    type: def.type,
    targets: def.targets,
    schedule: def.schedule === null ? null : { every: null, cron: null, timezone: 'UTC', catch_up: 'once', jitter: null, paused: false, ...def.schedule },
    freshness_s: def.freshness_s ?? null,
    retention: def.retention ?? Object.fromEntries(def.targets.map((t) => [t, t === 'local' ? { keep_hourly: 24, keep_daily: 7 } : { keep_daily: 30, keep_monthly: 12 }])),
    verify: def.verify ?? null,
    volumes: def.volumes ?? [],
    location: def.location,
    pitr: def.pitr ?? null,
    gen: { count: def.count ?? 0, interval: def.interval ?? HOUR, newest: def.newest ?? T0 - 20 * 60e3, baseSize: def.size ?? 50 << 20 },
    failingSince: def.failingSince ?? null, // generated failed jobs after this time
    extra: [],
    broken: def.broken ?? null, // error message of the next backups
    lastJob: null,
    runningJob: null,
    drills: [],
    verifiedOverride: new Map(),
  };
  services.set(s.name, s);
  return s;
}

function genPoint(s, j) {
  const g = s.gen;
  const t = g.newest - j * g.interval;
  const seed = s.name + ':' + j;
  const r = rnd(seed);
  const growth = 1 + (0.35 * (g.count - j)) / Math.max(1, g.count);
  const size = Math.round(g.baseSize * growth * (0.98 + 0.04 * r));
  const kind = j % 97 === 13 ? 'manual' : j % 211 === 5 ? 'safety' : 'scheduled';
  const added = Math.round(size * (j % 24 === 3 ? 0.09 : 0.002 + 0.01 * rnd(seed + 'a')));
  const dur = (s.type === 'volume' ? 6 : 2) + (size / (50 << 20)) * (1 + 0.6 * rnd(seed + 'd'));
  const id = hex8(hash32(seed + '#')) + hex8(j);
  const drillDaily = s.verify && j % Math.max(1, Math.round(DAY / g.interval)) === 1;
  return makePoint(s, {
    id,
    time: t,
    kind,
    size,
    added,
    duration_s: Math.round(dur * 10) / 10,
    verified: drillDaily ? { at: iso(t + 40 * 60e3), duration_s: Math.round((8 + 10 * rnd(seed + 'v')) * 10) / 10, outcome: 'passed' } : null,
  });
}

function makePoint(s, p) {
  const parts = TYPE_PARTS[s.type](s).map((x) => ({
    name: x.name,
    kind: x.kind,
    bytes: Math.round(p.size * x.share),
    files: x.kind === 'files' ? x.files : null,
  }));
  return {
    id: p.id,
    service: s.name,
    time: typeof p.time === 'number' ? iso(p.time) : p.time,
    kind: p.kind,
    status: p.status ?? 'complete',
    size: p.size,
    added: p.added,
    duration_s: p.duration_s,
    parts,
    targets: p.targets ?? s.targets.slice(),
    verified: s.verifiedOverride.get(p.id) ?? p.verified ?? null,
    inexact_reasons: p.inexact_reasons ?? [],
  };
}

const pointCount = (s) => s.extra.length + s.gen.count;
const pointAt = (s, i) => (i < s.extra.length ? s.extra[i] : genPoint(s, i - s.extra.length));
const newestPoint = (s) => (pointCount(s) ? pointAt(s, 0) : null);
function newestGood(s) {
  for (let i = 0; i < Math.min(pointCount(s), 50); i++) {
    const p = pointAt(s, i);
    if (p.status === 'complete') return p;
  }
  return null;
}

function findPoint(s, ref) {
  if (ref === 'latest') {
    for (let i = 0; i < pointCount(s); i++) {
      const p = pointAt(s, i);
      if (p.status === 'complete' && p.kind !== 'safety') return p;
    }
    return null;
  }
  if (!/^[0-9a-f]{4,16}$/.test(ref)) return null;
  for (const p of s.extra) if (p.id.startsWith(ref)) return p;
  if (ref.length === 16) {
    const j = parseInt(ref.slice(8), 16);
    if (j < s.gen.count) {
      const p = genPoint(s, j);
      if (p.id === ref) return p;
    }
    return null;
  }
  const n = Math.min(s.gen.count, 200000);
  for (let j = 0; j < n; j++) {
    const p = genPoint(s, j);
    if (p.id.startsWith(ref)) return p;
  }
  return null;
}

function seedDefault() {
  addService({
    name: 'app-db',
    type: 'postgres',
    targets: ['local', 'offsite'],
    schedule: { every: '1h', jitter: '5m' },
    freshness_s: 7200,
    verify: { every: '1d' },
    count: 24 * 75,
    interval: HOUR,
    newest: T0 - 23 * 60e3,
    size: 48 << 20,
    location: { host: '127.0.0.1', port: 5432, databases: ['app'] },
    pitr: { window_start: iso(T0 - 7 * DAY), window_end: iso(T0 - 2000), lag_s: 2.1 },
  });
  addService({
    name: 'notes',
    type: 'sqlite',
    targets: ['local'],
    schedule: { every: '1h' },
    freshness_s: 7200,
    verify: { every: '1d' },
    count: 24 * 40,
    interval: HOUR,
    newest: T0 - 41 * 60e3,
    size: 3 << 20,
    location: { path: '/srv/notes/notes.db' },
  });
  addService({
    name: 'uploads',
    type: 'volume',
    targets: ['local', 'offsite'],
    schedule: { every: '6h' },
    freshness_s: 86400,
    volumes: ['/srv/app/uploads', '/etc/app'],
    count: 4 * 60,
    interval: 6 * HOUR,
    newest: T0 - 2 * HOUR,
    size: 310 << 20,
    location: {},
  });
  addService({
    name: 'cache',
    type: 'redis',
    targets: ['local'],
    schedule: { every: '30m' },
    freshness_s: 3600,
    count: 48 * 30,
    interval: HOUR / 2,
    newest: T0 - 2 * DAY - 3 * HOUR,
    size: 12 << 20,
    location: { host: '127.0.0.1', port: 6390 },
    failingSince: T0 - 2 * DAY - 3 * HOUR,
    broken: 'cannot connect to Redis at 127.0.0.1:6390: Connection refused',
  });
  addService({
    name: 'shop-db',
    type: 'mysql',
    targets: ['local'],
    schedule: { cron: '15 3 * * *', timezone: 'Europe/Berlin', paused: true },
    freshness_s: 2 * 86400,
    count: 60,
    interval: DAY,
    newest: T0 - 4 * DAY - 5 * HOUR,
    size: 220 << 20,
    location: { socket: '/run/mysqld/mysqld.sock', databases: ['shop'] },
  });
  addService({
    name: 'wiki',
    type: 'sqlite',
    targets: ['local', 'offsite'],
    schedule: { every: '1d' },
    freshness_s: 2 * 86400,
    count: 0,
    location: { path: '/srv/wiki/wiki.db' },
  });
}

function seedMany(n, total) {
  const types = ['postgres', 'mysql', 'redis', 'sqlite', 'volume'];
  const per = Math.floor(total / n);
  for (let i = 0; i < n; i++) {
    const type = types[i % types.length];
    const failing = i % 17 === 3;
    const stale = i % 23 === 7;
    const interval = HOUR;
    addService({
      name: `svc-${String(i).padStart(3, '0')}-${type}`,
      type,
      targets: i % 3 ? ['local', 'offsite'] : ['local'],
      schedule: { every: '1h' },
      freshness_s: 7200,
      verify: i % 4 === 0 ? { every: '1d' } : null,
      volumes: type === 'volume' ? [`/srv/data-${i}`] : [],
      count: per + (i < total - per * n ? 1 : 0),
      interval,
      newest: T0 - (failing || stale ? 3 * DAY : (10 + (i % 50)) * 60e3),
      size: (1 + (i % 9)) * (8 << 20),
      location: {
        postgres: { host: '127.0.0.1', port: 5432, databases: [`db${i}`] },
        mysql: { socket: '/run/mysqld/mysqld.sock', databases: [`shop${i}`] },
        redis: { host: '127.0.0.1', port: 6379 + (i % 50) },
        sqlite: { path: `/srv/app${i}/app.db` },
        volume: {},
      }[type],
      failingSince: failing ? T0 - 3 * DAY : null,
      broken: failing ? 'backup failed: disk full on target local' : null,
    });
  }
}

// ---------------------------------------------------------------- jobs, alerts, events

let nextJobId = 1;
const jobs = []; // newest last
const jobsById = new Map();
const logs = new Map();
const alerts = [];
let nextAlertId = 1;
const clients = new Set();
let config = { ok: true, file: '/etc/cairn/cairn.yaml', loaded_at: iso(T0), error: null };

function emit(event, data) {
  const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const c of clients) c.write(msg);
}

function newJob(s, kind, trigger, fields = {}) {
  const j = {
    id: nextJobId++,
    kind,
    service: s ? s.name : null,
    targets: fields.targets ?? (s ? s.targets.slice() : []),
    trigger,
    missed: 0,
    status: 'queued',
    queued_at: iso(fields.queued ?? Date.now()),
    started_at: null,
    ended_at: null,
    duration_s: null,
    bytes_read: 0,
    bytes_added: 0,
    point_id: null,
    error: null,
    waiting_on: null,
    progress: null,
    params: fields.params ?? {},
    result: null,
  };
  jobs.push(j);
  jobsById.set(j.id, j);
  logs.set(j.id, []);
  return j;
}

function log(j, level, text, at = Date.now()) {
  const l = logs.get(j.id);
  l.push({ seq: l.length + 1, time: iso(at), level, text });
}

function finish(j, status, at = Date.now()) {
  j.status = status;
  j.ended_at = iso(at);
  j.duration_s = j.started_at ? Math.round((at - Date.parse(j.started_at)) / 100) / 10 : 0;
  j.progress = null;
  j.waiting_on = null;
}

function lastJobOf(j) {
  return { id: j.id, kind: j.kind, status: j.status, trigger: j.trigger, started_at: j.started_at, ended_at: j.ended_at, error: j.error };
}

function openAlert(s, rule, severity, message, hint) {
  let a = alerts.find((x) => x.service === s.name && x.rule === rule && !x.resolved_at);
  const now = iso(Date.now());
  if (a) {
    a.count++;
    a.last_seen = now;
    a.message = message;
  } else {
    a = { id: nextAlertId++, rule, severity, service: s.name, target: null, message, hint, first_seen: now, last_seen: now, count: 1, acked_at: null, acked_by: null, resolved_at: null };
    alerts.push(a);
  }
  emit('alert', a);
}

function resolveAlerts(s, rule) {
  for (const a of alerts) {
    if (a.service === s.name && a.rule === rule && !a.resolved_at) {
      a.resolved_at = iso(Date.now());
      emit('alert', a);
    }
  }
}

// Historic jobs for the small services (the generated points' backups, failures).
function seedJobs(maxPerService) {
  const hist = [];
  for (const s of services.values()) {
    const g = s.gen;
    const n = Math.min(g.count, maxPerService);
    for (let j = n - 1; j >= 0; j--) {
      const p = genPoint(s, j);
      const end = Date.parse(p.time);
      hist.push({ s, kind: 'backup', start: end - p.duration_s * 1000, end, ok: true, p });
      if (p.verified && Date.parse(p.verified.at) < T0)
        hist.push({ s, kind: 'drill', start: Date.parse(p.verified.at) - p.verified.duration_s * 1000, end: Date.parse(p.verified.at), ok: true, p });
    }
    if (s.failingSince) {
      const step = s.gen.interval;
      for (let t = s.failingSince + step; t < T0; t += step) hist.push({ s, kind: 'backup', start: t, end: t + 1500, ok: false });
    }
  }
  hist.sort((a, b) => a.start - b.start);
  for (const h of hist) {
    const j = newJob(h.s, h.kind, 'schedule', { queued: h.start - 200 });
    j.started_at = iso(h.start);
    log(j, 'info', `${h.kind} of ${h.s.name} started`, h.start);
    if (h.ok) {
      j.bytes_read = h.p.size;
      j.bytes_added = h.kind === 'backup' ? h.p.added : 0;
      j.point_id = h.p.id;
      if (h.kind === 'backup') {
        j.result = { point_id: h.p.id, targets: Object.fromEntries(h.s.targets.map((t) => [t, 'stored'])) };
        log(j, 'info', `point ${h.p.id} stored on ${h.s.targets.join(', ')}`, h.end);
      } else {
        j.result = { mode: 'new-instance', point_id: h.p.id, summary: 'restore drill passed', connection: null, stop_hint: null, validation: { ok: true, exact: true, differences: [] }, safety_point_id: null };
        log(j, 'info', 'validation passed', h.end);
      }
      finish(j, 'succeeded', h.end);
    } else {
      j.error = h.s.broken;
      log(j, 'error', h.s.broken, h.end);
      finish(j, 'failed', h.end);
    }
    h.s.lastJob = lastJobOf(j);
  }
  for (const s of services.values()) {
    if (s.failingSince) {
      const n = Math.round((T0 - s.failingSince) / s.gen.interval);
      const a = {
        id: nextAlertId++,
        rule: 'backup_failed',
        severity: 'critical',
        service: s.name,
        target: null,
        message: `backup of ${s.name} failed: ${s.broken}`,
        hint: s.type === 'redis' ? `Start Redis on ${s.location.host}:${s.location.port} (or fix host/port in the configuration), then use “Back up now”.` : 'Open the job log, fix the cause, then use “Back up now”.',
        first_seen: iso(s.failingSince + s.gen.interval),
        last_seen: iso(T0 - 10 * 60e3),
        count: n,
        acked_at: null,
        acked_by: null,
        resolved_at: null,
      };
      alerts.push(a);
    }
  }
  const stale = services.get('shop-db');
  if (stale) {
    alerts.push({
      id: nextAlertId++,
      rule: 'backup_stale',
      severity: 'warning',
      service: 'shop-db',
      target: null,
      message: 'newest good point of shop-db is 4 d old (freshness 2 d)',
      hint: 'Its schedule is paused: resume it on the Schedules page, or use “Back up now”.',
      first_seen: iso(T0 - 2 * DAY - 5 * HOUR),
      last_seen: iso(T0 - 5 * 60e3),
      count: 1,
      acked_at: null,
      acked_by: null,
      resolved_at: null,
    });
    alerts.push({
      id: nextAlertId++,
      rule: 'target_unreachable',
      severity: 'warning',
      service: null,
      target: 'offsite',
      message: 'target offsite was unreachable for 14 min (timeout)',
      hint: 'Check the network path to the object store.',
      first_seen: iso(T0 - 6 * DAY),
      last_seen: iso(T0 - 6 * DAY + 14 * 60e3),
      count: 3,
      acked_at: iso(T0 - 6 * DAY + 5 * 60e3),
      acked_by: 'admin',
      resolved_at: iso(T0 - 6 * DAY + 15 * 60e3),
    });
  }
}

function svcBusy(s) {
  return jobs.find((j) => j.service === s.name && (j.status === 'queued' || j.status === 'running') && (j.kind === 'backup' || j.kind === 'restore' || j.kind === 'drill'));
}

/** Runs a job through phases; each phase is [name, share of the job's time, bytes]. */
function runJob(j, s, phases, onDone) {
  const total = Math.max(1, JOB_SECONDS) * 1000;
  const started = Date.now() + 300;
  let phaseIdx = -1;
  emit('job', j);
  const timer = setInterval(() => {
    if (j.status === 'cancelled') {
      clearInterval(timer);
      s.runningJob = null;
      s.lastJob = lastJobOf(j);
      emit('job', j);
      emit('service', { name: s.name });
      return;
    }
    const now = Date.now();
    if (now < started) return;
    if (j.status === 'queued') {
      j.status = 'running';
      j.started_at = iso(now);
      s.runningJob = j;
      log(j, 'info', `${j.kind} of ${s.name} started (trigger ${j.trigger})`);
      emit('service', { name: s.name });
    }
    const frac = Math.min(1, (now - started) / total);
    let acc = 0;
    let cur = phases.length - 1;
    for (let i = 0; i < phases.length; i++) {
      if (frac < acc + phases[i].share) {
        cur = i;
        break;
      }
      acc += phases[i].share;
    }
    const ph = phases[cur];
    if (cur !== phaseIdx) {
      phaseIdx = cur;
      log(j, 'info', ph.log ?? `${ph.phase}${ph.part ? ' part ' + ph.part : ''}${ph.target ? ' to ' + ph.target : ''}`);
      if (ph.enter) {
        const err = ph.enter();
        if (err) {
          clearInterval(timer);
          j.error = err;
          log(j, 'error', err);
          finish(j, 'failed');
          s.runningJob = null;
          s.lastJob = lastJobOf(j);
          onDone(false);
          emit('job', j);
          emit('service', { name: s.name });
          return;
        }
      }
    }
    const inPhase = Math.min(1, (frac - acc) / ph.share);
    const totalBytes = phases.reduce((a, p) => a + (p.bytes || 0), 0);
    const doneBytes = phases.slice(0, cur).reduce((a, p) => a + (p.bytes || 0), 0) + (ph.bytes || 0) * inPhase;
    j.bytes_read = Math.round(doneBytes);
    j.progress = {
      phase: ph.phase,
      part: ph.part ?? null,
      target: ph.target ?? null,
      bytes_done: Math.round(doneBytes),
      bytes_total: totalBytes || null,
      files_done: ph.files ? Math.round(ph.files * inPhase) : 0,
      files_total: ph.files ?? null,
      percent: Math.round(frac * 1000) / 10,
      eta_s: Math.max(0, Math.round((total - (now - started)) / 100) / 10),
    };
    if (frac >= 1) {
      clearInterval(timer);
      finish(j, 'succeeded');
      s.runningJob = null;
      onDone(true);
      s.lastJob = lastJobOf(j);
      log(j, 'info', `${j.kind} finished: ${j.status}`);
      emit('job', j);
      emit('service', { name: s.name });
      return;
    }
    emit('job', j);
  }, 1000);
}

function startBackup(s, target, trigger = 'api', kind = 'manual', after = null) {
  const targets = target ? [target] : s.targets.slice();
  const j = newJob(s, 'backup', trigger, { targets, params: { target: target ?? null, kind } });
  const last = newestPoint(s);
  const size = last ? Math.round(last.size * 1.001) : 5 << 20;
  const parts = TYPE_PARTS[s.type](s);
  const phases = [];
  phases.push({
    phase: 'capturing',
    part: parts[0].name,
    share: 0.4,
    bytes: size * 0.5,
    enter: () => (s.broken ? s.broken : null),
  });
  targets.forEach((t) => phases.push({ phase: 'storing', target: t, part: parts[parts.length - 1].name, share: 0.6 / targets.length, bytes: (size * 0.5) / targets.length, files: parts[0].files }));
  runJob(j, s, phases, (ok) => {
    if (!ok) {
      openAlert(s, 'backup_failed', 'critical', `backup of ${s.name} failed: ${s.broken}`, 'Open the failed job\'s log, fix the cause it names, then use “Back up now”.');
      if (after) after(false, null);
      return;
    }
    const added = Math.round(size * 0.004);
    const p = makePoint(s, {
      id: crypto.randomBytes(8).toString('hex'),
      time: Date.now(),
      kind,
      size,
      added,
      duration_s: j.duration_s,
      targets,
    });
    s.extra.unshift(p);
    j.point_id = p.id;
    j.bytes_added = added;
    j.result = { point_id: p.id, targets: Object.fromEntries(targets.map((t) => [t, 'stored'])) };
    log(j, 'info', `point ${p.id} stored on ${targets.join(', ')}: ${size} bytes, ${added} added`);
    resolveAlerts(s, 'backup_failed');
    resolveAlerts(s, 'backup_stale');
    if (after) after(true, p);
  });
  return j;
}

function connectionFor(s, asName, port) {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  switch (s.type) {
    case 'postgres': {
      const db = asName || `app_restored_${stamp}`;
      return { conn: { host: s.location.host, port: s.location.port, database: db, user: 'postgres', uri: `postgresql://postgres@${s.location.host}:${s.location.port}/${db}` }, stop: `dropdb -h ${s.location.host} -p ${s.location.port} ${db}   # when you no longer need it` };
    }
    case 'mysql': {
      const db = asName || `shop_restored_${stamp}`;
      return { conn: { socket: s.location.socket, database: db, user: 'root', command: `mariadb -S ${s.location.socket} ${db}` }, stop: null };
    }
    case 'redis': {
      const p = port || 6391;
      return { conn: { host: '127.0.0.1', port: p, command: `redis-cli -p ${p}` }, stop: `redis-cli -p ${p} shutdown nosave` };
    }
    case 'sqlite': {
      const f = asName || s.location.path.replace(/\.db$/, '') + `.restored_${stamp}.db`;
      return { conn: { path: f, command: `sqlite3 ${f}` }, stop: null };
    }
    default:
      return { conn: Object.fromEntries(s.volumes.map((v, i) => [`path${s.volumes.length > 1 ? i + 1 : ''}`, (asName && i === 0 ? asName : `${v}.restored_${stamp}`)])), stop: null };
  }
}

function startRestore(s, body, kind = 'restore') {
  const p = body.at ? newestGood(s) : findPoint(s, body.point || 'latest');
  const mode = kind === 'drill' ? 'new-instance' : body.mode;
  const j = newJob(s, kind, 'api', { targets: body.target ? [body.target] : p.targets.slice(0, 1), params: { point: body.point ?? null, mode, as: body.as ?? null, port: body.port ?? null, at: body.at ?? null } });
  const phases = [];
  let safety = null;
  if (mode === 'overwrite') {
    phases.push({
      phase: 'safety backup',
      share: 0.3,
      bytes: p.size * 0.3,
      log: 'taking a safety backup of the current data first',
      enter: () => {
        const sp = makePoint(s, { id: crypto.randomBytes(8).toString('hex'), time: Date.now(), kind: 'safety', size: p.size, added: Math.round(p.size * 0.003), duration_s: 1.2 });
        s.extra.unshift(sp);
        safety = sp;
        log(j, 'info', `safety point ${sp.id} stored`);
        emit('service', { name: s.name });
        return null;
      },
    });
  }
  p.parts.forEach((part) => phases.push({ phase: 'restoring', part: part.name, target: j.targets[0], share: (mode === 'overwrite' ? 0.5 : 0.8) / p.parts.length, bytes: part.bytes, files: part.files ?? undefined }));
  phases.push({ phase: 'validating', share: 0.2, bytes: 0, log: 'comparing the restored data with the fingerprint taken at backup time' });
  runJob(j, s, phases, (ok) => {
    if (!ok) return;
    const c = mode === 'new-instance' ? connectionFor(s, body.as, body.port) : { conn: null, stop: null };
    j.point_id = p.id;
    j.bytes_read = p.size;
    j.result = {
      mode,
      point_id: p.id,
      summary:
        kind === 'drill'
          ? `restore drill of point ${p.id.slice(0, 8)} passed in ${j.duration_s} s`
          : mode === 'overwrite'
            ? `${s.name} overwritten with point ${p.id.slice(0, 8)}`
            : `point ${p.id.slice(0, 8)} restored beside ${s.name}`,
      connection: kind === 'drill' ? null : c.conn,
      stop_hint: kind === 'drill' ? null : c.stop,
      validation: { ok: true, exact: true, differences: [] },
      safety_point_id: safety ? safety.id : null,
    };
    log(j, 'info', 'validation passed: exact match');
    if (kind === 'drill') {
      const v = { at: iso(Date.now()), duration_s: j.duration_s, outcome: 'passed' };
      s.verifiedOverride.set(p.id, v);
      const ex = s.extra.find((x) => x.id === p.id);
      if (ex) ex.verified = v;
      s.drills.push({ time: v.at, duration_s: v.duration_s, outcome: 'passed' });
    }
  });
  return j;
}

// ---------------------------------------------------------------- views

function health(s, now = Date.now()) {
  const good = newestGood(s);
  const fresh = (s.freshness_s ?? 2 * (s.gen.interval / 1000)) * 1000;
  const ageMs = good ? now - Date.parse(good.time) : null;
  const recent = good !== null && ageMs <= fresh;
  const fmtAge = (ms) => (ms < HOUR ? `${Math.round(ms / 60e3)} min` : ms < 2 * DAY ? `${Math.round(ms / HOUR)} h` : `${Math.round(ms / DAY)} d`);
  const freshTxt = s.freshness_s ? fmtAge(s.freshness_s * 1000) : 'twice the interval';
  let lastDrill = null;
  if (s.verify) {
    for (let i = 0; i < Math.min(pointCount(s), 60); i++) {
      const v = pointAt(s, i).verified;
      if (v && (!lastDrill || v.at > lastDrill.at)) lastDrill = v;
    }
  }
  const verifiedOk = !!(lastDrill && now - Date.parse(lastDrill.at) < 2 * DAY && lastDrill.outcome === 'passed');
  const lastFailed = s.lastJob && s.lastJob.kind === 'backup' && s.lastJob.status === 'failed';
  const state = lastFailed ? 'failing' : !good ? 'unknown' : !recent ? 'stale' : 'healthy';
  return {
    state,
    recent: { ok: recent, detail: good ? `newest good point ${fmtAge(ageMs)} old (freshness ${freshTxt})` : 'no restore point yet' },
    complete: {
      ok: !!good,
      detail: good ? `${good.parts.length > 1 ? 'all ' + good.parts.length + ' parts' : 'the one part'} on ${s.targets.length > 1 ? 'all ' + s.targets.length + ' targets' : 'the target'}` : 'no restore point yet',
    },
    verified: s.verify
      ? { ok: verifiedOk, detail: lastDrill ? `drill passed ${fmtAge(now - Date.parse(lastDrill.at))} ago in ${lastDrill.duration_s} s` : `no restore drill within ${s.verify.every}`, at: lastDrill?.at ?? null, duration_s: lastDrill?.duration_s ?? null }
      : { ok: false, detail: 'no restore drills scheduled (verify: not set)', at: null, duration_s: null },
  };
}

function nextRun(s, now = Date.now()) {
  if (!s.schedule || s.schedule.paused) return null;
  if (s.schedule.every) {
    const iv = parseDur(s.schedule.every);
    const last = newestPoint(s);
    let t = last ? Date.parse(last.time) + iv : now + iv;
    while (t < now) t += iv;
    return t;
  }
  // cron "M H * * *" taken as UTC-1h (Europe/Berlin in winter) for the mock
  const m = /^(\d+) (\d+) /.exec(s.schedule.cron || '');
  if (!m) return null;
  const d = new Date(now);
  d.setUTCHours(Number(m[2]) - 1, Number(m[1]), 0, 0);
  if (d.getTime() < now) d.setUTCDate(d.getUTCDate() + 1);
  return d.getTime();
}

function parseDur(s) {
  const m = /^(\d+)([smhd])$/.exec(s);
  if (!m) return HOUR;
  return Number(m[1]) * { s: 1e3, m: 60e3, h: HOUR, d: DAY }[m[2]];
}

function serviceView(s) {
  const last = newestPoint(s);
  const h = health(s);
  return {
    name: s.name,
    type: s.type,
    targets: s.targets,
    schedule: s.schedule,
    next_run: iso(nextRun(s)),
    freshness_s: s.freshness_s,
    last_backup: last
      ? { point_id: last.id, time: last.time, kind: last.kind, status: last.status, size: last.size, added: last.added, duration_s: last.duration_s, targets: last.targets }
      : null,
    last_job: s.lastJob,
    running_job: s.runningJob,
    health: h,
    alerts_open: alerts.filter((a) => a.service === s.name && !a.resolved_at).length,
    size: last ? last.size : null,
    pitr: s.pitr ? { ...s.pitr, window_end: iso(Date.now() - 2000) } : null,
  };
}

function replaces(s) {
  const l = s.location;
  switch (s.type) {
    case 'postgres':
      return [`PostgreSQL database ${l.databases.join(', ')} on ${l.host}:${l.port} (and the roles of pg_dumpall --globals-only)`];
    case 'mysql':
      return [`MariaDB database ${l.databases.join(', ')} on ${l.socket}`];
    case 'redis':
      return [`every key of Redis at ${l.host}:${l.port}`];
    case 'sqlite':
      return [`SQLite database ${l.path}`];
    default:
      return s.volumes.map((v) => `directory ${v} (and everything in it)`);
  }
}

function serviceDetail(s) {
  const good = newestGood(s);
  let rto = null;
  for (let i = 0; i < Math.min(pointCount(s), 60) && rto === null; i++) {
    const v = pointAt(s, i).verified;
    if (v && v.outcome === 'passed') rto = v.duration_s;
  }
  return {
    ...serviceView(s),
    retention: s.retention,
    verify: s.verify,
    volumes: s.volumes,
    rpo_achieved_s: good ? Math.round((Date.now() - Date.parse(good.time)) / 1000) : null,
    rto_measured_s: rto,
    replaces: replaces(s),
  };
}

const ORDER = { failing: 0, stale: 1, unknown: 2, healthy: 3 };

function servicesView() {
  const list = [...services.values()].map(serviceView);
  list.sort((a, b) => ORDER[a.health.state] - ORDER[b.health.state] || a.name.localeCompare(b.name));
  const c = (st) => list.filter((x) => x.health.state === st).length;
  return {
    services: list,
    summary: { services: list.length, healthy: c('healthy'), failing: c('failing'), stale: c('stale'), unknown: c('unknown'), alerts_open: alerts.filter((a) => !a.resolved_at).length },
    config,
  };
}

function tzOffsetMs(tz) {
  try {
    const d = new Date();
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
        .formatToParts(d)
        .map((p) => [p.type, p.value]),
    );
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return asUtc - Math.floor(d.getTime() / 1000) * 1000;
  } catch {
    return null;
  }
}

function calendar(days, tz) {
  const off = tzOffsetMs(tz);
  if (off === null) return null;
  const dayOf = (ms) => Math.floor((ms + off) / DAY);
  const today = dayOf(Date.now());
  const first = today - days + 1;
  const dayNames = [];
  for (let d = first; d <= today; d++) dayNames.push(new Date(d * DAY).toISOString().slice(0, 10));
  const failedDays = new Map();
  for (const j of jobs) {
    if (j.kind !== 'backup' || j.status !== 'failed' || !j.service) continue;
    const d = dayOf(Date.parse(j.queued_at));
    if (d < first) continue;
    if (!failedDays.has(j.service)) failedDays.set(j.service, new Set());
    failedDays.get(j.service).add(d);
  }
  const out = [];
  for (const s of services.values()) {
    const ok = new Set();
    for (const p of s.extra) if (p.status === 'complete') ok.add(dayOf(Date.parse(p.time)));
    // generated points: one every interval from gen.newest back
    const g = s.gen;
    if (g.count) {
      const oldest = g.newest - (g.count - 1) * g.interval;
      for (let d = first; d <= today; d++) {
        const lo = d * DAY - off;
        const hi = lo + DAY;
        // is there k with oldest <= newest - k*interval in [lo, hi)?
        const kMin = Math.ceil((g.newest - hi + 1) / g.interval);
        const kMax = Math.floor((g.newest - lo) / g.interval);
        const k = Math.max(0, kMin);
        if (k <= kMax && k < g.count && g.newest - k * g.interval >= oldest) ok.add(d);
      }
    }
    const fd = failedDays.get(s.name) ?? new Set();
    const firstDay = g.count ? dayOf(g.newest - (g.count - 1) * g.interval) : s.extra.length ? dayOf(Date.parse(s.extra[s.extra.length - 1].time)) : today + 1;
    const cells = [];
    for (let d = first; d <= today; d++) {
      if (ok.has(d)) cells.push('ok');
      else if (fd.has(d)) cells.push('failed');
      else if (s.schedule && d >= firstDay && d < today) cells.push('missing');
      else cells.push('none');
    }
    out.push({ name: s.name, cells });
  }
  return { days: dayNames, services: out };
}

function historyView(s, days) {
  const cutoff = Date.now() - days * DAY;
  const points = [];
  const drills = [];
  for (let i = 0; i < pointCount(s); i++) {
    const p = pointAt(s, i);
    if (Date.parse(p.time) < cutoff) break;
    points.push({ time: p.time, size: p.size, added: p.added, duration_s: p.duration_s, kind: p.kind, status: p.status });
    if (p.verified) drills.push({ time: p.verified.at, duration_s: p.verified.duration_s, outcome: p.verified.outcome });
  }
  for (const d of s.drills) if (Date.parse(d.time) >= cutoff && !drills.some((x) => x.time === d.time)) drills.push(d);
  const js = [];
  for (let i = jobs.length - 1; i >= 0; i--) {
    const j = jobs[i];
    if (Date.parse(j.queued_at) < cutoff) break;
    if (j.service === s.name && j.status === 'failed') js.push({ time: j.started_at ?? j.queued_at, kind: j.kind, status: j.status, duration_s: j.duration_s });
  }
  points.reverse();
  drills.sort((a, b) => a.time.localeCompare(b.time));
  js.reverse();
  return { points, drills, jobs: js };
}

// A small made-up tree for the volume parts.
function fileTree(s, point) {
  const t = Date.parse(point.time);
  const file = (name, size, ago, mode = '0644') => ({ name, type: 'file', size, mtime: iso(t - ago), mode });
  const dir = (name, ago) => ({ name, type: 'dir', size: 0, mtime: iso(t - ago), mode: '0755' });
  const vols = s.volumes.length ? s.volumes : ['/srv/data'];
  const tree = { '/': vols.map((v) => dir(v.replace(/^\//, ''), DAY)) };
  const up = vols[0];
  tree[up] = [dir('avatars', 3 * DAY), dir('invoices', 2 * HOUR), file('readme.txt', 0, 90 * DAY), file('logo.svg', 2311, 40 * DAY)];
  tree[up + '/avatars'] = Array.from({ length: 24 }, (_, i) => file(`user-${1000 + i}.png`, 12000 + 137 * i, (i + 1) * DAY));
  tree[up + '/invoices'] = [dir('2026', 2 * HOUR), file('template.odt', 48213, 200 * DAY)];
  tree[up + '/invoices/2026'] = Array.from({ length: 12 }, (_, i) => file(`invoice-2026-${String(i + 1).padStart(2, '0')}.pdf`, 80000 + 911 * i, (12 - i) * 20 * DAY));
  if (vols[1]) {
    tree[vols[1]] = [file('app.conf', 0, 30 * DAY, '0640'), { name: 'current', type: 'symlink', size: 0, mtime: iso(t - DAY), mode: '0777' }];
  }
  return tree;
}

function fileContent(s, point, p) {
  const base = path.posix.basename(p);
  if (base === 'readme.txt') return Buffer.from(`Uploads of the app: avatars and invoices.\nThis copy is from restore point ${point.id} of ${s.name}, taken ${point.time}.\n`);
  if (base === 'app.conf') return Buffer.from(`# app configuration\nlisten = 127.0.0.1:8080\nuploads = ${s.volumes[0]}\n`);
  if (base === 'logo.svg') return Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4"/></svg>\n');
  const h = crypto.createHash('sha256').update(p + point.id).digest();
  return Buffer.concat(Array.from({ length: 64 }, () => h));
}

// ---------------------------------------------------------------- HTTP

const sessions = new Map();
const failures = new Map();

function send(res, status, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(data);
}
const err = (res, status, msg, headers) => send(res, status, { error: msg }, headers);

function cookies(req) {
  const out = {};
  for (const c of (req.headers.cookie || '').split(';')) {
    const i = c.indexOf('=');
    if (i > 0) out[c.slice(0, i).trim()] = c.slice(i + 1).trim();
  }
  return out;
}

function sessionBody(se) {
  const expires = Math.min(se.last + SESSION_IDLE_S * 1000, se.created + 7 * DAY);
  return { role: se.role, user: se.user, expires_at: iso(expires), csrf_token: se.csrf };
}

function auth(req) {
  const h = req.headers.authorization;
  if (h && h.startsWith('Bearer ')) {
    const role = TOKENS[h.slice(7)];
    return role ? { role, user: 'token', viaCookie: false } : null;
  }
  const id = cookies(req).cairn_session;
  const se = id && sessions.get(id);
  if (!se) return null;
  const now = Date.now();
  if (now > se.last + SESSION_IDLE_S * 1000 || now > se.created + 7 * DAY) {
    sessions.delete(id);
    return null;
  }
  se.last = now;
  return { ...se, id, viaCookie: true };
}

async function readBody(req) {
  const chunks = [];
  let n = 0;
  for await (const c of req) {
    n += c.length;
    if (n > 64 * 1024) throw Object.assign(new Error('request body over 64 KiB'), { status: 413 });
    chunks.push(c);
  }
  const txt = Buffer.concat(chunks).toString('utf8');
  if (!txt) return {};
  try {
    const v = JSON.parse(txt);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error();
    return v;
  } catch {
    throw Object.assign(new Error('malformed JSON body'), { status: 400 });
  }
}

const RANK = { read: 0, operate: 1, admin: 2 };

function page(list, req, q) {
  const limit = Math.min(500, Math.max(1, Number(q.get('limit') || 50)));
  let off = 0;
  const c = q.get('cursor');
  if (c) {
    off = Number(Buffer.from(c, 'base64url').toString());
    if (!Number.isInteger(off) || off < 0) return null;
  }
  const items = list.slice(off, off + limit);
  return { items, next: off + limit < list.length ? Buffer.from(String(off + limit)).toString('base64url') : null };
}

async function api(req, res, url) {
  const p = url.pathname.slice('/api/v1'.length) || '/';
  const q = url.searchParams;
  const m = req.method;

  if (p === '/health') return send(res, 200, { status: 'ok', version: '0.1.0-mock', uptime_s: (Date.now() - T0) / 1000 });

  if (p === '/session' && m === 'POST') {
    const ip = req.socket.remoteAddress;
    const now = Date.now();
    const f = (failures.get(ip) || []).filter((t) => now - t < 5 * 60e3);
    failures.set(ip, f);
    if (f.length >= 5) return err(res, 429, 'too many failed sign-ins; try again later', { 'Retry-After': String(Math.ceil((f[0] + 5 * 60e3 - now) / 1000)) });
    let body;
    try {
      body = await readBody(req);
    } catch (e) {
      return err(res, e.status || 400, e.message);
    }
    let role = null;
    let user = 'admin';
    if (typeof body.password === 'string') role = body.password === PASSWORD ? 'admin' : null;
    else if (typeof body.token === 'string') {
      role = TOKENS[body.token] ?? null;
      user = 'token:' + (role ?? '?');
    } else return err(res, 400, 'password or token is required');
    if (!role) {
      f.push(now);
      return err(res, 401, body.password !== undefined ? 'wrong password' : 'unknown token');
    }
    const id = crypto.randomBytes(24).toString('base64url');
    const se = { user, role, csrf: crypto.randomBytes(18).toString('base64url'), created: now, last: now };
    sessions.set(id, se);
    return send(res, 200, sessionBody(se), { 'Set-Cookie': `cairn_session=${id}; HttpOnly; SameSite=Strict; Path=/` });
  }

  const who = auth(req);
  if (!who) return err(res, 401, 'not signed in (or the session expired)');
  if ((m === 'POST' || m === 'DELETE') && who.viaCookie && req.headers['x-csrf-token'] !== who.csrf) return err(res, 403, 'missing or wrong CSRF token');
  const need = (role) => {
    if (RANK[who.role] < RANK[role]) {
      err(res, 403, `role ${who.role} may not do this (needs ${role})`);
      return false;
    }
    return true;
  };

  if (p === '/session') {
    if (m === 'GET') return send(res, 200, sessionBody(sessions.get(who.id) ?? { ...who, created: Date.now(), last: Date.now(), csrf: '' }));
    if (m === 'DELETE') {
      sessions.delete(who.id);
      res.writeHead(204, { 'Set-Cookie': 'cairn_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0' });
      return res.end();
    }
    return err(res, 405, 'method not allowed');
  }

  if (p === '/events' && m === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n: connected\n\n');
    clients.add(res);
    const ka = setInterval(() => res.write(': keep-alive\n\n'), 15000);
    req.on('close', () => {
      clearInterval(ka);
      clients.delete(res);
    });
    return;
  }

  if (config.ok === false && config.notLoaded && p !== '/config') return err(res, 503, 'the configuration is not loaded');

  if (p === '/services' && m === 'GET') return send(res, 200, servicesView());
  if (p === '/config' && m === 'GET') return send(res, 200, config);
  if (p === '/calendar' && m === 'GET') {
    const days = Math.min(366, Math.max(1, Number(q.get('days') || 30)));
    const c = calendar(days, q.get('tz') || 'UTC');
    return c ? send(res, 200, c) : err(res, 400, `unknown time zone ${q.get('tz')}`);
  }

  let mm;
  if ((mm = /^\/services\/([^/]+)(\/.*)?$/.exec(p))) {
    const s = services.get(decodeURIComponent(mm[1]));
    if (!s) return err(res, 404, `no service ${decodeURIComponent(mm[1])}`);
    const rest = mm[2] || '';
    if (rest === '' && m === 'GET') return send(res, 200, serviceDetail(s));
    if (rest === '/backups' && m === 'GET') {
      const limit = Math.min(500, Math.max(1, Number(q.get('limit') || 50)));
      let off = 0;
      if (q.get('cursor')) {
        off = Number(Buffer.from(q.get('cursor'), 'base64url').toString());
        if (!Number.isInteger(off) || off < 0) return err(res, 400, 'bad cursor');
      }
      const n = pointCount(s);
      const points = [];
      for (let i = off; i < Math.min(n, off + limit); i++) points.push(pointAt(s, i));
      return send(res, 200, { points, next_cursor: off + limit < n ? Buffer.from(String(off + limit)).toString('base64url') : null });
    }
    if (rest === '/backups' && m === 'POST') {
      if (!need('operate')) return;
      const body = await readBody(req).catch((e) => e);
      if (body instanceof Error) return err(res, body.status || 400, body.message);
      if (body.target != null && !s.targets.includes(body.target)) return err(res, 400, `service ${s.name} has no target ${body.target}`);
      const busy = svcBusy(s);
      if (busy) return err(res, 409, `a ${busy.kind} of ${s.name} is already ${busy.status} (job ${busy.id})`);
      const j = startBackup(s, body.target ?? null);
      return send(res, 202, { job_id: j.id });
    }
    if (rest === '/history' && m === 'GET') return send(res, 200, historyView(s, Math.min(3660, Math.max(1, Number(q.get('days') || 90)))));
    if (rest === '/restores' && m === 'POST') {
      const body = await readBody(req).catch((e) => e);
      if (body instanceof Error) return err(res, body.status || 400, body.message);
      if (body.mode !== 'new-instance' && body.mode !== 'overwrite') return err(res, 400, 'mode must be new-instance or overwrite');
      if (!need(body.mode === 'overwrite' ? 'admin' : 'operate')) return;
      if (body.mode === 'overwrite' && body.confirm !== s.name) return err(res, 409, `overwrite not confirmed: confirm must be the service name ${s.name}; nothing changed`);
      const pt = body.at ? newestGood(s) : findPoint(s, body.point || 'latest');
      if (!pt) return err(res, 404, `service ${s.name} has no restore point ${body.point}`);
      const busy = svcBusy(s);
      if (busy) return err(res, 409, `a ${busy.kind} of ${s.name} is already ${busy.status} (job ${busy.id})`);
      const j = startRestore(s, body);
      return send(res, 202, { job_id: j.id });
    }
    if (rest === '/verify' && m === 'POST') {
      if (!need('operate')) return;
      const body = await readBody(req).catch(() => ({}));
      if (!findPoint(s, body.point || 'latest')) return err(res, 404, `service ${s.name} has no restore point ${body.point || 'latest'}`);
      const busy = svcBusy(s);
      if (busy) return err(res, 409, `a ${busy.kind} of ${s.name} is already ${busy.status} (job ${busy.id})`);
      const j = startRestore(s, { point: body.point || 'latest', mode: 'new-instance' }, 'drill');
      return send(res, 202, { job_id: j.id });
    }
    let pm;
    if ((pm = /^\/backups\/([^/]+)(\/files(\/content)?)?$/.exec(rest)) && m === 'GET') {
      const pt = findPoint(s, decodeURIComponent(pm[1]));
      if (!pt) return err(res, 404, `service ${s.name} has no restore point ${decodeURIComponent(pm[1])}`);
      if (!pm[2]) {
        const t = Date.parse(pt.time);
        return send(res, 200, {
          ...pt,
          manifest: {
            format: 1,
            point_id: pt.id,
            service: s.name,
            type: s.type,
            kind: pt.kind,
            time: pt.time,
            hostname: 'db1',
            server_version: { postgres: '15.18', mysql: '10.11.6-MariaDB', redis: '7.0.15', sqlite: '3.40.1', volume: null }[s.type],
            cairn_version: '0.1.0',
            duration_s: pt.duration_s,
            size: pt.size,
            parts: pt.parts,
            fingerprint: { exact: true, items: {} },
            source: { taken: iso(t) },
          },
        });
      }
      if (!pt.parts.some((x) => x.kind === 'files')) return err(res, 404, `point ${pt.id} has no files parts`);
      const tree = fileTree(s, pt);
      const fp = (q.get('path') || '/').replace(/\/+$/, '') || '/';
      if (!pm[3]) {
        const entries = tree[fp];
        if (!entries) return err(res, 404, `no directory ${fp} in point ${pt.id}`);
        const sized = entries.map((e) => (e.type === 'file' ? { ...e, size: fileContent(s, pt, path.posix.join(fp, e.name)).length } : e));
        return send(res, 200, { path: fp, entries: sized });
      }
      const dir = path.posix.dirname(fp);
      const ent = (tree[dir] || []).find((e) => e.name === path.posix.basename(fp));
      if (!ent) return err(res, 404, `no file ${fp} in point ${pt.id}`);
      if (ent.type !== 'file') return err(res, 400, `${fp} is not a regular file`);
      const data = fileContent(s, pt, fp);
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': data.length,
        'Content-Disposition': `attachment; filename="${path.posix.basename(fp).replace(/"/g, '')}"`,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      return res.end(data);
    }
    return err(res, rest === '' || /^\/(backups|history|restores|verify)/.test(rest) ? 405 : 404, rest === '' ? 'method not allowed' : `no route ${p}`);
  }

  if (p === '/jobs' && m === 'GET') {
    const svc = q.get('service');
    const st = q.get('status');
    const kind = q.get('kind');
    let list = jobs.filter((j) => (!svc || j.service === svc) && (!st || j.status === st) && (!kind || j.kind === kind));
    list = list.slice().reverse();
    const pg = page(list, req, q);
    if (!pg) return err(res, 400, 'bad cursor');
    return send(res, 200, { jobs: pg.items, next_cursor: pg.next });
  }
  if ((mm = /^\/jobs\/(\d+)(\/log|\/cancel)?$/.exec(p))) {
    const j = jobsById.get(Number(mm[1]));
    if (!j) return err(res, 404, `no job ${mm[1]}`);
    if (!mm[2] && m === 'GET') return send(res, 200, j);
    if (mm[2] === '/log' && m === 'GET') {
      const after = Number(q.get('after') || 0);
      const l = logs.get(j.id) || [];
      const lines = l.filter((x) => x.seq > after).slice(0, 500);
      return send(res, 200, { lines, next_after: lines.length ? lines[lines.length - 1].seq : after, dropped: 0, done: !!j.ended_at && (lines.length === 0 || lines[lines.length - 1].seq === l.length) });
    }
    if (mm[2] === '/cancel' && m === 'POST') {
      if (!need('operate')) return;
      if (j.ended_at) return err(res, 409, `job ${j.id} already ended (${j.status})`);
      log(j, 'warning', `cancelled by ${who.user}`);
      j.error = `cancelled by ${who.user}`;
      finish(j, 'cancelled');
      return send(res, 202, {});
    }
    return err(res, 405, 'method not allowed');
  }

  if (p === '/alerts' && m === 'GET') {
    const st = q.get('state');
    let list = alerts.filter((a) => !st || (st === 'open' ? !a.resolved_at : !!a.resolved_at));
    list = list.slice().sort((a, b) => (st === 'resolved' ? b.resolved_at.localeCompare(a.resolved_at) : b.last_seen.localeCompare(a.last_seen)));
    const pg = page(list, req, q);
    if (!pg) return err(res, 400, 'bad cursor');
    return send(res, 200, { alerts: pg.items, next_cursor: pg.next });
  }
  if ((mm = /^\/alerts\/(\d+)\/ack$/.exec(p)) && m === 'POST') {
    if (!need('operate')) return;
    const a = alerts.find((x) => x.id === Number(mm[1]));
    if (!a) return err(res, 404, `no alert ${mm[1]}`);
    if (!a.acked_at) {
      a.acked_at = iso(Date.now());
      a.acked_by = who.user;
      emit('alert', a);
    }
    return send(res, 200, a);
  }

  if (p === '/schedules' && m === 'GET') return send(res, 200, { schedules: scheduleList() });
  if ((mm = /^\/schedules\/([^/]+)\/(pause|resume)$/.exec(p)) && m === 'POST') {
    if (!need('operate')) return;
    const key = decodeURIComponent(mm[1]);
    const e = scheduleList().find((x) => x.key === key);
    if (!e) return err(res, 404, `no schedule ${key}`);
    const s = services.get(e.service);
    if (e.kind === 'backup') s.schedule.paused = mm[2] === 'pause';
    else s.verifyPaused = mm[2] === 'pause';
    emit('service', { name: s.name });
    return send(res, 200, scheduleList().find((x) => x.key === key));
  }

  if (p === '/notifications/test' && m === 'POST') {
    if (!need('admin')) return;
    return send(res, 202, {});
  }

  return err(res, 404, `no route ${m} ${url.pathname}`);
}

function scheduleList() {
  const out = [];
  for (const s of services.values()) {
    if (s.schedule) {
      const nr = nextRun(s);
      const iv = s.schedule.every ? parseDur(s.schedule.every) : DAY;
      const lastBackupJob = [...jobs].reverse().find((j) => j.service === s.name && j.kind === 'backup' && j.trigger === 'schedule');
      out.push({
        key: `backup:${s.name}`,
        kind: 'backup',
        service: s.name,
        target: null,
        schedule: s.schedule,
        paused: s.schedule.paused,
        next_runs: nr === null ? [] : [0, 1, 2].map((k) => iso(nr + k * iv)),
        last_run: lastBackupJob ? lastBackupJob.queued_at : null,
        job_id: lastBackupJob ? lastBackupJob.id : null,
      });
    }
    if (s.verify) {
      const iv = parseDur(s.verify.every);
      const next = Math.ceil((Date.now() + 1) / iv) * iv + 2 * HOUR;
      out.push({
        key: `drill:${s.name}`,
        kind: 'drill',
        service: s.name,
        target: s.targets[0],
        schedule: { every: s.verify.every, cron: null, timezone: 'UTC', catch_up: 'once', jitter: null, paused: !!s.verifyPaused },
        paused: !!s.verifyPaused,
        next_runs: s.verifyPaused ? [] : [0, 1, 2].map((k) => iso(next + k * iv)),
        last_run: null,
        job_id: null,
      });
    }
  }
  return out;
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2' };

function serveStatic(req, res, url) {
  let rel = decodeURIComponent(url.pathname);
  if (rel.includes('\0')) return err(res, 400, 'bad path');
  let file = path.join(DIST, path.normalize(rel).replace(/^(\.\.[/\\])+/, ''));
  if (!file.startsWith(DIST)) return err(res, 404, 'not found');
  let st = null;
  try {
    st = fs.statSync(file);
  } catch {}
  if (!st || st.isDirectory()) {
    if (rel.startsWith('/assets/')) return err(res, 404, 'not found');
    file = path.join(DIST, 'index.html'); // the dashboard's own routes
  }
  let data;
  try {
    data = fs.readFileSync(file);
  } catch {
    res.writeHead(503, { 'Content-Type': 'text/plain' });
    return res.end('web/dist is missing: run (cd web && npm ci && npm run build)\n');
  }
  const immutable = url.pathname.startsWith('/assets/');
  res.writeHead(200, {
    'Content-Type': MIME[path.extname(file)] || 'application/octet-stream',
    'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
  });
  res.end(req.method === 'HEAD' ? undefined : data);
}

async function mockRoute(req, res, url) {
  const mm = /^\/__mock\/(break|fix|config-error|config-ok|not-loaded)(?:\/([^/]+))?$/.exec(url.pathname);
  if (!mm || req.method !== 'POST') return err(res, 404, 'no such mock route');
  if (mm[1] === 'break' || mm[1] === 'fix') {
    const s = services.get(decodeURIComponent(mm[2] || ''));
    if (!s) return err(res, 404, 'no service');
    s.broken = mm[1] === 'break' ? (s.type === 'sqlite' ? `SQLite database ${s.location.path} does not exist` : `cannot connect to ${s.type} (mock failure)`) : null;
    return send(res, 200, { service: s.name, broken: s.broken });
  }
  if (mm[1] === 'config-error') {
    config = { ok: false, file: config.file, loaded_at: config.loaded_at, error: "line 42: services.app-db: unknown key 'databse' (did you mean 'databases'?)" };
  } else if (mm[1] === 'config-ok') {
    config = { ok: true, file: config.file, loaded_at: iso(Date.now()), error: null };
  }
  emit('config', config);
  return send(res, 200, config);
}

export function createServer() {
  if (SEED_SERVICES > 0) seedMany(SEED_SERVICES, SEED_POINTS || SEED_SERVICES * 100);
  else seedDefault();
  seedJobs(SEED_SERVICES > 0 ? 2 : 72);
  return http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    try {
      if (url.pathname.startsWith('/api/v1/') || url.pathname === '/api/v1') return await api(req, res, url);
      if (url.pathname.startsWith('/__mock/')) return await mockRoute(req, res, url);
      if (req.method !== 'GET' && req.method !== 'HEAD') return err(res, 405, 'method not allowed');
      return serveStatic(req, res, url);
    } catch (e) {
      console.error(e);
      if (!res.headersSent) err(res, 500, 'mock failed: ' + e.message);
      else res.end();
    }
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t = Date.now();
  const srv = createServer();
  srv.listen(PORT, HOST, () => {
    const n = [...services.values()].reduce((a, s) => a + pointCount(s), 0);
    console.log(`cairn mock API on http://${HOST}:${PORT}/ (${services.size} services, ${n} restore points, ${jobs.length} jobs, seeded in ${Date.now() - t} ms); password: ${PASSWORD === 'admin' ? 'admin' : '(from CAIRN_ADMIN_PASSWORD)'}`);
  });
  const stop = () => srv.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500).unref();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

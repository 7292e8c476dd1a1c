// The mock's jobs (running through phases with progress events), alerts,
// the configuration status and the server-sent event stream's clients.

import crypto from 'node:crypto';
import { JOB_SECONDS } from './options.mjs';
import { recoveryBase, recoveryValidation } from './pitr.mjs';
import { T0, HOUR, DAY, iso, TYPE_PARTS, services, genPoint, makePoint, newestPoint, newestGood, findPoint } from './data.mjs';

// ---------------------------------------------------------------- jobs, alerts, events

let nextJobId = 1;
export const jobs = []; // newest last
export const jobsById = new Map();
export const logs = new Map();
export const alerts = [];
let nextAlertId = 1;
export const clients = new Set();
export const config = { ok: true, file: '/etc/cairn/cairn.yaml', loaded_at: iso(T0), error: null };

export function emit(event, data) {
  const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const c of clients) c.write(msg);
}

export function newJob(s, kind, trigger, fields = {}) {
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

export function log(j, level, text, at = Date.now()) {
  const l = logs.get(j.id);
  l.push({ seq: l.length + 1, time: iso(at), level, text });
}

export function finish(j, status, at = Date.now()) {
  j.status = status;
  j.ended_at = iso(at);
  j.duration_s = j.started_at ? Math.round((at - Date.parse(j.started_at)) / 100) / 10 : 0;
  j.progress = null;
  j.waiting_on = null;
}

export function lastJobOf(j) {
  return { id: j.id, kind: j.kind, status: j.status, trigger: j.trigger, started_at: j.started_at, ended_at: j.ended_at, error: j.error };
}

export function openAlert(s, rule, severity, message, hint) {
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

export function resolveAlerts(s, rule) {
  for (const a of alerts) {
    if (a.service === s.name && a.rule === rule && !a.resolved_at) {
      a.resolved_at = iso(Date.now());
      emit('alert', a);
    }
  }
}

// Historic jobs for the small services (the generated points' backups, failures).
export function seedJobs(maxPerService) {
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

export function svcBusy(s) {
  return jobs.find((j) => j.service === s.name && (j.status === 'queued' || j.status === 'running') && (j.kind === 'backup' || j.kind === 'restore' || j.kind === 'drill'));
}

/** Runs a job through phases; each phase is [name, share of the job's time, bytes]. */
export function runJob(j, s, phases, onDone) {
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

export function startBackup(s, target, trigger = 'api', kind = 'manual', after = null) {
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

export function connectionFor(s, asName, port) {
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

/** Where the service itself answers: an overwrite restore leaves it there. */
function ownConnection(s) {
  const l = s.location;
  switch (s.type) {
    case 'postgres':
      return { host: l.host, port: l.port, databases: l.databases.join(', '), user: 'postgres' };
    case 'mysql':
      return { socket: l.socket, databases: l.databases.join(', ') };
    case 'redis':
      return { host: l.host, port: l.port };
    case 'sqlite':
      return { path: l.path };
    default:
      return Object.fromEntries(s.volumes.map((v, i) => [`path${s.volumes.length > 1 ? i + 1 : ''}`, v]));
  }
}

export function startRestore(s, body, kind = 'restore') {
  const mode = kind === 'drill' ? 'new-instance' : body.mode;
  const at = kind === 'drill' ? null : (body.at ?? null);
  const target = body.target ?? s.targets[0];
  // A point-in-time recovery picks its base backup; one outside the window fails the job.
  const base = at ? recoveryBase(s, at, target) : { point: findPoint(s, body.point || 'latest') };
  const p = base.point ?? newestGood(s);
  const j = newJob(s, kind, 'api', { targets: body.target ? [body.target] : p.targets.slice(0, 1), params: { point: body.point ?? null, mode, as: body.as ?? null, port: body.port ?? null, at } });
  const refuse = () => base.error ?? null;
  const phases = [];
  let safety = null;
  if (mode === 'overwrite') {
    phases.push({
      phase: 'safety backup',
      share: 0.3,
      bytes: p.size * 0.3,
      log: 'taking a safety backup of the current data first',
      enter: () => {
        if (base.error) return base.error;
        const sp = makePoint(s, { id: crypto.randomBytes(8).toString('hex'), time: Date.now(), kind: 'safety', size: p.size, added: Math.round(p.size * 0.003), duration_s: 1.2 });
        s.extra.unshift(sp);
        safety = sp;
        log(j, 'info', `safety point ${sp.id} stored`);
        emit('service', { name: s.name });
        return null;
      },
    });
  }
  p.parts.forEach((part, i) =>
    phases.push({ phase: 'restoring', part: part.name, target: j.targets[0], share: (mode === 'overwrite' ? 0.5 : 0.8) / p.parts.length, bytes: part.bytes, files: part.files ?? undefined, enter: i === 0 ? refuse : undefined }),
  );
  if (at) phases.push({ phase: 'replaying WAL', share: 0.15, bytes: 0, log: `replaying the archived WAL up to ${at === 'latest' ? 'its end' : at}, then promoting` });
  phases.push({ phase: 'validating', share: 0.2, bytes: 0, log: at ? 'validating: every database of the recovered server answers' : 'comparing the restored data with the fingerprint taken at backup time' });
  runJob(j, s, phases, (ok) => {
    if (!ok) return;
    const c = mode === 'new-instance' ? connectionFor(s, body.as, body.port) : { conn: ownConnection(s), stop: null };
    j.point_id = p.id;
    j.bytes_read = p.size;
    j.result = {
      mode,
      point_id: p.id,
      summary:
        kind === 'drill'
          ? `restore drill of point ${p.id.slice(0, 8)} passed in ${j.duration_s} s`
          : at
            ? `${mode === 'overwrite' ? s.name + ' recovered' : 'recovered beside ' + s.name} to ${at === 'latest' ? 'the end of the archive' : at} over base backup ${p.id.slice(0, 8)}`
            : mode === 'overwrite'
              ? `${s.name} overwritten with point ${p.id.slice(0, 8)}`
              : `point ${p.id.slice(0, 8)} restored beside ${s.name}`,
      connection: kind === 'drill' ? null : c.conn,
      stop_hint: kind === 'drill' ? null : c.stop,
      validation: at ? recoveryValidation(12) : { ok: true, exact: true, differences: [] },
      safety_point_id: safety ? safety.id : null,
    };
    log(j, 'info', at ? 'validation passed: the recovered server answered' : 'validation passed: exact match');
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

// What the mock's API answers: the services' health and details, the
// calendar, the history, a volume point's files and the schedules.

import path from 'node:path';
import crypto from 'node:crypto';
import { HOUR, DAY, iso, services, pointCount, pointAt, newestPoint, newestGood } from './data.mjs';
import { jobs, alerts, config } from './activity.mjs';
import { pitrWindow } from './pitr.mjs';

// ---------------------------------------------------------------- views

export function health(s, now = Date.now()) {
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

export function nextRun(s, now = Date.now()) {
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

export function parseDur(s) {
  const m = /^(\d+)([smhd])$/.exec(s);
  if (!m) return HOUR;
  return Number(m[1]) * { s: 1e3, m: 60e3, h: HOUR, d: DAY }[m[2]];
}

export function serviceView(s) {
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
    pitr: pitrWindow(s),
  };
}

export function replaces(s) {
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

export function serviceDetail(s) {
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

export const ORDER = { failing: 0, stale: 1, unknown: 2, healthy: 3 };

export function servicesView() {
  const list = [...services.values()].map(serviceView);
  list.sort((a, b) => ORDER[a.health.state] - ORDER[b.health.state] || a.name.localeCompare(b.name));
  const c = (st) => list.filter((x) => x.health.state === st).length;
  return {
    services: list,
    summary: { services: list.length, healthy: c('healthy'), failing: c('failing'), stale: c('stale'), unknown: c('unknown'), alerts_open: alerts.filter((a) => !a.resolved_at).length },
    config,
  };
}

export function tzOffsetMs(tz) {
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

export function calendar(days, tz) {
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

export function historyView(s, days) {
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
export function fileTree(s, point) {
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

export function fileContent(s, point, p) {
  const base = path.posix.basename(p);
  if (base === 'readme.txt') return Buffer.from(`Uploads of the app: avatars and invoices.\nThis copy is from restore point ${point.id} of ${s.name}, taken ${point.time}.\n`);
  if (base === 'app.conf') return Buffer.from(`# app configuration\nlisten = 127.0.0.1:8080\nuploads = ${s.volumes[0]}\n`);
  if (base === 'logo.svg') return Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4"/></svg>\n');
  const h = crypto.createHash('sha256').update(p + point.id).digest();
  return Buffer.concat(Array.from({ length: 64 }, () => h));
}

export function scheduleList() {
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

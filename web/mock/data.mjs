// The mock's services and their restore points: made up, deterministic, and
// generated on the fly (500,000 points cost no memory).


export const T0 = Date.now();
export const HOUR = 3600e3;
export const DAY = 24 * HOUR;
export const iso = (ms) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

// Deterministic pseudo-random numbers from a string.
export function hash32(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}
export const rnd = (s) => hash32(s) / 4294967296;
export const hex8 = (n) => (n >>> 0).toString(16).padStart(8, '0');

// ---------------------------------------------------------------- services

export const TYPE_PARTS = {
  postgres: (s) => [
    { name: 'globals', kind: 'stream', share: 0.001 },
    { name: 'db.app', kind: 'stream', share: 0.999 },
  ],
  mysql: () => [{ name: 'db.shop', kind: 'stream', share: 1 }],
  redis: () => [{ name: 'rdb', kind: 'stream', share: 1 }],
  sqlite: (s) => [{ name: 'db', kind: 'stream', share: 1 }],
  volume: () => [{ name: 'volumes', kind: 'files', share: 1, files: 1284 }],
};

export const services = new Map();

/**
 * A service's restore points are `extra` (made while the mock runs, newest
 * first) followed by `gen.count` generated ones, older, one every
 * `gen.interval` ms from `gen.newest` back. Generated points cost no memory,
 * so 500,000 of them are cheap.
 */
export function addService(def) {
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

export function genPoint(s, j) {
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

export function makePoint(s, p) {
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

export const pointCount = (s) => s.extra.length + s.gen.count;
export const pointAt = (s, i) => (i < s.extra.length ? s.extra[i] : genPoint(s, i - s.extra.length));
export const newestPoint = (s) => (pointCount(s) ? pointAt(s, 0) : null);
export function newestGood(s) {
  for (let i = 0; i < Math.min(pointCount(s), 50); i++) {
    const p = pointAt(s, i);
    if (p.status === 'complete') return p;
  }
  return null;
}

export function findPoint(s, ref) {
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

export function seedDefault() {
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
    // continuous archiving (method: physical, archive: stream): the window's start; it ends now (pitr.mjs)
    pitr: { window_start: iso(T0 - 7 * DAY) },
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

export function seedMany(n, total) {
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

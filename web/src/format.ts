// Formatting: sizes, durations, times in the browser's time zone (with the
// UTC time for the title attribute), ages.

const dtf = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});
const dtfSec = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const tf = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export const browserZone = (() => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
})();

export function parseTime(iso: string | null | undefined): Date | null {
  if (!iso) return null;
  const d = new Date(iso);
  return isNaN(d.getTime()) ? null : d;
}

export function localTime(iso: string | null | undefined, seconds = false): string {
  const d = parseTime(iso);
  if (!d) return '—';
  return (seconds ? dtfSec : dtf).format(d);
}

export function clockTime(iso: string | null | undefined): string {
  const d = parseTime(iso);
  return d ? tf.format(d) : '—';
}

/** "2026-12-06 10:15:00 UTC", for title attributes. */
export function utcTime(iso: string | null | undefined): string {
  const d = parseTime(iso);
  if (!d) return '';
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace('Z', ' UTC');
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n)) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + u[i];
}

/** Seconds as "3.2 s", "4 min 10 s", "2 h 5 min", "3 d 4 h". */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined || !isFinite(s)) return '—';
  if (s < 0) s = 0;
  if (s < 10) return s.toFixed(1) + ' s';
  if (s < 60) return Math.round(s) + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) {
    const r = Math.round(s - m * 60);
    return r ? `${m} min ${r} s` : `${m} min`;
  }
  const h = Math.floor(m / 60);
  if (h < 48) {
    const r = m - h * 60;
    return r ? `${h} h ${r} min` : `${h} h`;
  }
  const d = Math.floor(h / 24);
  const r = h - d * 24;
  return r ? `${d} d ${r} h` : `${d} d`;
}

/** Short age: "12 min", "3 h", "2 d". */
export function age(iso: string | null | undefined, now = Date.now()): string {
  const d = parseTime(iso);
  if (!d) return '—';
  const s = Math.max(0, (now - d.getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 172800) return Math.floor(s / 3600) + ' h';
  return Math.floor(s / 86400) + ' d';
}

/** "12 min ago", "just now". */
export function ageAgo(iso: string | null | undefined, now = Date.now()): string {
  const a = age(iso, now);
  return a === 'just now' || a === '—' ? a : a + ' ago';
}

/** "in 12 min" / "12 min ago". */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  const d = parseTime(iso);
  if (!d) return '—';
  const diff = (d.getTime() - now) / 1000;
  const a = Math.abs(diff);
  const txt = a < 60 ? `${Math.round(a)} s` : duration(a).replace(/ \d+ s$/, '');
  return diff >= 0 ? 'in ' + txt : txt + ' ago';
}

export function percent(p: number | null | undefined): string {
  if (p === null || p === undefined || !isFinite(p)) return '';
  return (p >= 10 ? p.toFixed(0) : p.toFixed(1)) + ' %';
}

export function scheduleText(s: { every: string | null; cron: string | null; timezone: string; jitter?: string | null } | null): string {
  if (!s) return 'not scheduled';
  let t = s.every ? `every ${s.every}` : s.cron ? `cron “${s.cron}” (${s.timezone})` : 'not scheduled';
  if (s.jitter) t += `, jitter ${s.jitter}`;
  return t;
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '—';
}

export function kindLabel(kind: string): string {
  return kind.replace(/_/g, ' ');
}

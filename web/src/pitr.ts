// Point-in-time recovery (docs/pitr.md): the times a person types, read in
// the time zone they chose (UTC or the browser's), and the recoverable window.

import { browserZone, utcTime } from './format';
import type { Pitr } from './types';

export type Zone = 'utc' | 'local';

const INPUT_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/;

function fieldsIn(d: Date, zone: Zone): number[] {
  return zone === 'utc'
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
}

/**
 * The value of a datetime-local input ("2026-12-06T10:15" or with seconds)
 * as an instant, read in `zone`. Null when it is not a time, or names a wall
 * clock time that does not exist there (a daylight-saving gap, 31 April).
 */
export function parseInputTime(value: string, zone: Zone): Date | null {
  const m = INPUT_TIME.exec(value.trim());
  if (!m) return null;
  const f = m.slice(1, 7).map((x) => Number(x ?? 0));
  const [y, mo, d, h, mi, s] = f;
  const t = zone === 'utc' ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
  if (!isFinite(t)) return null;
  const back = fieldsIn(new Date(t), zone);
  return back.every((v, i) => v === f[i]) ? new Date(t) : null;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** An instant as a datetime-local input's value (to the second) in `zone`. */
export function inputValue(d: Date, zone: Zone): string {
  const [y, mo, day, h, mi, s] = fieldsIn(d, zone);
  return `${pad(y, 4)}-${pad(mo)}-${pad(day)}T${pad(h)}:${pad(mi)}:${pad(s)}`;
}

/** "2026-12-06T10:15:00Z": what the API's `at` takes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** "UTC+01:00" for the browser's zone at that instant. */
export function offsetText(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `UTC${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** The zone's name as the dialog says it: "UTC", "Europe/Berlin (UTC+01:00)". */
export function zoneLabel(zone: Zone, at: Date = new Date()): string {
  return zone === 'utc' ? 'UTC' : `${browserZone} (${offsetText(at)})`;
}

/** An instant in `zone`, to the second, named: "2026-12-06 10:15:00 UTC", "2026-12-06 11:15:00 Europe/Berlin". */
export function zonedText(d: Date, zone: Zone): string {
  if (zone === 'utc') return utcTime(d.toISOString());
  return `${inputValue(d, 'local').replace('T', ' ')} ${browserZone}`;
}

/** The window as instants: the start rounded up and the end down to the second (the input's precision). */
export function windowOf(p: Pitr): { start: Date; end: Date } {
  return { start: new Date(Math.ceil(Date.parse(p.window_start) / 1000) * 1000), end: new Date(Math.floor(Date.parse(p.window_end) / 1000) * 1000) };
}

/** Null when `d` can be recovered to, else why not, naming the window in `zone`. */
export function outsideWindow(d: Date, p: Pitr, zone: Zone): string | null {
  const w = windowOf(p);
  const span = `The recoverable window is ${zonedText(w.start, zone)} to ${zonedText(w.end, zone)}.`;
  if (d.getTime() < Date.parse(p.window_start)) return `${zonedText(d, zone)} is before the recoverable window: no base backup is that old. ${span}`;
  if (d.getTime() > Date.parse(p.window_end)) return `${zonedText(d, zone)} is after the newest archived change. ${span} Choose an earlier time, or “Latest”.`;
  return null;
}

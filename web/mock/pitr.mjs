// Point-in-time recovery in the mock, as the daemon does it (docs/pitr.md):
// a service with `pitr` streams its WAL, so its window ends a couple of
// seconds ago; a restore asks for `at` ("latest" or an RFC 3339 UTC time)
// instead of `point`, checked as the API checks it (400) and, against the
// window, as the job checks it (the job fails, naming the window).

import { iso, pointCount, pointAt } from './data.mjs';

const LAG_S = 2.1;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** The service's recoverable window now, or null without continuous archiving. */
export function pitrWindow(s, now = Date.now()) {
  if (!s.pitr) return null;
  return { window_start: s.pitr.window_start, window_end: iso(now - LAG_S * 1000), lag_s: LAG_S };
}

/** Why the API refuses the request's `point`/`at` (a 400), or null. */
export function restoreRequestError(s, body) {
  if (body.at === undefined || body.at === null) return null;
  if (body.point !== undefined && body.point !== null) return 'give "point" or "at" (point-in-time recovery), not both';
  if (typeof body.at !== 'string' || (body.at !== 'latest' && (!RFC3339_UTC.test(body.at) || isNaN(Date.parse(body.at)))))
    return 'field \'at\' must be "latest" or an RFC 3339 UTC time (2026-12-06T10:15:00Z)';
  if (!s.pitr) return `point-in-time recovery ("at") is not enabled for service ${s.name}: it needs archive: stream on a PostgreSQL service (docs/pitr.md)`;
  return null;
}

/**
 * The base backup of a recovery to `at`: the newest complete point at or
 * before it ({point}), or why the job fails ({error}, naming the window).
 */
export function recoveryBase(s, at, target) {
  const w = pitrWindow(s);
  const span = `the recoverable window on ${target} is ${w.window_start.slice(0, 19)}Z to ${w.window_end.slice(0, 19)}Z`;
  const t = at === 'latest' ? Date.now() : Date.parse(at);
  if (at !== 'latest' && t > Date.parse(w.window_end)) return { error: `${at} is after the newest archived WAL: ${span}` };
  if (t >= Date.parse(w.window_start)) {
    for (let i = 0; i < pointCount(s); i++) {
      const p = pointAt(s, i);
      if (p.status === 'complete' && p.kind !== 'safety' && Date.parse(p.time) <= t) return { point: p };
    }
  }
  return { error: `no base backup before ${at}: ${span}` };
}

export function recoveryValidation(objects) {
  return {
    ok: true,
    exact: false,
    differences: [],
    structure_only: [`point-in-time recovery: the server came up, promoted and answered (${objects} objects read); the base backup's fingerprint does not apply`],
  };
}

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
//
// The data and its behaviour: data.mjs (services, points), activity.mjs (jobs,
// alerts, events), views.mjs (the answers); options.mjs (the command line).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PORT, HOST, PASSWORD, SEED_SERVICES, SEED_POINTS, DIST, SESSION_IDLE_S } from './options.mjs';
import { T0, DAY, iso, services, pointCount, pointAt, newestGood, findPoint, seedDefault, seedMany } from './data.mjs';
import { jobs, jobsById, logs, alerts, clients, config, emit, log, finish, seedJobs, svcBusy, startBackup, startRestore } from './activity.mjs';
import { restoreRequestError } from './pitr.mjs';
import { health, serviceDetail, servicesView, calendar, historyView, fileTree, fileContent, scheduleList } from './views.mjs';

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
      body.mode ??= 'new-instance';
      if (body.mode !== 'new-instance' && body.mode !== 'overwrite') return err(res, 400, 'field \'mode\' must be "new-instance" or "overwrite"');
      const bad = restoreRequestError(s, body);
      if (bad) return err(res, 400, bad);
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
            server_version: { postgres: '15.18', mysql: '10.11.6-MariaDB', redis: '7.0.15', sqlite: '3.40.1', volume: '' }[s.type], // the daemon writes "" for a volume
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
    Object.assign(config, { ok: false, error: "line 42: services.app-db: unknown key 'databse' (did you mean 'databases'?)" });
  } else if (mm[1] === 'config-ok') {
    Object.assign(config, { ok: true, loaded_at: iso(Date.now()), error: null });
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

// Shared helpers of the dashboard's browser tests: Debian's Chromium through
// playwright-core, a page that records CSP violations and uncaught errors,
// sign-in, screenshots, axe-core scans and API calls with the session.
//
// Environment:
//   CAIRN_URL              the dashboard (a `cairn serve`, or the mock), default http://127.0.0.1:8421
//   CAIRN_ADMIN_PASSWORD   the admin password, default "admin"
//   CAIRN_SCREENSHOTS      where every test saves its screenshots, default $TMPDIR/cairn-screenshots
//   CAIRN_SQLITE_SERVICE, CAIRN_POSTGRES_SERVICE, CAIRN_VOLUME_SERVICE, CAIRN_PITR_SERVICE
//                          the services the flows use (defaults: the mock's notes, app-db, uploads, app-db;
//                          the PITR one has continuous archiving and a recoverable window)
//   CAIRN_VOLUME_FILE      a file inside the volume service's points, default /srv/app/uploads/readme.txt
//   CAIRN_VOLUME_FILE_TEXT text that file contains, default "Uploads of the app"
//   CAIRN_BREAK_CMD, CAIRN_FIX_CMD
//                          shell commands that make the SQLite service's backups fail / work
//                          again ({service} is replaced); the mock needs none
//   CAIRN_SLOW_SERVICE     a service whose backup runs long enough to cancel (default: the volume service)
//   CAIRN_PERF_URL         a dashboard whose catalog holds 200 services and 500,000 points (perf.test.mjs)
//   CAIRN_PERF_SERVICES    how many services it has, default 200
//   CAIRN_JOB_TIMEOUT_MS   how long a backup or restore may take, default 120000
//   CHROMIUM               the browser, default /usr/bin/chromium

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const BASE = (process.env.CAIRN_URL || 'http://127.0.0.1:8421').replace(/\/$/, '');
export const PASSWORD = process.env.CAIRN_ADMIN_PASSWORD || 'admin';
export const SHOTS = process.env.CAIRN_SCREENSHOTS || path.join(os.tmpdir(), 'cairn-screenshots');
export const SVC = {
  sqlite: process.env.CAIRN_SQLITE_SERVICE || 'notes',
  postgres: process.env.CAIRN_POSTGRES_SERVICE || 'app-db',
  volume: process.env.CAIRN_VOLUME_SERVICE || 'uploads',
  // PostgreSQL with method: physical and archive: stream (a recoverable window)
  pitr: process.env.CAIRN_PITR_SERVICE || 'app-db',
};
export const SLOW_SERVICE = process.env.CAIRN_SLOW_SERVICE || SVC.volume;
export const VOLUME_FILE = process.env.CAIRN_VOLUME_FILE || '/srv/app/uploads/readme.txt';
export const VOLUME_FILE_TEXT = process.env.CAIRN_VOLUME_FILE_TEXT ?? 'Uploads of the app';
export const JOB_TIMEOUT = Number(process.env.CAIRN_JOB_TIMEOUT_MS || 120000);
export const PERF_URL = process.env.CAIRN_PERF_URL ? process.env.CAIRN_PERF_URL.replace(/\/$/, '') : null;
export const PERF_SERVICES = Number(process.env.CAIRN_PERF_SERVICES || 200);

fs.mkdirSync(SHOTS, { recursive: true });

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1366, height: 900 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/**
 * A new browser context and page. `problems()` lists what must never happen:
 * Content-Security-Policy violations and uncaught exceptions.
 */
export async function open(browser, { viewport = DESKTOP, timezoneId = 'Europe/Berlin', colorScheme = 'light', base = BASE } = {}) {
  const context = await browser.newContext({ viewport, timezoneId, colorScheme, acceptDownloads: true, locale: 'en-GB', baseURL: base });
  const page = await context.newPage();
  const bad = [];
  page.on('console', (m) => {
    const t = m.text();
    if (/Content[- ]Security[- ]Policy|Refused to (execute|apply|load|connect|evaluate)/i.test(t)) bad.push('CSP: ' + t);
  });
  page.on('pageerror', (e) => bad.push('uncaught: ' + e.message));
  page.setDefaultTimeout(15000);
  return {
    context,
    page,
    problems: () => bad.slice(),
    async close() {
      assert.deepEqual(bad, [], 'CSP violations or uncaught errors in the page');
      await context.close();
    },
  };
}

export async function signIn(page, { password = PASSWORD, base = BASE } = {}) {
  await page.goto(base + '/');
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
}

let shotNo = 0;
export async function shot(page, name, { fullPage = true } = {}) {
  shotNo++;
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page (through the DevTools protocol, so the CSP does not apply) and fails on serious or critical violations. */
export async function axe(page, label) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!has) await page.evaluate(AXE_SOURCE + ';0');
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || '').split('\n').slice(0, 2).join(' ')) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = violations.filter((v) => !serious.includes(v));
  if (minor.length) console.log(`axe ${label}: minor/moderate: ${minor.map((v) => v.id).join(', ')}`);
  assert.deepEqual(serious, [], `axe found serious/critical violations on ${label}:\n${JSON.stringify(serious, null, 2)}`);
  return violations;
}

/** Polls `fn` until it returns a truthy value (or stops throwing). */
export async function eventually(fn, { timeout = 15000, interval = 250, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error(`${message}: got ${JSON.stringify(v)}`);
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${message}: ${last?.message}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** API calls with the page's session cookie and CSRF token. */
export async function apiCall(page, method, route, body, { csrf = true, base = BASE } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (csrf && method !== 'GET') {
    const s = await page.request.get(base + '/api/v1/session');
    headers['X-CSRF-Token'] = (await s.json()).csrf_token;
  }
  const r = await page.request.fetch(base + '/api/v1' + route, { method, headers, data: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  try {
    json = await r.json();
  } catch {}
  return { status: r.status(), body: json };
}

export async function isMock(base = BASE) {
  try {
    const r = await fetch(base + '/api/v1/health');
    return /mock/.test((await r.json()).version);
  } catch {
    return false;
  }
}

/** Makes the service's backups fail (breakIt=true) or work again. */
export async function breakService(service, breakIt) {
  const cmd = breakIt ? process.env.CAIRN_BREAK_CMD : process.env.CAIRN_FIX_CMD;
  if (cmd) {
    execSync(cmd.replaceAll('{service}', service), { stdio: 'inherit', shell: '/bin/bash' });
    return true;
  }
  if (await isMock()) {
    const r = await fetch(`${BASE}/__mock/${breakIt ? 'break' : 'fix'}/${encodeURIComponent(service)}`, { method: 'POST' });
    return r.ok;
  }
  return false;
}

export async function gotoService(page, name) {
  await page.goto(`${BASE}/#/services/${encodeURIComponent(name)}`);
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

/** Waits until the Alerts link's badge shows as many open alerts as the API lists (none: no badge). */
export async function alertsBadgeFollowsApi(page, { timeout = 15000 } = {}) {
  const badge = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Alerts/ }).locator('.nav-count');
  await eventually(
    async () => {
      const open = (await apiCall(page, 'GET', '/alerts?state=open&limit=100')).body.alerts.length;
      const shown = (await badge.count()) ? Number(await badge.innerText()) : 0;
      if (shown !== open) throw new Error(`the badge shows ${shown}, the API lists ${open} open`);
      return true;
    },
    { timeout, message: 'the Alerts badge to show the open alerts' },
  );
}

/** The restore points table's rows, as {id, time}. */
export async function historyRows(page) {
  await page.getByTestId('history-table').waitFor();
  return page.getByTestId('point-row').evaluateAll((rows) => rows.map((r) => ({ id: r.dataset.point, time: r.dataset.time })));
}

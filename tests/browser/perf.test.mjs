// With 200 services and 500,000 restore points in the catalog, the overview and a
// service's first history page render in under 1 s (cold browser cache, signed in).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PERF_SERVICES, PERF_URL, SHOTS, apiCall, launch, open, shot, signIn } from './lib.mjs';

const LIMIT_MS = Number(process.env.CAIRN_RENDER_LIMIT_MS || 1000);
let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('overview and first history page render in under 1 s with 200 services and 500,000 points', async (t) => {
  if (!PERF_URL) {
    t.skip('CAIRN_PERF_URL is not set (a dashboard whose catalog holds 200 services and 500,000 points)');
    return;
  }
  // sign in once, then measure in fresh contexts (no cached assets) that carry the session
  const first = await open(browser, { base: PERF_URL });
  await signIn(first.page, { base: PERF_URL });
  const services = (await apiCall(first.page, 'GET', '/services', undefined, { base: PERF_URL })).body;
  assert.equal(services.services.length, PERF_SERVICES, `the catalog has ${PERF_SERVICES} services`);
  const state = await first.context.storageState();
  const big = services.services.find((s) => s.health.state === 'healthy') ?? services.services[0];
  await first.close();

  const results = { overview_ms: [], history_ms: [] };
  for (let run = 0; run < 3; run++) {
    const context = await browser.newContext({ storageState: state, viewport: { width: 1366, height: 900 }, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
    const page = await context.newPage();
    let t0 = Date.now();
    await page.goto(PERF_URL + '/#/');
    // the summary, the services table and the calendar, with the rows in view (only those are rendered)
    await page.waitForFunction(
      (n) =>
        document.querySelector('[data-testid="services-table"]')?.getAttribute('aria-rowcount') === String(n + 1) &&
        document.querySelectorAll('[data-testid="service-row"]').length >= Math.min(n, 20) &&
        !!document.querySelector('[data-testid="summary"]') &&
        document.querySelector('[data-testid="calendar"]')?.getAttribute('aria-rowcount') === String(n + 1) &&
        document.querySelectorAll('[data-testid="calendar"] tr.cal-row').length >= Math.min(n, 20),
      PERF_SERVICES,
      { timeout: 20000, polling: 'raf' },
    );
    results.overview_ms.push(Date.now() - t0);
    if (run === 0) {
      await shot(page, 'perf-overview-200-services', { fullPage: false });
      // scrolling to the end brings the last services in
      const last = services.services[services.services.length - 1].name;
      await page.keyboard.press('End');
      await page.locator(`[data-testid="service-row"][data-service="${last}"]`).waitFor({ timeout: 5000 });
      await page.evaluate(() => window.scrollTo(0, 0));
    }

    t0 = Date.now();
    await page.goto(`${PERF_URL}/#/services/${encodeURIComponent(big.name)}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="point-row"]').length >= 50, undefined, { timeout: 20000, polling: 'raf' });
    results.history_ms.push(Date.now() - t0);
    if (run === 0) await shot(page, 'perf-service-history', { fullPage: false });
    await context.close();
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const summary = { ...results, overview_median_ms: median(results.overview_ms), history_median_ms: median(results.history_ms), services: PERF_SERVICES, service: big.name, limit_ms: LIMIT_MS, load_average: (await import('node:os')).loadavg()[0] };
  fs.writeFileSync(path.join(SHOTS, 'perf.json'), JSON.stringify(summary, null, 2));
  console.log('# render times', JSON.stringify(summary));
  // each measure is a cold load (new browser context, no cache); the median of three counts
  assert.ok(summary.overview_median_ms < LIMIT_MS, `overview rendered in ${summary.overview_median_ms} ms (limit ${LIMIT_MS})`);
  assert.ok(summary.history_median_ms < LIMIT_MS, `first history page rendered in ${summary.history_median_ms} ms (limit ${LIMIT_MS})`);
});

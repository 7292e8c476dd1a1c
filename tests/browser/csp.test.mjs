// The dashboard is served with a strict Content-Security-Policy and caching headers, loads nothing
// from outside the machine, and stays within its size budget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { BASE, apiCall, launch, open, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('strict CSP, cache headers, nothing from elsewhere, under 300 KB gzipped', async () => {
  const index = await fetch(BASE + '/');
  assert.equal(index.status, 200);
  const csp = index.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'/, 'scripts only from the server');
  assert.match(csp, /style-src 'self'/, 'styles only from the server');
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, 'no unsafe-inline, unsafe-eval or wildcards');
  const html = await index.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script in index.html');
  assert.doesNotMatch(html, /<style|style=/i, 'no inline style in index.html');
  assert.match(index.headers.get('cache-control') ?? '', /no-cache|no-store|max-age=0/, 'index.html is revalidated');

  const o = await open(browser);
  const { page } = o;
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await signIn(page);
  await page.getByTestId('calendar').waitFor();
  // a service page loads the chart code (a separate file); one with restore points, so charts are drawn
  const services = (await apiCall(page, 'GET', '/services')).body.services;
  const withPoints = services.find((x) => x.last_backup) ?? services[0];
  await page.getByTestId('services-table').getByRole('link', { name: withPoints.name, exact: true }).click();
  await page.getByTestId('chart-size').locator('canvas').waitFor();
  const origin = new URL(BASE).origin;
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'every request goes to the dashboard’s own server');

  // the hashed assets: long-lived cache, total size under budget
  const assets = [...new Set(requests.filter((u) => /\/assets\//.test(u)))];
  assert.ok(assets.length >= 2, 'a script and a stylesheet');
  let gz = 0;
  for (const u of assets) {
    const r = await fetch(u);
    assert.match(r.headers.get('cache-control') ?? '', /max-age=\d{6,}/, `${u} is cached for long`);
    gz += zlib.gzipSync(Buffer.from(await r.arrayBuffer()), { level: 9 }).length;
  }
  console.log(`# assets: ${assets.length} files, ${(gz / 1024).toFixed(1)} KiB gzipped`);
  assert.ok(gz < 300 * 1024, `assets are ${gz} bytes gzipped (budget 300 KB)`);
  await o.close(); // fails on any CSP violation seen while loading
});

// The overview: summary line, every service with its health, trouble first, the 30-day calendar, the alert banner.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, apiCall, axe, launch, open, shot, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

const ORDER = { failing: 0, stale: 1, unknown: 2, healthy: 3 };

test('the overview shows every service, trouble first, with a summary and the 30-day calendar', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  const api = (await apiCall(page, 'GET', '/services')).body;
  await page.getByTestId('services-table').waitFor();

  // summary line, as the API counts
  const sum = await page.getByTestId('summary').innerText();
  const s = api.summary;
  assert.match(sum, new RegExp(`${s.services} services?`));
  assert.match(sum, new RegExp(`${s.healthy} healthy`));
  assert.match(sum, new RegExp(`${s.failing} failing`));
  assert.match(sum, new RegExp(`${s.stale} stale`));
  assert.match(sum, new RegExp(`${s.alerts_open} alerts? open`));

  // one row per service, trouble first
  const rows = await page.getByTestId('service-row').evaluateAll((rs) => rs.map((r) => ({ name: r.dataset.service, health: r.dataset.health, text: r.innerText })));
  assert.equal(await page.getByTestId('services-table').getAttribute('aria-rowcount'), String(api.services.length + 1));
  // up to 80 services every row is rendered; beyond, the rows near the viewport (see perf.test.mjs)
  if (api.services.length <= 80) assert.equal(rows.length, api.services.length);
  else assert.ok(rows.length >= 20, 'the rows in view');
  assert.deepEqual(rows.map((r) => r.name), api.services.slice(0, rows.length).map((x) => x.name), "the daemon's order");
  for (let i = 1; i < rows.length; i++) assert.ok(ORDER[rows[i - 1].health] <= ORDER[rows[i].health], `row ${i} (${rows[i].name}, ${rows[i].health}) comes after ${rows[i - 1].name} (${rows[i - 1].health})`);
  for (const svc of api.services.slice(0, rows.length)) {
    const row = rows.find((r) => r.name === svc.name);
    assert.ok(row, `row of ${svc.name}`);
    assert.ok(row.text.includes(svc.type), `${svc.name} shows its type`);
    assert.ok(row.text.includes(svc.health.state), `${svc.name} shows its health ${svc.health.state}`);
    for (const c of ['recent', 'complete', 'verified']) assert.ok(row.text.includes(c), `${svc.name} shows the ${c} check`);
    for (const t of svc.targets) assert.ok(row.text.includes(t), `${svc.name} shows target ${t}`);
  }
  // a failing service is marked with a failure sign, not just a colour
  const failing = api.services.find((x) => x.health.state === 'failing');
  if (failing) {
    const badge = page.locator(`[data-service="${failing.name}"] .badge-bad`).first();
    assert.match(await badge.innerText(), /failing/);
    assert.match(await badge.evaluate((b) => getComputedStyle(b, '::before').content), /✗/);
  }
  // times: local text, UTC on hover
  const t = page.locator('[data-testid="service-row"] time').first();
  assert.match((await t.getAttribute('title')) ?? '', /UTC/);

  // the calendar: one row per service, 30 day columns, cells with a text alternative
  const cal = page.getByTestId('calendar');
  await cal.waitFor();
  assert.equal(await cal.getAttribute('aria-rowcount'), String(api.services.length + 1), 'a row per service (and the header)');
  const calRows = await cal.locator('tbody tr.cal-row').count();
  assert.equal(calRows, Math.min(api.services.length, api.services.length > 60 ? calRows : api.services.length), 'every row (up to 60 services; beyond, the rows in view)');
  assert.equal(await cal.locator('thead th').count(), 31);
  const cells = await cal.locator('td.cell').count();
  assert.equal(cells, 30 * calRows, '30 days per row');
  // rows follow the table's order: trouble first
  const calOrder = await cal.locator('tbody tr.cal-row').evaluateAll((rs) => rs.map((r) => r.dataset.service));
  assert.deepEqual(calOrder, rows.slice(0, calOrder.length).map((r) => r.name));
  assert.ok((await cal.locator('td.cell-ok').count()) > 0, 'some days are green');
  const firstCell = await cal.locator('td.cell').first().innerText();
  assert.match(firstCell, /backed up|failed|missing|nothing due/);

  // the alert banner while any alert is open
  if (s.alerts_open > 0) {
    const banner = page.getByTestId('alert-banner');
    await banner.waitFor();
    assert.match(await banner.innerText(), new RegExp(`${s.alerts_open} open alerts?`));
  } else {
    assert.equal(await page.getByTestId('alert-banner').count(), 0);
  }
  await axe(page, 'overview');
  await shot(page, 'overview');
  await o.close();
});

test('a configuration error is shown as a banner', async (t) => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await page.locator('.live-on').waitFor(); // the event stream is connected
  const mock = await fetch(BASE + '/__mock/config-error', { method: 'POST' }).catch(() => null);
  if (!mock || !mock.ok) {
    // The real daemon: the banner shows whatever GET /config says.
    const c = (await apiCall(page, 'GET', '/config')).body;
    if (c.ok) {
      assert.equal(await page.getByTestId('config-error').count(), 0, 'no banner while the configuration is fine');
      await o.close();
      return;
    }
  }
  try {
    const banner = page.getByTestId('config-error');
    await banner.waitFor(); // arrives as a `config` event
    const text = await banner.innerText();
    assert.match(text, /Configuration error/);
    assert.match(text, /last good configuration/);
    await shot(page, 'overview-config-error', { fullPage: false });
  } finally {
    if (mock?.ok) await fetch(BASE + '/__mock/config-ok', { method: 'POST' });
  }
  if (mock?.ok) await page.getByTestId('config-error').waitFor({ state: 'detached' });
  await o.close();
});

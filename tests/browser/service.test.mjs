// A service's page: details, health, charts and the full history, newest first, paged with the cursor.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SVC, apiCall, axe, eventually, gotoService, historyRows, launch, open, shot, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test("a service's history: newest first, paged, with its details and charts", async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  // from the overview, by its link
  await page.getByTestId('services-table').getByRole('link', { name: SVC.postgres, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: SVC.postgres }).waitFor();

  const detail = (await apiCall(page, 'GET', `/services/${SVC.postgres}`)).body;
  const first = (await apiCall(page, 'GET', `/services/${SVC.postgres}/backups?limit=50`)).body;
  assert.ok(first.points.length > 0, 'the service has restore points (back it up once before the test)');

  // details
  const details = await page.getByRole('region', { name: 'Details' }).innerText();
  assert.match(details, /Schedule/);
  assert.match(details, /Freshness target/);
  assert.match(details, /RPO achieved/);
  assert.match(details, /RTO measured/);
  const retention = await page.getByRole('region', { name: 'Retention per target' }).innerText();
  for (const t of detail.targets) assert.ok(retention.includes(t), `retention of target ${t}`);

  // the history table: the API's first page, newest first
  const rows = await historyRows(page);
  assert.equal(rows.length, first.points.length);
  assert.deepEqual(rows.map((r) => r.id), first.points.map((p) => p.id));
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].time >= rows[i].time, 'newest first');
  const firstRow = page.getByTestId('point-row').first();
  const text = await firstRow.innerText();
  const p0 = first.points[0];
  assert.ok(text.includes(p0.kind), 'kind');
  assert.ok(text.includes(p0.status), 'status');
  for (const part of p0.parts) assert.ok(text.includes(part.name), `part ${part.name}`);
  for (const t of p0.targets) assert.ok(text.includes(t), `target ${t}`);
  assert.match((await firstRow.locator('a').first().getAttribute('title')) ?? '', /UTC/, 'UTC time on hover');
  const verified = first.points.find((p) => p.verified?.outcome === 'passed');
  if (verified) {
    const vrow = page.locator(`[data-point="${verified.id}"]`);
    assert.match(await vrow.innerText(), /verified restorable at .+ in \d/);
  }

  // charts are drawn
  for (const c of ['chart-size', 'chart-added', 'chart-duration', 'chart-rpo']) {
    await page.getByTestId(c).locator('canvas').waitFor();
  }
  assert.ok(await page.getByTestId('chart-rto').count(), 'the RTO chart is there');

  await axe(page, 'service page');
  await shot(page, 'service-history');

  // the next page with the cursor: older points, none repeated
  if (first.next_cursor) {
    await page.getByRole('button', { name: 'Older ›' }).click();
    await eventually(async () => (await historyRows(page))[0].id !== rows[0].id, { message: 'the next page' });
    const rows2 = await historyRows(page);
    assert.ok(rows2[0].time <= rows[rows.length - 1].time, 'page 2 is older than page 1');
    assert.ok(!rows2.some((r) => rows.find((x) => x.id === r.id)), 'no point on both pages');
    await shot(page, 'service-history-page2', { fullPage: false });
    await page.getByRole('button', { name: '‹ Newer' }).click();
    await eventually(async () => (await historyRows(page))[0].id === rows[0].id, { message: 'back to the first page' });
  }
  await o.close();
});

test('a restore point page shows its parts and targets', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await gotoService(page, SVC.postgres);
  const rows = await historyRows(page);
  await page.getByTestId('point-row').first().locator('a').first().click();
  await page.getByRole('heading', { level: 1, name: new RegExp(`Restore point ${rows[0].id.slice(0, 8)}`) }).waitFor();
  await page.getByRole('heading', { level: 2, name: 'Parts' }).waitFor(); // the point has loaded
  const body = await page.locator('main').innerText();
  assert.match(body, /Parts/);
  assert.ok(body.includes(rows[0].id), 'the full id');
  await axe(page, 'point page');
  await shot(page, 'point');
  await o.close();
});

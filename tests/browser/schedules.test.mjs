// Schedules: every service and target with its next runs; pause and resume.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SVC, apiCall, axe, eventually, gotoService, launch, open, shot, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('pause a schedule and resume it', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  const api = (await apiCall(page, 'GET', '/schedules')).body.schedules;
  const entry = api.find((e) => e.service === SVC.sqlite && e.kind === 'backup');
  assert.ok(entry, `a backup schedule of ${SVC.sqlite}`);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Schedules' }).click();
  await page.getByRole('heading', { level: 1, name: 'Schedules' }).waitFor();
  await page.getByTestId('schedules-table').waitFor(); // the list has loaded
  assert.equal(await page.getByTestId('schedule-row').count(), api.length, 'one row per schedule');
  const row = page.locator(`[data-testid="schedule-row"][data-key="${entry.key}"]`);
  if (entry.paused) {
    await row.getByRole('button', { name: /^Resume/ }).click();
    await eventually(async () => (await row.getAttribute('data-paused')) === 'false');
  }
  // next runs, in the browser's time zone with UTC on hover
  const next = row.locator('.next-runs time');
  assert.ok((await next.count()) >= 1, 'next runs are listed');
  assert.match((await next.first().getAttribute('title')) ?? '', /UTC/);

  await row.getByRole('button', { name: new RegExp(`^Pause the backup schedule of ${SVC.sqlite}`) }).click();
  await eventually(async () => (await row.getAttribute('data-paused')) === 'true', { message: 'paused' });
  assert.match(await row.innerText(), /paused/);
  assert.match(await row.innerText(), /none while paused/);
  const after = (await apiCall(page, 'GET', '/schedules')).body.schedules.find((e) => e.key === entry.key);
  assert.equal(after.paused, true, 'the daemon says paused');
  await axe(page, 'schedules page');
  await shot(page, 'schedules-paused');
  // the service page says so too
  await gotoService(page, SVC.sqlite);
  assert.match(await page.getByRole('region', { name: 'Details' }).innerText(), /paused/);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Schedules' }).click();
  await row.getByRole('button', { name: /^Resume/ }).click();
  await eventually(async () => (await row.getAttribute('data-paused')) === 'false', { message: 'resumed' });
  assert.equal((await apiCall(page, 'GET', '/schedules')).body.schedules.find((e) => e.key === entry.key).paused, false);
  await o.close();
});

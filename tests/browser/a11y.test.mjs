// Accessibility (axe-core: no serious or critical violations on any screen, light and dark),
// phone width (no sideways scrolling, tables become cards), keyboard use of dialogs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, PHONE, SVC, apiCall, axe, eventually, gotoService, historyRows, launch, open, shot, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** Every screen, reached by address; `ready` waits for its content. */
async function screens(page) {
  const pts = (await apiCall(page, 'GET', `/services/${SVC.volume}/backups?limit=1`)).body.points;
  const jobs = (await apiCall(page, 'GET', '/jobs?limit=1')).body.jobs;
  const list = [
    { name: 'overview', route: '/', ready: () => page.getByTestId('calendar').waitFor() },
    { name: 'service', route: `/services/${SVC.postgres}`, ready: () => page.getByTestId('history-table').waitFor() },
    { name: 'jobs', route: '/jobs', ready: () => page.getByTestId('jobs-table').waitFor() },
    { name: 'alerts', route: '/alerts', ready: () => page.getByRole('heading', { name: 'Resolved' }).waitFor() },
    { name: 'schedules', route: '/schedules', ready: () => page.getByTestId('schedules-table').waitFor() },
  ];
  if (pts.length) {
    const files = (await apiCall(page, 'GET', `/services/${SVC.volume}/backups/${pts[0].id}/files?path=/`)).body;
    const first = files?.entries?.[0]?.name ?? '';
    list.push({ name: 'files', route: `/services/${SVC.volume}/points/${pts[0].id}?path=${encodeURIComponent('/' + first.replace(/^\/+/, ''))}`, ready: () => page.getByTestId('files-table').waitFor() });
  }
  if (jobs.length) list.push({ name: 'job', route: `/jobs/${jobs[0].id}`, ready: () => page.getByRole('log').waitFor() });
  return list;
}

async function visit(page, s) {
  await page.goto(`${BASE}/#${s.route}`);
  await s.ready();
  await page.waitForTimeout(300); // charts and late data
}

for (const scheme of ['light', 'dark']) {
  test(`every screen passes axe-core (${scheme} colours)`, async () => {
    const o = await open(browser, { colorScheme: scheme });
    const { page } = o;
    await page.goto(BASE + '/');
    await page.getByRole('heading', { name: 'Sign in to Cairn' }).waitFor();
    await axe(page, `sign-in (${scheme})`);
    await signIn(page);
    for (const s of await screens(page)) {
      await visit(page, s);
      await axe(page, `${s.name} (${scheme})`);
      if (scheme === 'dark') await shot(page, `dark-${s.name}`, { fullPage: false });
    }
    // the dialogs
    await gotoService(page, SVC.sqlite);
    await page.getByRole('button', { name: 'Back up now' }).click();
    await page.getByRole('dialog').waitFor();
    await axe(page, `backup dialog (${scheme})`);
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Restore…' }).click();
    await page.getByRole('dialog').waitFor();
    await page.getByRole('radio', { name: /Overwrite/ }).check();
    await axe(page, `overwrite dialog (${scheme})`);
    await o.close();
  });
}

test('phone width: no sideways scrolling, tables as cards, every screen', async () => {
  const o = await open(browser, { viewport: PHONE });
  const { page } = o;
  await page.goto(BASE + '/');
  await page.getByRole('heading', { name: 'Sign in to Cairn' }).waitFor();
  await shot(page, 'phone-signin', { fullPage: false });
  await signIn(page);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  for (const s of await screens(page)) {
    await visit(page, s);
    assert.ok((await overflow()) <= 1, `${s.name} scrolls sideways by ${await overflow()} px at ${PHONE.width} px`);
    // tables turn into cards: no header row shown, one card per row
    const table = page.locator('table.responsive').first();
    if (await table.count()) {
      const headVisible = await table.locator('thead').evaluate((h) => h.getBoundingClientRect().height > 2);
      assert.equal(headVisible, false, `${s.name}: the table header is hidden at phone width`);
      const rowDisplay = await table.locator('tbody tr').first().evaluate((r) => getComputedStyle(r).display);
      assert.equal(rowDisplay, 'block', `${s.name}: rows are cards`);
    }
    await axe(page, `${s.name} (phone)`);
    await shot(page, `phone-${s.name}`, { fullPage: s.name !== 'service' });
  }
  // the navigation is reachable and usable
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
  // the restore dialog fits the screen
  await gotoService(page, SVC.sqlite);
  await historyRows(page);
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await page.getByRole('radio', { name: /Overwrite/ }).check();
  const box = await dialog.boundingBox();
  assert.ok(box && box.width <= PHONE.width && box.x >= 0, 'the dialog fits the width');
  await shot(page, 'phone-overwrite-dialog', { fullPage: false });
  await o.close();
});

test('dialogs keep focus inside, close with Escape and give focus back', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await gotoService(page, SVC.sqlite);
  const opener = page.getByRole('button', { name: 'Back up now' });
  await opener.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: /Back up/ });
  await dialog.waitFor();
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), `Tab ${i + 1} stays in the dialog`);
  }
  // visible focus: the focused control has an outline
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused control shows a focus ring');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  // (the dialog gives focus back once more a tick after it closed, when the browser dropped it on <body>)
  const focused = () => page.evaluate(() => (document.activeElement === document.body ? 'BODY' : document.activeElement?.textContent));
  await eventually(async () => (await focused()) === 'Back up now', { timeout: 2000, interval: 50, message: 'focus back on the opener' }).catch(async (e) => {
    assert.fail(`${e.message}: focus returns to the opener (focus is on ${await focused()})`);
  });
  await o.close();
});

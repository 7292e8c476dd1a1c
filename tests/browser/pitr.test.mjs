// Point-in-time recovery (docs/pitr.md): the recoverable window on the service
// page; a time outside it is refused (by the dialog, with a message, and by the
// daemon's job); a restore to the latest archived state as a new instance.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { JOB_TIMEOUT, PHONE, SHOTS, SVC, alertsBadgeFollowsApi, apiCall, axe, eventually, gotoService, launch, open, shot, signIn } from './lib.mjs';

const TZ = 'Europe/Berlin'; // the browser's zone in these tests (open()'s default)

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** "2026-12-06 10:15:00 UTC", as the dashboard writes a UTC time. */
const utcText = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

/** A datetime-local value for the instant in `tz` ("2026-12-06T11:15:01"); Chromium leaves out ":00" seconds. */
function inputValueIn(ms, tz) {
  const s = new Intl.DateTimeFormat('sv-SE', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
  return s.replace(' ', 'T').replace(/:00$/, '');
}

async function pitrOf(page) {
  const svc = (await apiCall(page, 'GET', `/services/${SVC.pitr}`)).body;
  assert.ok(svc?.pitr, `service ${SVC.pitr} has a recoverable window (continuous archiving and a base backup)`);
  return svc.pitr;
}

async function openPitrDialog(page) {
  await page.getByTestId('pitr-window').getByRole('button', { name: 'Restore to a point in time…' }).click();
  await page.getByRole('dialog', { name: `Restore ${SVC.pitr}` }).waitFor();
  const dialog = page.getByTestId('restore-dialog');
  assert.ok(await dialog.getByRole('radio', { name: /^A point in time/ }).isChecked(), 'the dialog opens on “a point in time”');
  await dialog.getByTestId('pitr-choice').waitFor();
  return dialog;
}

async function waitJob(page, id) {
  return eventually(
    async () => {
      const j = (await apiCall(page, 'GET', `/jobs/${id}`)).body;
      return j && j.ended_at ? j : null;
    },
    { timeout: JOB_TIMEOUT, interval: 500, message: `job ${id} to end` },
  );
}

test('the recoverable window on the service page; a time outside it is refused with a message', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  const pitr = await pitrOf(page); // (before the page asks: its window ends no earlier)
  await gotoService(page, SVC.pitr);
  const start = Date.parse(pitr.window_start);
  const end = Date.parse(pitr.window_end);
  assert.ok(start < end, 'the window has a start before its end');

  // the card: from and to (local time, and UTC beside it), the archive lag
  const card = page.getByTestId('pitr-window');
  await card.waitFor();
  assert.match(await card.getByRole('heading').innerText(), /Point-in-time recovery/);
  // to the second: the first whole second inside the window, as the dialog offers it
  assert.ok((await card.getByTestId('pitr-from').innerText()).includes(utcText(Math.ceil(start / 1000) * 1000)), 'the window start in UTC');
  assert.match(await card.getByTestId('pitr-from').locator('time').getAttribute('title'), /UTC/);
  // the end moves while the streamer uploads: it is at least the one read above
  const shownEnd = Date.parse((await card.getByTestId('pitr-to').locator('time').getAttribute('datetime')) ?? '');
  assert.ok(shownEnd >= Math.floor(end / 1000) * 1000, `the window end (${new Date(shownEnd).toISOString()} vs ${pitr.window_end})`);
  assert.match(await card.getByTestId('pitr-lag').innerText(), /^\d+(\.\d)? (s|min|h)/, 'the archive lag as a duration');
  await axe(page, 'service page with a PITR window');
  await shot(page, 'pitr-service-window', { fullPage: false });
  await card.screenshot({ path: path.join(SHOTS, 'pitr-window-card.png') });

  const dialog = await openPitrDialog(page);
  assert.ok(await dialog.getByRole('radio', { name: /^Latest/ }).isChecked(), '“Latest” is the default');
  await dialog.getByRole('radio', { name: /^A time/ }).check();
  const input = dialog.getByLabel(/^Time \(/);
  await input.waitFor();
  assert.match(await dialog.getByLabel(/^Time \(/).evaluate((el) => el.labels[0].innerText), new RegExp(TZ.replace('/', '\\/')), 'the field names the zone it is read in');

  // a time inside the window, typed in UTC: it is read as UTC, and switching to
  // the local zone writes the same instant in local time
  let mid = Math.floor((start + end) / 2000) * 1000;
  if (new Date(mid).getUTCSeconds() === 0) mid += 1000; // (a value with seconds, as typed)
  await dialog.getByRole('radio', { name: 'UTC', exact: true }).check();
  await input.fill(inputValueIn(mid, 'UTC'));
  assert.ok((await dialog.getByTestId('pitr-means').innerText()).includes(utcText(mid)), 'the time means that UTC instant');
  await dialog.getByRole('radio', { name: new RegExp(`^${TZ.replace('/', '\\/')}`) }).check();
  assert.equal((await input.inputValue()).replace(/:00$/, ''), inputValueIn(mid, TZ), `the same instant in ${TZ}`);
  assert.ok((await dialog.getByTestId('pitr-means').innerText()).includes(utcText(mid)), 'still the same UTC instant');
  assert.equal(await dialog.getByTestId('pitr-error').count(), 0, 'no error inside the window');

  // before the window: refused in the dialog, with the window named
  const submit = dialog.getByRole('button', { name: 'Restore as a new instance' });
  await input.fill(inputValueIn(start - 86400e3 - 7000, TZ));
  const error = dialog.getByTestId('pitr-error');
  await error.waitFor();
  assert.match(await error.innerText(), /before the recoverable window/);
  assert.ok((await error.innerText()).includes(`The recoverable window is`), 'the message states the window');
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  assert.ok(await submit.isDisabled(), 'no restore can be started outside the window');
  await axe(page, 'point-in-time dialog with a time outside the window');
  await shot(page, 'pitr-outside-window', { fullPage: false });
  // after its end: refused too
  await input.fill(inputValueIn(Date.now() + 86400e3 + 7000, TZ));
  assert.match(await error.innerText(), /after the newest archived change/);
  assert.ok(await submit.isDisabled());
  // a time that is not one
  await input.fill('');
  assert.match(await error.innerText(), /Enter a date and a time/);

  // the daemon refuses a time outside the window too: the job fails and names the window
  const r = await apiCall(page, 'POST', `/services/${SVC.pitr}/restores`, { at: '2000-01-01T00:00:00Z', mode: 'new-instance' });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const j = await waitJob(page, r.body.job_id);
  assert.equal(j.status, 'failed');
  assert.match(j.error, /recoverable window/);
  // both "point" and "at" is a 400
  const both = await apiCall(page, 'POST', `/services/${SVC.pitr}/restores`, { point: 'latest', at: 'latest', mode: 'new-instance' });
  assert.equal(both.status, 400);
  assert.match(both.body.error, /not both/);

  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await o.close();
});

test('a point-in-time restore to the latest archived state as a new instance', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await gotoService(page, SVC.pitr);
  await pitrOf(page);
  const dialog = await openPitrDialog(page);
  assert.ok(await dialog.getByRole('radio', { name: /^Latest/ }).isChecked());
  assert.equal(await dialog.getByLabel('Restore point', { exact: true }).count(), 0, 'no restore point to pick when restoring to a point in time');
  assert.ok(await dialog.getByRole('radio', { name: /New instance/ }).isChecked(), 'new instance is the default');

  // an overwrite asks the same as any: what is replaced, the safety backup, the typed name
  await dialog.getByRole('radio', { name: /Overwrite/ }).check();
  const warning = dialog.getByTestId('overwrite-warning');
  const wtext = await warning.innerText();
  assert.match(wtext, /This replaces:/);
  assert.match(wtext, /the latest archived state/);
  assert.match(wtext, /safety backup/i);
  const go = dialog.getByRole('button', { name: `Overwrite ${SVC.pitr}` });
  assert.ok(await go.isDisabled(), 'disabled before the name is typed');
  await dialog.getByLabel(/Type .* to confirm/).fill(SVC.pitr);
  assert.ok(await go.isEnabled(), 'enabled with the exact name');
  await shot(page, 'pitr-overwrite-confirm', { fullPage: false });

  // as a new instance
  await dialog.getByRole('radio', { name: /New instance/ }).check();
  await axe(page, 'point-in-time dialog');
  await shot(page, 'pitr-restore-dialog', { fullPage: false });
  await dialog.getByRole('button', { name: 'Restore as a new instance' }).click();
  assert.match(await dialog.getByTestId('restore-from').innerText(), /new instance from the latest archived state/);

  const result = dialog.getByTestId('job-result');
  await result.waitFor({ timeout: JOB_TIMEOUT });
  const text = await result.innerText();
  assert.match(text, /succeeded/, text);
  assert.match(await dialog.getByTestId('recovered-to').innerText(), /Point-in-time recovery to the latest archived state/);
  assert.match(await dialog.getByTestId('validation').innerText(), /Validation passed \(structure only\): point-in-time recovery/);
  await dialog.getByRole('heading', { name: 'How to connect to the new instance' }).waitFor();
  assert.match((await dialog.getByTestId('connection-text').innerText()).trim(), /\w+: \S+/, 'connection info as key: value lines');
  await shot(page, 'pitr-restore-result', { fullPage: false });
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });

  // the restore's success resolves the failed one's alert: the badge follows the API's count
  await alertsBadgeFollowsApi(page);
  await o.close();
});

test('the point-in-time dialog at phone width', async () => {
  const o = await open(browser, { viewport: PHONE });
  const { page } = o;
  await signIn(page);
  await gotoService(page, SVC.pitr);
  const dialog = await openPitrDialog(page);
  await dialog.getByRole('radio', { name: /^A time/ }).check();
  await dialog.getByLabel(/^Time \(/).waitFor();
  await shot(page, 'pitr-phone-dialog', { fullPage: false });
  const overflow = await page.evaluate(() => {
    const d = document.querySelector('dialog');
    const right = d.getBoundingClientRect().right;
    const wide = [...d.querySelectorAll('*')].filter((el) => el.getBoundingClientRect().right > right + 1).map((el) => el.tagName + '.' + el.className);
    return { px: Math.max(document.documentElement.scrollWidth - window.innerWidth, d.scrollWidth - d.clientWidth), wide: wide.slice(0, 5) };
  });
  assert.ok(overflow.px <= 1, `the dialog scrolls sideways by ${overflow.px} px (${overflow.wide.join(', ')})`);
  await axe(page, 'point-in-time dialog at phone width');
  await o.close();
});

// Restore as a new instance (validation and how to connect); overwrite only with the typed service name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { JOB_TIMEOUT, SVC, apiCall, axe, eventually, gotoService, historyRows, launch, open, shot, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('restore as a new instance: the validation passes and the connection info can be copied', async () => {
  const o = await open(browser);
  const { page, context } = o;
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page);
  await gotoService(page, SVC.postgres);
  const rows = await historyRows(page);
  // the Restore button of the newest point
  await page.getByTestId('point-row').first().getByRole('button', { name: /^Restore point/ }).click();
  await page.getByRole('dialog', { name: `Restore ${SVC.postgres}` }).waitFor();
  const dialog = page.getByTestId('restore-dialog'); // named "Restoring ..." once started
  // focus is inside the dialog
  assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), 'focus moves into the dialog');
  assert.equal(await dialog.getByLabel('Restore point').inputValue(), rows[0].id);
  assert.ok(await dialog.getByRole('radio', { name: /New instance/ }).isChecked(), 'new instance is the default');
  await axe(page, 'restore dialog');
  await shot(page, 'restore-new-instance-dialog', { fullPage: false });
  await dialog.getByRole('button', { name: 'Restore as a new instance' }).click();

  // live progress, then the result
  const result = dialog.getByTestId('job-result');
  await result.waitFor({ timeout: JOB_TIMEOUT });
  assert.match(await result.innerText(), /succeeded/);
  const validation = dialog.getByTestId('validation');
  assert.match(await validation.innerText(), /Validation passed/);
  await dialog.getByRole('heading', { name: 'How to connect to the new instance' }).waitFor();
  const conn = dialog.getByTestId('connection-text');
  const connText = (await conn.innerText()).trim();
  assert.ok(connText.length > 0, 'connection info is shown');
  assert.match(connText, /\w+: \S+/, 'as key: value lines');
  await dialog.getByRole('button', { name: 'Copy connection info' }).click();
  await eventually(async () => /Copied|Selected/.test(await dialog.getByRole('status').first().innerText()), { message: 'copy confirmation' });
  const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
  if (clip !== null) assert.equal(clip.trim(), connText);
  await shot(page, 'restore-new-instance-result', { fullPage: false });
  // Escape closes the dialog and focus returns to the button that opened it
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  // (the dialog gives it back once more a tick after it closed, when the browser dropped it on <body>)
  const focused = () => page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName ?? '');
  await eventually(async () => /^Restore point/.test(await focused()), { timeout: 2000, interval: 50, message: 'focus back on the row’s Restore button' }).catch(async (e) => {
    assert.fail(`${e.message} (focus is on ${await focused()})`);
  });
  await o.close();
});

test('overwrite: refused without the typed service name, done with it after a safety backup', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await gotoService(page, SVC.sqlite);
  const rows = await historyRows(page);

  // the API itself refuses an overwrite that is not confirmed
  const refused = await apiCall(page, 'POST', `/services/${SVC.sqlite}/restores`, { point: rows[0].id, mode: 'overwrite', confirm: null, target: null, as: null, port: null, at: null });
  assert.equal(refused.status, 409, 'overwrite without confirm is refused');
  assert.ok(refused.body?.error, 'with a message');
  const wrong = await apiCall(page, 'POST', `/services/${SVC.sqlite}/restores`, { point: rows[0].id, mode: 'overwrite', confirm: SVC.sqlite + 'x', target: null, as: null, port: null, at: null });
  assert.equal(wrong.status, 409, 'overwrite with the wrong name is refused');

  await page.getByRole('button', { name: 'Restore…' }).click();
  await page.getByRole('dialog', { name: `Restore ${SVC.sqlite}` }).waitFor();
  const dialog = page.getByTestId('restore-dialog');
  await dialog.getByLabel('Restore point').selectOption(rows[0].id);
  await dialog.getByRole('radio', { name: /Overwrite/ }).check();
  const warning = dialog.getByTestId('overwrite-warning');
  const wtext = await warning.innerText();
  assert.match(wtext, /This replaces:/);
  assert.match(wtext, /safety backup/i);
  assert.ok(wtext.includes(SVC.sqlite), 'names the service');
  assert.ok((await warning.locator('li').count()) >= 1, 'lists what is replaced');
  const go = dialog.getByRole('button', { name: `Overwrite ${SVC.sqlite}` });
  assert.ok(await go.isDisabled(), 'disabled before the name is typed');
  const confirm = dialog.getByLabel(/Type .* to confirm/);
  await confirm.fill(SVC.sqlite.slice(0, -1));
  assert.ok(await go.isDisabled(), 'disabled with a wrong name');
  assert.equal(await confirm.getAttribute('aria-invalid'), 'true');
  await shot(page, 'restore-overwrite-refused', { fullPage: false });
  await confirm.fill(SVC.sqlite);
  assert.ok(await go.isEnabled(), 'enabled with the exact name');
  await axe(page, 'overwrite dialog');
  await shot(page, 'restore-overwrite-confirm', { fullPage: false });
  await go.click();

  const result = dialog.getByTestId('job-result');
  await result.waitFor({ timeout: JOB_TIMEOUT });
  const rtext = await result.innerText();
  assert.match(rtext, /succeeded/);
  assert.match(await dialog.getByTestId('validation').innerText(), /Validation passed/);
  assert.match(await dialog.getByTestId('safety-point').innerText(), /Safety backup taken first/);
  // an overwrite has no new instance to connect to: the service itself runs on the restored data
  await dialog.getByRole('heading', { name: `${SVC.sqlite} now runs on the restored data` }).waitFor();
  assert.equal(await dialog.getByRole('heading', { name: /new instance/ }).count(), 0, 'no “new instance” heading after an overwrite');
  assert.equal(await dialog.getByTestId('connection').count(), 0);
  await shot(page, 'restore-overwrite-result', { fullPage: false });
  await dialog.getByRole('button', { name: 'Close' }).last().click();
  await dialog.waitFor({ state: 'detached' });
  // the safety point is in the history
  await eventually(async () => /safety/.test(await page.getByTestId('history-table').innerText()), { message: 'a safety point in the history', timeout: 15000 });
  await o.close();
});

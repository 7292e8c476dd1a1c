// Browse the files of a volume point and download one file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { SVC, VOLUME_FILE, VOLUME_FILE_TEXT, axe, gotoService, historyRows, launch, open, shot, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('download one file from a volume point', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await gotoService(page, SVC.volume);
  const rows = await historyRows(page);
  await page.getByTestId('point-row').first().getByRole('link', { name: /Browse files of point/ }).click();
  await page.getByRole('heading', { level: 1, name: new RegExp(`Restore point ${rows[0].id.slice(0, 8)}`) }).waitFor();
  // the point's details: every row has a value (a volume has no server version: no such row)
  await page.getByRole('region', { name: 'Point' }).locator('dl').waitFor(); // the point has loaded
  const rowsShown = await page.getByRole('region', { name: 'Point' }).locator('dl dt').evaluateAll((dts) => dts.map((dt) => [dt.textContent.trim(), (dt.nextElementSibling?.textContent ?? '').trim()]));
  assert.ok(rowsShown.length >= 5, `the point's details (${JSON.stringify(rowsShown)})`);
  for (const [label, value] of rowsShown) assert.ok(value !== '', `the row “${label}” has a value`);
  assert.ok(!rowsShown.some(([label]) => label === 'Server version'), 'no “Server version” row for a volume');
  const browserBox = page.getByTestId('file-browser');
  await browserBox.getByTestId('files-table').waitFor();

  // the top level lists the stored paths; walk down to the file's folder
  const dir = VOLUME_FILE.slice(0, VOLUME_FILE.lastIndexOf('/'));
  const name = VOLUME_FILE.slice(VOLUME_FILE.lastIndexOf('/') + 1);
  const roots = await browserBox.getByTestId('file-row').evaluateAll((rs) => rs.map((r) => '/' + r.dataset.name.replace(/^\/+/, '')));
  const root = roots.filter((r) => dir === r || dir.startsWith(r + '/')).sort((a, b) => b.length - a.length)[0];
  assert.ok(root, `one of the stored paths ${roots.join(', ')} holds ${VOLUME_FILE}`);
  await browserBox.locator(`[data-testid="file-row"][data-name="${root.replace(/^\//, '')}"], [data-testid="file-row"][data-name="${root}"]`).first().getByRole('link').click();
  for (const part of dir.slice(root.length).split('/').filter(Boolean)) {
    await browserBox.locator(`[data-testid="file-row"][data-name="${part}"]`).getByRole('link').click();
  }
  const row = browserBox.locator(`[data-testid="file-row"][data-name="${name}"]`);
  await row.waitFor();
  assert.match(await page.getByRole('navigation', { name: 'Folder' }).innerText(), new RegExp(dir.split('/').pop()));
  await axe(page, 'file browser');
  await shot(page, 'files-browse');

  const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('link', { name: `Download ${name}` }).click()]);
  assert.equal(download.suggestedFilename(), name);
  const file = await download.path();
  const content = fs.readFileSync(file);
  assert.ok(content.length > 0, 'the file is not empty');
  if (VOLUME_FILE_TEXT) assert.ok(content.toString('utf8').includes(VOLUME_FILE_TEXT), `the file contains "${VOLUME_FILE_TEXT}"`);
  await o.close();
});

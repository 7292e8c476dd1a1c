// Sign in and out; a wrong password is refused; an ended session leads back to sign-in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, PASSWORD, SVC, gotoService, isMock, launch, open, signIn, shot } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('a wrong password is refused', async () => {
  const o = await open(browser);
  const { page } = o;
  await page.goto(BASE + '/');
  await page.getByRole('heading', { name: 'Sign in to Cairn' }).waitFor();
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD + '-wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /wrong password/i);
  // still on the sign-in form, no session
  assert.equal(await page.getByRole('heading', { level: 1, name: 'Sign in to Cairn' }).count(), 1);
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
  const r = await page.request.get(BASE + '/api/v1/services');
  assert.equal(r.status(), 401);
  assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '', 'the password field is cleared');
  await shot(page, 'auth-wrong-password');
  await o.close();
});

test('sign in and sign out', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  assert.match(await page.locator('.who').innerText(), /admin/);
  const ok = await page.request.get(BASE + '/api/v1/services');
  assert.equal(ok.status(), 200);
  await shot(page, 'auth-signed-in');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Cairn' }).waitFor();
  assert.match(await page.getByTestId('signin-notice').innerText(), /signed out/i);
  const gone = await page.request.get(BASE + '/api/v1/services');
  assert.equal(gone.status(), 401, 'the session is gone after signing out');
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in to Cairn' }).waitFor();
  await shot(page, 'auth-signed-out');
  await o.close();
});

test('a session that ended sends the user back to sign in', async () => {
  const o = await open(browser);
  const { page, context } = o;
  await signIn(page);
  await page.getByTestId('calendar').waitFor(); // the overview has loaded everything
  await page.waitForLoadState('networkidle').catch(() => {});
  await context.clearCookies(); // as when the session expires on the server
  await page.getByRole('link', { name: 'Jobs' }).click();
  await page.getByRole('heading', { name: 'Sign in to Cairn' }).waitFor();
  assert.match(await page.getByTestId('signin-notice').innerText(), /session has expired/i);
  await shot(page, 'auth-session-expired');
  // signing in again works and goes on
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  await o.close();
});

test('signing in with the keyboard alone', async () => {
  const o = await open(browser);
  const { page } = o;
  await page.goto(BASE + '/');
  await page.getByRole('heading', { name: 'Sign in to Cairn' }).waitFor();
  // the password field has focus on arrival
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'secret');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  // the new page's heading has focus (screen readers announce it)
  assert.equal(await page.evaluate(() => document.activeElement?.tagName + ':' + document.activeElement?.textContent), 'H1:Overview');
  // after a fresh load, the first Tab reaches the skip link, which moves focus to the content
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  await o.close();
});

test('a read-only token signs in and sees no actions', async (t) => {
  const token = process.env.CAIRN_READ_TOKEN || ((await isMock()) ? 'cairn-read-token' : null);
  if (!token) {
    t.skip('set CAIRN_READ_TOKEN to a token with role read (cairn token create NAME --role read)');
    return;
  }
  const o = await open(browser);
  const { page } = o;
  await page.goto(BASE + '/');
  await page.getByRole('radio', { name: 'API token' }).check();
  await page.getByLabel('Token', { exact: true }).fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  assert.match(await page.locator('.who').innerText(), /\(read\)/);
  await gotoService(page, SVC.sqlite);
  assert.ok(await page.getByRole('button', { name: 'Back up now' }).isDisabled(), 'no back up for role read');
  assert.ok(await page.getByRole('button', { name: 'Restore…' }).isDisabled(), 'no restore for role read');
  assert.equal(await page.getByTestId('point-row').first().getByRole('button', { name: /^Restore point/ }).count(), 0);
  await shot(page, 'auth-read-only', { fullPage: false });
  await o.close();
});

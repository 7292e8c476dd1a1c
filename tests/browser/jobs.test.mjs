// Jobs: the history filtered by service, kind and status; a job's log, live while it runs; cancel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, JOB_TIMEOUT, SLOW_SERVICE, SVC, apiCall, axe, eventually, launch, open, shot, signIn } from './lib.mjs';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('the jobs list filters by service, kind and status', async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
  await page.getByTestId('jobs-table').waitFor();
  const all = await page.getByTestId('job-row').count();
  assert.ok(all > 0, 'jobs are listed');

  const rowsOf = () => page.getByTestId('job-row').evaluateAll((rs) => rs.map((r) => ({ id: r.dataset.job, service: r.dataset.service, kind: r.dataset.kind, status: r.dataset.status })));
  await page.getByLabel('Service').selectOption(SVC.sqlite);
  await eventually(async () => (await rowsOf()).every((r) => r.service === SVC.sqlite), { message: 'only jobs of the service' });
  await page.getByLabel('Kind').selectOption('backup');
  await page.getByLabel('Status').selectOption('succeeded');
  await eventually(async () => {
    const rows = await rowsOf();
    return rows.length > 0 && rows.every((r) => r.service === SVC.sqlite && r.kind === 'backup' && r.status === 'succeeded');
  }, { message: 'filtered rows' });
  // the filter is in the address, so it survives a reload
  assert.match(page.url(), /service=/);
  const ids = (await rowsOf()).map((r) => Number(r.id));
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] > ids[i], 'newest first');
  const api = (await apiCall(page, 'GET', `/jobs?service=${SVC.sqlite}&kind=backup&status=succeeded&limit=50`)).body;
  assert.deepEqual(ids.slice(0, api.jobs.length), api.jobs.map((j) => j.id));
  const row = await page.getByTestId('job-row').first().innerText();
  assert.match(row, /schedule|manual|api|catch up/, 'trigger');
  await axe(page, 'jobs page');
  await shot(page, 'jobs-filtered');
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await eventually(async () => (await page.getByTestId('job-row').count()) >= ids.length, { message: 'all jobs again' });
  await o.close();
});

test("a running job's log is live, and the job can be cancelled", async () => {
  const o = await open(browser);
  const { page } = o;
  await signIn(page);
  const started = await apiCall(page, 'POST', `/services/${SLOW_SERVICE}/backups`, {});
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const id = started.body.job_id;
  await page.goto(`${BASE}/#/jobs/${id}`);
  await page.getByRole('heading', { level: 1, name: new RegExp(`Job ${id}`) }).waitFor();
  const log = page.getByRole('log', { name: `Log of job ${id}` });
  // lines appear while it runs
  await eventually(async () => (await log.locator('.log-line').count()) > 0, { message: 'log lines while running', timeout: JOB_TIMEOUT });
  const status = async () => (await apiCall(page, 'GET', `/jobs/${id}`)).body.status;
  assert.ok(['queued', 'running'].includes(await status()), `the backup of ${SLOW_SERVICE} is still running (set CAIRN_SLOW_SERVICE to a slower one)`);
  await page.getByTestId('job-progress').waitFor();
  await axe(page, 'job page');
  await shot(page, 'job-running');
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await eventually(async () => (await status()) === 'cancelled', { message: 'cancelled', timeout: JOB_TIMEOUT });
  await eventually(async () => /cancelled/.test(await page.locator('.page-title').innerText()), { message: 'the page shows cancelled' });
  await eventually(async () => /cancel/i.test(await log.innerText()), { message: 'the log says so' });
  assert.equal(await page.getByRole('button', { name: 'Cancel job' }).count(), 0, 'no cancel button once ended');
  await shot(page, 'job-cancelled');
  // cancelling again is refused by the API
  const again = await apiCall(page, 'POST', `/jobs/${id}/cancel`, {});
  assert.equal(again.status, 409);
  await o.close();
});

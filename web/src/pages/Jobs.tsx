import { useEffect, useRef, useState } from 'preact/hooks';
import { api, enc, errorText, qs } from '../api';
import { useApp } from '../app';
import { useEvent } from '../events';
import { useApi, useTitle } from '../hooks';
import { bytes, clockTime, duration, shortId, utcTime } from '../format';
import { href, navigate, seg } from '../router';
import type { Job, LogLine, LogPage, ServicesResponse } from '../types';
import { FINISHED, ProgressView, ResultView, useJob } from '../components/JobView';
import { Empty, ErrorBox, Loading, PageTitle, Status, Time } from '../components/ui';

const KINDS = ['backup', 'restore', 'drill', 'forget', 'prune', 'check', 'copy'];
const STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled', 'interrupted'];

export function JobsPage({ query }: { query: URLSearchParams }) {
  useTitle('Jobs');
  const service = query.get('service') || '';
  const kind = query.get('kind') || '';
  const status = query.get('status') || '';
  const services = useApi<ServicesResponse>('/services');
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const filterKey = `${service}|${kind}|${status}`;

  const load = async (from: string | null) => {
    setLoading(true);
    try {
      const r = await api.get<{ jobs: Job[]; next_cursor: string | null }>('/jobs' + qs({ service, kind, status, limit: 50, cursor: from }));
      setJobs((old) => (from && old ? [...old, ...r.jobs] : r.jobs));
      setCursor(r.next_cursor);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    setJobs(null);
    load(null);
  }, [filterKey]);

  useEvent('job', (j: Job) => {
    setJobs((list) => {
      if (!list) return list;
      const i = list.findIndex((x) => x.id === j.id);
      if (i >= 0) {
        const n = list.slice();
        n[i] = j;
        return n;
      }
      const matches = (!service || j.service === service) && (!kind || j.kind === kind) && (!status || j.status === status);
      return matches && (!list.length || j.id > list[0].id) ? [j, ...list] : list;
    });
  });

  const setFilter = (k: string, v: string) => {
    const q: Record<string, string> = { service, kind, status };
    q[k] = v;
    navigate('/jobs', q, true);
  };

  const names = services.data?.services.map((s) => s.name).sort() ?? (service ? [service] : []);
  return (
    <div>
      <PageTitle>Jobs</PageTitle>
      <form class="filters" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="f-service">Service</label>
          <select id="f-service" value={service} onChange={(e) => setFilter('service', (e.target as HTMLSelectElement).value)}>
            <option value="">All services</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-kind">Kind</label>
          <select id="f-kind" value={kind} onChange={(e) => setFilter('kind', (e.target as HTMLSelectElement).value)}>
            <option value="">All kinds</option>
            {KINDS.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" value={status} onChange={(e) => setFilter('status', (e.target as HTMLSelectElement).value)}>
            <option value="">All statuses</option>
            {STATUSES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        {(service || kind || status) && (
          <button type="button" class="btn" onClick={() => navigate('/jobs', {}, true)}>
            Clear filters
          </button>
        )}
      </form>
      <ErrorBox error={error} />
      {!jobs && !error && <Loading what="Loading jobs" />}
      {jobs && jobs.length === 0 && <Empty>No jobs match these filters.</Empty>}
      {jobs && jobs.length > 0 && (
        <div class="table-wrap">
          <table class="table responsive" data-testid="jobs-table">
            <caption class="sr-only">Jobs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Service</th>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Started</th>
                <th scope="col" class="num">
                  Duration
                </th>
                <th scope="col" class="num">
                  Bytes read / added
                </th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr key={j.id} data-testid="job-row" data-job={j.id} data-status={j.status} data-kind={j.kind} data-service={j.service ?? ''}>
                  <th scope="row" data-label="Job">
                    <a href={href(`/jobs/${j.id}`)}>#{j.id}</a>
                  </th>
                  <td data-label="Service">{j.service ? <a href={href(`/services/${seg(j.service)}`)}>{j.service}</a> : <span class="muted">repository</span>}</td>
                  <td data-label="Kind">{j.kind}</td>
                  <td data-label="Status">
                    <Status status={j.status} title={j.error ?? j.waiting_on ?? undefined} />
                    {j.status === 'running' && j.progress?.percent != null && <span class="small"> {Math.round(j.progress.percent)} %</span>}
                  </td>
                  <td data-label="Trigger">
                    {j.trigger.replace('_', ' ')}
                    {j.missed ? <span class="small muted"> ({j.missed} missed)</span> : null}
                  </td>
                  <td data-label="Started">
                    <Time iso={j.started_at ?? j.queued_at} />
                  </td>
                  <td data-label="Duration" class="num">
                    {duration(j.duration_s)}
                  </td>
                  <td data-label="Bytes" class="num">
                    {bytes(j.bytes_read)} / {bytes(j.bytes_added)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <div class="pager">
          <button type="button" class="btn" disabled={loading} onClick={() => load(cursor)}>
            {loading ? 'Loading…' : 'Load older jobs'}
          </button>
        </div>
      )}
    </div>
  );
}

const MAX_LINES = 5000;

function LogTail({ id, running }: { id: number; running: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [dropped, setDropped] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const after = useRef(0);
  const stick = useRef(true);
  const runningRef = useRef(running);
  runningRef.current = running;

  useEffect(() => {
    let stop = false;
    let timer = 0;
    const poll = async () => {
      try {
        const r = await api.get<LogPage>(`/jobs/${id}/log?after=${after.current}`);
        if (stop) return;
        after.current = r.next_after;
        if (r.lines.length) {
          setLines((old) => {
            const n = old.concat(r.lines);
            if (n.length > MAX_LINES) {
              setDropped((d) => d + n.length - MAX_LINES);
              return n.slice(n.length - MAX_LINES);
            }
            return n;
          });
        }
        if (r.dropped) setDropped((d) => Math.max(d, r.dropped));
        setError(null);
        if (r.done && !runningRef.current) {
          setDone(true);
          return;
        }
        timer = window.setTimeout(poll, r.lines.length >= 100 ? 200 : 1000);
      } catch (e) {
        if (stop) return;
        setError(errorText(e));
        timer = window.setTimeout(poll, 3000);
      }
    };
    poll();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [id]);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <section aria-labelledby="log-h" class="log-section">
      <div class="section-head">
        <h2 id="log-h">Log</h2>
        <span class="small muted">{done ? `${lines.length + dropped} lines` : 'live: new lines appear as the job writes them'}</span>
      </div>
      <ErrorBox error={error} />
      {dropped > 0 && <p class="small muted">{dropped} earlier lines are not shown.</p>}
      <div
        class="log"
        ref={box}
        tabIndex={0}
        role="log"
        aria-label={`Log of job ${id}`}
        data-testid="job-log"
        onScroll={() => {
          const el = box.current!;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {lines.length === 0 && <span class="muted">{done ? 'The job wrote no log lines.' : 'Waiting for log lines…'}</span>}
        {lines.map((l) => (
          <div key={l.seq} class={`log-line log-${l.level}`}>
            <time dateTime={l.time} title={utcTime(l.time)}>
              {clockTime(l.time)}
            </time>{' '}
            <span class="log-level">{l.level}</span> {l.text}
          </div>
        ))}
      </div>
    </section>
  );
}

export function JobPage({ id }: { id: number }) {
  useTitle(`Job ${id}`);
  const app = useApp();
  const { job, error } = useJob(id);
  const [cancelErr, setCancelErr] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const active = job ? !FINISHED.has(job.status) : false;

  const cancel = async () => {
    setCancelling(true);
    setCancelErr(null);
    try {
      await api.post(`/jobs/${id}/cancel`, {});
    } catch (e) {
      setCancelErr(errorText(e));
    } finally {
      setCancelling(false);
    }
  };

  return (
    <div>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href="#/jobs">Jobs</a> <span aria-hidden="true">›</span> <span>job {id}</span>
      </nav>
      <PageTitle
        sub={
          job && (
            <div class="title-meta">
              <Status status={job.status} />
            </div>
          )
        }
      >
        Job {id}
        {job && (
          <span class="title-sub">
            : {job.kind}
            {job.service && <> of {job.service}</>}
          </span>
        )}
      </PageTitle>
      <ErrorBox error={error} />
      {!job && !error && <Loading />}
      {job && (
        <>
          {active && app.can('operate') && (
            <div class="actions">
              <button type="button" class="btn btn-danger" onClick={cancel} disabled={cancelling}>
                {cancelling ? 'Cancelling…' : 'Cancel job'}
              </button>
            </div>
          )}
          <ErrorBox error={cancelErr} />
          <div class="cols">
            <section class="card" aria-labelledby="job-h" aria-live="polite">
              <h2 id="job-h">Details</h2>
              <dl class="dl">
                <dt>Service</dt>
                <dd>{job.service ? <a href={href(`/services/${seg(job.service)}`)}>{job.service}</a> : 'repository'}</dd>
                <dt>Targets</dt>
                <dd>{job.targets.join(', ') || '—'}</dd>
                <dt>Trigger</dt>
                <dd>
                  {job.trigger.replace('_', ' ')}
                  {job.missed ? ` (${job.missed} runs missed)` : ''}
                </dd>
                <dt>Queued</dt>
                <dd>
                  <Time iso={job.queued_at} seconds />
                </dd>
                <dt>Started</dt>
                <dd>
                  <Time iso={job.started_at} seconds />
                </dd>
                <dt>Ended</dt>
                <dd>
                  <Time iso={job.ended_at} seconds />
                </dd>
                <dt>Duration</dt>
                <dd>{duration(job.duration_s)}</dd>
                <dt>Bytes</dt>
                <dd>
                  {bytes(job.bytes_read)} read, {bytes(job.bytes_added)} added
                </dd>
                {job.point_id && job.service && (
                  <>
                    <dt>Restore point</dt>
                    <dd>
                      <a href={href(`/services/${seg(job.service)}/points/${enc(job.point_id)}`)}>
                        <code>{shortId(job.point_id)}</code>
                      </a>
                    </dd>
                  </>
                )}
              </dl>
            </section>
            <section class="card" aria-labelledby="state-h">
              <h2 id="state-h">{active ? 'Progress' : 'Result'}</h2>
              {active ? <ProgressView job={job} /> : <ResultView job={job} />}
            </section>
          </div>
          <LogTail id={id} running={active} />
        </>
      )}
    </div>
  );
}
